# Longer than the project's 600-line guide on purpose: the three modules mirror torchaudio.transforms
# in one file (the module users import from), and InverseMelScale, half of it, is one class whose
# solver selection, buffers, state-dict hooks and numpydoc docstring belong together.
"""``nn.Module`` front ends: drop-in replacements for torchaudio's ``InverseMelScale``, ``MelScale``
and ``GriffinLim`` (same signatures, defaults, buffers and outputs; they script and export)."""
import threading
import warnings
import weakref
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from . import _validation as V
from .functional import filterbank
from .functional.filterbank import mel_scale, melscale_fbanks
from .functional._core import (
    InverseMelResult,
    apply_operator,
    apply_operator_specgram,
    flat_shape,
    phase_iterations,
    project_to_mel,
)
from .functional.inverse import (
    DEFAULT_MAX_ITER,
    DEFAULT_RCOND,
    DEFAULT_TOL,
    FactoredFilterbank,
    gram_bands,
    kept_rank,
    lstsq_operator,
    rank_warning_text,
)
from .functional.phase import griffin_lim, griffinlim

__all__ = ["InverseMelScale", "MelScale", "GriffinLim"]

# The ops' overloads, resolved once: calling a packet (torch.ops.inverse_mel.nnls) resolves it per call.
_LSTSQ_APPLY = torch.ops.inverse_mel.lstsq_apply.default
_NNLS = torch.ops.inverse_mel.nnls.default


def _rebuild_after_load(module: "InverseMelScale", _incompatible_keys) -> None:
    module._rebuild_operators()


class InverseMelScale(nn.Module):
    r"""Estimate a linear-frequency spectrogram from a mel spectrogram.

    A drop-in replacement for ``torchaudio.transforms.InverseMelScale``: same signature,
    defaults, validation, ``fb`` buffer (state_dicts load both ways) and, on well-conditioned
    filterbanks, the same output. It scripts (``torch.jit.script``) and exports
    (``torch.export.export``). What it adds:

    * The filterbank is factored once (in float64) and the operator is kept for float32 and
      float64 computation as non-persistent buffers, which move with the module. It is rebuilt
      when ``fb`` changes (``load_state_dict``, ``.to()``, in-place edits in eager mode).
    * Rank-deficient or ill-conditioned filterbanks never raise: every ``driver`` returns the
      minimum-norm least-squares solution within the kept directions (the noise-gain rule of
      :func:`inverse_mel.functional.lstsq_operator`), then ReLU, and the constructor warns once.
    * ``solver="nnls"``: non-negative least squares, an exact mel fit with better spectra.
    * :meth:`forward_with_info` also returns per-frame iterations, residuals and convergence.

    How the solvers work: the docs' guide "How the solvers work" (``docs/guides/nnls.rst``).

    Parameters
    ----------
    n_stft : int
        Number of STFT bins, ``n_fft // 2 + 1``.
    n_mels : int, default 128
        Number of mel filters.
    sample_rate : int, default 16000
        Sample rate of the audio.
    f_min : float, default 0.0
        Lowest frequency of the filterbank.
    f_max : float or None, default None
        Highest frequency; ``None`` means ``sample_rate // 2``.
    norm : {None, "slaney"}, default None
        Area normalisation of the filters.
    mel_scale : {"htk", "slaney"}, default "htk"
        The mel scale.
    driver : {"gels", "gelsy", "gelsd", "gelss"}, default "gels"
        Validated as in torchaudio; all give the same result here.
    rcond : float or None, default None
        Keyword-only. ``None`` for the noise-gain rule, or a relative cut-off on ``fb``'s singular
        values.
    solver : {"lstsq", "nnls"}, default "lstsq"
        Keyword-only. torchaudio's least squares + ReLU, or non-negative least squares.
    max_iter : int, default 200
        Keyword-only, NNLS only: at most this many Newton steps per frame.
    tol : float, default 1e-4
        Keyword-only, NNLS only: the per-frame, scale-invariant tolerance
        (:func:`inverse_mel.functional.inverse_mel_scale`).
    band_edge_fill : bool, default True
        Keyword-only, NNLS only: the bins in ``[f_min, f_max]`` that no filter weighs (the DC bin
        when ``f_min=0``, the last bin when ``f_max`` is Nyquist) copy their nearest weighed bin
        instead of staying 0 (:func:`inverse_mel.functional.band_edge_fill`).
    fill_band_edges : bool, optional
        Keyword-only; ``band_edge_fill``'s name before 0.2, which still works with a ``FutureWarning``.

    Attributes
    ----------
    fb : Tensor
        ``(n_stft, n_mels)`` filterbank buffer, as torchaudio's.
    rank : int
        Singular directions of ``fb`` kept for float32 input.

    Shapes
    ------
    input ``(..., n_mels, time)``, output ``(..., n_stft, time)``.

    Notes
    -----
    Unlike torchaudio the constructor rejects settings that would give an empty, NaN or aliased
    filterbank (``f_max`` above Nyquist, ``f_min == f_max``, ``n_mels < 1``, ...);
    :func:`inverse_mel.functional.melscale_fbanks` itself accepts what torchaudio's accepts.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> kw = dict(sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney")
    >>> mel = inverse_mel.MelScale(n_mels=80, n_stft=513, **kw)
    >>> inverse = inverse_mel.InverseMelScale(n_stft=513, n_mels=80, **kw)
    >>> specgram = torch.rand(2, 513, 50)
    >>> estimate = inverse(mel(specgram))
    >>> estimate.shape
    torch.Size([2, 513, 50])
    >>> bool((estimate >= 0).all())
    True
    >>> nnls = inverse_mel.InverseMelScale(n_stft=513, n_mels=80, solver="nnls", **kw)
    >>> fitted = nnls(mel(specgram))
    >>> bool(((mel(fitted) - mel(specgram)).norm() / mel(specgram).norm()) < 1e-3)
    True
    """

    __constants__ = ["n_stft", "n_mels", "sample_rate", "f_min", "f_max", "solver", "max_iter", "tol"]

    def __init__(
        self,
        n_stft: int,
        n_mels: int = 128,
        sample_rate: int = 16000,
        f_min: float = 0.0,
        f_max: Optional[float] = None,
        norm: Optional[str] = None,
        mel_scale: str = "htk",
        driver: str = "gels",
        *,
        rcond: Optional[float] = DEFAULT_RCOND,
        solver: str = "lstsq",
        max_iter: int = DEFAULT_MAX_ITER,
        tol: float = DEFAULT_TOL,
        band_edge_fill: bool = True,
        fill_band_edges: Optional[bool] = None,
    ) -> None:
        super().__init__()
        band_edge_fill = V.renamed_option(band_edge_fill, True, fill_band_edges, "band_edge_fill", "fill_band_edges",
                                        "InverseMelScale")
        # torchaudio checks only f_min <= f_max; the rest would end in an empty or NaN filterbank.
        V.check_mel_config(n_stft, f_min, f_max or None, n_mels, sample_rate, "InverseMelScale")  # 0 -> Nyquist
        V.check_norm(norm)
        V.check_mel_scale(mel_scale)
        V.check_driver(driver)
        V.check_solver(solver, max_iter, tol)
        V.check_rcond(rcond)
        self.n_stft = n_stft
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_max = f_max or float(sample_rate // 2)
        self.f_min = f_min
        self.norm = norm
        self.mel_scale = mel_scale
        self.driver = driver
        self.rcond = rcond
        self.solver = solver
        self.max_iter = max_iter
        self.tol = float(tol)
        self.band_edge_fill = bool(band_edge_fill)
        self.register_buffer("fb", melscale_fbanks(n_stft, self.f_min, self.f_max, n_mels, sample_rate, norm, mel_scale))
        self._lock = threading.Lock()
        self._warned_rank: Optional[int] = None
        self._rebuild_operators()
        # load_state_dict copies into fb in place; rebuild eagerly so compiled graphs see it too.
        self.register_load_state_dict_post_hook(_rebuild_after_load)

    # -- the factored operator, as non-persistent buffers ----------------------------------------
    def _rebuild_operators(self) -> None:
        """(Re)build the operator from the current ``fb``, for float32 and float64 computation."""
        with self._lock:
            self._build_locked()

    def _build_locked(self) -> None:
        fb = self.fb
        op32 = lstsq_operator(fb, self.rcond, torch.float32)
        n_freqs, n_mels = fb.shape
        rank64 = kept_rank(op32.singular_values.cpu(), n_mels, self.rcond, torch.float64)
        op64 = op32 if rank64 == op32.rank else lstsq_operator(fb, self.rcond, torch.float64)
        self.rank = op32.rank  # kept directions for float32 (and float16/bfloat16) input
        self._rank64 = op64.rank
        # "None" is stored as an empty tensor: torch.export cannot take buffers that are None.
        self.register_buffer("_tap_index", op32.tap_index, persistent=False)
        # fb's singular values, from the factorisation: operator() reports them without an SVD per call.
        self.register_buffer("_singular_values", op32.singular_values, persistent=False)
        for suffix, op, dtype in (("32", op32, torch.float32), ("64", op64, torch.float64)):
            self.register_buffer("_gram_pinv" + suffix, op.gram_pinv.to(dtype), persistent=False)
            self.register_buffer("_tap_weight" + suffix, op.tap_weight.to(dtype), persistent=False)
            band = op.gram_cholesky_band
            band = fb.new_empty((0, n_mels)) if band is None else band
            self.register_buffer("_band" + suffix, band.to(dtype), persistent=False)
        fill = filterbank.band_edge_fill(fb, self.sample_rate, self.f_min, self.f_max) if self.band_edge_fill else None
        fill = torch.empty(0, dtype=torch.int64) if fill is None else fill
        self.register_buffer("_band_edge_fill", fill.to(fb.device), persistent=False)
        self._fb_nonnegative = not bool((fb < 0).any())
        self._fb_on_cpu = fb.device.type == "cpu"
        # Known on the host now, so the forward needs no device sync to refuse a bank on CUDA.
        self._cuda_nnls_refusal = V.cuda_nnls_refusal(n_mels, gram_bands(op32.tap_index, op32.tap_weight),
                                                      "InverseMelScale")
        self._built_from = (weakref.ref(fb), fb._version)
        # What the eager fast path reads, in plain attributes: a buffer read through nn.Module's
        # __getattr__ costs about a microsecond, several per call.
        fill_or_none = self._band_edge_fill if self._band_edge_fill.numel() else None
        self._fast_operands = (fb, fb._version, {
            dtype: (getattr(self, "_gram_pinv" + suffix), self._tap_index, getattr(self, "_tap_weight" + suffix),
                    getattr(self, "_band" + suffix) if getattr(self, "_band" + suffix).numel() else None)
            for dtype, suffix in ((torch.float32, "32"), (torch.float64, "64"))
        }, fill_or_none)
        if op32.rank < n_mels and op32.rank != self._warned_rank:
            self._warned_rank = op32.rank
            warnings.warn(rank_warning_text(op32.rank, n_mels, n_freqs, self.rcond), stacklevel=4)

    def _rebuild_if_fb_changed(self) -> None:
        """Eager mode only: in-place edits of ``fb`` (or a new tensor assigned to it)."""
        ref, version = self._built_from
        if ref() is self.fb and self.fb._version == version:
            return
        with self._lock:  # many threads may call forward at once on a changed module
            ref, version = self._built_from
            if ref() is not self.fb or self.fb._version != version:
                self._build_locked()

    def operator(self, dtype: torch.dtype = torch.float32) -> FactoredFilterbank:
        """The factored operator used for inputs of ``dtype`` (float16/bfloat16 use float32's)."""
        if not torch.compiler.is_compiling():
            self._rebuild_if_fb_changed()
        if dtype == torch.float64:
            gram, weight, band, rank = self._gram_pinv64, self._tap_weight64, self._band64, self._rank64
        else:
            gram, weight, band, rank = self._gram_pinv32, self._tap_weight32, self._band32, self.rank
        return FactoredFilterbank(gram, self._tap_index, weight, band if band.numel() else None, rank,
                                  self._singular_values)

    def _apply(self, fn, recurse=True):
        module = super()._apply(fn, recurse)
        self._rebuild_operators()  # fb moved or changed dtype: rebuild on its new device
        return module

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, melspec: Tensor) -> Tensor:
        r"""The inverse of a mel spectrogram.

        Parameters
        ----------
        melspec : Tensor
            ``(..., n_mels, time)`` mel spectrogram on ``fb``'s device.

        Returns
        -------
        Tensor
            ``(..., n_stft, time)`` non-negative linear spectrogram, in ``melspec``'s dtype.
        """
        if not torch.jit.is_scripting():
            fast = self._eager_cpu_forward(melspec)
            if fast is not None:
                return fast
        gram, weight, band, band_edge_fill = self._checked_operator(melspec)
        return apply_operator_specgram(melspec, gram, self._tap_index, weight, band, self.solver, self.max_iter,
                                       self.tol, band_edge_fill)

    @torch.jit.export
    def forward_with_info(self, melspec: Tensor) -> InverseMelResult:
        r"""The inverse with its per-frame report, like ``torch.linalg.*_ex``.

        Parameters
        ----------
        melspec : Tensor
            ``(..., n_mels, time)``.

        Returns
        -------
        InverseMelResult
            ``specgram`` ``(..., n_stft, time)`` and ``iterations``, ``residual`` (relative mel
            residual), ``converged``, each ``(..., time)``
            (:class:`inverse_mel.functional.InverseMelResult`).

        Examples
        --------
        >>> import torch, inverse_mel
        >>> nnls = inverse_mel.InverseMelScale(n_stft=201, n_mels=40, solver="nnls")
        >>> info = nnls.forward_with_info(nnls.fb.T @ torch.rand(201, 7))
        >>> info.iterations.shape, bool(info.converged.all())
        (torch.Size([7]), True)
        """
        gram, weight, band, band_edge_fill = self._checked_operator(melspec)
        return apply_operator(melspec, gram, self._tap_index, weight, band, self.solver, self.max_iter, self.tol,
                              band_edge_fill, True)

    @torch.jit.unused
    def _eager_cpu_forward(self, melspec: Tensor) -> Optional[Tensor]:
        """The forward of the common small call, with nothing per call but what must happen: an eager
        CPU call on a float32/float64 input of the right shape that needs no gradient, with ``fb``
        unchanged since the operator was built. It calls the op below the autograd layer, and the
        least-squares kernel checks the input for NaN/Inf in its own pass (``check_finite``). Returns
        None for every other call, which takes the general path (same results, same errors)."""
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            return None
        if type(melspec) is not Tensor or not melspec.is_cpu or not self._fb_on_cpu:
            return None
        dtype = melspec.dtype
        if (dtype is not torch.float32 and dtype is not torch.float64) or melspec.dim() < 2:
            return None
        if melspec.shape[-2] != self.n_mels or (melspec.requires_grad and torch.is_grad_enabled()):
            return None
        built_fb, version, operands, fill = self._fast_operands
        fb = self._buffers["fb"]
        if fb is not built_fb or fb._version != version or fb.requires_grad:
            return None
        if torch._C._are_functorch_transforms_active():
            return None
        gram, tap_index, weight, band = operands[dtype]
        if gram.requires_grad or weight.requires_grad:
            return None
        with torch._C._AutoDispatchBelowAutograd():
            if self.solver == "nnls":
                V.check_finite(melspec, "melspec", "InverseMelScale")  # the solver dominates the call's time
                if not self._fb_nonnegative:
                    return None  # the general path raises the clear error
                return _NNLS(melspec, tap_index, weight, self.max_iter, self.tol, fill)[0]
            try:
                return _LSTSQ_APPLY(melspec, gram, tap_index, weight, band, True)
            except RuntimeError as error:
                if "melspec contains NaN or Inf" in str(error):
                    V.check_finite(melspec, "melspec", "InverseMelScale")  # raises its ValueError
                raise

    def _checked_operator(self, melspec: Tensor) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Tensor]]:
        """Check ``melspec`` against the module; the operator's ``gram_pinv``, ``tap_weight``, band and
        ``band_edge_fill`` for its dtype."""
        fn = "InverseMelScale"
        V.check_spectrogram(melspec, "melspec", "n_mels", self.n_mels, fn)
        V.check_finite(melspec, "melspec", fn)
        if melspec.device != self.fb.device:
            raise ValueError(
                f"{fn}: melspec is on {melspec.device} but the module's fb is on {self.fb.device}; move the "
                "module with .to('" + str(melspec.device) + "') or the input with .to(...)"
            )
        if not torch.jit.is_scripting():
            if not torch.compiler.is_compiling():
                self._rebuild_if_fb_changed()
        if melspec.dtype == torch.float64:
            gram, weight, band_or_empty = self._gram_pinv64, self._tap_weight64, self._band64
        else:
            gram, weight, band_or_empty = self._gram_pinv32, self._tap_weight32, self._band32
        band: Optional[Tensor] = None
        if band_or_empty.numel() > 0:
            band = band_or_empty
        band_edge_fill: Optional[Tensor] = None
        if self.solver == "nnls":
            if not self._fb_nonnegative:
                V.check_nonnegative(self.fb, fn)
            if melspec.device.type == "cuda" and len(self._cuda_nnls_refusal) > 0:
                raise ValueError(self._cuda_nnls_refusal)
            if self._band_edge_fill.numel() > 0:
                band_edge_fill = self._band_edge_fill
        return gram, weight, band, band_edge_fill

    def extra_repr(self) -> str:
        rcond = "None (noise-gain rule)" if self.rcond is None else f"{self.rcond:g}"
        return (
            f"n_stft={self.n_stft}, n_mels={self.n_mels}, sample_rate={self.sample_rate}, "
            f"f_min={self.f_min}, f_max={self.f_max}, norm={self.norm!r}, mel_scale={self.mel_scale!r}, "
            f"driver={self.driver!r}, rcond={rcond}, solver={self.solver!r}"
            + (f", max_iter={self.max_iter}, tol={self.tol:g}" if self.solver == "nnls" else "")
            + ("" if self.band_edge_fill else ", band_edge_fill=False")
        )

    def __getstate__(self):
        # The lock and the weakref cannot be pickled (copy.deepcopy, torch.save of the module).
        state = self.__dict__.copy()
        for key in ("_lock", "_built_from"):
            state.pop(key, None)
        return state

    @property
    def fill_band_edges(self) -> bool:
        """Deprecated name of ``band_edge_fill`` (read-only)."""
        return self.band_edge_fill

    def __setstate__(self, state):
        if "fill_band_edges" in state:  # pickled before the option's rename
            state["band_edge_fill"] = state.pop("fill_band_edges")
        state.get("_buffers", {}).pop("_fill_from", None)  # rebuilt below as _band_edge_fill
        super().__setstate__(state)
        self._lock = threading.Lock()
        self._rebuild_operators()


class MelScale(nn.Module):
    r"""Project a linear spectrogram onto mel bands, like ``torchaudio.transforms.MelScale``.

    Same signature, defaults and ``fb`` buffer; it scripts and exports. Used for round trips with
    :class:`InverseMelScale`; the functional form is :func:`inverse_mel.functional.mel_scale`.

    Parameters
    ----------
    n_mels : int, default 128
        Number of mel filters.
    sample_rate : int, default 16000
        Sample rate of the audio.
    f_min : float, default 0.0
        Lowest frequency of the filterbank.
    f_max : float or None, default None
        Highest frequency; ``None`` means ``sample_rate // 2``.
    n_stft : int, default 201
        Number of STFT bins, ``n_fft // 2 + 1``.
    norm : {None, "slaney"}, default None
        Area normalisation of the filters.
    mel_scale : {"htk", "slaney"}, default "htk"
        The mel scale.

    Shapes
    ------
    input ``(..., n_stft, time)``, output ``(..., n_mels, time)``.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> mel = inverse_mel.MelScale(n_mels=80, sample_rate=22050, n_stft=513)
    >>> mel(torch.rand(4, 513, 10)).shape
    torch.Size([4, 80, 10])
    >>> torch.allclose(mel(torch.ones(513, 1))[:, 0], mel.fb.sum(0))   # each band sums its filter
    True
    """

    __constants__ = ["n_mels", "sample_rate", "f_min", "f_max"]

    def __init__(
        self,
        n_mels: int = 128,
        sample_rate: int = 16000,
        f_min: float = 0.0,
        f_max: Optional[float] = None,
        n_stft: int = 201,
        norm: Optional[str] = None,
        mel_scale: str = "htk",
    ) -> None:
        super().__init__()
        V.check_mel_config(n_stft, f_min, f_max, n_mels, sample_rate, "MelScale")
        V.check_norm(norm)
        V.check_mel_scale(mel_scale)
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_max = f_max if f_max is not None else float(sample_rate // 2)
        self.f_min = f_min
        self.norm = norm
        self.mel_scale = mel_scale
        self.n_stft = n_stft
        fb = melscale_fbanks(n_stft, self.f_min, self.f_max, self.n_mels, self.sample_rate, self.norm, self.mel_scale)
        self.register_buffer("fb", fb)
        # (weakref to fb, its version) when fb last passed V.check_fb: the eager forward checks it
        # again only after a change.
        self._checked_fb = None

    def forward(self, specgram: Tensor) -> Tensor:
        r"""The mel spectrogram of a linear spectrogram, ``fb.T @ specgram``.

        Parameters
        ----------
        specgram : Tensor
            ``(..., n_stft, time)`` linear spectrogram.

        Returns
        -------
        Tensor
            ``(..., n_mels, time)`` mel spectrogram.
        """
        if not torch.jit.is_scripting():
            if not torch.compiler.is_compiling() and not torch.jit.is_tracing():
                # fb is checked (a pass over it for NaN/Inf) once per change, not per call.
                fb = self.fb
                checked = self._checked_fb
                if checked is None or checked[0]() is not fb or checked[1] != fb._version:
                    V.check_fb(fb, "mel_scale")
                    self._checked_fb = (weakref.ref(fb), fb._version)
                return project_to_mel(specgram, fb, "mel_scale")
        return mel_scale(specgram, self.fb)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_checked_fb", None)  # a weakref cannot be pickled (copy.deepcopy, torch.save)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._checked_fb = None

    def extra_repr(self) -> str:
        return (
            f"n_mels={self.n_mels}, sample_rate={self.sample_rate}, f_min={self.f_min}, f_max={self.f_max}, "
            f"n_stft={self.n_stft}, norm={self.norm!r}, mel_scale={self.mel_scale!r}"
        )


class GriffinLim(nn.Module):
    r"""Waveform from a linear magnitude or power spectrogram by (fast) Griffin-Lim.

    ``torchaudio.transforms.GriffinLim``'s signature, defaults (``n_fft=400``, ``n_iter=32``,
    ``momentum=0.99``, ``power=2.0``, ``rand_init=True``, ...), ``window`` buffer and output: with
    the same ``torch.manual_seed`` it gives the same audio. It scripts. The functional form is
    :func:`inverse_mel.functional.griffinlim`.

    Parameters
    ----------
    n_fft, n_iter, win_length, hop_length, window_fn, power, wkwargs, momentum, length, rand_init
        As in torchaudio: the STFT sizes (``win_length`` defaults to ``n_fft``, ``hop_length`` to
        ``win_length // 2``), the window function and its arguments, the exponent of the input
        (1 magnitude, 2 power), the iterations and their momentum, the output length, and a random
        (``True``) or zero initial phase.
    seed : int or None, default None
        Keyword-only. Draw the random initial phase from a generator of its own seeded with this,
        instead of the global one.
    phase_init : {None, "pghi"}, default None
        Keyword-only. ``"pghi"`` starts from the phase-gradient heap integration of the magnitude
        (:func:`inverse_mel.functional.phase_gradient_init`; eager mode only, not in scripted
        modules); ``None``: ``rand_init`` decides, as in torchaudio.

    Shapes
    ------
    input ``(..., n_fft // 2 + 1, frames)``, output ``(..., samples)``.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.demo import power_spectrogram, synthesize
    >>> power = power_spectrogram(synthesize(16000, seconds=0.5), 400, 200)   # (201, frames)
    >>> griffin_lim = inverse_mel.GriffinLim(n_fft=400, seed=0, phase_init="pghi")
    >>> waveform = griffin_lim(power)
    >>> waveform.shape
    torch.Size([8000])
    """

    __constants__ = ["n_fft", "n_iter", "win_length", "hop_length", "power", "length", "momentum", "rand_init"]

    def __init__(
        self,
        n_fft: int = 400,
        n_iter: int = 32,
        win_length: Optional[int] = None,
        hop_length: Optional[int] = None,
        window_fn=torch.hann_window,
        power: float = 2.0,
        wkwargs: Optional[dict] = None,
        momentum: float = 0.99,
        length: Optional[int] = None,
        rand_init: bool = True,
        *,
        seed: Optional[int] = None,
        phase_init: Optional[str] = None,
    ) -> None:
        super().__init__()
        V.check_phase_init(phase_init, "GriffinLim")
        self.phase_init = phase_init
        self.n_fft = n_fft
        self.n_iter = n_iter
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.power = power
        self.momentum = momentum
        self.length = length
        self.rand_init = rand_init
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"GriffinLim: seed must be an int or None, found {seed!r}")
        self.seed = seed
        # Validate once here, with the messages the functional gives.
        V.check_griffin_lim_settings(n_fft, self.hop_length, self.win_length, power, n_iter, momentum, length,
                                     "GriffinLim")
        window = window_fn(self.win_length) if wkwargs is None else window_fn(self.win_length, **wkwargs)
        self.register_buffer("window", window)

    def forward(self, specgram: Tensor) -> Tensor:
        r"""The waveform of a spectrogram.

        Parameters
        ----------
        specgram : Tensor
            ``(..., n_fft // 2 + 1, frames)`` magnitude (``power=1``) or power spectrogram.

        Returns
        -------
        Tensor
            ``(..., samples)`` waveform (``length`` samples when given).
        """
        window = self.window
        if specgram.is_floating_point() and window.dtype != specgram.dtype:
            window = window.to(specgram.dtype)
        seed = self.seed
        if self.phase_init is not None:
            return self._from_pghi(specgram, window)
        if seed is None or not self.rand_init:
            return griffinlim(specgram, window, self.n_fft, self.hop_length, self.win_length, self.power, self.n_iter,
                              self.momentum, self.length, self.rand_init)
        # A seeded phase: drawn on the CPU, so every device gets the same one.
        V.check_griffin_lim_inputs(specgram, self.n_fft, self.hop_length, self.win_length, self.power, self.n_iter, self.momentum,
                     self.length, "GriffinLim")
        generator = torch.Generator()
        generator.manual_seed(seed)
        complex_dtype = torch.complex128 if specgram.dtype == torch.float64 else torch.complex64
        angles = torch.rand(flat_shape(specgram), dtype=complex_dtype, generator=generator)
        return phase_iterations(specgram, angles.to(specgram.device), window, self.n_fft, self.hop_length,
                                self.win_length, self.power, self.n_iter, self.momentum, self.length)

    @torch.jit.unused
    def _from_pghi(self, specgram: Tensor, window: Tensor) -> Tensor:
        # PGHI's integration is eager-mode Python around a compiled op: not part of scripted modules.
        generator = None
        if self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        return griffin_lim(specgram, window, self.n_fft, self.hop_length, self.win_length, self.power, self.n_iter,
                           self.momentum, self.length, self.rand_init, generator=generator, phase_init=self.phase_init)

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, n_iter={self.n_iter}, win_length={self.win_length}, hop_length={self.hop_length}, "
            f"power={self.power}, momentum={self.momentum}, length={self.length}, rand_init={self.rand_init}"
            + ("" if self.seed is None else f", seed={self.seed}")
            + ("" if self.phase_init is None else f", phase_init={self.phase_init!r}")
        )
