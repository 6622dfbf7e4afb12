"""Small tensor helpers that both the op registrations and the functional API use. Imports nothing
from the user-facing API."""
import torch
from torch import Tensor

# The CUDA NNLS kernel's capacities, read from the extension (defined once, in C++).
from ._extension import CUDA_NNLS_MAX_BANDS, CUDA_NNLS_MAX_MELS  # noqa: F401


def dense_from_taps(tap_index: Tensor, tap_weight: Tensor, n_mels: int) -> Tensor:
    """The ``(n_freqs, n_mels)`` matrix of a filterbank stored as taps (ELL format: row ``f`` holds
    weight ``tap_weight[f, j]`` in column ``tap_index[f, j]``; padding taps have weight 0)."""
    dense = tap_weight.new_zeros((tap_index.shape[0], n_mels))
    return dense.scatter_add(1, tap_index, tap_weight)
