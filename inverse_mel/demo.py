"""The built-in demo (``python -m inverse_mel`` without arguments): it computes a power mel
spectrogram of a synthesized signal, inverts it with :class:`inverse_mel.InverseMelScale`, and
prints the spectral convergence, the mel-domain residual and the speed-up over torchaudio's method
(a ``torch.linalg.lstsq`` call per forward, written inline here, since torchaudio itself is not a
dependency), then the quality of the full mel-to-audio chain with Griffin-Lim.
"""
import math
import time
import warnings

import torch

from . import metrics
from ._version import __version__
from ._timing import median_time
from .pipeline import mel_to_audio
from .presets import get_preset
from .transforms import InverseMelScale, MelScale


def _demo_config(preset_name: str):
    """(sample_rate, n_fft, hop, n_mels, f_max, norm, mel_scale) of a preset."""
    p = get_preset(preset_name)
    return (p.sample_rate, p.n_fft, p.hop_length, p.n_mels, p.f_max, p.norm, p.mel_scale)


def synthesize(sample_rate: int, seconds: float = 4.0, seed: int = 0) -> torch.Tensor:
    """A deterministic test signal for the demo, the docs and the tests.

    A harmonic tone with vibrato, a rising chirp, a few noise bursts and a decaying low note.

    Parameters
    ----------
    sample_rate : int
        Hz.
    seconds : float, default 4.0
        Length.
    seed : int, default 0
        Seeds the noise bursts.

    Returns
    -------
    Tensor
        ``(samples,)`` float32, peak 0.9.

    Examples
    --------
    >>> from inverse_mel.demo import synthesize
    >>> audio = synthesize(16000, seconds=0.5)
    >>> audio.shape, audio.dtype, round(float(audio.abs().max()), 4)
    (torch.Size([8000]), torch.float32, 0.9)
    """
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    f0 = 220.0 * (1.0 + 0.01 * torch.sin(2 * math.pi * 5.0 * t))
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    tone = sum(torch.sin(k * phase) / k for k in range(1, 9))
    chirp_freq = 300.0 * (8000.0 / 300.0) ** (t / seconds)
    chirp = 0.3 * torch.sin(2 * math.pi * torch.cumsum(chirp_freq, 0) / sample_rate)
    bursts = torch.zeros_like(t)
    for start in (0.5, 1.7, 2.9):
        mask = (t >= start) & (t < start + 0.15)
        bursts[mask] = 0.4 * torch.randn(int(mask.sum()), generator=gen, dtype=torch.float64)
    low = 0.5 * torch.sin(2 * math.pi * 98.0 * t) * torch.exp(-1.5 * t)
    x = tone * (0.6 + 0.4 * torch.sin(2 * math.pi * 0.5 * t)) + chirp + bursts + low
    return (0.9 * x / x.abs().max()).to(torch.float32)


def power_spectrogram(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """``|STFT|^2`` with a Hann window and centred frames.

    Parameters
    ----------
    audio : Tensor
        ``(samples,)``.
    n_fft, hop : int
        STFT sizes.

    Returns
    -------
    Tensor
        ``(n_fft // 2 + 1, frames)``.

    Examples
    --------
    >>> from inverse_mel.demo import power_spectrogram, synthesize
    >>> power_spectrogram(synthesize(16000, seconds=0.5), 400, 160).shape
    torch.Size([201, 51])
    """
    window = torch.hann_window(n_fft)
    spec = torch.stft(audio, n_fft, hop_length=hop, window=window, center=True, return_complex=True)
    return spec.abs().square()


def run_demo(preset: str = "hifigan", repeats: int = 20) -> dict:
    """The demo's measurements, as ``python -m inverse_mel`` prints them.

    Parameters
    ----------
    preset : str, default "hifigan"
        Whose settings to use.
    repeats : int, default 20
        Timing repeats.

    Returns
    -------
    dict
        ``spectral_convergence``, ``mel_residual``, ``ours_ms``, ``torchaudio_ms`` and the settings.

    Examples
    --------
    >>> from inverse_mel.demo import run_demo
    >>> result = run_demo("hifigan", repeats=1)
    >>> result["mel_residual"] < 0.1 and result["rank"] == result["n_mels"]
    True
    """
    sample_rate, n_fft, hop, n_mels, f_max, norm, mel_scale = _demo_config(preset)
    n_stft = n_fft // 2 + 1
    audio = synthesize(sample_rate)
    spec = power_spectrogram(audio, n_fft, hop)  # (n_stft, frames)
    to_mel = MelScale(n_mels, sample_rate, 0.0, f_max, n_stft, norm, mel_scale)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inverse = InverseMelScale(n_stft, n_mels, sample_rate, 0.0, f_max, norm, mel_scale)
    melspec = to_mel(spec)
    estimate = inverse(melspec)

    magnitude, magnitude_estimate = spec.sqrt(), estimate.sqrt()
    spectral_convergence = metrics.spectral_convergence(magnitude, magnitude_estimate)
    mel_residual = float((to_mel(estimate) - melspec).norm() / melspec.norm())

    fb_t = inverse.fb.T[None]
    try:
        torch.linalg.lstsq(fb_t, melspec[None], driver="gels")
        driver = "gels"
    except RuntimeError:  # torchaudio's default raises on rank-deficient banks
        driver = "gelsd"
    ours_ms = 1e3 * median_time(lambda: inverse(melspec), repeats, warmup=1)
    theirs_ms = 1e3 * median_time(
        lambda: torch.relu(torch.linalg.lstsq(fb_t, melspec[None], driver=driver).solution), repeats, warmup=1)
    return dict(
        preset=preset, sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, frames=spec.shape[-1],
        seconds=audio.numel() / sample_rate, spectral_convergence=spectral_convergence,
        mel_residual=mel_residual, ours_ms=ours_ms, torchaudio_ms=theirs_ms, driver=driver,
        rank=inverse.rank, warnings=[str(w.message) for w in caught],
    )


def demo_main(preset: str = "hifigan", repeats: int = 20) -> int:
    r = run_demo(preset, repeats)
    print(f"inverse_mel {__version__} demo: built-in synthesized signal, {r['seconds']:.1f} s")
    print(f"  preset {r['preset']}: {r['sample_rate']} Hz, n_fft {r['n_fft']}, {r['n_mels']} mels, "
          f"{r['frames']} frames, filterbank rank {r['rank']}/{r['n_mels']}")
    for w in r["warnings"]:
        print(f"  warning: {w}")
    print(f"  spectral convergence ||S - S_hat|| / ||S|| (magnitudes): {r['spectral_convergence']:.4f}")
    print(f"  mel-domain relative residual:                         {r['mel_residual']:.2e}")
    print(f"  forward time: ours {r['ours_ms']:.3f} ms, torchaudio's method ({r['driver']}) {r['torchaudio_ms']:.3f} ms "
          f"-> {r['torchaudio_ms'] / r['ours_ms']:.1f}x faster (median of {repeats})")
    # The whole chain, from the preset's log-mel features to audio.
    p = get_preset(preset)
    audio = synthesize(p.sample_rate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the rank note was printed above
        t0 = time.perf_counter()
        waveform, info = mel_to_audio(p.features(audio), p, n_iter=32, return_info=True)
        seconds = time.perf_counter() - t0
    original, again = p.spectrogram(audio), p.spectrogram(waveform)
    if p.power == 2:
        original, again = original.sqrt(), again.sqrt()
    n = min(original.shape[-1], again.shape[-1])
    sc = metrics.spectral_convergence(original[..., :n], again[..., :n])
    print(f"  mel_to_audio (NNLS, default method auto: chose {info.chosen[0]}): {seconds:.2f} s; spectral "
          f"convergence of the audio's spectrogram: {sc:.4f}")
    return 0
