"""Mel-consistent Griffin-Lim (MCGL): Griffin-Lim whose magnitude step does not impose one fixed
magnitude but projects the current one onto the spectra that fit the mel.

Fast Griffin-Lim alternates a consistency projection (``stft(istft(.))``) with a magnitude
projection onto a fixed ``|S|``, an estimate of which the mel inverse gives. MCGL replaces the fixed
magnitude by the maximum-entropy (KL) projection of the current power ``q`` onto ``{s : fb.T s =
mel}``, ``s = q * exp(fb @ lam)``: the consistent spectrogram's own detail is kept where the mel
allows it. The projection is the compiled op ``torch.ops.inverse_mel.mel_projection``, the NNLS
solver's penalised dual Newton with ``q`` as its envelope (a few steps per iteration); its penalty
(relative to the dual's curvature) allows a misfit where the mel is inconsistent, as a model's is.
Bins no filter touches keep the starting estimate's magnitude.

Not differentiable: the projections' outputs carry no gradient (use Griffin-Lim's autograd-safe
iterations, :func:`inverse_mel.functional.griffinlim`, when gradients must reach the mel).
"""
from typing import Optional

import torch
from torch import Tensor

from ._core import iteration_length, stft_round_trip

__all__ = ["mel_consistent_griffin_lim", "MCGL_PENALTY", "MCGL_NEWTON_STEPS"]

MCGL_PENALTY = 0.03
"""The projection's penalty, relative to the dual's curvature at its start. Measured on real
recordings: 0.03 to 3 change the audio's SC by under 2.5% on clean mels, and none of them makes
MCGL as good as PGHI + Griffin-Lim on model-like (noisy) mels."""
MCGL_NEWTON_STEPS = 1
"""Dual Newton steps per iteration (measured: 2 or 4 change the audio SC by < 0.1% at more cost)."""


def mel_consistent_griffin_lim(
    melspec: Tensor,
    specgram: Tensor,
    angles: Tensor,
    window: Tensor,
    n_fft: int,
    hop_length: int,
    win_length: int,
    power: float,
    tap_index: Tensor,
    tap_weight: Tensor,
    n_iter: int,
    momentum: float,
    length: Optional[int],
    *,
    fixed_iterations: int = 0,
    penalty: float = MCGL_PENALTY,
    newton_steps: int = MCGL_NEWTON_STEPS,
) -> Tensor:
    """Waveform from a linear mel spectrogram by mel-consistent (fast) Griffin-Lim.

    Parameters
    ----------
    melspec
        ``(..., n_mels, frames)`` linear mel spectrogram in ``power``, float32 or float64.
    specgram
        ``(..., n_freqs, frames)`` the starting estimate (e.g. NNLS's), same power.
    angles
        ``(..., n_freqs, frames)`` complex unit phasors to start from (e.g. PGHI's after
        some Griffin-Lim iterations).
    window, n_fft, hop_length, win_length
        the STFT (centred frames).
    power
        the spectrograms' exponent (1 magnitude, 2 power).
    tap_index, tap_weight
        the filterbank as taps (``InverseMelScale.operator(dtype)``).
    n_iter
        mel-consistent iterations; momentum: in ``[0, 1)``, fast Griffin-Lim's.
    length
        output length in samples, or ``None``.
    fixed_iterations
        plain fast Griffin-Lim iterations (magnitude fixed at ``specgram``'s)
        before the mel-consistent ones, with the same momentum state.
    penalty, newton_steps
        the projection's settings.

    Returns
    -------
    Tensor
        ``(..., samples)`` waveform.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.functional import mel_consistent_griffin_lim, phase_gradient_init
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("vocos")                       # magnitude, centred frames
    >>> mel = p.mel_spectrogram(synthesize(p.sample_rate, seconds=0.3))
    >>> inverse = p.inverse_mel_scale(solver="nnls")
    >>> specgram, window = inverse(mel), p.window()
    >>> angles = phase_gradient_init(specgram, window, p.n_fft, p.hop_length, 1.0)
    >>> op = inverse.operator(torch.float32)
    >>> waveform = mel_consistent_griffin_lim(mel, specgram, angles, window, p.n_fft, p.hop_length,
    ...                                       p.window_length, 1.0, op.tap_index, op.tap_weight, 4, 0.99, None)
    >>> waveform.dim()
    1
    """
    batch_shape = list(specgram.shape[:-2])
    n_freqs, frames = specgram.shape[-2], specgram.shape[-1]
    if specgram.numel() == 0:
        out_length = length if length is not None else hop_length * max(frames - 1, 0)
        return specgram.new_zeros(batch_shape + [out_length])
    mel = melspec.detach().reshape(-1, melspec.shape[-2], frames)
    start = specgram.detach().reshape(-1, n_freqs, frames)
    covered = (tap_weight != 0).any(dim=1)[:, None]  # (n_freqs, 1): bins some filter touches
    magnitude = start.pow(1.0 / power)
    phasors = angles.detach().reshape(-1, n_freqs, frames)
    loop_length = iteration_length(length, hop_length, frames)
    weight = momentum / (1 + momentum)
    previous = torch.zeros_like(phasors)
    fixed = magnitude
    for iteration in range(fixed_iterations + n_iter):
        rebuilt = stft_round_trip(magnitude * phasors, window, n_fft, hop_length, win_length, loop_length)
        accelerated = rebuilt - weight * previous
        previous = rebuilt
        phasors = accelerated / accelerated.abs().add(1e-16)
        if iteration < fixed_iterations:
            continue
        # The prior is the consistent spectrogram's power (measured: the accelerated point's, which
        # momentum pushes beyond it, gives worse audio than the fixed magnitude).
        prior = rebuilt.abs().pow(power).contiguous()
        projected = torch.ops.inverse_mel.mel_projection(mel, prior, tap_index, tap_weight, float(penalty),
                                                         int(newton_steps))
        magnitude = torch.where(covered, projected.clamp_min(0).pow(1.0 / power), fixed)
    waveform = torch.istft(magnitude * phasors, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                           window=window, length=length)
    return waveform.reshape(batch_shape + [waveform.shape[-1]])
