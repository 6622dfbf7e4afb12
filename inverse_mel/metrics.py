"""Quality measures of an inversion against the true spectrogram, as the benchmarks, the CLI and
the demo report them."""
import torch
from torch import Tensor


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """``||S - S_hat||_F / ||S||_F`` on magnitudes ``(..., n_freqs, time)``."""
    return float((reference - estimate).norm() / reference.norm().clamp_min(1e-30))


def log_spectral_distance(reference_power: Tensor, estimate_power: Tensor, floor_db: float = -80.0) -> float:
    """Mean over frames of the RMS over bins of ``10 log10(P / P_hat)``, in dB, with both powers
    ``(..., n_freqs, time)`` floored at ``floor_db`` below the reference's peak."""
    floor = reference_power.max().clamp_min(1e-30) * 10.0 ** (floor_db / 10.0)
    diff = 10.0 * torch.log10(reference_power.clamp_min(floor) / estimate_power.clamp_min(floor))
    return float(diff.square().mean(dim=-2).sqrt().mean())
