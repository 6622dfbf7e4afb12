"""Write tests/data/kernel_snapshot.npz: fixed inputs of the compiled ops and the SHA-256 of every
output the kernels give for them today (see tests/test_kernel_snapshot.py); and
tests/data/per_frame_snapshot.json, the digests of the per-frame code on the same inputs.

Run it only when a change of the kernels' results is intended, and say so in the commit:
    python tools/make_kernel_snapshot.py
The inputs are stored, not recomputed, so the digests depend on the kernels alone (torch's own
float32 ops, which build the filterbank, round differently on AVX2 and AVX-512 machines).
"""
import json
import math
import os
import sys
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import inverse_mel  # noqa: E402
from snapshot_cases import CONFIGS, FRAMES, digests_of_all_cases, digests_of_per_frame_cases  # noqa: E402

OUT = os.path.join(ROOT, "tests", "data", "kernel_snapshot.npz")
OUT_PER_FRAME = os.path.join(ROOT, "tests", "data", "per_frame_snapshot.json")


def speech_like(sample_rate: int, seconds: float) -> torch.Tensor:
    """A harmonic tone with vibrato, a chirp and noise bursts (float64)."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    f0 = 180.0 * (1.0 + 0.02 * torch.sin(2 * math.pi * 4.0 * t))
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    x = sum(torch.sin(k * phase) / k for k in range(1, 12)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 0.7 * t))
    x = x + 0.2 * torch.sin(2 * math.pi * torch.cumsum(300.0 * 20.0 ** (t / seconds), 0) / sample_rate)
    x = x + 0.05 * torch.randn(t.shape, generator=gen, dtype=torch.float64)
    return x / x.abs().max()


def main():
    arrays = {}
    for name, cfg in CONFIGS.items():
        sr, n_fft, hop, n_mels, f_max, norm, scale = cfg
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale, solver="nnls")
        op = inverse_mel.functional.lstsq_operator(module.fb)
        arrays[f"{name}_tap_index"] = op.tap_index.numpy()
        arrays[f"{name}_tap_weight"] = op.tap_weight.float().numpy()
        arrays[f"{name}_gram_pinv"] = op.gram_pinv.numpy()
        if op.gram_cholesky_band is not None:
            arrays[f"{name}_band"] = op.gram_cholesky_band.numpy()
        # The key keeps band_edge_fill's name before 0.2, as the stored snapshot does.
        arrays[f"{name}_fill_from"] = inverse_mel.functional.band_edge_fill(module.fb, sr, 0.0, f_max).numpy()
        audio = speech_like(sr, (FRAMES - 1) * hop / sr)
        spec = torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                          return_complex=True).abs()[:, :FRAMES]
        fb = module.fb.double()
        gen = torch.Generator().manual_seed(1)
        for power in (1, 2):
            mel = fb.T @ spec.pow(power)
            arrays[f"{name}_p{power}_clean"] = mel.float().numpy()
            noise = torch.exp(0.3 * torch.randn(mel.shape, generator=gen, dtype=torch.float64))
            arrays[f"{name}_p{power}_noisy"] = (mel * noise).float().numpy()
    np.savez_compressed(OUT, **arrays)
    digests = digests_of_all_cases(dict(np.load(OUT)))
    arrays["digests"] = np.array(json.dumps(digests, sort_keys=True))
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT}: {len(digests)} digests")
    stored = dict(np.load(OUT))
    stored.pop("digests")
    per_frame = digests_of_per_frame_cases(stored)
    with open(OUT_PER_FRAME, "w") as f:
        json.dump(per_frame, f, indent=0, sort_keys=True)
        f.write("\n")
    print(f"wrote {OUT_PER_FRAME}: {len(per_frame)} digests")


if __name__ == "__main__":
    main()
