"""The per-call machinery that the modules' forwards and the functional API share, in one home
(TorchScript-compatible): applying a prepared filterbank (the least-squares or NNLS op, float16 and
bfloat16 in float32 pieces, the report of the ``*_with_info`` forms) and the Griffin-Lim iterations.
Nothing here checks arguments (``inverse_mel._validation`` does) or factors a filterbank
(:mod:`inverse_mel.functional.inverse` does)."""
from typing import List, NamedTuple, Optional

import torch
from torch import Tensor

from .. import _validation as V
from .._ops import dense_from_taps
from .pghi import phase_gradient_init

__all__ = [
    "InverseMelResult",
    "apply_operator",
    "apply_operator_specgram",
    "audio_angles",
    "compute_dtype_of",
    "flat_shape",
    "iteration_length",
    "pghi_angles",
    "phase_iterations",
    "project_to_mel",
    "stft_round_trip",
]


def project_to_mel(specgram: Tensor, fb: Tensor, fn: str) -> Tensor:
    """``fb.T @ specgram`` as torchaudio's ``MelScale`` computes it, with the checks of ``specgram``;
    ``fb`` ``(n_freqs, n_mels)`` has been checked by the caller (``V.check_fb``). Returns
    ``(..., n_mels, time)`` in ``specgram``'s dtype."""
    V.check_spectrogram(specgram, "specgram", "n_freqs", fb.shape[0], fn)
    V.check_finite(specgram, "specgram", fn)
    V.check_same_device(specgram, "specgram", fb, fn)
    weights = fb if fb.dtype == specgram.dtype else fb.to(specgram.dtype)
    return torch.matmul(specgram.transpose(-1, -2), weights).transpose(-1, -2)


class InverseMelResult(NamedTuple):
    """What the ``*_with_info`` forms return, like ``torch.linalg.*_ex``.

    Attributes
    ----------
    specgram : Tensor
        ``(..., n_freqs, time)``, the estimate.
    iterations : Tensor
        ``(..., time)`` int32, NNLS Newton steps per frame (0 for ``"lstsq"``).
    residual : Tensor
        ``(..., time)``, relative mel residual ``||fb.T @ S - M|| / ||M||`` per frame.
    converged : Tensor
        ``(..., time)`` bool; ``False`` for frames that ran out of steps or hold NaN/Inf.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> nnls = inverse_mel.InverseMelScale(n_stft=201, n_mels=40, solver="nnls")
    >>> _ = torch.manual_seed(0)
    >>> result = nnls.forward_with_info(torch.rand(3, 40, 10))
    >>> result.specgram.shape, result.converged.shape
    (torch.Size([3, 201, 10]), torch.Size([3, 10]))
    >>> bool(result.converged.all())
    True
    """

    specgram: Tensor
    iterations: Tensor
    residual: Tensor
    converged: Tensor


# -- applying a prepared filterbank --------------------------------------------------------------
def compute_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """float16/bfloat16 have too little range and precision for the solve: computed in float32."""
    if dtype == torch.float64:
        return torch.float64
    return torch.float32


def _lstsq_residual_info(mel: Tensor, specgram: Tensor, tap_index: Tensor, tap_weight: Tensor, n_mels: int):
    """The report of a least-squares solve: 0 iterations, the relative mel residual (the absolute
    one for an all-zero frame), converged where it is finite."""
    mel = mel.detach()
    dense = dense_from_taps(tap_index, tap_weight, n_mels)
    mel_norm = torch.linalg.vector_norm(mel, dim=-2)
    residual = torch.linalg.vector_norm(dense.T @ specgram.detach() - mel, dim=-2)
    residual = torch.where(mel_norm > 0, residual / torch.where(mel_norm > 0, mel_norm, torch.ones_like(mel_norm)),
                           residual)
    iterations = torch.zeros(residual.shape, dtype=torch.int32, device=residual.device)
    return iterations, residual, torch.isfinite(residual)


def apply_operator(
    melspec: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    band: Optional[Tensor],
    solver: str,
    max_iter: int,
    tol: float,
    band_edge_fill: Optional[Tensor],
    with_info: bool,
) -> InverseMelResult:
    """Solve with a ready operator (on ``melspec``'s device, in its compute dtype). Without
    ``with_info`` only ``specgram`` is filled (the other fields are empty)."""
    if not with_info:
        return _without_info(
            apply_operator_specgram(melspec, gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol,
                                    band_edge_fill))
    compute = compute_dtype_of(melspec.dtype)
    result = _solve(melspec.to(compute), gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol, band_edge_fill,
                    with_info)
    return InverseMelResult(result.specgram.to(melspec.dtype), result.iterations, result.residual, result.converged)


def apply_operator_specgram(
    melspec: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    band: Optional[Tensor],
    solver: str,
    max_iter: int,
    tol: float,
    band_edge_fill: Optional[Tensor],
) -> Tensor:
    """:func:`apply_operator` without the report: only what a forward needs, ``(..., n_freqs, time)``
    in ``melspec``'s dtype (the modules' per-call path; no conversion when the dtype is computed)."""
    compute = compute_dtype_of(melspec.dtype)
    if compute == melspec.dtype:
        return _specgram(melspec, gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol, band_edge_fill)
    half_in_pieces = (
        not (melspec.requires_grad and torch.is_grad_enabled())
        and melspec.numel() > 0
        and melspec.numel() // melspec.shape[-2] * tap_index.shape[0] * 4 > _half_piece_bytes()
    )
    if not torch.jit.is_scripting():
        half_in_pieces = half_in_pieces and not torch.compiler.is_compiling()
    if half_in_pieces:
        return _solve_half_in_pieces(melspec, gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol,
                                     band_edge_fill)
    specgram = _specgram(melspec.to(compute), gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol,
                         band_edge_fill)
    return specgram.to(melspec.dtype)


def _solve(
    mel: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    band: Optional[Tensor],
    solver: str,
    max_iter: int,
    tol: float,
    band_edge_fill: Optional[Tensor],
    with_info: bool,
) -> InverseMelResult:
    """The op call, on ``mel`` in its compute dtype (float32 or float64)."""
    if not with_info:
        return _without_info(_specgram(mel, gram_pinv, tap_index, tap_weight, band, solver, max_iter, tol,
                                       band_edge_fill))
    if solver == "nnls":
        specgram, iterations, residual, converged = torch.ops.inverse_mel.nnls(
            mel, tap_index, tap_weight, max_iter, tol, band_edge_fill)
        return InverseMelResult(specgram, iterations, residual, converged)
    specgram = torch.ops.inverse_mel.lstsq_apply(mel, gram_pinv, tap_index, tap_weight, band)
    iterations, residual, converged = _lstsq_residual_info(mel, specgram, tap_index, tap_weight, gram_pinv.shape[0])
    return InverseMelResult(specgram, iterations, residual, converged)


def _specgram(
    mel: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    band: Optional[Tensor],
    solver: str,
    max_iter: int,
    tol: float,
    band_edge_fill: Optional[Tensor],
) -> Tensor:
    """The op call for the solution alone, on ``mel`` in its compute dtype. In eager mode, when no
    gradient can be asked for, the op is called below the autograd layer: the Python autograd
    wrapper that torch.library puts around it costs more than the op itself at 1 x 100 frames."""
    if not torch.jit.is_scripting():
        if _no_gradient_possible(mel, gram_pinv, tap_weight):
            with torch._C._AutoDispatchBelowAutograd():
                if solver == "nnls":
                    return torch.ops.inverse_mel.nnls(mel, tap_index, tap_weight, max_iter, tol, band_edge_fill)[0]
                return torch.ops.inverse_mel.lstsq_apply(mel, gram_pinv, tap_index, tap_weight, band)
    if solver == "nnls":
        return torch.ops.inverse_mel.nnls(mel, tap_index, tap_weight, max_iter, tol, band_edge_fill)[0]
    return torch.ops.inverse_mel.lstsq_apply(mel, gram_pinv, tap_index, tap_weight, band)


def _no_gradient_possible(mel: Tensor, gram_pinv: Tensor, tap_weight: Tensor) -> bool:
    """Eager mode, no tensor that could need a gradient, no functorch transform and no tracing:
    then skipping the autograd layer changes nothing but the time."""
    if torch.compiler.is_compiling() or torch.jit.is_tracing():
        return False
    if torch.is_grad_enabled() and (mel.requires_grad or gram_pinv.requires_grad or tap_weight.requires_grad):
        return False
    return not torch._C._are_functorch_transforms_active()


def _half_piece_bytes() -> int:
    """float16/bfloat16 inputs are computed in float32 in pieces of at most this many float32
    output bytes, written into the half-precision output: the extra memory of a forward stays
    this size instead of a float32 copy of the whole output. (A function: TorchScript code
    cannot read a global int.)"""
    return 64 * 1024 * 1024


def _without_info(specgram: Tensor) -> InverseMelResult:
    empty = specgram.new_empty(0)
    return InverseMelResult(specgram, empty.to(torch.int32), empty, empty.to(torch.bool))


def _solve_half_in_pieces(
    melspec: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    band: Optional[Tensor],
    solver: str,
    max_iter: int,
    tol: float,
    band_edge_fill: Optional[Tensor],
) -> Tensor:
    n_mels = melspec.shape[-2]
    frames = melspec.shape[-1]
    n_freqs = tap_index.shape[0]
    items = melspec.reshape(-1, n_mels, frames)
    out = melspec.new_empty((items.shape[0], n_freqs, frames))
    step = max(1, _half_piece_bytes() // (4 * n_freqs))  # frames per piece; frames are independent
    if frames <= step:
        # Whole items per piece: one launch per piece, not per item (on CUDA a launch per item of a
        # batch of 256 made NNLS 50x slower than in float32).
        per_piece = step // frames
        for b0 in range(0, items.shape[0], per_piece):
            piece = _solve(items[b0 : b0 + per_piece].float(), gram_pinv, tap_index, tap_weight, band, solver,
                           max_iter, tol, band_edge_fill, False).specgram
            out[b0 : b0 + per_piece].copy_(piece)
    else:
        for b in range(items.shape[0]):
            for t0 in range(0, frames, step):
                piece = _solve(items[b, :, t0 : t0 + step].float(), gram_pinv, tap_index, tap_weight, band, solver,
                               max_iter, tol, band_edge_fill, False).specgram
                out[b, :, t0 : t0 + step].copy_(piece)
    out_shape = list(melspec.shape[:-2]) + [n_freqs, frames]
    return out.reshape(out_shape)


# -- Griffin-Lim iterations ---------------------------------------------------------------------
def flat_shape(specgram: Tensor) -> List[int]:
    """``(batch, freqs, frames)`` for ``(..., freqs, frames)`` (any size zero included)."""
    items = 1
    for size in specgram.shape[:-2]:
        items *= size
    return [items, specgram.shape[-2], specgram.shape[-1]]


def phase_iterations(
    specgram: Tensor,
    angles: Tensor,
    window: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int,
    power: float,
    n_iter: int,
    momentum: float,
    length: Optional[int],
) -> Tensor:
    """Fast Griffin-Lim from initial phases ``angles`` (complex, ``(batch, freqs, frames)``),
    with torchaudio's arithmetic, operation for operation."""
    shape = specgram.shape
    frames = shape[-1]
    batch_shape = list(shape[:-2])
    natural = hop_length * (frames - 1) if frames > 0 else 0
    out_length = natural if length is None else length
    flat = specgram.reshape(flat_shape(specgram))
    if flat.shape[0] == 0 or frames == 0:  # nothing to iterate on: a correctly shaped output
        return specgram.new_zeros(batch_shape + [out_length])
    magnitude = flat.pow(1 / power)
    # torch.stft returns frames-major memory (stride 1 along frequency): the magnitudes in that
    # layout too make the products in the loop run on matching strides (10% faster for a 10 s
    # clip; the values are the same).
    magnitude = magnitude.transpose(-1, -2).contiguous().transpose(-1, -2)
    loop_length = iteration_length(length, hop_length, frames)
    momentum = momentum / (1 + momentum)
    previous = torch.tensor(0.0, dtype=magnitude.dtype, device=magnitude.device)
    for _ in range(n_iter):
        rebuilt = stft_round_trip(magnitude * angles, window, n_fft, hop_length, win_length, loop_length)
        angles = rebuilt
        if momentum != 0.0:
            angles = angles - previous.mul_(momentum)
        angles = angles.div(angles.abs().add(1e-16))
        previous = rebuilt
    waveform = torch.istft(magnitude * angles, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                           window=window, length=length)
    return waveform.reshape(batch_shape + [waveform.shape[-1]])


def iteration_length(length: Optional[int], hop_length: int, frames: int) -> Optional[int]:
    """The ``length`` to iterate at. torchaudio iterates with ``istft(length=length)``; that keeps the
    frame count only when ``length`` gives as many STFT frames as the spectrogram has. Otherwise
    iterate at the natural length (``None``)."""
    if length is not None and 1 + length // hop_length == frames:
        return length
    return None


def stft_round_trip(spectrum: Tensor, window: Tensor, n_fft: int, hop_length: int, win_length: int,
                    length: Optional[int]) -> Tensor:
    """Griffin-Lim's consistency projection ``stft(istft(spectrum))``, centred frames (torchaudio's
    arguments): ``(batch, freqs, frames)`` complex in and out."""
    inverse = torch.istft(spectrum, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                          length=length)
    return torch.stft(inverse, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                      center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)


def pghi_angles(specgram: Tensor, window: Tensor, n_fft: int, hop_length: int, win_length: int, power: float,
                generator: Optional[torch.Generator]) -> Tensor:
    """PGHI's initial phasors in :func:`phase_iterations`' layout ``(batch, freqs, frames)``. The
    window is placed in ``n_fft`` as ``torch.stft`` places it."""
    flat = specgram.reshape(flat_shape(specgram))
    padded = window
    if win_length < n_fft:
        left = (n_fft - win_length) // 2
        padded = torch.nn.functional.pad(window, (left, n_fft - win_length - left))
    return phase_gradient_init(flat, padded, n_fft, hop_length, power, generator=generator)


def audio_angles(audio: Tensor, window: Tensor, n_fft: int, hop_length: int, win_length: int, frames: int) -> Tensor:
    """The unit phasors of ``audio`` ``(..., samples)``'s centred STFT, ``(batch, freqs, frames)``
    (:func:`phase_iterations`' layout): its first ``frames`` frames, zero-padded if it has fewer.
    Mel-consistent iterations start from another method's audio with these."""
    stft = torch.stft(audio.reshape(-1, audio.shape[-1]), n_fft, hop_length=hop_length, win_length=win_length,
                      window=window, center=True, pad_mode="reflect", return_complex=True)
    if stft.shape[-1] < frames:
        stft = torch.nn.functional.pad(stft, (0, frames - stft.shape[-1]))
    stft = stft[..., :frames]
    return stft / stft.abs().add(1e-16)
