"""Write tests/data/edge_snapshot.npz: NNLS inputs that reach the solver's rarely taken branches,
and the SHA-256 of what the batch solver (nnls) and the per-frame one (_nnls_per_frame) give for
them today (tests/test_kernel_snapshot.py checks both against it).

The kernel snapshot's speech-like inputs never come near some thresholds of nnls_constants.h
(benchmarks/results/one_ulp_constants.md). These do: the problems the property tests and fuzzing
found (tests/test_nnls.py: a 156-mel bank on 79 bins, a 198-mel frame that stalled), a dense bank
solved to tol 1e-12, and the snapshot's model-like mels solved to 1e-12.

Run it only when a change of the solver's results is intended, and say so in the commit:
    python tools/make_edge_snapshot.py
The inputs are stored, not recomputed, so the digests depend on the kernels alone.
"""
import json
import os
import sys
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import inverse_mel  # noqa: E402
from inverse_mel.functional.inverse import filterbank_taps  # noqa: E402
from snapshot_cases import digests_of_edge_cases  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data", "edge_snapshot.npz")
KERNEL_SNAPSHOT = os.path.join(ROOT, "tests", "data", "kernel_snapshot.npz")


def _bank(fb: torch.Tensor, name: str, arrays: dict) -> None:
    tap_index, tap_weight = filterbank_taps(fb.double())
    arrays[f"{name}_tap_index"] = tap_index.numpy()
    arrays[f"{name}_tap_weight"] = tap_weight.numpy()


def main():
    arrays = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank-deficient banks
        ill = inverse_mel.InverseMelScale(79, 156, 16000, 0.0, 7074.0, "slaney", "htk").fb.double()
        wide = inverse_mel.InverseMelScale(1081, 198, 24000, 4216.426143060766, 8880.001430330998, "slaney",
                                           "slaney").fb.double()
    # tests/test_nnls.py, test_ill_conditioned_bank_converges
    spec = torch.rand(79, 5, generator=torch.Generator().manual_seed(4639), dtype=torch.float64) ** 3
    _bank(ill, "ill_conditioned", arrays)
    arrays["ill_conditioned_mel"] = (ill.T @ spec).numpy()
    # tests/test_nnls.py, test_stalled_projected_newton_frames_get_less_damping
    gen = torch.Generator().manual_seed(513)
    spec = torch.rand(1081, 5, generator=gen, dtype=torch.float64) ** 3
    mel = wide.T @ spec
    mel = (mel + 0.1 * mel.mean() * torch.randn(mel.shape, generator=gen, dtype=torch.float64)).abs()
    _bank(wide, "stalled", arrays)
    arrays["stalled_mel"] = mel.numpy()
    # tests/test_nnls.py, test_unique_solution_equals_lawson_hanson: dense, more mels than bins
    gen = torch.Generator().manual_seed(0)
    dense = torch.rand(12, 30, generator=gen, dtype=torch.float64)
    truth = torch.rand(12, 5, generator=gen, dtype=torch.float64) - 0.3
    _bank(dense, "dense", arrays)
    arrays["dense_mel"] = (dense.T @ truth + 0.01 * torch.randn(30, 5, generator=gen, dtype=torch.float64)).numpy()
    # The kernel snapshot's model-like TTS mels, 140 frames, to tol 1e-12.
    stored = np.load(KERNEL_SNAPSHOT)
    for part in ("tap_index", "tap_weight"):
        arrays[f"tight_{part}"] = stored[f"tts_{part}"].astype(np.float64 if part == "tap_weight" else np.int64)
    arrays["tight_mel"] = stored["tts_p2_noisy"].astype(np.float64)
    digests = digests_of_edge_cases(arrays)
    np.savez_compressed(OUT, digests=json.dumps(digests, sort_keys=True), **arrays)
    print(f"wrote {OUT}: {len(digests)} digests")


if __name__ == "__main__":
    main()
