"""The cases of the kernel snapshot (tests/test_kernel_snapshot.py, tools/make_kernel_snapshot.py):
every compiled op on fixed inputs, reduced to the SHA-256 of each output's bytes.

Three configurations x power 1 and 2 x clean and model-like (log-normal noise) mels x float32 and
float64; NNLS forward (with and without the band-edge fill), its backward, and the least-squares
apply (banded and dense solve). Frames: 140, so that tiles and SIMD vectors end part-way.
"""
import hashlib

import numpy as np
import torch

import inverse_mel  # noqa: F401  (loads the ops)

# name: (sample_rate, n_fft, hop, n_mels, f_max, norm, mel_scale)
CONFIGS = {
    "tts": (22050, 1024, 256, 80, 8000.0, "slaney", "slaney"),
    "whisper": (16000, 400, 160, 80, 8000.0, "slaney", "slaney"),
    "docs": (16000, 1024, 256, 128, 8000.0, None, "htk"),
}
FRAMES = 140


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(np.ascontiguousarray(t.detach().cpu().numpy()).tobytes()).hexdigest()[:16]


def _exact_gradient(shape, dtype) -> torch.Tensor:
    """A gradient whose values are exact in every dtype (no libm, no RNG)."""
    f = torch.arange(shape[-2]).view(-1, 1)
    t = torch.arange(shape[-1]).view(1, -1)
    return (((7 * f + 13 * t) % 17 - 8).to(dtype) / 8).expand(shape).contiguous()


def _cases(arrays):
    """Every snapshot case: ``(key, bank, mel, weight, dtype)`` per bank, power, kind and dtype, where
    ``bank`` holds the bank's stored arrays as tensors (``band`` None where there is none;
    ``band_edge_fill`` is stored under its name before 0.2, ``fill_from``, in the unchanged snapshot)."""
    for name in CONFIGS:
        bank = {part: torch.from_numpy(arrays[f"{name}_{part}"]) if f"{name}_{part}" in arrays else None
                for part in ("tap_index", "tap_weight", "gram_pinv", "band")}
        stored_fill = arrays.get(f"{name}_fill_from")
        bank["band_edge_fill"] = None if stored_fill is None else torch.from_numpy(stored_fill)
        for power in (1, 2):
            for kind in ("clean", "noisy"):
                mel32 = torch.from_numpy(arrays[f"{name}_p{power}_{kind}"])
                for dtype in (torch.float32, torch.float64):
                    yield (f"{name}/p{power}/{kind}/{str(dtype)[6:]}", bank, mel32.to(dtype),
                           bank["tap_weight"].to(dtype), dtype)


def digests_of_all_cases(arrays) -> dict:
    out = {}
    ops = torch.ops.inverse_mel
    for key, bank, mel, weight, dtype in _cases(arrays):
        tap_index, band64 = bank["tap_index"], bank["band"]
        for fill_name, fill in (("fill", bank["band_edge_fill"]), ("nofill", None)):
            s, it, res, conv = ops.nnls(mel, tap_index, weight, 200, 1e-4, fill)
            for part, value in (("solution", s), ("iterations", it), ("residual", res), ("converged", conv)):
                out[f"{key}/nnls/{fill_name}/{part}"] = _digest(value)
        s, *_ = ops.nnls(mel, tap_index, weight, 200, 1e-4, None)
        grad = _exact_gradient(s.shape, dtype)
        out[f"{key}/nnls_backward"] = _digest(ops.nnls_backward(grad, s, tap_index, weight, mel.shape[-2]))
        gram = bank["gram_pinv"].to(dtype)
        out[f"{key}/lstsq/dense"] = _digest(ops.lstsq_apply(mel, gram, tap_index, weight, None))
        if band64 is not None:
            out[f"{key}/lstsq/banded"] = _digest(ops.lstsq_apply(mel, gram, tap_index, weight, band64.to(dtype)))
    return out


def digests_of_per_frame_cases(arrays) -> dict:
    """The per-frame code (shared/nnls_frame.h, pghi_integrate.h), which the CUDA kernels run, on the
    snapshot's inputs: _nnls_per_frame (with and without the band-edge fill), its backward,
    mel_projection and pghi_integrate. Inputs that the stored arrays do not hold (the prior, the
    phase steps) are exact functions of the indices, as _exact_gradient is."""
    out = {}
    ops = torch.ops.inverse_mel
    for key, bank, mel, weight, dtype in _cases(arrays):
        tap_index = bank["tap_index"]
        for fill_name, fill in (("fill", bank["band_edge_fill"]), ("nofill", None)):
            s, it, res, conv = ops._nnls_per_frame(mel, tap_index, weight, 200, 1e-4, fill)
            for part, value in (("solution", s), ("iterations", it), ("residual", res), ("converged", conv)):
                out[f"{key}/_nnls_per_frame/{fill_name}/{part}"] = _digest(value)
        s, *_ = ops._nnls_per_frame(mel, tap_index, weight, 200, 1e-4, None)
        grad = _exact_gradient(s.shape, dtype)
        out[f"{key}/_nnls_backward_per_frame"] = _digest(
            ops._nnls_backward_per_frame(grad, s, tap_index, weight, mel.shape[-2]))
        # A flat-ish prior at the mel's level: exact values times the frame's largest mel.
        prior = (_exact_gradient(s.shape, dtype).abs() + 0.125) * mel.amax(dim=-2, keepdim=True)
        for steps in (3, 30):
            out[f"{key}/mel_projection/{steps}"] = _digest(ops.mel_projection(mel, prior, tap_index, weight, 1e-6, steps))
        # PGHI on the mel as a magnitude, with exact phase steps.
        time_step = _exact_gradient(mel.shape, dtype)
        freq_step = _exact_gradient(mel.shape[::-1], dtype).T.contiguous() * 0.5
        init = torch.zeros_like(mel)
        order = torch.argsort(mel.flatten(-2), dim=-1, descending=True, stable=True)
        for relative_tol in (0.0, 1e-3):
            out[f"{key}/pghi_integrate/{relative_tol}"] = _digest(
                ops.pghi_integrate(mel, time_step, freq_step, order, init, relative_tol))
    return out


# name: (tol, max_iter, ops) of the edge snapshot's problems (tools/make_edge_snapshot.py); the
# per-frame solver takes banded filterbanks only (bins touching at most 4 adjacent filters).
EDGE_CASES = {
    "ill_conditioned": (1e-4, 200, ("nnls", "_nnls_per_frame")),
    "stalled": (1e-4, 200, ("nnls", "_nnls_per_frame")),
    "dense": (1e-12, 200, ("nnls",)),
    "tight": (1e-12, 200, ("nnls", "_nnls_per_frame")),
    # Random problems of the property-test space (tools/make_edge_snapshot.py, fuzz_problem) whose
    # digests move with a constant the others never reach: kSolverDampingFloor x2 (627, 2424),
    # kArmijo x10 (1920, 3925), kMaxBacktracks 20 instead of 30 (2563, 1540).
    "fuzz_627": (1e-8, 200, ("nnls", "_nnls_per_frame")),
    "fuzz_2424": (1e-8, 200, ("nnls", "_nnls_per_frame")),
    "fuzz_1920": (1e-8, 200, ("nnls", "_nnls_per_frame")),
    "fuzz_3925": (1e-4, 200, ("nnls", "_nnls_per_frame")),
    "fuzz_2563": (1e-4, 200, ("nnls", "_nnls_per_frame")),
    "fuzz_1540": (1e-12, 200, ("nnls", "_nnls_per_frame")),
}


def digests_of_edge_cases(arrays) -> dict:
    """The batch solver (nnls) and the per-frame one (_nnls_per_frame) on the edge snapshot's
    problems, which reach the branches the speech-like cases do not (tests/data/edge_snapshot.npz),
    in float32 and float64."""
    out = {}
    ops = torch.ops.inverse_mel
    for name, (tol, max_iter, op_names) in EDGE_CASES.items():
        tap_index = torch.from_numpy(arrays[f"{name}_tap_index"])
        for dtype in (torch.float32, torch.float64):
            weight = torch.from_numpy(arrays[f"{name}_tap_weight"]).to(dtype)
            mel = torch.from_numpy(arrays[f"{name}_mel"]).to(dtype)
            for op_name in op_names:
                result = getattr(ops, op_name)(mel, tap_index, weight, max_iter, tol, None)
                for part, value in zip(("solution", "iterations", "residual", "converged"), result):
                    out[f"{name}/{str(dtype)[6:]}/{op_name}/{part}"] = _digest(value)
    return out
