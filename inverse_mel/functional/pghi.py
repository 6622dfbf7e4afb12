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
import functools
import math
from typing import Optional

import torch
from torch import Tensor

__all__ = ["PGHI_LOG_FLOOR", "PGHI_RELATIVE_TOL", "gaussian_lambda", "phase_freq_step", "phase_gradient_init",
           "phase_time_step", "real_time_frame_phase"]

PGHI_RELATIVE_TOL = 1e-5
"""Coefficients below this fraction of a signal's largest magnitude (-100 dB) keep a random phase."""

# Log-magnitudes more than this far (natural log, about 96 dB) below a signal's peak are floored:
# their gradients are noise.
PGHI_LOG_FLOOR = 11.0


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


def phase_time_step(log_magnitude: Tensor, lam: float, n_fft: int, hop_length: int) -> Tensor:
    """PGHI's phase advance per hop, ``(..., n_freqs, frames)`` from the (floored) log-magnitude of
    the same shape. Each frame needs only itself (the real-time PGHI of
    :class:`inverse_mel.MelToAudioStream` uses it frame by frame)."""
    n_freqs = log_magnitude.shape[-2]
    per_bin = _centred_difference(log_magnitude, -2, symmetric_ends=True)  # d l / d bin
    bin_frequency = torch.arange(n_freqs, dtype=log_magnitude.dtype, device=log_magnitude.device)[:, None] / n_fft
    # d phi / d time * hop, with d l / d omega = n_fft * d l / d bin.
    return hop_length * (n_fft * per_bin / lam + 2.0 * math.pi * bin_frequency)


def phase_freq_step(per_frame: Tensor, lam: float, n_fft: int, hop_length: int) -> Tensor:
    """PGHI's phase advance per frequency bin from ``per_frame``, the log-magnitude's difference
    per frame (centred offline; one-sided in a stream without look-ahead), any shape."""
    # d phi / d omega / n_fft, with d l / d time = (d l / d frame) / hop; -pi: torch's phase reference.
    return -(lam / n_fft) * per_frame / hop_length - math.pi


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
    lam = gaussian_lambda(window, n_fft)
    log_magnitude = torch.log(magnitude + torch.finfo(magnitude.dtype).tiny)
    if magnitude.numel() > 0:
        peak = log_magnitude.flatten(-2).amax(dim=-1)[..., None, None]
        log_magnitude = torch.maximum(log_magnitude, peak - PGHI_LOG_FLOOR)
    time_step = phase_time_step(log_magnitude, lam, n_fft, hop_length)
    per_frame = _centred_difference(log_magnitude, -1, symmetric_ends=False)  # d l / d frame
    freq_step = phase_freq_step(per_frame, lam, n_fft, hop_length)
    order = torch.argsort(magnitude.flatten(-2), dim=-1, descending=True, stable=True)
    device = generator.device if generator is not None else magnitude.device
    init_phase = (torch.rand(magnitude.shape, dtype=magnitude.dtype, device=device, generator=generator) * 2 - 1) * math.pi
    phase = torch.ops.inverse_mel.pghi_integrate(magnitude.contiguous(), time_step.contiguous(), freq_step.contiguous(),
                                                 order, init_phase.to(magnitude.device), float(relative_tol))
    return torch.polar(torch.ones_like(phase), phase)


@functools.lru_cache(maxsize=8)
def _alternating_sign(n: int, device: torch.device) -> Tensor:
    sign = torch.ones(n, dtype=torch.float64, device=device)
    sign[0::2] = -1.0
    return sign


def real_time_frame_phase(previous_phase: Tensor, previous_magnitude: Tensor, previous_time_step: Tensor,
                          magnitude: Tensor, time_step: Tensor, freq_step: Tensor, init_phase: Tensor,
                          threshold: Tensor) -> Tensor:
    """One frame of real-time PGHI (Prusa and Sondergaard, "A Simple and Efficient Approach to
    Real-Time Phase Reconstruction", DAFx 2016): the phase of a new frame from the fixed phase of
    the one before, by the heap integration of ``torch.ops.inverse_mel.pghi_integrate`` on the two
    frames.

    Args (``(batch, n_freqs)`` each, one dtype and device): the previous frame's phase,
    magnitude and time step (:func:`phase_time_step`); the new frame's magnitude, time step and
    frequency step (:func:`phase_freq_step`); ``init_phase``, the phase of new coefficients that
    no integration reaches (a random phase); ``threshold`` ``(batch,)``: coefficients below it are
    not integrated (the previous frame's) or keep ``init_phase`` (the new frame's).
    Returns:
        ``(batch, n_freqs)`` the new frame's phase.

    The op integrates on a grid of three columns: a copy of the previous frame, the previous frame
    and the new one. The copy's keys are above every magnitude, so it is integrated first, along
    frequency with steps that reproduce its phase (``(s[f] + s[f + 1]) / 2 = phase[f + 1] -
    phase[f]``), and hands each previous coefficient its phase unchanged (time steps that cancel).
    The heap then holds the whole previous frame, as the paper's does, and integrates the new
    frame from it in order of decreasing magnitude; new coefficients that nothing reaches start
    from ``init_phase``, the largest first.
    """
    batch, n_freqs = magnitude.shape
    dtype, device = magnitude.dtype, magnitude.device
    # Frequency steps that reproduce the previous phase (an alternating cumulative sum of the
    # wrapped differences, in float64: it runs over n_freqs terms).
    difference = torch.remainder(previous_phase[:, 1:].double() - previous_phase[:, :-1].double() + math.pi,
                                 2 * math.pi) - math.pi
    sign = _alternating_sign(n_freqs - 1, device)  # (-1)^(f + 1) for f = 0, 1, ...
    copy_freq_step = torch.cat([torch.zeros(batch, 1, dtype=torch.float64, device=device),
                                sign * torch.cumsum(2.0 * sign * difference, dim=-1)], dim=-1).to(dtype)
    # Keys of the heap: the magnitudes, -1 below the threshold (never integrated: the op is called
    # with relative_tol 0, which admits every key >= 0); the copy above them all.
    limit = threshold[:, None]
    previous_keys = torch.where(previous_magnitude >= limit, previous_magnitude, -1.0)
    keys = torch.where(magnitude >= limit, magnitude, -1.0)
    top = 2.0 * torch.maximum(previous_keys.amax(dim=-1, keepdim=True), keys.amax(dim=-1, keepdim=True)) + 1.0
    grid_keys = torch.stack([top.expand(batch, n_freqs), previous_keys, keys], dim=-1)  # (batch, n_freqs, 3)
    order = torch.argsort(grid_keys.flatten(-2), dim=-1, descending=True, stable=True)
    time_steps = torch.stack([-previous_time_step, previous_time_step, time_step], dim=-1)
    freq_steps = torch.stack([copy_freq_step, torch.zeros_like(freq_step), freq_step], dim=-1)
    init = torch.stack([previous_phase, previous_phase, init_phase], dim=-1)
    phase = torch.ops.inverse_mel.pghi_integrate(grid_keys.contiguous(), time_steps.contiguous(),
                                                 freq_steps.contiguous(), order, init.contiguous(), 0.0)
    return phase[..., 2]
