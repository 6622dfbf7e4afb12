"""From a model's mel features to audio in one call: undo the preset's scaling, invert the mel
filterbank, reconstruct the phase."""
import functools
from typing import Optional

import torch
from torch import Tensor

from . import _validation as V
from .functional.mel_consistent import mel_consistent_griffin_lim
from .functional._core import pghi_angles
from .functional.phase import griffin_lim
from .presets import Preset, get_preset

__all__ = ["DEFAULT_MCGL_ITER", "DEFAULT_METHOD", "mel_to_audio", "reconstruct_waveform"]


DEFAULT_METHOD = "pghi"
"""mel_to_audio's default phase reconstruction, chosen by measurement (benchmarks/results/phase.md):
on real recordings and every preset measured it lowers the audio's SC below the classic chain's
at little more time, and is no worse on model-like input, where "mcgl" is worse."""
DEFAULT_MCGL_ITER = 100
"""``method="mcgl"``'s iterations: the best-quality setting measured (benchmarks/results/phase.md),
at several times the classic chain's cost."""


def reconstruct_waveform(specgram: Tensor, preset: Preset, n_iter: int, momentum: float, length: Optional[int],
                         rand_init: bool, seed: int, *, method: str = "griffin_lim", melspec: Optional[Tensor] = None,
                         inverse=None, mcgl_iter: int = DEFAULT_MCGL_ITER) -> Tensor:
    """The waveform of a linear spectrogram by one of the phase methods, with a preset's STFT settings.

    The waveform is aligned in time with the audio the frames came from. (Called
    ``preset_griffin_lim`` before 0.2; that name remains an alias.)

    Parameters
    ----------
    specgram : Tensor
        ``(..., n_freqs, frames)`` in the preset's power.
    preset : Preset
        The STFT settings.
    n_iter, momentum, rand_init, seed
        Griffin-Lim's iterations, momentum, random (or zero) initial phase, and its seed.
    length : int or None
        Output length in samples; ``None``: the length of the audio the frames came from.
    method : str, default "griffin_lim"
        Keyword-only. ``"griffin_lim"`` (``n_iter`` fast Griffin-Lim iterations from a random phase,
        or zero without ``rand_init``), ``"pghi"`` (the same from PGHI's phase) or ``"mcgl"``
        (``"pghi"``, then ``mcgl_iter`` mel-consistent iterations, which need the linear
        ``melspec`` and the ``inverse`` module whose filterbank made it).
    melspec, inverse, mcgl_iter
        Keyword-only, ``"mcgl"`` only.

    Returns
    -------
    Tensor
        ``(..., samples)``.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> from inverse_mel.pipeline import reconstruct_waveform
    >>> p = inverse_mel.get_preset("hifigan")
    >>> audio = synthesize(p.sample_rate, seconds=0.5)
    >>> specgram = p.spectrogram(audio)                     # (n_freqs, frames)
    >>> waveform = reconstruct_waveform(specgram, p, 8, 0.99, None, True, 0, method="pghi")
    >>> waveform.shape[-1] == p.frames_to_samples(specgram.shape[-1])
    True
    """
    V.check_method(method)
    compute = specgram if specgram.dtype in (torch.float32, torch.float64) else specgram.float()
    if length is None:
        length = preset.frames_to_samples(compute.shape[-1])
    generator = torch.Generator().manual_seed(seed)
    phase_init = None if method == "griffin_lim" else "pghi"
    power = float(preset.power)
    if method == "mcgl":
        if melspec is None or inverse is None:
            raise ValueError('method="mcgl" needs the linear melspec and the inverse module')
        window = preset.window(device=compute.device, dtype=compute.dtype)
        angles = pghi_angles(compute, window, preset.n_fft, preset.hop_length, preset.window_length, power, generator)
        op = inverse.operator(compute.dtype)
        waveform = mel_consistent_griffin_lim(
            melspec.to(compute.dtype), compute, angles.reshape(compute.shape), window, preset.n_fft, preset.hop_length,
            preset.window_length, power, op.tap_index, op.tap_weight, mcgl_iter, momentum, length,
            fixed_iterations=n_iter)
    else:
        waveform = griffin_lim(compute, None, preset.n_fft, preset.hop_length, preset.window_length, power, n_iter,
                               momentum, length, rand_init, generator=generator, phase_init=phase_init)
    if not preset.center:
        # Uncentred frames (HiFi-GAN) sit (n_fft - hop) // 2 samples into the padded audio, so
        # frame t is centred at t * hop + shift: Griffin-Lim's centred frames give the audio
        # advanced by shift samples. Delay it back.
        shift = preset.n_fft // 2 - (preset.n_fft - preset.hop_length) // 2
        waveform = torch.nn.functional.pad(waveform, (shift, 0))[..., :length]
    return waveform



preset_griffin_lim = reconstruct_waveform  # the name before 0.2


@functools.lru_cache(maxsize=16)
def _cached_inverse(preset: Preset, solver: str, device: torch.device):
    # Presets are frozen dataclasses: the factored module is reused across mel_to_audio calls.
    return preset.inverse_mel_scale(solver=solver).to(device)


def mel_to_audio(
    melspec: Tensor,
    preset=None,
    *,
    features: bool = True,
    solver: str = "nnls",
    method: str = DEFAULT_METHOD,
    n_iter: int = 32,
    mcgl_iter: int = DEFAULT_MCGL_ITER,
    momentum: float = 0.99,
    length: Optional[int] = None,
    rand_init: bool = True,
    seed: int = 0,
    return_specgram: bool = False,
):
    """Mel spectrogram to waveform in one call: undo the preset's scaling, invert the mel
    filterbank (:class:`inverse_mel.InverseMelScale`), then reconstruct the phase.

    Parameters
    ----------
    melspec
        ``(..., n_mels, frames)``. With ``features=True`` (default) the preset's model
        features (e.g. Whisper's normalised log10-mel, HiFi-GAN's ln-mel); with
        ``features=False`` a linear mel spectrogram in the preset's power.
    preset
        a name from :data:`inverse_mel.presets.PRESETS` (``"whisper"``, ``"hifigan"``,
        ``"vocos"``, ``"bigvgan-24k-100"``, ...) or an alias from ``ALIASES``, or a
        :class:`inverse_mel.presets.Preset`; default ``"hifigan"``. Not sure which?
        :func:`inverse_mel.presets.detect` ranks them for your features.
    solver
        ``"nnls"`` (default: the best spectra) or ``"lstsq"`` (torchaudio's method).
    method
        the phase reconstruction. ``"pghi"`` (default): phase-gradient heap integration
        (:func:`inverse_mel.functional.phase_gradient_init`), then ``n_iter`` fast Griffin-Lim
        iterations; ``"mcgl"``: the same, then ``mcgl_iter`` mel-consistent iterations
        (:func:`inverse_mel.functional.mel_consistent_griffin_lim`: the best audio from clean
        mels, slower, and worse than ``"pghi"`` on a model's inconsistent mels);
        ``"griffin_lim"``: ``n_iter`` iterations from a random phase (the classic chain,
        librosa's and torchaudio's; the fastest).
    n_iter, momentum, rand_init
        Griffin-Lim settings (``seed`` seeds the random phase).
    length
        output length in samples; default: the length the frames came from.
    return_specgram
        also return the linear spectrogram ``(..., n_freqs, frames)`` (the mel
        inverse's, before the phase reconstruction).

    Returns
    -------
    Tensor or (Tensor, Tensor)
        ``(..., samples)`` waveform at ``preset.sample_rate``, or ``(waveform, specgram)``.

    Gradients: only ``method="griffin_lim"`` is differentiable end to end (PGHI and the
    mel-consistent projections are not). ``librosa.feature.inverse.mel_to_audio`` does the classic
    chain with an NNLS that often stops at its start, on CPU only; this runs on ``melspec``'s device.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> audio = synthesize(p.sample_rate, seconds=1.0)
    >>> features = p.features(audio)                        # (n_mels, frames), HiFi-GAN's ln-mel
    >>> waveform = inverse_mel.mel_to_audio(features, "hifigan")
    >>> features.shape, waveform.shape                      # p.frames_to_samples(frames) samples
    (torch.Size([80, 86]), torch.Size([22016]))
    >>> batch = inverse_mel.mel_to_audio(features.expand(2, -1, -1), "hifigan", method="griffin_lim", n_iter=4)
    >>> batch.shape[0]
    2
    """
    p = get_preset("hifigan" if preset is None else preset)
    mel = p.to_linear_mel(melspec) if features else melspec
    inverse = _cached_inverse(p, solver, mel.device)
    specgram = inverse(mel)
    waveform = reconstruct_waveform(specgram, p, n_iter, momentum, length, rand_init, seed, method=method, melspec=mel,
                                    inverse=inverse, mcgl_iter=mcgl_iter)
    if return_specgram:
        return waveform, specgram
    return waveform
