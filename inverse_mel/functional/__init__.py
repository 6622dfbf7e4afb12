"""The functional API: mel filterbanks, the mel inverse, and phase reconstruction (Griffin-Lim, PGHI,
mel-consistent Griffin-Lim).

Shapes follow torchaudio: a filterbank ``fb`` is ``(n_freqs, n_mels)``, a linear spectrogram
``(..., n_freqs, time)`` and a mel spectrogram ``(..., n_mels, time)``, with
``melspec = fb.T @ specgram``.
"""
from .filterbank import band_edge_fill, hz_to_mel, mel_scale, mel_to_hz, melscale_fbanks, melscale_fbanks_on_device
from .phase import griffin_lim, griffinlim
from .pghi import gaussian_lambda, phase_gradient_init
from .mel_consistent import mel_consistent_griffin_lim
from .inverse import (
    DEFAULT_MAX_ITER,
    DEFAULT_RCOND,
    DEFAULT_TOL,
    MAX_NOISE_GAIN,
    FactoredFilterbank,
    InverseMelResult,
    LstsqOperator,
    inverse_mel_scale,
    inverse_mel_scale_with_info,
    lstsq_operator,
)
from ..constants import DRIVERS, SOLVERS

__all__ = [
    "DEFAULT_MAX_ITER",
    "DEFAULT_RCOND",
    "DEFAULT_TOL",
    "DRIVERS",
    "MAX_NOISE_GAIN",
    "SOLVERS",
    "FactoredFilterbank",
    "InverseMelResult",
    "LstsqOperator",
    "band_edge_fill",
    "gaussian_lambda",
    "griffin_lim",
    "griffinlim",
    "hz_to_mel",
    "inverse_mel_scale",
    "inverse_mel_scale_with_info",
    "lstsq_operator",
    "mel_consistent_griffin_lim",
    "mel_scale",
    "mel_to_hz",
    "melscale_fbanks",
    "melscale_fbanks_on_device",
    "phase_gradient_init",
]
