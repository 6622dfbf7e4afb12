"""Input checks shared by the functional API, the modules and the presets.

Every message names the argument, what was expected and the fix. The tensor checks are
TorchScript-compatible (the modules' forwards call them); checks of Python values (types,
configuration numbers) run in eager mode only, where such values can be wrong.
"""
import math
import warnings
from typing import List, Optional

import torch
from torch import Tensor

from .constants import DRIVERS, MEL_SCALES, METHODS, PHASE_INITS, SOLVERS

FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def renamed_option(value, default, old_value, name: str, old_name: str, fn: str):
    """The option ``name``'s value, also when given by its name before 0.2, ``old_name`` (``old_value``
    not None): that still works, with a FutureWarning; both at once is an error."""
    if old_value is None:
        return value
    if value is not default:
        raise ValueError(f"{fn}: {old_name}= is the old name of {name}=; pass only {name}=")
    warnings.warn(f"{fn}: {old_name}= was renamed {name}= in 0.2; pass {name}= (the old name will be removed)",
                  FutureWarning, stacklevel=3)
    return old_value


def shape_str(shape: List[int]) -> str:
    """``(40,)``, ``(2, 80, 5)``: Python's tuple notation, also under TorchScript."""
    if len(shape) == 1:
        return "(" + str(shape[0]) + ",)"
    return "(" + ", ".join([str(s) for s in shape]) + ")"


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- configuration values (eager only) ------------------------------------------------------------
def check_mel_scale(mel_scale: str) -> None:
    if mel_scale != "htk" and mel_scale != "slaney":
        raise ValueError('mel_scale should be one of "htk" or "slaney".')


def check_norm(norm: Optional[str]) -> None:
    if norm is not None and norm != "slaney":
        raise ValueError('norm must be one of None or "slaney"')


def check_mel_config(n_freqs, f_min, f_max, n_mels, sample_rate, fn: str, n_freqs_name: str = "n_stft") -> None:
    """The modules' and presets' configuration: rejects what torchaudio's modules accept but what
    ends in an empty, NaN or aliased filterbank (``melscale_fbanks`` itself accepts those)."""
    if isinstance(n_freqs, bool) or not isinstance(n_freqs, int) or n_freqs < 2:
        raise ValueError(
            f"{fn}: {n_freqs_name} must be an int >= 2 (the n_fft // 2 + 1 bins of a one-sided STFT), "
            f"found {n_freqs!r}"
        )
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels < 1:
        raise ValueError(f"{fn}: n_mels must be an int >= 1, found {n_mels!r}")
    if not is_number(sample_rate) or not math.isfinite(sample_rate) or not sample_rate > 0:
        raise ValueError(f"{fn}: sample_rate must be a positive number of Hz, found {sample_rate!r}")
    if not is_number(f_min) or not math.isfinite(f_min) or f_min < 0:
        raise ValueError(f"{fn}: f_min must be a finite number of Hz >= 0, found {f_min!r}")
    if f_max is None:  # the modules' default
        f_max = float(sample_rate // 2)
    if not is_number(f_max) or not math.isfinite(f_max):
        raise ValueError(f"{fn}: f_max must be a finite number of Hz (or None for sample_rate // 2), found {f_max!r}")
    if f_min > f_max:
        raise ValueError("Require f_min: {} <= f_max: {}".format(f_min, f_max))
    if f_min == f_max:  # every corner frequency coincides: 0 / 0 weights
        raise ValueError(f"{fn}: f_max must be greater than f_min, found both {f_min!r} Hz")
    nyquist = sample_rate / 2
    if f_max > nyquist:
        # Filters above Nyquist cover no STFT bin: they come out empty or truncated.
        raise ValueError(
            f"{fn}: f_max={f_max!r} Hz is above the Nyquist frequency sample_rate / 2 = {nyquist:g} Hz; "
            f"use f_max <= {nyquist:g} (or None)"
        )


def check_driver(driver: str) -> None:
    if driver not in DRIVERS:
        raise ValueError(f'driver must be one of ["gels", "gelsy", "gelsd", "gelss"]. Found {driver}.')


def check_solver(solver: str, max_iter: int, tol: float) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {list(SOLVERS)}, found {solver!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise ValueError(f"max_iter must be an int >= 0, found {max_iter!r}")
    if not is_number(tol) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a finite number >= 0, found {tol!r}")


def check_phase_init(phase_init: Optional[str], fn: str) -> None:
    if phase_init is not None and phase_init not in PHASE_INITS:
        raise ValueError(f"{fn}: phase_init must be None (rand_init decides) or 'pghi', found {phase_init!r}")


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, found {method!r}")


def check_rcond(rcond) -> None:
    if rcond is not None and not (is_number(rcond) and math.isfinite(rcond) and 0.0 <= rcond < 1.0):
        raise ValueError(
            f"rcond must be a float in [0, 1), found {rcond!r}; or None for the noise-gain rule (the default)"
        )


def check_griffin_lim_settings(n_fft, hop_length, win_length, power, n_iter, momentum, length, fn: str) -> None:
    for name, value in (("n_fft", n_fft), ("hop_length", hop_length), ("win_length", win_length)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{fn}: {name} must be a positive int, found {value!r}")
    if win_length > n_fft:
        raise ValueError(f"{fn}: win_length ({win_length}) must be <= n_fft ({n_fft})")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 0:
        raise ValueError(f"{fn}: n_iter must be an int >= 0, found {n_iter!r}")
    if not is_number(momentum) or not 0 <= momentum < 1:
        raise ValueError(f"{fn}: momentum must be in the range [0, 1), found {momentum!r}")
    if not is_number(power) or not power > 0:
        raise ValueError(f"{fn}: power must be > 0, found {power!r}")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise ValueError(f"{fn}: length must be an int >= 0 or None, found {length!r}")


# -- tensors (TorchScript-compatible) -------------------------------------------------------------
def check_spectrogram(x: Tensor, name: str, axis: str, n_bins: int, fn: str) -> None:
    """Type, rank, dtype and bin count of a ``(..., n_bins, time)`` input; empty is fine."""
    if not torch.jit.is_scripting():
        if not isinstance(x, Tensor):
            raise TypeError(f"{fn}: {name} must be a torch.Tensor, found {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(
            f"{fn}: {name} must have shape (..., {axis}, time) with at least 2 dims, "
            f"found shape {shape_str(list(x.shape))}; add a time axis with {name}.unsqueeze(-1)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{fn}: {name} must be a real floating-point tensor (float32, float64, float16 or "
            f"bfloat16), found {x.dtype}; convert it with {name}.float()"
        )
    if x.shape[-2] != n_bins:
        if name == "melspec":  # torchaudio's wording, which callers may match on
            raise ValueError(f"Expected an input with {n_bins} mel bins. Found: {x.shape[-2]}")
        raise ValueError(f"{fn}: {name} must have shape (..., {n_bins}, time), found {shape_str(list(x.shape))}")


def check_finite(x: Tensor, name: str, fn: str) -> None:
    """Raise on NaN/Inf, naming the first bad element. Only for CPU tensors in eager mode: on CUDA,
    under torch.compile and in graph capture it would need a host sync, so it is skipped there and
    the kernels keep a bad frame's NaN to that frame (reported as not converged by NNLS)."""
    if x.device.type != "cpu" or x.numel() == 0:
        return
    if not torch.jit.is_scripting():
        if torch.compiler.is_compiling():
            return
    # One fast pass: a float64 sum of finite float32/16 values cannot overflow, so a finite sum
    # proves the input finite (a float64 input may overflow: then look element-wise).
    if x.dtype != torch.float64 and math.isfinite(float(x.detach().sum(dtype=torch.float64))):
        return
    bad = ~torch.isfinite(x.detach())
    if not bool(bad.any()):
        return
    where: List[int] = torch.nonzero(bad)[0].tolist()
    raise ValueError(
        f"{fn}: {name} contains NaN or Inf (first at index {shape_str(where)} of shape {shape_str(list(x.shape))}); "
        f"clean it first, e.g. torch.nan_to_num({name}, nan=0.0, posinf=0.0)"
    )


def check_fb(fb: Tensor, fn: str) -> None:
    if not torch.jit.is_scripting():
        if not isinstance(fb, Tensor):
            raise TypeError(f"{fn}: fb must be a torch.Tensor of shape (n_freqs, n_mels), found {type(fb).__name__}")
    if fb.dim() != 2:
        raise ValueError(
            f"{fn}: fb must have shape (n_freqs, n_mels), found shape {shape_str(list(fb.shape))}; "
            "librosa/Whisper filterbanks are (n_mels, n_freqs): pass fb.T"
        )
    if not fb.is_floating_point():
        raise TypeError(f"{fn}: fb must be a real floating-point tensor, found {fb.dtype}; use fb.float()")
    if fb.numel() == 0:
        raise ValueError(
            f"{fn}: fb is empty (shape {shape_str(list(fb.shape))}); it needs at least one frequency bin and one mel"
        )
    if not torch.jit.is_scripting():
        if torch.compiler.is_compiling() or fb.is_meta:  # a data-dependent check: eager mode only
            return
    if not bool(torch.isfinite(fb).all()):
        raise ValueError(f"{fn}: fb contains NaN or Inf; a filterbank must be finite")


def check_same_device(x: Tensor, name: str, fb: Tensor, fn: str) -> None:
    if x.device != fb.device:
        raise ValueError(f"{fn}: {name} is on {x.device} but fb is on {fb.device}; move them to one device")


def check_nonnegative(fb: Tensor, fn: str) -> None:
    if fb.numel() > 0 and bool((fb < 0).any()):
        raise ValueError(
            fn + ': solver="nnls" needs a non-negative filterbank, but fb has negative entries (min '
            + str(float(fb.min())) + '); use solver="lstsq" for such filterbanks'
        )


def cuda_nnls_refusal(n_mels: int, gram_bands: int, fn: str) -> str:
    """Why the CUDA NNLS kernel cannot take this bank ("" when it can), from the operator's shape and
    band count, known on the host when the operator is built: the forward needs no device sync. The
    kernel keeps a frame's state in arrays sized at compile time (csrc/shared/nnls_capacity.h, read
    here from the extension); larger banks are solved on the CPU. Eager only."""
    from ._ops import CUDA_NNLS_MAX_BANDS, CUDA_NNLS_MAX_MELS

    if n_mels <= CUDA_NNLS_MAX_MELS and gram_bands <= CUDA_NNLS_MAX_BANDS:
        return ""
    return (
        fn + ': solver="nnls" on CUDA takes filterbanks of at most ' + str(CUDA_NNLS_MAX_MELS)
        + " mels whose frequency bins each touch at most " + str(CUDA_NNLS_MAX_BANDS)
        + " adjacent filters (every mel bank does); found " + str(n_mels) + " mels and bins spanning "
        + str(gram_bands) + ' filters. Solve on the CPU (move the input and fb with .cpu()) or use solver="lstsq"'
    )


def check_cuda_nnls_bank(n_mels: int, gram_bands: int, device: torch.device, fn: str) -> None:
    """Raise :func:`cuda_nnls_refusal`'s reason for a CUDA device. Eager only."""
    if device.type != "cuda":
        return
    reason = cuda_nnls_refusal(n_mels, gram_bands, fn)
    if reason:
        raise ValueError(reason)


def check_griffin_lim_inputs(specgram: Tensor, n_fft: int, hop_length: int, win_length: int, power: float,
                              n_iter: int, momentum: float, length: Optional[int], fn: str) -> None:
    if not torch.jit.is_scripting():
        check_griffin_lim_settings(n_fft, hop_length, win_length, power, n_iter, momentum, length, fn)
    elif not 0 <= momentum < 1:
        raise ValueError("momentum must be in range [0, 1). Found: {}".format(momentum))
    check_spectrogram(specgram, "specgram", "n_fft // 2 + 1", n_fft // 2 + 1, fn)
    if specgram.dtype != torch.float32 and specgram.dtype != torch.float64:
        raise TypeError(f"{fn}: specgram must be float32 or float64, found {specgram.dtype}; use specgram.float()")
    check_finite(specgram, "specgram", fn)
