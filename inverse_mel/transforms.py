"""``nn.Module`` front ends: drop-in replacements for torchaudio's ``InverseMelScale`` and ``MelScale``."""
from __future__ import annotations

import threading
import warnings
import weakref
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from . import functional as F

__all__ = ["InverseMelScale", "MelScale", "GriffinLim"]


def _refresh_after_load(module: "InverseMelScale", _incompatible_keys) -> None:
    module._refresh_operator()


class InverseMelScale(nn.Module):
    r"""Estimate a linear-frequency spectrogram from a mel spectrogram.

    A drop-in replacement for ``torchaudio.transforms.InverseMelScale``: same signature,
    defaults, validation, ``fb`` buffer (state_dicts load both ways) and, on well-conditioned
    filterbanks, the same output. What it adds:

    * The filterbank is factored once (in float64, an SVD with rank cut-off ``rcond``) and the
      operator is reused for every call and batch item, per device and dtype. It is rebuilt
      when ``fb`` changes (``load_state_dict``, ``.to()``, in-place edits).
    * Rank-deficient or ill-conditioned filterbanks never raise: every ``driver`` returns the
      minimum-norm least-squares solution within the cut-off, then ReLU, and the constructor
      warns once with the numerical rank and the fix.
    * The forward is a compiled op (``torch.ops.inverse_mel.lstsq_apply``) that applies the
      operator as a small ``n_mels x n_mels`` product and a sparse expansion with the ReLU
      fused, writing the output once.

    See :func:`inverse_mel.functional.inverse_mel_scale` for the math.

    Args:
        n_stft: number of STFT bins, ``n_fft // 2 + 1``.
        n_mels: number of mel filters. (Default: ``128``)
        sample_rate: sample rate of the audio. (Default: ``16000``)
        f_min, f_max: frequency range; ``f_max=None`` means ``sample_rate // 2``.
        norm: ``None`` or ``"slaney"``.
        mel_scale: ``"htk"`` or ``"slaney"``.
        driver: ``"gels"``, ``"gelsy"``, ``"gelsd"`` or ``"gelss"``; validated as in torchaudio,
            all give the same result here.
        rcond: keyword-only; relative rank cut-off on ``fb``'s singular values.
            (Default: :data:`inverse_mel.functional.DEFAULT_RCOND`, 1e-2)
        solver: keyword-only; ``"lstsq"`` (torchaudio's method, the default) or ``"nnls"``
            (non-negative least squares: exact mel fit where possible, better spectra).
        max_iter, tol: keyword-only; NNLS stopping, per frame (Default: 200, 1e-4). See
            :func:`inverse_mel.functional.inverse_mel_scale`.
        fill_band_edges: keyword-only; NNLS only: the bins in ``[f_min, f_max]`` that no filter
            weighs (the DC bin when ``f_min=0``, the last bin when ``f_max`` is Nyquist) copy their
            nearest weighed bin instead of staying 0. Any value fits the mel spectrogram there;
            see :func:`inverse_mel.functional.band_edge_fill`. (Default: ``True``)

    Shapes:
        input ``(..., n_mels, time)``, output ``(..., n_stft, time)``.
    """

    __constants__ = ["n_stft", "n_mels", "sample_rate", "f_min", "f_max"]

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
        rcond: Optional[float] = None,
        solver: str = "lstsq",
        max_iter: int = F.DEFAULT_MAX_ITER,
        tol: float = F.DEFAULT_TOL,
        fill_band_edges: bool = True,
    ) -> None:
        super().__init__()
        # torchaudio checks only f_min <= f_max; the rest would end in an empty or NaN filterbank.
        F._check_mel_config(n_stft, f_min, f_max or None, n_mels, sample_rate, "InverseMelScale")  # torchaudio: 0 -> Nyquist
        F._check_solver(solver, max_iter, tol)
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.fill_band_edges = bool(fill_band_edges)
        self.n_stft = n_stft
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_max = f_max or float(sample_rate // 2)
        self.f_min = f_min
        self.norm = norm
        self.mel_scale = mel_scale
        self.driver = driver
        self.rcond = F.DEFAULT_RCOND if rcond is None else rcond

        F._check_driver(driver)

        fb = F.melscale_fbanks(n_stft, self.f_min, self.f_max, self.n_mels, self.sample_rate, norm, mel_scale)
        self.register_buffer("fb", fb)

        self._lock = threading.Lock()
        self._operator_f64: Optional[F.LstsqOperator] = None  # on fb's device
        self._operators: Dict[torch.dtype, F.LstsqOperator] = {}  # casts of it, per compute dtype
        self._source = (None, -1)  # (weakref to the fb it was built from, fb._version then)
        self._warned_rank: Optional[int] = None
        self._refresh_operator()
        # load_state_dict copies into fb in place; rebuild eagerly so compiled graphs see it too.
        self.register_load_state_dict_post_hook(_refresh_after_load)

    # -- the solve operator cache ------------------------------------------------
    def _refresh_operator(self) -> None:
        """(Re)build the float64 solve operator from the current ``fb``. Thread-safe."""
        with self._lock:
            self._rebuild_locked()

    def _rebuild_locked(self) -> None:
        fb = self.fb
        op = F.lstsq_operator(fb, self.rcond)
        self._operator_f64 = op
        self._operators = {}
        self._source = (weakref.ref(fb), fb._version)
        self._fb_nonnegative = not bool((fb < 0).any())
        # NNLS: the band-edge bins no filter weighs continue the spectrum (F.band_edge_fill).
        self._fill_from = (
            F.band_edge_fill(fb, self.sample_rate, self.f_min, self.f_max) if self.fill_band_edges else None
        )
        n_freqs, n_mels = fb.shape
        if op.rank < n_mels and op.rank != self._warned_rank:
            self._warned_rank = op.rank
            warnings.warn(F._rank_warning_text(op.rank, n_mels, n_freqs, self.rcond), stacklevel=3)

    def _is_stale(self) -> bool:
        ref, version = self._source
        return ref is None or ref() is not self.fb or self.fb._version != version

    def _operator(self, dtype: torch.dtype) -> F.LstsqOperator:
        if torch.compiler.is_compiling():
            # Traced graphs use the operator built eagerly (construction, .to(), load_state_dict).
            return self._operator_f64.to(dtype)
        op = self._operators.get(dtype)
        if op is not None and not self._is_stale():
            return op
        with self._lock:  # many threads may call forward at once on a fresh or changed module
            if self._is_stale():
                self._rebuild_locked()
            op = self._operators.get(dtype)
            if op is None:
                op = self._operator_f64.to(dtype)
                self._operators[dtype] = op
            return op

    def _apply(self, fn, recurse=True):
        module = super()._apply(fn, recurse)
        self._refresh_operator()  # fb moved or changed dtype: rebuild on its new device
        return module

    # -- forward --------------------------------------------------------------------
    def forward(self, melspec: Tensor, *, return_info: bool = False):
        r"""
        Args:
            melspec: ``(..., n_mels, time)`` mel spectrogram on ``fb``'s device.
            return_info: keyword-only; return an
                :class:`inverse_mel.functional.InverseMelResult` (per-frame iterations,
                relative mel residual, convergence flags) instead of the tensor alone.
        Returns:
            ``(..., n_stft, time)`` non-negative linear spectrogram, in ``melspec``'s dtype.
        """
        F._check_melspec(melspec, self.n_mels, "InverseMelScale")
        if melspec.device != self.fb.device:
            raise ValueError(
                f"InverseMelScale: melspec is on {melspec.device} but the module's fb is on "
                f"{self.fb.device}; move the module with .to({str(melspec.device)!r}) or the input with .to(...)"
            )
        op = self._operator(F._compute_dtype(melspec.dtype))
        if self.solver == "nnls" and not self._fb_nonnegative:
            F._check_nonnegative(self.fb, "InverseMelScale")
        fill_from = self._fill_from if self.solver == "nnls" else None
        return F._solve(melspec, op, self.solver, self.max_iter, self.tol, return_info, fill_from)

    def extra_repr(self) -> str:
        return (
            f"n_stft={self.n_stft}, n_mels={self.n_mels}, sample_rate={self.sample_rate}, "
            f"f_min={self.f_min}, f_max={self.f_max}, norm={self.norm!r}, mel_scale={self.mel_scale!r}, "
            f"driver={self.driver!r}, rcond={self.rcond:g}, solver={self.solver!r}"
            + (f", max_iter={self.max_iter}, tol={self.tol:g}" if self.solver == "nnls" else "")
            + ("" if self.fill_band_edges else ", fill_band_edges=False")
        )

    def __getstate__(self):
        # The lock and the weakref cannot be pickled (copy.deepcopy, torch.save of the module).
        state = self.__dict__.copy()
        for key in ("_lock", "_source", "_operators", "_operator_f64"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._lock = threading.Lock()
        self._operators = {}
        self._source = (None, -1)
        self._operator_f64 = None
        self._refresh_operator()


class MelScale(nn.Module):
    r"""Project a linear spectrogram onto mel bands, like ``torchaudio.transforms.MelScale``
    (same signature, defaults and ``fb`` buffer). Used for round trips with
    :class:`InverseMelScale`.

    Shapes:
        input ``(..., n_stft, time)``, output ``(..., n_mels, time)``.
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
        F._check_mel_config(n_stft, f_min, f_max, n_mels, sample_rate, "MelScale")
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.f_max = f_max if f_max is not None else float(sample_rate // 2)
        self.f_min = f_min
        self.norm = norm
        self.mel_scale = mel_scale
        self.n_stft = n_stft
        fb = F.melscale_fbanks(n_stft, self.f_min, self.f_max, self.n_mels, self.sample_rate, self.norm, self.mel_scale)
        self.register_buffer("fb", fb)

    def forward(self, specgram: Tensor) -> Tensor:
        r"""
        Args:
            specgram: ``(..., n_stft, time)`` linear spectrogram.
        Returns:
            ``(..., n_mels, time)`` mel spectrogram.
        """
        return F.mel_scale(specgram, self.fb)

    def extra_repr(self) -> str:
        return (
            f"n_mels={self.n_mels}, sample_rate={self.sample_rate}, f_min={self.f_min}, f_max={self.f_max}, "
            f"n_stft={self.n_stft}, norm={self.norm!r}, mel_scale={self.mel_scale!r}"
        )


class GriffinLim(nn.Module):
    r"""Waveform from a linear magnitude or power spectrogram by (fast) Griffin-Lim.

    The constructor signature and defaults of ``torchaudio.transforms.GriffinLim`` (``n_fft=400``,
    ``n_iter=32``, ``momentum=0.99``, ``power=2.0``, ``rand_init=True``, ...), plus keyword-only
    ``seed`` for a reproducible random initial phase (torchaudio draws from the global RNG).
    Runs on the input's device with ``torch.stft``/``istft``.

    Shapes:
        input ``(..., n_fft // 2 + 1, frames)``, output ``(..., samples)``.
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
    ) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.n_iter = n_iter
        self.win_length = win_length if win_length is not None else n_fft
        self.hop_length = hop_length if hop_length is not None else self.win_length // 2
        self.power = power
        self.momentum = momentum
        self.length = length
        self.rand_init = rand_init
        self.seed = seed
        # Validate once here, with the same messages the functional gives.
        F._check_griffin_lim_settings(n_fft, self.hop_length, self.win_length, power, n_iter, momentum, length)
        window = window_fn(self.win_length) if wkwargs is None else window_fn(self.win_length, **wkwargs)
        self.register_buffer("window", window)

    def forward(self, specgram: Tensor) -> Tensor:
        r"""
        Args:
            specgram: ``(..., n_fft // 2 + 1, frames)`` magnitude (``power=1``) or power spectrogram.
        Returns:
            ``(..., samples)`` waveform (``length`` samples when given).
        """
        generator = None
        if self.rand_init and self.seed is not None:
            generator = torch.Generator().manual_seed(self.seed)
        window = self.window.to(specgram.dtype) if isinstance(specgram, Tensor) and specgram.is_floating_point() else self.window
        return F.griffin_lim(specgram, window, self.n_fft, self.hop_length, self.win_length, self.power, self.n_iter,
                             self.momentum, self.length, self.rand_init, generator=generator)
