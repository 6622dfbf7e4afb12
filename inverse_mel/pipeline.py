"""From a model's mel features to audio in one call: undo the preset's scaling, invert the mel
filterbank, reconstruct the phase."""
import functools
import logging
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from . import _long, _validation as V
from .metrics import mel_misfit
from .functional.mel_consistent import mel_consistent_griffin_lim
from .functional._core import audio_angles, pghi_angles
from .functional.phase import griffin_lim
from .presets import Preset, get_preset

__all__ = ["AUTO_KEEP_RATIO", "AUTO_MCGL_ITER", "DEFAULT_MCGL_ITER", "DEFAULT_METHOD", "PhaseInfo", "mel_to_audio",
           "reconstruct_waveform"]

_log = logging.getLogger("inverse_mel")

DEFAULT_METHOD = "auto"
"""mel_to_audio's default phase reconstruction: ``"pghi"``, then mel-consistent iterations kept only
where the input mel turns out to be consistent (:data:`AUTO_KEEP_RATIO`); measured in
benchmarks/results/auto.md against the classic chain and ``"pghi"`` on every preset."""
DEFAULT_MCGL_ITER = 100
"""``method="mcgl"``'s iterations: the best-quality setting measured (benchmarks/results/phase.md),
at several times the classic chain's cost."""
AUTO_MCGL_ITER = 8
"""``method="auto"``'s mel-consistent iterations after ``"pghi"``: chosen in the tuning runs so the
whole method stays within the time goal (benchmarks/results/auto.md); more gained little on clean mels."""
AUTO_KEEP_RATIO = 0.85
"""``method="auto"`` keeps the mel-consistent result of an item when its mel misfit
(:func:`inverse_mel.metrics.mel_misfit`) is at most this fraction of ``"pghi"``'s, else ``"pghi"``'s.
A mel some sound has (a clean one, or an over-smoothed one) lets the iterations close a large
part of PGHI's misfit; a mel with independent errors (a model's) cannot be fitted by any sound, the
iterations close little of it and what they fit is its errors (worse audio). Tuned on a few clips
of six presets, then measured on other clips and every preset: benchmarks/results/auto.md."""


class PhaseInfo(NamedTuple):
    """What ``mel_to_audio(..., return_info=True)`` reports about the phase reconstruction.

    Attributes
    ----------
    method : str
        The method asked for (``"auto"``, ``"pghi"``, ``"mcgl"`` or ``"griffin_lim"``).
    chosen : list of str
        Per item, the method whose audio was returned (for ``"auto"``: ``"mcgl"`` or ``"pghi"``), in
        the batch's flattened order.
    misfit : Tensor
        ``(...)`` the returned audio's mel misfit (:func:`inverse_mel.metrics.mel_misfit`).
    misfit_pghi, misfit_mcgl : Tensor or None
        ``(...)`` for ``"auto"``: the two candidates' misfits (else ``None``).
    reason : str
        One line that says what was chosen and why.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> features = p.features(synthesize(p.sample_rate, seconds=0.5))
    >>> waveform, info = inverse_mel.mel_to_audio(features, "hifigan", return_info=True)
    >>> info.method, info.chosen[0] in ("mcgl", "pghi")
    ('auto', True)
    """

    method: str
    chosen: list
    misfit: Tensor
    misfit_pghi: Optional[Tensor]
    misfit_mcgl: Optional[Tensor]
    reason: str


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
        or zero without ``rand_init``), ``"pghi"`` (the same from PGHI's phase), ``"mcgl"``
        (``"pghi"``, then ``mcgl_iter`` mel-consistent iterations, which need the linear
        ``melspec`` and the ``inverse`` module whose filterbank made it) or ``"auto"`` (``"pghi"``,
        then :data:`AUTO_MCGL_ITER` mel-consistent iterations kept per item where the mel is
        consistent: see :data:`AUTO_KEEP_RATIO`; needs ``melspec`` and ``inverse`` too).
    melspec, inverse, mcgl_iter
        Keyword-only, ``"mcgl"`` and ``"auto"`` only.

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
    if method == "auto":
        return _auto_waveform(specgram, preset, n_iter, momentum, length, rand_init, seed, melspec, inverse)[0]
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
    return _delay_uncentred(waveform, preset, length)


def _delay_uncentred(waveform: Tensor, preset: Preset, length: int) -> Tensor:
    # Uncentred frames (HiFi-GAN) sit (n_fft - hop) // 2 samples into the padded audio, so
    # frame t is centred at t * hop + shift: Griffin-Lim's centred frames give the audio
    # advanced by shift samples. Delay it back.
    shift = preset.uncentred_shift
    if shift:
        waveform = torch.nn.functional.pad(waveform, (shift, 0))[..., :length]
    return waveform


def _fit_length(waveform: Tensor, length: int) -> Tensor:
    if waveform.shape[-1] >= length:
        return waveform[..., :length]
    return torch.nn.functional.pad(waveform, (0, length - waveform.shape[-1]))


def _auto_waveform(specgram, preset, n_iter, momentum, length, rand_init, seed, melspec, inverse):
    """``method="auto"``: ``"pghi"``'s audio, then :data:`AUTO_MCGL_ITER` mel-consistent iterations
    from its phase; per item, the candidate kept is the mel-consistent one where it lowers the mel
    misfit to at most :data:`AUTO_KEEP_RATIO` of PGHI's (a consistent input), else PGHI's.
    Returns ``(waveform, PhaseInfo)``."""
    if melspec is None or inverse is None:
        raise ValueError('method="auto" needs the linear melspec and the inverse module')
    compute = specgram if specgram.dtype in (torch.float32, torch.float64) else specgram.float()
    mel = melspec.to(compute.dtype)
    frames = compute.shape[-1]
    natural = preset.frames_to_samples(frames)
    out_length = natural if length is None else length
    pghi = reconstruct_waveform(compute, preset, n_iter, momentum, natural, rand_init, seed, method="pghi")
    if compute.numel() == 0:
        empty = compute.new_zeros(compute.shape[:-2])
        info = PhaseInfo("auto", [], empty, empty, empty, "auto: no frames, nothing to choose")
        return _fit_length(pghi, out_length), info
    # PGHI's phase as the mel-consistent iterations' start: its audio's centred STFT, frame-aligned.
    shift = preset.uncentred_shift
    centred = torch.nn.functional.pad(pghi[..., shift:], (0, shift)) if shift else pghi
    window = preset.window(device=compute.device, dtype=compute.dtype)
    angles = audio_angles(centred, window, preset.n_fft, preset.hop_length, preset.window_length, frames)
    op = inverse.operator(compute.dtype)
    mcgl = mel_consistent_griffin_lim(mel, compute, angles.reshape(compute.shape), window, preset.n_fft,
                                      preset.hop_length, preset.window_length, float(preset.power), op.tap_index,
                                      op.tap_weight, AUTO_MCGL_ITER, momentum, natural)
    mcgl = _delay_uncentred(mcgl, preset, natural)
    misfit_pghi = mel_misfit(mel, pghi, preset)
    misfit_mcgl = mel_misfit(mel, mcgl, preset)
    keep = misfit_mcgl <= AUTO_KEEP_RATIO * misfit_pghi  # (...) per item
    waveform = torch.where(keep[..., None], mcgl, pghi)
    chosen = ["mcgl" if k else "pghi" for k in keep.reshape(-1).tolist()]
    ratio = misfit_mcgl / misfit_pghi.clamp_min(1e-30)
    n_kept = sum(c == "mcgl" for c in chosen)
    reason = (f"auto: {AUTO_MCGL_ITER} mel-consistent iterations after pghi kept for {n_kept} of {len(chosen)} "
              f"item(s): their mel misfit was {float(ratio.min()):.2f}-{float(ratio.max()):.2f} of pghi's "
              f"(kept where <= {AUTO_KEEP_RATIO}: a mel a sound can have; above, the mel is inconsistent and "
              "fitting it closer fits its errors)")
    _log.info(reason)
    info = PhaseInfo("auto", chosen, torch.where(keep, misfit_mcgl, misfit_pghi), misfit_pghi, misfit_mcgl, reason)
    return _fit_length(waveform, out_length), info


def _pieces_info(method: str, misfits, batch_shape) -> PhaseInfo:
    """The :class:`PhaseInfo` of a long input reconstructed in pieces (:mod:`inverse_mel._long`):
    misfits over all the core frames; for ``"auto"``, an item's method is the one kept in most of
    its pieces."""
    def whole(name):
        return misfits.misfit(name).reshape(batch_shape)

    misfit = whole("returned")
    if method != "auto":
        return PhaseInfo(method, [method] * misfit.numel(), misfit, None, None,
                         f"{method}: as asked, in {misfits.pieces} pieces")
    kept = misfits.kept.reshape(-1).tolist()
    chosen = ["mcgl" if 2 * k > misfits.pieces else "pghi" for k in kept]
    reason = (f"auto, in {misfits.pieces} pieces: {AUTO_MCGL_ITER} mel-consistent iterations after pghi kept in "
              f"{min(kept)}-{max(kept)} of them per item (where they lowered the piece's mel misfit to at most "
              f"{AUTO_KEEP_RATIO} of pghi's)")
    _log.info(reason)
    return PhaseInfo("auto", chosen, misfit, whole("pghi"), whole("mcgl"), reason)


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
    return_info: bool = False,
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
        the phase reconstruction. ``"auto"`` (default): ``"pghi"``, then :data:`AUTO_MCGL_ITER`
        mel-consistent iterations, whose audio is kept for the items where they lower the mel
        misfit to at most :data:`AUTO_KEEP_RATIO` of PGHI's (a consistent mel: clean or
        over-smoothed), else PGHI's audio (a model's mel with independent errors). ``"pghi"``:
        phase-gradient heap integration
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
    return_info
        also return a :class:`PhaseInfo`: the method used per item, the mel misfits and one line
        saying why (``"auto"`` also logs that line on the ``inverse_mel`` logger).

    Returns
    -------
    Tensor or tuple
        ``(..., samples)`` waveform at ``preset.sample_rate``; with ``return_specgram`` and/or
        ``return_info``, a tuple ``(waveform, specgram, info)`` of the ones asked for, in that order.

    Notes
    -----
    Inputs longer than :data:`inverse_mel._long.PIECE_FRAMES` frames (plus the overlap; without
    ``return_specgram``) are inverted and reconstructed piece by piece with overlapping context,
    so the working memory does not grow with the length (the returned waveform does); shorter
    inputs are reconstructed whole. ``"auto"`` then chooses per piece and item, and ``return_info``
    reports the misfits over the whole input.

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
    if not return_specgram and mel.shape[-1] > _long.PIECE_FRAMES + _long.OVERLAP_FRAMES:
        # Long input: piece by piece, so that the inverse's and the iterations' memory stays bounded.
        V.check_method(method)
        waveform, misfits = _long.mel_to_audio_in_pieces(
            mel, p, inverse, method, n_iter, momentum, length, rand_init, seed,
            AUTO_MCGL_ITER if method == "auto" else mcgl_iter, keep_ratio=AUTO_KEEP_RATIO, track_misfit=return_info)
        if not return_info:
            return waveform
        return waveform, _pieces_info(method, misfits, mel.shape[:-2])
    specgram = inverse(mel)
    info = None
    if method == "auto":
        waveform, info = _auto_waveform(specgram, p, n_iter, momentum, length, rand_init, seed, mel, inverse)
    else:
        waveform = reconstruct_waveform(specgram, p, n_iter, momentum, length, rand_init, seed, method=method,
                                        melspec=mel, inverse=inverse, mcgl_iter=mcgl_iter)
        if return_info:
            misfit = mel_misfit(mel, _fit_length(waveform, p.frames_to_samples(mel.shape[-1])), p)
            info = PhaseInfo(method, [method] * misfit.numel(), misfit, None, None, f"{method}: as asked")
    out = (waveform,) + ((specgram,) if return_specgram else ()) + ((info,) if return_info else ())
    return out[0] if len(out) == 1 else out
