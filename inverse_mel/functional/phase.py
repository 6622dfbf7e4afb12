"""Waveforms from linear spectrograms (phase reconstruction): (fast) Griffin-Lim as torchaudio's
``griffinlim``, bit for bit, and ``griffin_lim`` with a seed."""
from typing import List, Optional

import torch
from torch import Tensor

from .. import _validation as V
from ._core import flat_shape, pghi_angles, phase_iterations

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

    Parameters
    ----------
    specgram
        ``(..., n_fft // 2 + 1, frames)`` non-negative spectrogram, float32 or float64.
    window
        ``(win_length,)`` window.
    n_fft, hop_length, win_length
        STFT settings of the spectrogram (centred frames).
    power
        the exponent of the spectrogram (1 magnitude, 2 power).
    n_iter
        iterations.
    momentum
        in ``[0, 1)`` (fast Griffin-Lim; 0 is the original algorithm).
    length
        output length in samples, or ``None``.
    rand_init
        random initial phase (uniform real and imaginary parts, as torchaudio), else zero.

    Returns
    -------
    Tensor
        ``(..., samples)`` waveform in ``specgram``'s dtype and device; ``length`` samples when given.

    Differences from torchaudio: bad settings raise a clear ``ValueError``; zero frames or a
    zero-size batch give a correctly shaped output; a ``length`` whose STFT has a different number
    of frames than ``specgram`` (where torchaudio fails with a shape error) is applied to the final
    waveform only.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import griffinlim
    >>> from inverse_mel.demo import power_spectrogram, synthesize
    >>> power = power_spectrogram(synthesize(16000, seconds=0.5), 400, 200)   # (201, frames)
    >>> _ = torch.manual_seed(0)
    >>> waveform = griffinlim(power, torch.hann_window(400), 400, 200, 400, 2.0, 8, 0.99, None, True)
    >>> waveform.shape
    torch.Size([8000])
    """
    V.check_griffin_lim_inputs(specgram, n_fft, hop_length, win_length, power, n_iter, momentum, length, "griffinlim")
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
    """:func:`griffinlim` with a generator, a default window and a PGHI start.

    It takes a ``generator`` for a reproducible random initial phase, ``window=None`` for a Hann
    window, and ``phase_init="pghi"`` to start from the phase-gradient heap integration of the
    magnitude (:func:`inverse_mel.functional.phase_gradient_init`; bins far below the maximum keep a
    random phase) instead of a random or zero phase. Without a generator it draws from the global
    one, as :func:`griffinlim` does (and gives the same audio).

    Parameters
    ----------
    specgram, window, n_fft, hop_length, win_length, power, n_iter, momentum, length, rand_init
        As in :func:`griffinlim`; ``window`` may be ``None`` (a Hann window of ``win_length``).
    generator : torch.Generator or None
        Keyword-only. Draws the random initial phase.
    phase_init : {None, "pghi"}
        Keyword-only. ``"pghi"``: start from PGHI's phase; ``None``: ``rand_init`` decides.

    Returns
    -------
    Tensor
        ``(..., samples)`` waveform in ``specgram``'s dtype and device.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import griffin_lim
    >>> from inverse_mel.demo import power_spectrogram, synthesize
    >>> power = power_spectrogram(synthesize(16000, seconds=0.5), 400, 200)
    >>> g = torch.Generator().manual_seed(0)
    >>> waveform = griffin_lim(power, None, 400, 200, 400, 2.0, 8, 0.99, None, True,
    ...                        generator=g, phase_init="pghi")
    >>> waveform.shape
    torch.Size([8000])
    """
    if window is None:
        window = torch.hann_window(win_length, device=specgram.device, dtype=specgram.dtype)
    V.check_phase_init(phase_init, "griffin_lim")
    if phase_init is None and (generator is None or not rand_init):
        return griffinlim(specgram, window, n_fft, hop_length, win_length, power, n_iter, momentum, length, rand_init)
    V.check_griffin_lim_inputs(specgram, n_fft, hop_length, win_length, power, n_iter, momentum, length, "griffin_lim")
    if phase_init == "pghi":
        angles = pghi_angles(specgram, window, n_fft, hop_length, win_length, power, generator)
    else:
        # Drawn where the generator lives (a CPU generator gives the same phase on every device).
        angles = torch.rand(flat_shape(specgram), dtype=_complex_dtype(specgram.dtype), device=generator.device,
                            generator=generator).to(specgram.device)
    return phase_iterations(specgram, angles, window, n_fft, hop_length, win_length, power, n_iter, momentum, length)
