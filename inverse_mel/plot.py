"""A picture of one inversion: the input mel spectrogram, the reconstructed linear spectrogram
and, when the source audio is known, the original spectrogram and the error. Needs matplotlib
(an optional dependency: ``pip install matplotlib``)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import functional as F


def _db(power: Tensor, top: float) -> Tensor:
    return 10.0 * torch.log10(power.clamp_min(top * 1e-8) / top)


def plot_inversion(
    path: str,
    preset,
    mel: Tensor,
    estimate: Tensor,
    original: Optional[Tensor] = None,
    title: str = "",
    dynamic_range_db: float = 80.0,
) -> None:
    """Write a PNG.

    Args:
        path: output file name, or a binary file object.
        preset: the :class:`inverse_mel.presets.Preset` (axes: its sample rate, hop and mel scale).
        mel: ``(n_mels, frames)`` linear mel spectrogram in the preset's power.
        estimate: ``(n_freqs, frames)`` reconstructed linear spectrogram, same power.
        original: ``(n_freqs, frames)`` the true spectrogram, if known.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from None

    to_power = (lambda x: x.square()) if preset.power == 1 else (lambda x: x)
    mel_p, est_p = to_power(mel.float().cpu()), to_power(estimate.float().cpu())
    orig_p = to_power(original.float().cpu()) if original is not None else None
    frames = est_p.shape[-1]
    seconds = frames * preset.hop_length / preset.sample_rate
    nyquist = preset.sample_rate / 2
    top = float((orig_p if orig_p is not None else est_p).max().clamp_min(1e-30))

    panels = 4 if orig_p is not None else 2
    fig, axes = plt.subplots(panels, 1, figsize=(10, 2.4 * panels + 0.6), sharex=True, constrained_layout=True)
    extent_lin = (0.0, seconds, 0.0, nyquist / 1000.0)
    image_args = dict(aspect="auto", origin="lower", cmap="magma", vmin=-dynamic_range_db, vmax=0.0)

    # The mel panel: one row per band, labelled with the band centres in kHz.
    ax = axes[0]
    mel_top = float(mel_p.max().clamp_min(1e-30))
    im = ax.imshow(_db(mel_p, mel_top).numpy(), extent=(0.0, seconds, 0, mel_p.shape[0]), **image_args)
    f_max = preset.mel_f_max  # in the filterbank's Hz: another rate's for StyleTTS 2, rescaled below
    centres = F.mel_to_hz(torch.linspace(F.hz_to_mel(preset.f_min, preset.mel_scale), F.hz_to_mel(f_max, preset.mel_scale),
                                         preset.n_mels + 2, dtype=torch.float64), preset.mel_scale)[1:-1]
    centres = centres * (preset.sample_rate / preset.mel_sample_rate)
    ticks = torch.linspace(0, preset.n_mels - 1, 6).round().long()
    ax.set_yticks((ticks + 0.5).tolist())
    ax.set_yticklabels([f"{float(centres[i]) / 1000:.1f}" for i in ticks])
    ax.set_ylabel("mel band centre (kHz)")
    ax.set_title(f"input mel spectrogram ({preset.n_mels} {preset.mel_scale} mels, dB re max)")
    fig.colorbar(im, ax=ax, label="dB")

    ax = axes[1]
    im = ax.imshow(_db(est_p, top).numpy(), extent=extent_lin, **image_args)
    ax.set_ylabel("frequency (kHz)")
    ax.set_title("reconstructed linear spectrogram")
    fig.colorbar(im, ax=ax, label="dB")

    if orig_p is not None:
        ax = axes[2]
        im = ax.imshow(_db(orig_p, top).numpy(), extent=extent_lin, **image_args)
        ax.set_ylabel("frequency (kHz)")
        ax.set_title("original linear spectrogram")
        fig.colorbar(im, ax=ax, label="dB")

        ax = axes[3]
        floor = top * 10.0 ** (-dynamic_range_db / 10.0)
        error = 10.0 * torch.log10(est_p.clamp_min(floor) / orig_p.clamp_min(floor))
        im = ax.imshow(error.numpy(), extent=extent_lin, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-20, vmax=20)
        ax.set_ylabel("frequency (kHz)")
        ax.set_title("error: reconstructed / original (dB; red = too loud, blue = too quiet)")
        fig.colorbar(im, ax=ax, label="dB")

    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
