"""Quality measures of an inversion against the true spectrogram, as the benchmarks, the CLI and
the demo report them."""
import torch
from torch import Tensor


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """Spectral convergence ``||S - S_hat||_F / ||S||_F`` of an estimate, on magnitudes.

    Parameters
    ----------
    reference, estimate : Tensor
        ``(..., n_freqs, time)`` magnitudes of the same shape.

    Returns
    -------
    float
        0 for a perfect estimate; lower is better.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.metrics import spectral_convergence
    >>> S = torch.ones(201, 10)
    >>> spectral_convergence(S, S), round(spectral_convergence(S, 0.9 * S), 6)
    (0.0, 0.1)
    """
    return float((reference - estimate).norm() / reference.norm().clamp_min(1e-30))


def log_spectral_distance(reference_power: Tensor, estimate_power: Tensor, floor_db: float = -80.0) -> float:
    """Log-spectral distance of an estimate, in dB.

    The mean over frames of the RMS over bins of ``10 log10(P / P_hat)``, with both powers floored
    at ``floor_db`` below the reference's peak.

    Parameters
    ----------
    reference_power, estimate_power : Tensor
        ``(..., n_freqs, time)`` power spectrograms of the same shape.
    floor_db : float, default -80.0
        The floor, relative to the reference's peak.

    Returns
    -------
    float
        dB; 0 for a perfect estimate, lower is better.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.metrics import log_spectral_distance
    >>> P = torch.ones(201, 10)
    >>> round(log_spectral_distance(P, 10 * P), 6)          # every bin off by a factor of 10: 10 dB
    10.0
    """
    floor = reference_power.max().clamp_min(1e-30) * 10.0 ** (floor_db / 10.0)
    diff = 10.0 * torch.log10(reference_power.clamp_min(floor) / estimate_power.clamp_min(floor))
    return float(diff.square().mean(dim=-2).sqrt().mean())
