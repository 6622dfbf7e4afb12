"""Loads the compiled op library: ``inverse_mel._C`` (the op schemas and the CPU kernels) and, under a
CUDA build of torch, ``inverse_mel._C_cuda`` (the CUDA kernels).

Both are built on the LibTorch stable ABI, so one binary serves every torch from
:data:`MIN_TORCH` on. If the CUDA kernels cannot load (say, the wheel was built for another CUDA
major version), importing still works: a warning says why, the CPU ops keep working, and an op
called on a CUDA tensor raises an error that names the cause.
"""
import importlib
import os
import warnings

import torch

# The oldest torch whose stable ABI covers every call the library makes (setup.py's
# TORCH_TARGET_VERSION; see csrc/README.md).
MIN_TORCH = (2, 11)


def _torch_version() -> tuple:
    parts = torch.__version__.split("+")[0].split(".")
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts[:2])


if _torch_version() < MIN_TORCH:
    raise ImportError(
        f"inverse_mel needs torch >= {'.'.join(map(str, MIN_TORCH))}, but torch {torch.__version__} is installed. "
        f"Upgrade it (e.g. `pip install 'torch>={'.'.join(map(str, MIN_TORCH))}'`) or use an older inverse_mel."
    )

try:
    # Loading the shared library runs its registrations (torch.ops.inverse_mel.*).
    from . import _C  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"inverse_mel's compiled op library (inverse_mel._C) could not be loaded: {exc}. "
        f"Reinstall inverse_mel for torch {torch.__version__} (`pip install --force-reinstall inverse_mel`), "
        "or from a source checkout run `pip install --no-build-isolation -e .`."
    ) from exc

# The CUDA NNLS kernel's capacities, defined once in C++ (csrc/shared/nnls_capacity.h).
CUDA_NNLS_MAX_MELS: int = _C.CUDA_NNLS_MAX_MELS
CUDA_NNLS_MAX_BANDS: int = _C.CUDA_NNLS_MAX_BANDS

# Every op of the library, as declared in csrc/inverse_mel.cpp.
OPS = (
    "lstsq_apply", "lstsq_apply_out", "melscale_fbanks_triangles", "nnls", "nnls_backward", "_nnls_per_frame",
    "_nnls_backward_per_frame", "_lstsq_apply_per_frame", "pghi_integrate", "mel_projection",
    "_nnls_cuda_launch_info",
)

# Why the CUDA kernels are not available, or None when they are loaded (or torch has no CUDA).
CUDA_UNAVAILABLE_REASON = None
# The CUDA kernels registered in their place, by op name (empty when the CUDA kernels loaded).
CUDA_FALLBACKS = {}
_cuda_fallback_library = None


def _register_cuda_fallbacks(reason: str) -> None:
    """CUDA kernels that raise a clear error instead of the dispatcher's missing-kernel message."""
    global _cuda_fallback_library
    library = torch.library.Library("inverse_mel", "IMPL")

    def make(op):
        def unavailable(*args, **kwargs):
            raise RuntimeError(
                f"inverse_mel.{op} was called on a CUDA tensor, but inverse_mel's CUDA kernels "
                f"(inverse_mel._C_cuda) could not be loaded: {reason}. Install an inverse_mel wheel built for "
                f"CUDA {torch.version.cuda}, or build from source against this torch "
                "(`pip install --no-build-isolation -e .` with a CUDA toolkit), or move the tensors to the CPU."
            )
        return unavailable

    for op in OPS:
        CUDA_FALLBACKS[op] = make(op)
        library.impl(op, CUDA_FALLBACKS[op], "CUDA")
    _cuda_fallback_library = library  # kept alive: the registrations last as long as the library object


if torch.version.cuda is not None:
    try:
        # Loading it runs the CUDA kernels' registrations; a CPU-only build has no such module.
        importlib.import_module(__package__ + "._C_cuda")
    except ImportError as exc:
        CUDA_UNAVAILABLE_REASON = str(exc) or type(exc).__name__
        warnings.warn(
            f"inverse_mel's CUDA kernels (inverse_mel._C_cuda) could not be loaded: {CUDA_UNAVAILABLE_REASON}. "
            f"CPU ops work; ops on CUDA tensors will raise. This torch uses CUDA {torch.version.cuda}: install an "
            "inverse_mel wheel built for that CUDA major version, or build from source "
            "(`pip install --no-build-isolation -e .` with a matching CUDA toolkit).",
            RuntimeWarning,
            stacklevel=2,
        )
        _register_cuda_fallbacks(CUDA_UNAVAILABLE_REASON)


def _check_vector_isa_setting() -> None:
    # The C++ side reads INVERSE_MEL_VECTOR_ISA (csrc/cpu/simd.h) and falls back to the widest vectors
    # on any other value; the stable ABI has no C++ warning channel, so the warning is given here.
    cap = os.environ.get("INVERSE_MEL_VECTOR_ISA", "")
    if cap not in ("", "avx2", "baseline"):
        warnings.warn(
            f"INVERSE_MEL_VECTOR_ISA={cap} is not recognised (use avx2 or baseline, or unset it); "
            "using the CPU's widest vectors",
            RuntimeWarning,
            stacklevel=3,
        )


_check_vector_isa_setting()
