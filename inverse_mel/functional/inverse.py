"""The mel inverse: the least-squares solve operator factored once, and the solvers (torchaudio's
least squares + ReLU, and non-negative least squares) on ``(..., n_mels, time)`` input."""
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from .. import _validation as V
from ._core import InverseMelResult, apply_operator, compute_dtype_of

__all__ = [
    "DEFAULT_RCOND",
    "DEFAULT_MAX_ITER",
    "DEFAULT_TOL",
    "MAX_NOISE_GAIN",
    "InverseMelResult",
    "FactoredFilterbank",
    "LstsqOperator",
    "filterbank_taps",
    "gram_bands",
    "kept_rank",
    "lstsq_operator",
    "rank_warning_text",
    "inverse_mel_scale",
    "inverse_mel_scale_with_info",
]

#: ``rcond=None`` (the default) chooses the rank cut-off by the noise-gain rule below; a float
#: is a plain relative cut-off on the singular values of ``fb`` (see :func:`lstsq_operator`).
DEFAULT_RCOND = None
#: The noise-gain rule keeps the most singular directions of ``fb`` for which white mel noise is
#: amplified at most this much relative to the filterbank's typical gain (the RMS over the mel
#: dimensions of s_rms / s_i). The rule: docs/guides/nnls.rst; measured in
#: benchmarks/results/rcond_sweep.md.
MAX_NOISE_GAIN = 20.0

#: NNLS defaults: at most this many Newton steps per frame (real spectrograms take a handful, see
#: benchmarks/results/nnls.md), and the per-frame, scale-invariant tolerance. The algorithm and
#: the stopping rule: docs/guides/nnls.rst.
DEFAULT_MAX_ITER = 200
DEFAULT_TOL = 1e-4

# Above this many non-zero weights per frequency bin the filterbank is applied densely.
_MAX_SPARSE_TAPS = 8
# Up to this Gram half-bandwidth the solve is a banded Cholesky (triangular banks: 1).
_MAX_GRAM_BANDWIDTH = 8


class FactoredFilterbank(NamedTuple):
    """A filterbank prepared once for both solvers: ``fb`` stored row-wise as its non-zero taps
    (ELL format), which NNLS and the least-squares expansion read, and the minimum-norm
    least-squares solve in a form that is cheap to apply: ``pinv(fb.T) = fb @ gram_pinv`` with
    ``gram_pinv = (fb.T @ fb)^+`` (cut at the chosen rank). (Called ``LstsqOperator`` before
    0.2; that name remains an alias.)

    Attributes
    ----------
    gram_pinv : Tensor
        ``(n_mels, n_mels)``.
    tap_index : Tensor
        ``(n_freqs, taps)`` int64 mel index of each tap (padding taps have weight 0).
    tap_weight : Tensor
        ``(n_freqs, taps)`` filter weight of each tap.
    gram_cholesky_band : Tensor or None
        ``(bands, n_mels)`` or ``None``. When nothing is cut and the Gram ``fb.T @ fb`` is banded
        (a triangular bank's is tridiagonal), the band of its Cholesky factor,
        ``band[d, k] = L[k, k - d]``: the kernel then solves with it instead of multiplying by the
        dense ``gram_pinv``.
    rank : int
        Number of singular directions kept.
    singular_values : Tensor
        ``(min(n_freqs, n_mels),)`` singular values of ``fb``, descending.

    Examples
    --------
    >>> import inverse_mel
    >>> fb = inverse_mel.melscale_fbanks(513, 0.0, 8000.0, 80, 22050, "slaney", "slaney")
    >>> op = inverse_mel.functional.lstsq_operator(fb)
    >>> op.gram_pinv.shape, op.rank, op.gram_cholesky_band.shape
    (torch.Size([80, 80]), 80, torch.Size([2, 80]))
    """

    gram_pinv: Tensor
    tap_index: Tensor
    tap_weight: Tensor
    gram_cholesky_band: Optional[Tensor]
    rank: int
    singular_values: Tensor

    def to(self, dtype: torch.dtype) -> "FactoredFilterbank":
        """Cast the floating-point fields (the factorisation itself stays as computed)."""
        band = self.gram_cholesky_band
        return self._replace(
            gram_pinv=self.gram_pinv.to(dtype),
            tap_weight=self.tap_weight.to(dtype),
            gram_cholesky_band=None if band is None else band.to(dtype),
        )


def kept_rank(singular_values: Tensor, n_mels: int, rcond: Optional[float], compute_dtype: torch.dtype) -> int:
    """How many singular directions of ``fb`` the inverse keeps (see :func:`lstsq_operator`).

    Args:
        singular_values: descending, float64.
        n_mels: the mel dimension (white mel noise spreads over it).
        rcond: ``None`` for the noise-gain rule, or a relative cut-off.
        compute_dtype: the dtype the operator is applied in; its round-off sets the floor.
    """
    s = singular_values
    if s.numel() == 0 or float(s[0]) == 0.0:
        return 0
    relative = s / s[0]
    # Below round-off the direction is noise of the factorisation itself, whatever rcond says
    # (rcond=0.0 used to keep 1e-17 directions and return NaN in float32).
    floor = torch.finfo(compute_dtype).eps * max(s.numel(), n_mels)
    rank = int((relative > max(floor, rcond if rcond is not None else 0.0)).sum())
    if rcond is not None or rank == 0:
        return rank
    # Noise gain of keeping the r largest: sqrt(sum_{i<=r} (s_rms,r / s_i)^2 / n), n = s.numel().
    kept = relative[:rank]
    r = torch.arange(1, rank + 1, dtype=torch.float64)
    rms_squared = torch.cumsum(kept.square(), 0) / r
    gain = torch.sqrt(rms_squared * torch.cumsum(kept.square().reciprocal(), 0) / s.numel())
    within = (gain <= MAX_NOISE_GAIN).nonzero()
    return int(within[-1]) + 1


LstsqOperator = FactoredFilterbank


def filterbank_taps(fb: Tensor) -> Tuple[Tensor, Tensor]:
    """``fb`` row-wise as its non-zero taps (ELL format), what NNLS reads: ``tap_index``
    ``(n_freqs, taps)`` int64 and ``tap_weight`` ``(n_freqs, taps)`` in ``fb``'s dtype, padding taps
    of weight 0 after the non-zero ones (a bank with more than a few taps per bin keeps them all)."""
    n_freqs, n_mels = fb.shape
    nonzero = fb != 0
    taps = int(nonzero.sum(dim=1).max()) if n_freqs > 0 else 0
    if taps <= _MAX_SPARSE_TAPS:
        # Non-zero taps first in each row (stable sort keeps mel order), padding after.
        order = torch.argsort((~nonzero).to(torch.int8), dim=1, stable=True)
        tap_index = order[:, :taps].contiguous()
        return tap_index, torch.gather(fb, 1, tap_index)
    # dense or custom filterbank: every mel band is a tap
    return torch.arange(n_mels, device=fb.device).expand(n_freqs, n_mels).contiguous(), fb.clone()


def lstsq_operator(fb: Tensor, rcond: Optional[float] = None,
                   compute_dtype: torch.dtype = torch.float64) -> FactoredFilterbank:
    """Factor a filterbank once into its minimum-norm least-squares solve operator.

    Computed in float64 from an SVD of ``fb``: with ``fb.T = U diag(s) V^T`` and ``U_r``, ``s_r``
    the kept singular pairs, ``gram_pinv = U_r diag(s_r^-2) U_r^T``, so that
    ``fb @ gram_pinv = V_r diag(s_r^-1) U_r^T`` is the truncated pseudo-inverse of ``fb.T``.

    Which singular values are kept:

    * never those at or below the round-off of ``compute_dtype``,
      ``eps * max(n_freqs, n_mels) * s_max`` (NumPy's and LAPACK's default cut-off);
    * ``rcond=None`` (default): the noise-gain rule. It keeps the r largest for the largest r whose
      noise gain ``sqrt(sum_{i<=r} (s_rms / s_i)^2 / n)`` is at most :data:`MAX_NOISE_GAIN`,
      ``s_rms`` the RMS of the kept ones and ``n = min(n_freqs, n_mels)``: white mel noise is
      amplified at most that much relative to the filterbank's typical gain. A well-conditioned
      bank keeps every direction (and agrees with torchaudio to float32 round-off); directions of
      nearly coincident filters, which would amplify noise without bound, are cut
      (``benchmarks/results/rcond_sweep.md`` measures the rule);
    * ``rcond=x``: those above ``x * s_max``.

    Parameters
    ----------
    fb
        ``(n_freqs, n_mels)`` filterbank, any real values, any device.
    rcond
        ``None`` or a relative cut-off in ``[0, 1)``.
    compute_dtype
        the dtype the operator will be applied in (its round-off floor).

    Returns
    -------
    FactoredFilterbank
        a float64 :class:`FactoredFilterbank` on ``fb``'s device; ``.to(dtype)`` casts it.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.functional import lstsq_operator, melscale_fbanks
    >>> whisper = melscale_fbanks(201, 0.0, 8000.0, 80, 16000, "slaney", "slaney")
    >>> lstsq_operator(whisper).rank                     # two near-null directions are cut
    78
    >>> lstsq_operator(whisper, rcond=1e-12).rank       # what float32 round-off allows
    79
    """
    V.check_fb(fb, "lstsq_operator")
    V.check_rcond(rcond)
    fb64 = fb.detach().to(torch.float64)
    n_freqs, n_mels = fb64.shape
    u, singular_values, _ = torch.linalg.svd(fb64.T, full_matrices=False)
    rank = kept_rank(singular_values.cpu(), n_mels, rcond, compute_dtype)
    u_kept = u[:, :rank]
    gram_pinv = (u_kept / singular_values[:rank].square()) @ u_kept.T
    gram_pinv = 0.5 * (gram_pinv + gram_pinv.T)  # exactly symmetric

    tap_index, tap_weight = filterbank_taps(fb64)
    band = _gram_cholesky_band(fb64) if rank == n_mels else None
    return FactoredFilterbank(gram_pinv.contiguous(), tap_index, tap_weight.contiguous(), band, rank, singular_values)


def gram_bands(tap_index: Tensor, tap_weight: Tensor) -> int:
    """1 + the largest spread of mel indices among one frequency bin's non-zero taps: the number of
    bands of the NNLS Gram ``fb.T @ diag(w) @ fb`` (2 for a triangular mel bank)."""
    if tap_index.numel() == 0:
        return 1
    live = tap_weight != 0
    highest = torch.where(live, tap_index, torch.full_like(tap_index, -1)).amax(dim=1)
    lowest = torch.where(live, tap_index, torch.full_like(tap_index, torch.iinfo(torch.int64).max)).amin(dim=1)
    spread = torch.where(live.any(dim=1), highest - lowest, torch.zeros_like(highest))
    return int(spread.max()) + 1


def _gram_cholesky_band(fb64: Tensor) -> Optional[Tensor]:
    """Band storage ``(bands, n_mels)`` of the Cholesky factor of ``fb.T @ fb``, or ``None`` when
    the Gram is not banded enough (or not numerically positive definite)."""
    gram = fb64.T @ fb64
    nonzero = torch.nonzero(gram)
    bandwidth = int((nonzero[:, 0] - nonzero[:, 1]).abs().max()) if nonzero.numel() else 0
    if bandwidth > _MAX_GRAM_BANDWIDTH:
        return None
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) != 0:
        return None
    n_mels = gram.shape[0]
    band = fb64.new_zeros(bandwidth + 1, n_mels)
    for d in range(bandwidth + 1):
        band[d, d:] = torch.diagonal(factor, offset=-d)
    return band


def rank_warning_text(rank: int, n_mels: int, n_freqs: int, rcond: Optional[float]) -> str:
    rule = f"rcond={rcond:g}" if rcond is not None else f"the noise-gain rule (at most {MAX_NOISE_GAIN:g}x)"
    return (
        f"The mel filterbank ({n_freqs} frequency bins x {n_mels} mels) keeps {rank} of {n_mels} directions "
        f"under {rule}: some filters (nearly) coincide, so {n_mels - rank} direction(s) of the mel spectrogram "
        "cannot be inverted stably. The inverse returns the minimum-norm least-squares solution within the "
        "kept directions. To avoid this, use fewer mels or a larger n_fft."
    )


# ---------------------------------------------------------------------------------------------
# The functional form (factors fb on every call)
# ---------------------------------------------------------------------------------------------
def inverse_mel_scale(
    melspec: Tensor,
    fb: Tensor,
    driver: str = "gels",
    *,
    rcond: Optional[float] = DEFAULT_RCOND,
    solver: str = "lstsq",
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    band_edge_fill: Optional[Tensor] = None,
    fill_from: Optional[Tensor] = None,
) -> Tensor:
    """Invert a mel spectrogram with any filterbank.

    ``solver="lstsq"`` (default) is ``torchaudio.transforms.InverseMelScale``'s computation:
    ``relu(argmin_S ||fb.T @ S - melspec||)``, the minimum-norm least-squares solution within the
    kept singular directions (:func:`lstsq_operator`), then ReLU. ``solver="nnls"`` solves the
    non-negative least-squares problem ``min ||fb.T @ S - melspec||  subject to  S >= 0`` per frame:
    it fits the mel spectrogram exactly where a non-negative solution exists, and among the spectra
    that do, returns the one with the most entropy relative to the mel envelope; frames where none
    fits exactly (a model's output) end at the NNLS optimality conditions to ``tol``. The algorithms,
    the stopping rule and the gradients are described once, in the docs' guide "How the solvers
    work" (``docs/guides/nnls.rst``); their measurements in ``benchmarks/results/nnls.md``.

    This form factors ``fb`` on every call; :class:`inverse_mel.InverseMelScale` factors once.
    :func:`inverse_mel_scale_with_info` also returns the per-frame report.

    Parameters
    ----------
    melspec : Tensor
        ``(..., n_mels, time)`` mel spectrogram; float32/float64 keep their dtype, float16/bfloat16
        are computed in float32 and returned in their own dtype. Any zero-size batch or time
        dimension gives an empty ``(..., n_freqs, time)`` output.
    fb : Tensor
        ``(n_freqs, n_mels)`` filterbank on ``melspec``'s device, e.g. from
        :func:`melscale_fbanks`. librosa's ``librosa.filters.mel`` and Whisper's ``mel_filters``
        are ``(n_mels, n_freqs)``: pass their transpose. ``"nnls"`` needs non-negative entries.
    driver : {"gels", "gelsy", "gelsd", "gelss"}, default "gels"
        Validated as in torchaudio. Unlike torchaudio every driver returns the same minimum-norm
        solution (torchaudio's ``gels`` raises on rank-deficient filterbanks, and torch's CPU
        ``gelsy`` does not pivot and returns zeros for filterbanks with an empty first bin).
    rcond : float or None, default None
        Keyword-only. ``None`` for the noise-gain rule, or a relative cut-off on the singular values
        of ``fb``; see :func:`lstsq_operator`.
    solver : {"lstsq", "nnls"}, default "lstsq"
        Keyword-only.
    max_iter : int, default DEFAULT_MAX_ITER
        Keyword-only, NNLS only: at most this many Newton steps per frame.
    tol : float, default DEFAULT_TOL
        Keyword-only, NNLS only: a frame stops when ``||fb.T @ s - m|| <= tol * ||m||`` (an exact
        fit) or its projected gradient is ``<= tol * ||fb||_2 * ||fb.T @ s - m||`` (optimal for
        inconsistent input). A ``tol`` near float64 round-off on filterbanks with near-null
        directions may not be reached: such frames stop at ``max_iter`` with ``converged=False``.
    band_edge_fill : Tensor or None, default None
        Keyword-only, NNLS only: ``(n_freqs,)`` int64; bin ``f`` with ``band_edge_fill[f] >= 0`` (a bin
        no filter weighs) becomes a copy of bin ``band_edge_fill[f]`` (one some filter weighs). See
        :func:`band_edge_fill`, which :class:`inverse_mel.InverseMelScale` applies by default.
        ``None`` leaves such bins at 0.
    fill_from : Tensor or None, default None
        Keyword-only; ``band_edge_fill``'s name before 0.2, which still works with a ``FutureWarning``.

    Returns
    -------
    Tensor
        ``(..., n_freqs, time)`` linear spectrogram, non-negative, on ``melspec``'s device.

    Raises
    ------
    ValueError
        Wrong shape of ``melspec``, NaN/Inf in it (with the first bad index; CPU input in eager
        mode), ``melspec`` and ``fb`` on different devices, bad ``fb``, ``driver``, ``solver``,
        ``max_iter``, ``tol`` or ``rcond``; a negative ``fb`` with ``"nnls"``.
    TypeError
        Non-tensor or non-float ``melspec``/``fb``, or ``fb``'s dtype differs from ``melspec``'s
        (float16/bfloat16 input may use a float32 ``fb``).

    Notes
    -----
    Gradients flow to ``melspec`` (not to ``fb``). For ``"nnls"`` they are the implicit derivative
    on the solution's free set ``{S > 0}`` (the minimum-norm one where the solution is not unique);
    double backward is not supported. On CUDA, inside ``torch.compile`` graphs and in CUDA graph
    capture the NaN/Inf check is skipped (it would need a host sync): there a bad frame's NaN stays
    in that frame, and ``"nnls"`` reports it as not converged.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.functional import inverse_mel_scale, melscale_fbanks
    >>> fb = melscale_fbanks(513, 0.0, 8000.0, 80, 22050, "slaney", "slaney")   # (n_freqs, n_mels)
    >>> melspec = fb.T @ torch.rand(2, 513, 30)                                 # (..., n_mels, time)
    >>> inverse_mel_scale(melspec, fb).shape
    torch.Size([2, 513, 30])
    >>> s = inverse_mel_scale(melspec, fb, solver="nnls")
    >>> bool((fb.T @ s - melspec).norm() <= 1e-3 * melspec.norm())              # an exact fit
    True
    """
    band_edge_fill = V.renamed_option(band_edge_fill, None, fill_from, "band_edge_fill", "fill_from",
                                      "inverse_mel_scale")
    return _functional_inverse(melspec, fb, driver, rcond, solver, max_iter, tol, band_edge_fill, False).specgram


def inverse_mel_scale_with_info(
    melspec: Tensor,
    fb: Tensor,
    driver: str = "gels",
    *,
    rcond: Optional[float] = DEFAULT_RCOND,
    solver: str = "lstsq",
    max_iter: int = DEFAULT_MAX_ITER,
    tol: float = DEFAULT_TOL,
    band_edge_fill: Optional[Tensor] = None,
    fill_from: Optional[Tensor] = None,
) -> InverseMelResult:
    """:func:`inverse_mel_scale` with the per-frame report.

    Parameters
    ----------
    melspec, fb, driver, rcond, solver, max_iter, tol, band_edge_fill, fill_from
        As in :func:`inverse_mel_scale`.

    Returns
    -------
    InverseMelResult
        The spectrogram ``(..., n_freqs, time)`` and the iterations, relative mel residual and
        convergence flags, each ``(..., time)``.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.functional import inverse_mel_scale_with_info, melscale_fbanks
    >>> fb = melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk")
    >>> info = inverse_mel_scale_with_info(fb.T @ torch.rand(201, 5), fb, solver="nnls")
    >>> info.specgram.shape, info.converged.tolist()
    (torch.Size([201, 5]), [True, True, True, True, True])
    """
    band_edge_fill = V.renamed_option(band_edge_fill, None, fill_from, "band_edge_fill", "fill_from",
                                      "inverse_mel_scale_with_info")
    return _functional_inverse(melspec, fb, driver, rcond, solver, max_iter, tol, band_edge_fill, True)


def _functional_inverse(melspec, fb, driver, rcond, solver, max_iter, tol, band_edge_fill,
                        with_info) -> InverseMelResult:
    fn = "inverse_mel_scale"
    V.check_driver(driver)
    V.check_solver(solver, max_iter, tol)
    V.check_rcond(rcond)
    V.check_fb(fb, fn)
    V.check_spectrogram(melspec, "melspec", "n_mels", fb.shape[1], fn)
    V.check_finite(melspec, "melspec", fn)
    V.check_same_device(melspec, "melspec", fb, fn)
    if fb.dtype != melspec.dtype and not (fb.dtype == torch.float32 and melspec.dtype in (torch.float16, torch.bfloat16)):
        raise TypeError(
            f"{fn}: fb is {fb.dtype} but melspec is {melspec.dtype}; pass fb.to(melspec.dtype) "
            "(float16/bfloat16 input may also use a float32 fb)"
        )
    if solver == "nnls":
        V.check_nonnegative(fb, fn)
    if band_edge_fill is not None:
        check_band_edge_fill(band_edge_fill, fb, solver, fn)
        band_edge_fill = band_edge_fill.to(melspec.device)
    compute = compute_dtype_of(melspec.dtype)
    if solver == "nnls":  # the taps alone: NNLS needs no factorisation (no SVD)
        tap_index, tap_weight = filterbank_taps(fb.detach().to(torch.float64))
        V.check_cuda_nnls_bank(fb.shape[1], gram_bands(tap_index, tap_weight), melspec.device, fn)
        return apply_operator(melspec, tap_weight.new_empty((0, 0)).to(compute), tap_index, tap_weight.to(compute),
                              None, solver, max_iter, tol, band_edge_fill, with_info)
    op = lstsq_operator(fb, rcond, compute).to(compute)
    return apply_operator(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band, solver,
                          max_iter, tol, band_edge_fill, with_info)


def check_band_edge_fill(band_edge_fill, fb: Tensor, solver: str, fn: str) -> None:
    if solver != "nnls":
        raise ValueError(f'{fn}: band_edge_fill applies to solver="nnls" only; drop it or pass solver="nnls"')
    fill = band_edge_fill
    if not isinstance(fill, Tensor) or fill.dtype != torch.int64 or fill.shape != (fb.shape[0],):
        found = f"{fill.dtype} of shape {tuple(fill.shape)}" if isinstance(fill, Tensor) else type(fill).__name__
        raise ValueError(
            f"{fn}: band_edge_fill must be an int64 tensor of shape ({fb.shape[0]},) (one entry per frequency bin), "
            f"e.g. band_edge_fill(fb, sample_rate, f_min, f_max); found {found}"
        )
