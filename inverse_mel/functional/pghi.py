"""A phase from the magnitude alone: phase-gradient heap integration (PGHI; Prusa, Balazs and
Sondergaard, "A Noniterative Method for Reconstruction of Phase From STFT Magnitude", IEEE/ACM
TASLP 25(5), 2017), as Griffin-Lim's starting point.

For a Gaussian window ``exp(-pi t^2 / lam)`` (``t``, ``lam`` in samples) the STFT's log-magnitude
``l`` and phase ``phi`` are tied (the STFT is analytic up to a known factor):

    d phi / d time = (1 / lam) d l / d omega + 2 pi omega,      d phi / d omega = -lam d l / d time

(``omega`` in cycles per sample, phase referred to the window's centre). In torch's ``stft``
convention (phase referred to the frame's first sample, the window centred in ``n_fft``) a bin
step adds ``-pi``. Any other window is treated as the Gaussian of least-squares fit to it
(:func:`gaussian_lambda`: ``0.2583 win_length^2`` for Hann, where the paper gives 0.25645).
The steps are computed here with torch ops on the input's device; the integration, which is
sequential within a signal, is the compiled op ``torch.ops.inverse_mel.pghi_integrate``.
"""
import math
from typing import Optional

import torch
from torch import Tensor

__all__ = ["gaussian_lambda", "phase_gradient_init", "PGHI_RELATIVE_TOL"]

PGHI_RELATIVE_TOL = 1e-5
"""Coefficients below this fraction of a signal's largest magnitude (-100 dB) keep a random phase."""

# Log-magnitudes more than this far (natural log, about 96 dB) below a signal's peak are floored:
# their gradients are noise.
_LOG_FLOOR = 11.0


def gaussian_lambda(window: Tensor, n_fft: int) -> float:
    """The time-frequency ratio ``lam`` of the Gaussian closest to a window.

    ``lam`` (in samples^2) of the Gaussian ``exp(-pi t^2 / lam)`` closest in least squares to
    ``window`` (its peak scaled to 1, ``t`` from its centre sample ``win_length // 2``, where
    torch's periodic windows peak). Three grid passes over ``lam / win_length^2``, each narrowing to
    two steps around the best.

    Parameters
    ----------
    window : Tensor
        ``(win_length,)``.
    n_fft : int
        The FFT size.

    Returns
    -------
    float
        ``lam`` in samples^2.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import gaussian_lambda
    >>> lam = gaussian_lambda(torch.hann_window(1024), 1024)
    >>> 0.2 < lam / 1024 ** 2 < 0.3      # a Hann window's Gaussian: about 0.25 win_length^2
    True
    """
    w = window.detach().to("cpu", torch.float64)
    peak = w.abs().max() if w.numel() else torch.tensor(0.0)
    win_length = w.shape[0]
    if win_length < 2 or not bool(peak > 0):
        return 0.25 * float(max(win_length, 1)) ** 2
    w = w / peak
    t_squared = (torch.arange(win_length, dtype=torch.float64) - (win_length // 2)) ** 2
    lo, hi = 0.01, 2.0
    for _ in range(3):
        grid = torch.linspace(lo, hi, 101, dtype=torch.float64)
        errors = (w - torch.exp(-math.pi * t_squared / (grid[:, None] * win_length * win_length))).square().sum(dim=1)
        best = float(grid[int(torch.argmin(errors))])
        step = float(grid[1] - grid[0])
        lo, hi = max(best - 2 * step, 1e-4), best + 2 * step
    return best * win_length * win_length


def _centred_difference(x: Tensor, dim: int, symmetric_ends: bool) -> Tensor:
    """Half the difference of the neighbours along ``dim``. At the ends: 0 where the sequence is
    symmetric about them (the spectrum at DC and Nyquist), else a one-sided difference."""
    n = x.shape[dim]
    if n < 2:
        return torch.zeros_like(x)
    inner = 0.5 * (x.narrow(dim, 2, n - 2) - x.narrow(dim, 0, n - 2))
    if symmetric_ends:
        first = torch.zeros_like(x.narrow(dim, 0, 1))
        last = torch.zeros_like(first)
    else:
        first = x.narrow(dim, 1, 1) - x.narrow(dim, 0, 1)
        last = x.narrow(dim, n - 1, 1) - x.narrow(dim, n - 2, 1)
    return torch.cat([first, inner, last], dim=dim)


def phase_gradient_init(
    specgram: Tensor,
    window: Tensor,
    n_fft: int,
    hop_length: int,
    power: float = 1.0,
    *,
    relative_tol: float = PGHI_RELATIVE_TOL,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Initial phases by PGHI, in ``torch.stft``'s convention (centred frames).

    Parameters
    ----------
    specgram
        ``(..., n_fft // 2 + 1, frames)`` magnitude (``power=1``) or power spectrogram,
        float32 or float64.
    window
        ``(win_length,)`` the STFT window (approximated by a Gaussian, see the module).
    n_fft, hop_length
        STFT settings.
    power
        the spectrogram's exponent.
    relative_tol
        coefficients below this fraction of their signal's largest magnitude keep a
        random phase (uniform), drawn from ``generator`` (the global one when ``None``).

    Returns
    -------
    Tensor
        ``(..., n_fft // 2 + 1, frames)`` complex unit phasors ``exp(i phase)``.

    Not differentiable (the integration order is discrete): gradients do not flow through it.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import phase_gradient_init
    >>> from inverse_mel.demo import power_spectrogram, synthesize
    >>> power = power_spectrogram(synthesize(16000, seconds=0.5), 400, 100)   # (201, frames)
    >>> phasors = phase_gradient_init(power, torch.hann_window(400), 400, 100, 2.0)
    >>> phasors.shape == power.shape, phasors.dtype, bool(torch.allclose(phasors.abs(), torch.ones(())))
    (True, torch.complex64, True)
    """
    magnitude = specgram.detach()
    if power != 1.0:
        magnitude = magnitude.pow(1.0 / power)
    n_freqs, frames = magnitude.shape[-2], magnitude.shape[-1]
    lam = gaussian_lambda(window, n_fft)
    log_magnitude = torch.log(magnitude + torch.finfo(magnitude.dtype).tiny)
    if magnitude.numel() > 0:
        peak = log_magnitude.flatten(-2).amax(dim=-1)[..., None, None]
        log_magnitude = torch.maximum(log_magnitude, peak - _LOG_FLOOR)
    per_bin = _centred_difference(log_magnitude, -2, symmetric_ends=True)  # d l / d bin
    per_frame = _centred_difference(log_magnitude, -1, symmetric_ends=False)  # d l / d frame
    bin_frequency = torch.arange(n_freqs, dtype=magnitude.dtype, device=magnitude.device)[:, None] / n_fft
    # d phi / d time * hop, with d l / d omega = n_fft * d l / d bin.
    time_step = hop_length * (n_fft * per_bin / lam + 2.0 * math.pi * bin_frequency)
    # d phi / d omega / n_fft, with d l / d time = (d l / d frame) / hop; -pi: torch's phase reference.
    freq_step = -(lam / n_fft) * per_frame / hop_length - math.pi
    order = torch.argsort(magnitude.flatten(-2), dim=-1, descending=True, stable=True)
    device = generator.device if generator is not None else magnitude.device
    init_phase = (torch.rand(magnitude.shape, dtype=magnitude.dtype, device=device, generator=generator) * 2 - 1) * math.pi
    phase = torch.ops.inverse_mel.pghi_integrate(magnitude.contiguous(), time_step.contiguous(), freq_step.contiguous(),
                                                 order, init_phase.to(magnitude.device), float(relative_tol))
    return torch.polar(torch.ones_like(phase), phase)
