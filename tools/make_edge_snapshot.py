"""Write tests/data/edge_snapshot.npz: NNLS inputs that reach the solver's rarely taken branches,
and the SHA-256 of what the batch solver (nnls) and the per-frame one (_nnls_per_frame) give for
them today (tests/test_kernel_snapshot.py checks both against it).

The kernel snapshot's speech-like inputs never come near some thresholds of nnls_constants.h
(benchmarks/results/one_ulp_constants.md). These do: the problems the property tests and fuzzing
found (tests/test_nnls.py: a 156-mel bank on 79 bins, a 198-mel frame that stalled), a dense bank
solved to tol 1e-12, the snapshot's model-like mels solved to 1e-12, and random problems of the
property-test space (fuzz_problem) found by fuzzing builds with one constant moved: the seeds whose
digests moved with a constant the other problems never reach (tests/snapshot_cases.py, EDGE_CASES).

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
from snapshot_cases import EDGE_CASES, digests_of_edge_cases  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data", "edge_snapshot.npz")
KERNEL_SNAPSHOT = os.path.join(ROOT, "tests", "data", "kernel_snapshot.npz")


def _bank(fb: torch.Tensor, name: str, arrays: dict) -> None:
    tap_index, tap_weight = filterbank_taps(fb.double())
    arrays[f"{name}_tap_index"] = tap_index.numpy()
    arrays[f"{name}_tap_weight"] = tap_weight.numpy()


def fuzz_problem(seed: int):
    """A random NNLS problem of the property-test space: a melscale_fbanks bank (random rate, n_fft,
    n_mels, band, norm and scale; None where that bank is invalid or leaves a filter empty), 4 frames
    of a sparse random spectrum's mels with 0-50% noise, and a tol of 1e-4, 1e-8 or 1e-12."""
    g = np.random.default_rng(seed)
    sr = int(g.choice([8000, 16000, 22050, 24000, 44100]))
    n_fft = int(g.choice([256, 400, 512, 1024, 2048]))
    n_stft = n_fft // 2 + 1
    n_mels = int(g.integers(20, 200))
    f_min = float(g.uniform(0, sr / 4)) if g.random() < 0.5 else 0.0
    f_max = float(g.uniform(f_min + 500, sr / 2)) if g.random() < 0.6 else sr / 2
    norm = [None, "slaney"][int(g.integers(2))]
    scale = ["htk", "slaney"][int(g.integers(2))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fb = inverse_mel.melscale_fbanks(n_stft, f_min, f_max, n_mels, sr, norm, scale).double()
        except ValueError:
            return None
    if not torch.isfinite(fb).all() or (fb.sum(0) == 0).any():
        return None
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(n_stft, 4, generator=gen, dtype=torch.float64) ** 3
    mel = fb.T @ spec
    noise = float(g.choice([0.0, 0.01, 0.1, 0.5]))
    mel = (mel + noise * mel.mean() * torch.randn(mel.shape, generator=gen, dtype=torch.float64)).abs()
    tol = float(g.choice([1e-4, 1e-8, 1e-12]))
    return fb, mel, tol


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
    for name in (name for name in EDGE_CASES if name.startswith("fuzz_")):
        fb, mel, tol = fuzz_problem(int(name[len("fuzz_"):]))
        assert tol == EDGE_CASES[name][0], f"{name}: EDGE_CASES has tol {EDGE_CASES[name][0]}, the problem {tol}"
        _bank(fb, name, arrays)
        arrays[f"{name}_mel"] = mel.numpy()
    digests = digests_of_edge_cases(arrays)
    np.savez_compressed(OUT, digests=json.dumps(digests, sort_keys=True), **arrays)
    print(f"wrote {OUT}: {len(digests)} digests")


if __name__ == "__main__":
    main()
