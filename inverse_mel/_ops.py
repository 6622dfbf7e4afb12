"""Loads the compiled op library (``inverse_mel._C``) and holds the small tensor helpers that both
the op registrations and the functional API use. Imports nothing from the user-facing API."""
import torch
from torch import Tensor

try:
    # Loading the shared library runs its TORCH_LIBRARY registrations (torch.ops.inverse_mel.*).
    from . import _C  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"inverse_mel's compiled op library (inverse_mel._C) could not be loaded: {exc}. "
        f"It must be built against the installed torch ({torch.__version__}): from the source "
        "checkout run `pip install --no-build-isolation -e .` (or `pip install --no-build-isolation .`)."
    ) from exc


# The CUDA NNLS kernel's capacities, defined once in C++ (csrc/shared/nnls_capacity.h).
CUDA_NNLS_MAX_MELS: int = _C.CUDA_NNLS_MAX_MELS
CUDA_NNLS_MAX_BANDS: int = _C.CUDA_NNLS_MAX_BANDS


def dense_from_taps(tap_index: Tensor, tap_weight: Tensor, n_mels: int) -> Tensor:
    """The ``(n_freqs, n_mels)`` matrix of a filterbank stored as taps (ELL format: row ``f`` holds
    weight ``tap_weight[f, j]`` in column ``tap_index[f, j]``; padding taps have weight 0)."""
    dense = tap_weight.new_zeros((tap_index.shape[0], n_mels))
    return dense.scatter_add(1, tap_index, tap_weight)
