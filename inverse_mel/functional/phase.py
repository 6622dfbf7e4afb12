"""Waveforms from linear spectrograms (phase reconstruction): (fast) Griffin-Lim as torchaudio's
``griffinlim``, bit for bit, and ``griffin_lim`` with a seed."""
from typing import List, Optional

import torch
from torch import Tensor

from .. import _validation as V
from .pghi import phase_gradient_init

__all__ = ["griffinlim", "griffin_lim"]


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    if dtype == torch.float64:
        return torch.complex128
    return torch.complex64


def griffinlim(
    specgram: Tensor,
    window: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int,
    power: float,
    n_iter: int,
    momentum: float,
    length: Optional[int],
    rand_init: bool,
) -> Tensor:
    """Waveform from a linear magnitude or power spectrogram by (fast) Griffin-Lim:
    ``torchaudio.functional.griffinlim``'s signature, defaults and arithmetic. With the same
    ``torch.manual_seed``, ``rand_init=True`` draws the same initial phase as torchaudio (from the
    global generator), so a seeded torchaudio pipeline gives the same audio.

    Args:
        specgram: ``(..., n_fft // 2 + 1, frames)`` non-negative spectrogram, float32 or float64.
        window: ``(win_length,)`` window.
        n_fft, hop_length, win_length: STFT settings of the spectrogram (centred frames).
        power: the exponent of the spectrogram (1 magnitude, 2 power).
        n_iter: iterations.
        momentum: in ``[0, 1)`` (fast Griffin-Lim; 0 is the original algorithm).
        length: output length in samples, or ``None``.
        rand_init: random initial phase (uniform real and imaginary parts, as torchaudio), else zero.
    Returns:
        ``(..., samples)`` waveform in ``specgram``'s dtype and device; ``length`` samples when given.

    Differences from torchaudio: bad settings raise a clear ``ValueError``; zero frames or a
    zero-size batch give a correctly shaped output; a ``length`` whose STFT has a different number
    of frames than ``specgram`` (where torchaudio fails with a shape error) is applied to the final
    waveform only.
    """
    check_inputs(specgram, n_fft, hop_length, win_length, power, n_iter, momentum, length, "griffinlim")
    shape = flat_shape(specgram)
    if rand_init:
        angles = torch.rand(shape, dtype=_complex_dtype(specgram.dtype), device=specgram.device)
    else:
        angles = torch.full(shape, 1, dtype=_complex_dtype(specgram.dtype), device=specgram.device)
    return phase_iterations(specgram, angles, window, n_fft, hop_length, win_length, power, n_iter, momentum, length)


def griffin_lim(
    specgram: Tensor,
    window: Optional[Tensor],
    n_fft: int,
    hop_length: int,
    win_length: int,
    power: float,
    n_iter: int,
    momentum: float,
    length: Optional[int],
    rand_init: bool,
    *,
    generator: Optional[torch.Generator] = None,
    phase_init: Optional[str] = None,
) -> Tensor:
    """:func:`griffinlim` with a ``generator`` for a reproducible random initial phase,
    ``window=None`` for a Hann window, and ``phase_init="pghi"`` to start from the phase-gradient
    heap integration of the magnitude (:func:`inverse_mel.functional.phase_gradient_init`; bins far
    below the maximum keep a random phase) instead of a random or zero phase. Without a generator it
    draws from the global one, as :func:`griffinlim` does (and gives the same audio)."""
    if window is None:
        window = torch.hann_window(win_length, device=specgram.device, dtype=specgram.dtype)
    check_phase_init(phase_init, "griffin_lim")
    if phase_init is None and (generator is None or not rand_init):
        return griffinlim(specgram, window, n_fft, hop_length, win_length, power, n_iter, momentum, length, rand_init)
    check_inputs(specgram, n_fft, hop_length, win_length, power, n_iter, momentum, length, "griffin_lim")
    if phase_init == "pghi":
        angles = pghi_angles(specgram, window, n_fft, hop_length, win_length, power, generator)
    else:
        # Drawn where the generator lives (a CPU generator gives the same phase on every device).
        angles = torch.rand(flat_shape(specgram), dtype=_complex_dtype(specgram.dtype), device=generator.device,
                            generator=generator).to(specgram.device)
    return phase_iterations(specgram, angles, window, n_fft, hop_length, win_length, power, n_iter, momentum, length)


PHASE_INITS = ("pghi",)


def check_phase_init(phase_init: Optional[str], fn: str) -> None:
    if phase_init is not None and phase_init not in PHASE_INITS:
        raise ValueError(f"{fn}: phase_init must be None (rand_init decides) or 'pghi', found {phase_init!r}")


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


def check_inputs(specgram: Tensor, n_fft: int, hop_length: int, win_length: int, power: float, n_iter: int,
                 momentum: float, length: Optional[int], fn: str) -> None:
    if not torch.jit.is_scripting():
        V.check_griffin_lim_settings(n_fft, hop_length, win_length, power, n_iter, momentum, length, fn)
    elif not 0 <= momentum < 1:
        raise ValueError("momentum must be in range [0, 1). Found: {}".format(momentum))
    V.check_spectrogram(specgram, "specgram", "n_fft // 2 + 1", n_fft // 2 + 1, fn)
    if specgram.dtype != torch.float32 and specgram.dtype != torch.float64:
        raise TypeError(f"{fn}: specgram must be float32 or float64, found {specgram.dtype}; use specgram.float()")
    V.check_finite(specgram, "specgram", fn)
