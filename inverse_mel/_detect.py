"""Which preset made these features? Ranks the presets by how well a feature array's shape and
values fit each one's convention (exposed as :func:`inverse_mel.presets.detect`).

The evidence, per preset:

* the shape: ``n_mels`` must match (and the sample rate, when given);
* the bounds: no value below the preset's floor (``compress`` of a zero mel: ``ln(1e-5)``,
  ``log10(1e-10)``, Coqui's ``-4``, Whisper's ``max - 2``...) and none far above the largest value a
  full-scale signal gives;
* the floor plateau: many values exactly at their band's smallest value is the mark of a clamp
  (or of ESPnet2's per-band magnitude floor); it is evidence for the presets whose floor is that
  value and against the others;
* the level: the linear mel the preset's inverse implies should be a plausible audio level
  (within about 20 dB of a full-scale test signal's, for the loud parts).

Presets that differ only in framing or filterbank (e.g. ``hifigan`` and ``tacotron2``) share a value
convention and cannot be told apart by values: they come out tied, and the result says so.
"""
from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["Detection", "detect"]

_LEVEL_SPREAD_DB = 20.0  # how far a recording's loud parts may sit from the full-scale reference
_RANGE_SPREAD_OCTAVES = 1.0  # how far (as a factor of 2) a recording's dB range may be from the reference's
_PLATEAU_FRACTION = 0.002  # a floor plateau: at least this share of values at their band minimum
_TIE_MARGIN = 1.0  # log-score difference under which presets sharing a value convention tie


class Detection(list):
    """The presets ranked by fit: a list of ``(name, score)`` pairs, best first, scores in [0, 1]
    summing to 1 over the presets whose shape fits (0 for the others).

    Attributes
    ----------
    best
        the top preset's name (``None`` when no preset has this number of mels).
    reason
        one line on why the top preset fits (its floor, range and level).
    ties
        the presets tied with the top one (same value convention, nearly the same score),
        the top one included; ``len(ties) > 1`` means values cannot tell them apart.
    fits
        whether the values lie within the top preset's floor and ceiling (``False``: even
        the best preset does not explain them, e.g. values no audio gives).

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("vocos")
    >>> ranking = inverse_mel.presets.detect(p.features(synthesize(p.sample_rate, seconds=1.0)))
    >>> ranking.best in ranking.ties, ranking[0][0] == ranking.best
    (True, True)
    """

    def __init__(self, ranked: Sequence[Tuple[str, float]], reason: str, ties: Tuple[str, ...], fits: bool = False):
        super().__init__(ranked)
        self.best: Optional[str] = ranked[0][0] if ranked and ranked[0][1] > 0 else None
        self.reason = reason
        self.ties = ties
        self.fits = fits

    def __repr__(self) -> str:
        return f"Detection({list.__repr__(self)}, reason={self.reason!r}, ties={self.ties!r}, fits={self.fits!r})"


def _value_convention(preset) -> tuple:
    """What the feature values depend on besides the audio (ties share it)."""
    return (preset.n_mels, preset.log, preset.clamp_min, preset.log_offset, preset.log_gain, preset.normalization,
            preset.norm_mean, preset.norm_std, preset.ref_level_db, preset.min_level_db, preset.max_norm,
            preset.symmetric_norm, preset.clip_norm)


def _level_db(preset, mel: Tensor) -> Tensor:
    """A linear mel's level in dB of amplitude (power mels count half)."""
    return (10.0 * (2.0 / float(preset.power))) * torch.log10(mel.clamp_min(1e-30))


def _spread(levels: Tensor) -> Tuple[float, float]:
    """(loud level, dynamic range) in dB: the 95th percentile and its distance to the 5th."""
    loud, quiet = torch.quantile(levels.flatten().double(), torch.tensor([0.95, 0.05], dtype=torch.float64)).tolist()
    return loud, max(loud - quiet, 1e-3)


@functools.lru_cache(maxsize=64)
def _reference(preset) -> Tuple[float, float, float]:
    """(ceiling, loud level in dB, dynamic range in dB): the largest feature value a full-scale
    signal gives (sines at a few frequencies, full-scale noise), and the level spread of a
    full-scale test signal's mel."""
    from .demo import synthesize  # a deterministic harmonic tone, chirp, noise bursts; peak 0.9

    rate = preset.sample_rate
    t = torch.arange(rate // 2, dtype=torch.float32) / rate
    signals = [torch.sin(2 * math.pi * f * t) for f in (100.0, 300.0, 1000.0, 3000.0, 0.4 * rate)]
    signals.append(torch.rand(rate // 2, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    ceiling = max(float(preset.features(s).max()) for s in signals)
    mel = preset.mel_spectrogram(synthesize(rate, seconds=1.0))
    floor_mel = preset.clamp_min + preset.log_offset
    levels = _level_db(preset, mel[mel > 2 * floor_mel] if bool((mel > 2 * floor_mel).any()) else mel)
    return (ceiling, *_spread(levels))


@functools.lru_cache(maxsize=64)
def _band_floor(preset) -> Tensor:
    """(n_mels, 1) float64: the smallest value the preset writes in each band. A magnitude floor
    (ESPnet2's ``sqrt(max(power, 1e-10))``) lifts it per band above the clamp's."""
    mel_floor = torch.zeros(preset.n_mels, dtype=torch.float64)
    if preset.power == 1 and (preset.power_floor > 0 or preset.magnitude_eps > 0):
        mel_floor = math.sqrt(preset.power_floor + preset.magnitude_eps) * preset.fbanks().double().sum(0)
    return preset.compress(mel_floor[:, None])


def _floor(preset, values: Tensor) -> Tensor:
    """The smallest value per band, (n_mels, 1) (Whisper's depends on the maximum)."""
    if preset.normalization == "whisper":
        return torch.full((values.shape[0], 1), float(values.max()) - 2.0, dtype=torch.float64)
    return _band_floor(preset)


def _words(floor: Tensor) -> str:
    low, high = float(floor.min()), float(floor.max())
    return f"{low:.4g}" if high - low < 1e-9 else f"{low:.4g} to {high:.4g} by band"


def _score(preset, values: Tensor, at_minimum: Tensor) -> Tuple[float, str, bool]:
    """(log-score, the reason in words, within its bounds) of one preset for finite ``values`` (n_mels, frames),
    float64; ``at_minimum`` marks the values at their band's minimum when those form a plateau."""
    floor = _floor(preset, values)
    tol = 1e-3 * floor.abs().clamp_min(1.0)
    ceiling, loud_ref, range_ref = _reference(preset)
    score, notes = 0.0, []
    below = float((values < floor - tol).double().mean())
    if below > 0:
        score -= 20.0 + 100.0 * below
        notes.append(f"{below:.0%} below its floor {_words(floor)}")
    headroom = 0.1 * max(1.0, abs(ceiling - float(floor.min())))
    above = float((values > ceiling + headroom).double().mean())
    if above > 0:
        score -= 5.0 + 50.0 * above
        notes.append(f"{above:.0%} above the {ceiling:.3g} a full-scale signal gives")
    at_floor = (values - floor).abs() <= tol
    plateau = int(at_minimum.sum())
    if plateau and int((at_floor & at_minimum).sum()) >= plateau // 2:
        score += 6.0
        notes.append(f"{float(at_floor.double().mean()):.1%} of values sit at its floor {_words(floor)}")
    elif plateau:
        score -= 4.0  # the clamp that made the plateau is another preset's
        notes.append(f"a floor plateau that is not at its floor {_words(floor)}")
    with torch.no_grad():
        try:
            mel = preset.to_linear_mel(values)
        except ValueError:
            return -math.inf, "the values overflow its inverse", False
    above_floor = values > floor + tol
    levels = _level_db(preset, mel[above_floor])
    if not levels.numel():
        return -math.inf, "no value above its floor", False
    loud, dynamic_range = _spread(levels)
    score -= 0.5 * ((loud - loud_ref) / _LEVEL_SPREAD_DB) ** 2
    # A wrong log base or normalisation stretches or shrinks the dB range by its factor.
    score -= 0.5 * (math.log2(dynamic_range / range_ref) / _RANGE_SPREAD_OCTAVES) ** 2
    notes.append(f"loud parts {loud - loud_ref:+.0f} dB from a full-scale signal's, a {dynamic_range:.0f} dB range")
    return score, "; ".join(notes), below == 0 and above == 0


def detect(features, sample_rate: Optional[int] = None, presets=None) -> Detection:
    """Rank the presets by how well ``features`` fit their conventions.

    Parameters
    ----------
    features
        a model's mel features ``(..., n_mels, frames)`` (a tensor or an array);
        leading dimensions are items of one batch, scored together.
    sample_rate
        the audio rate the features belong to, when known: presets for other rates
        are left out.
    presets
        names or :class:`Preset` objects to rank (default: every registered preset).

    Returns
    -------
    Detection
        A :class:`Detection`: ``[(name, score), ...]`` best first, with ``.best``, ``.reason``
        and ``.ties``.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("whisper")
    >>> features = p.features(synthesize(p.sample_rate, seconds=1.0))   # (80, frames)
    >>> inverse_mel.presets.detect(features, sample_rate=16000).best
    'whisper'
    """
    from .presets import PRESETS, get_preset

    if not isinstance(features, Tensor):
        try:
            features = torch.as_tensor(features)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"detect: features must be a tensor or an array (..., n_mels, frames), "
                            f"found {type(features).__name__}") from error
    if features.dim() < 2 or features.numel() == 0:
        raise ValueError(f"detect: features must have shape (..., n_mels, frames), found {tuple(features.shape)}")
    if not (features.is_floating_point() or features.dtype in (torch.int16, torch.int32, torch.int64)):
        raise TypeError(f"detect: features must be real numbers, found dtype {features.dtype}")
    values = features.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(values).all()):
        raise ValueError("detect: features contain NaN or Inf; no preset writes those")
    if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int)
                                    or sample_rate < 1):
        raise ValueError(f"detect: sample_rate must be a positive int of Hz or None, found {sample_rate!r}")
    candidates = [get_preset(p) for p in (presets if presets is not None else PRESETS)]
    n_mels = values.shape[-2]
    frames = values.movedim(-2, 0).reshape(n_mels, -1)  # (n_mels, all frames of all items)
    if frames.shape[1] > 4000:  # a strided sample keeps the statistics and the time small
        frames = frames[:, :: frames.shape[1] // 4000 + 1]
    band_min = frames.min(dim=1, keepdim=True).values
    at_minimum = (frames - band_min).abs() <= 1e-3 * band_min.abs().clamp_min(1.0)
    at_minimum &= at_minimum.sum(dim=1, keepdim=True) >= 3  # a plateau needs repeats
    if float(at_minimum.double().mean()) < _PLATEAU_FRACTION:
        at_minimum = torch.zeros_like(at_minimum)  # no clamp to be seen
    scored: List[Tuple[object, float, str, bool]] = []
    for preset in candidates:
        if preset.n_mels != n_mels or (sample_rate is not None and preset.sample_rate != sample_rate):
            continue
        scored.append((preset, *_score(preset, frames, at_minimum)))
    excluded = [(p.name, 0.0) for p in candidates if all(p is not s[0] for s in scored)]
    if not scored:
        rate = f" at {sample_rate} Hz" if sample_rate is not None else ""
        known = sorted({p.n_mels for p in candidates})
        return Detection(excluded, f"no preset{rate} has {n_mels} mels (the presets have {known})", ())
    scored.sort(key=lambda item: -item[1])
    finite = [s for _, s, _, _ in scored if s > -math.inf]
    top = max(finite) if finite else 0.0
    weights = [math.exp(s - top) if s > -math.inf else 0.0 for _, s, _, _ in scored]
    total = sum(weights) or 1.0
    ranked = [(p.name, w / total) for (p, _, _, _), w in zip(scored, weights)] + excluded
    best, best_score, note, fits = scored[0]
    ties = tuple(p.name for p, s, _, _ in scored
                 if _value_convention(p) == _value_convention(best) and best_score - s < _TIE_MARGIN)
    reason = f"{best.name}'s {best.describe_scale()} ({note})"
    if len(ties) > 1:
        reason += f"; tied with {', '.join(t for t in ties if t != best.name)} (same values convention, " \
                  "different framing or filterbank: values cannot tell them apart)"
    return Detection(ranked, reason, ties, fits)
