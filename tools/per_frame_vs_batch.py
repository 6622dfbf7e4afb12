"""How far the per-frame NNLS solver (shared/nnls_frame.h: what CUDA runs, built for the CPU as
_nnls_per_frame) is from the SIMD batch solver (cpu/nnls/: the op nnls), frame by frame, on the
cases of tests/test_per_frame.py (the reference fixtures, clean and model-like; the preset banks'
spectrograms, clean and model-like, with and without the band-edge fill), float32 and float64.

    INVERSE_MEL_VECTOR_ISA=baseline python tools/per_frame_vs_batch.py   # one vector width

Prints one JSON line per dtype: frames compared, frames whose solution / iterations / residual /
converged are bit-identical, and the largest solution difference relative to the frame's norm.
"""
import json
import os
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from helpers import ALL_CONFIGS, REFERENCE  # noqa: E402
from test_per_frame import PRESET_BANKS, _module, _spectrogram  # noqa: E402

OPS = torch.ops.inverse_mel


def cases(dtype):
    for i in ALL_CONFIGS:
        module = REFERENCE.module(i, solver="nnls")
        op = module.operator(dtype)
        mel = REFERENCE.array("M", i).to(dtype)
        noisy = mel * torch.exp(0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(i))).to(dtype)
        for m in (mel, noisy):
            yield m, op, module._band_edge_fill
    for name, cfg in PRESET_BANKS.items():
        module = _module(cfg)
        op = module.operator(dtype)
        for power in (1, 2):
            mel = module.fb.double().T @ _spectrogram(cfg, power)
            model_like = mel * torch.exp(
                0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
            for fill in (module._band_edge_fill, None):
                for m in (mel, model_like):
                    yield m.to(dtype), op, fill


def compare(dtype):
    totals = dict(frames=0, solution=0, iterations=0, residual=0, converged=0, all=0)
    worst = 0.0
    for mel, op, fill in cases(dtype):
        batch = OPS.nnls(mel, op.tap_index, op.tap_weight, 200, 1e-4, fill)
        frame = OPS._nnls_per_frame(mel, op.tap_index, op.tap_weight, 200, 1e-4, fill)
        n_freqs = batch[0].shape[-2]
        s_b = batch[0].movedim(-2, -1).reshape(-1, n_freqs)
        s_f = frame[0].movedim(-2, -1).reshape(-1, n_freqs)
        same = {
            "solution": ((s_b == s_f) | (s_b.isnan() & s_f.isnan())).all(dim=-1),
            "iterations": (batch[1] == frame[1]).reshape(-1),
            "residual": ((batch[2] == frame[2]) | (batch[2].isnan() & frame[2].isnan())).reshape(-1),
            "converged": (batch[3] == frame[3]).reshape(-1),
        }
        totals["frames"] += s_b.shape[0]
        for key, value in same.items():
            totals[key] += int(value.sum())
        totals["all"] += int(torch.stack(list(same.values())).all(dim=0).sum())
        scale = torch.linalg.vector_norm(s_b.double(), dim=-1).clamp_min(1e-300)
        diff = ((s_f.double() - s_b.double()).abs().amax(dim=-1) / scale).nan_to_num(0.0)
        worst = max(worst, float(diff.max()))
    totals["max_relative_difference"] = worst
    return totals


if __name__ == "__main__":
    isa = os.environ.get("INVERSE_MEL_VECTOR_ISA", "widest")
    for dtype in (torch.float32, torch.float64):
        print(json.dumps({"isa": isa, "dtype": str(dtype)[6:], **compare(dtype)}))
