"""Quality measures of an inversion against the true spectrogram, as the benchmarks, the CLI and
the demo report them, and of a mel spectrogram's consistency (how far it is from the mel of any
real sound: :func:`mel_inconsistency`)."""
from typing import Optional, Tuple

import torch
from torch import Tensor


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """Spectral convergence ``||S - S_hat||_F / ||S||_F`` of an estimate, on magnitudes.

    Parameters
    ----------
    reference, estimate : Tensor
        ``(..., n_freqs, time)`` magnitudes of the same shape.

    Returns
    -------
    float
        0 for a perfect estimate; lower is better.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.metrics import spectral_convergence
    >>> S = torch.ones(201, 10)
    >>> spectral_convergence(S, S), round(spectral_convergence(S, 0.9 * S), 6)
    (0.0, 0.1)
    """
    return float((reference - estimate).norm() / reference.norm().clamp_min(1e-30))


def log_spectral_distance(reference_power: Tensor, estimate_power: Tensor, floor_db: float = -80.0) -> float:
    """Log-spectral distance of an estimate, in dB.

    The mean over frames of the RMS over bins of ``10 log10(P / P_hat)``, with both powers floored
    at ``floor_db`` below the reference's peak.

    Parameters
    ----------
    reference_power, estimate_power : Tensor
        ``(..., n_freqs, time)`` power spectrograms of the same shape.
    floor_db : float, default -80.0
        The floor, relative to the reference's peak.

    Returns
    -------
    float
        dB; 0 for a perfect estimate, lower is better.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.metrics import log_spectral_distance
    >>> P = torch.ones(201, 10)
    >>> round(log_spectral_distance(P, 10 * P), 6)          # every bin off by a factor of 10: 10 dB
    10.0
    """
    floor = reference_power.max().clamp_min(1e-30) * 10.0 ** (floor_db / 10.0)
    diff = 10.0 * torch.log10(reference_power.clamp_min(floor) / estimate_power.clamp_min(floor))
    return float(diff.square().mean(dim=-2).sqrt().mean())


def mel_misfit(melspec: Tensor, waveform: Tensor, preset) -> Tensor:
    """How far the mel of ``waveform`` is from ``melspec``: per item, ``||m - m_hat||_F / ||m||_F``
    on mel magnitudes (``melspec ** (1 / preset.power)``), where ``m_hat`` is the preset's mel of
    the audio (:meth:`inverse_mel.presets.Preset.mel_spectrogram`).

    Parameters
    ----------
    melspec : Tensor
        ``(..., n_mels, time)`` linear mel spectrogram in the preset's power.
    waveform : Tensor
        ``(..., samples)`` audio at ``preset.sample_rate``, aligned with the frames.
    preset : Preset or str
        A :class:`inverse_mel.presets.Preset` or its name.

    Returns
    -------
    Tensor
        ``(...)`` float tensor, 0 where the audio has exactly this mel (frames beyond the shorter of
        the two are ignored; an all-zero item gives the absolute misfit).

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> audio = synthesize(p.sample_rate, seconds=0.5)
    >>> mel = p.mel_spectrogram(audio)                     # (n_mels, frames), linear
    >>> float(inverse_mel.metrics.mel_misfit(mel, audio, p)) < 1e-5   # the audio's own mel
    True
    """
    from .presets import get_preset

    p = get_preset(preset)
    if not isinstance(melspec, Tensor) or melspec.dim() < 2 or melspec.shape[-2] != p.n_mels:
        found = tuple(melspec.shape) if isinstance(melspec, Tensor) else type(melspec).__name__
        raise ValueError(f"mel_misfit: melspec must be a tensor (..., {p.n_mels}, time) for preset {p.name}, "
                         f"found {found}")
    if not isinstance(waveform, Tensor) or waveform.shape[:-1] != melspec.shape[:-2]:
        found = tuple(waveform.shape) if isinstance(waveform, Tensor) else type(waveform).__name__
        raise ValueError(f"mel_misfit: waveform must be a tensor (..., samples) with melspec's batch shape "
                         f"{tuple(melspec.shape[:-2])}, found {found}")
    error_sq, norm_sq = mel_misfit_terms(melspec, waveform, p)
    error, norm = error_sq.sqrt(), norm_sq.sqrt()
    return torch.where(norm > 0, error / norm.clamp_min(torch.finfo(norm.dtype).tiny), error)


def mel_misfit_terms(melspec: Tensor, waveform: Tensor, preset, start: int = 0,
                     stop: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """The squared error and squared norm behind :func:`mel_misfit`, over the frames
    ``[start, stop)``: sums of them over the pieces of a long input give the whole input's misfit,
    ``sqrt(sum(error_sq) / sum(norm_sq))``.

    Parameters
    ----------
    melspec : Tensor
        ``(..., n_mels, time)`` linear mel spectrogram in the preset's power.
    waveform : Tensor
        ``(..., samples)`` audio at ``preset.sample_rate``, aligned with the frames.
    preset : Preset
        A :class:`inverse_mel.presets.Preset` (not checked: :func:`mel_misfit` checks its inputs).
    start, stop : int
        The frames to sum over (default: all that both have).

    Returns
    -------
    tuple of Tensor
        ``(error_sq, norm_sq)``, each ``(...)``.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> audio = synthesize(p.sample_rate, seconds=0.5)
    >>> mel = p.mel_spectrogram(audio)
    >>> error_sq, norm_sq = inverse_mel.metrics.mel_misfit_terms(mel, 0.5 * audio, p)
    >>> round(float((error_sq / norm_sq).sqrt()), 3)                 # half the amplitude
    0.5
    """
    from .functional.filterbank import mel_scale

    dtype = torch.float64 if torch.float64 in (melspec.dtype, waveform.dtype) else torch.float32
    spec = preset.spectrogram(waveform.to(dtype))
    rebuilt = mel_scale(spec, preset.fbanks().to(spec.device, dtype))
    n = min(rebuilt.shape[-1], melspec.shape[-1])
    stop = n if stop is None else min(stop, n)
    target = melspec[..., start:stop].to(dtype).clamp_min(0).pow(1.0 / preset.power)
    estimate = rebuilt[..., start:stop].clamp_min(0).pow(1.0 / preset.power)
    return (target - estimate).square().sum(dim=(-2, -1)), target.square().sum(dim=(-2, -1))


def mel_inconsistency(melspec: Tensor, preset=None, *, features: bool = True, solver: str = "nnls",
                      seed: int = 0) -> Tensor:
    """How far a mel spectrogram is from the mel of any real sound: the mel misfit
    (:func:`mel_misfit`) of its ``method="pghi"`` reconstruction (:func:`inverse_mel.mel_to_audio`).

    A mel computed from audio gives the preset's clean level (not 0: the mel inverse and the phase
    retrieval are approximate); a model's mels with independent errors, or edited mels, give more.
    Compare with the clean level of the same preset: benchmarks/results/auto.md tabulates it per
    preset on real recordings (``method="auto"`` compares two reconstructions of the same input
    instead, so it needs no table).

    Parameters
    ----------
    melspec : Tensor
        ``(..., n_mels, time)``, the preset's features (``features=True``, default) or a linear mel
        spectrogram in its power (``features=False``).
    preset : Preset or str, optional
        A preset name or :class:`inverse_mel.presets.Preset` (default ``"hifigan"``).
    features : bool, default True
        Keyword-only: whether ``melspec`` holds the preset's features.
    solver, seed
        Keyword-only, as in :func:`inverse_mel.mel_to_audio`.

    Returns
    -------
    Tensor
        ``(...)`` float tensor, one value per item; deterministic for a given ``seed``.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> features = p.features(synthesize(p.sample_rate, seconds=0.5))   # (n_mels, frames)
    >>> noisy = features + 0.5 * torch.randn(features.shape, generator=torch.Generator().manual_seed(0))
    >>> clean_level = inverse_mel.metrics.mel_inconsistency(features, p)
    >>> bool(inverse_mel.metrics.mel_inconsistency(noisy, p) > clean_level)  # ln-mel errors: further from any sound
    True
    """
    from .pipeline import mel_to_audio
    from .presets import get_preset

    p = get_preset("hifigan" if preset is None else preset)
    if not isinstance(melspec, Tensor) or melspec.dim() < 2 or melspec.shape[-2] != p.n_mels:
        found = tuple(melspec.shape) if isinstance(melspec, Tensor) else type(melspec).__name__
        raise ValueError(f"mel_inconsistency: melspec must be a tensor (..., {p.n_mels}, time) for preset {p.name}, "
                         f"found {found}; pass preset= for another mel count")
    if not melspec.is_floating_point() or not bool(torch.isfinite(melspec).all()):
        raise ValueError("mel_inconsistency: melspec must be floating point and finite (no NaN or Inf)")
    mel = p.to_linear_mel(melspec) if features else melspec
    if not features and bool((mel < 0).any()):
        raise ValueError("mel_inconsistency: a linear mel (features=False) must be non-negative; log-scaled "
                         "features need features=True")
    waveform = mel_to_audio(mel, p, features=False, solver=solver, method="pghi", seed=seed)
    return mel_misfit(mel, waveform, p)
