"""How the rank cut-off ``rcond`` trades exactness for stability, on torchaudio's 30 reference configs.

For each rcond, over all configurations of tests/data/torchaudio_2_11_reference.npz:
  parity      max relative error vs torchaudio's output on the well-conditioned configs (need <= 1e-4)
  residual    max (our mel residual - torchaudio gelsd's mel residual) on exact inputs (need <= 0.01)
  noise       max relative output change for 1% Gaussian noise on the mel (relative to its mean
              magnitude), 5 draws per config (need <= 0.25)
  fp16        Whisper (16 kHz, n_fft 400, 80 mels): max output / true max after an fp16 round trip
Reference point: torchaudio's gels/gelsd cut at float32 round-off (rcond ~ 1e-7 and below).

Usage: python benchmarks/rcond_tradeoff.py [--out benchmarks/results/rcond_tradeoff.md]
"""
import argparse
import json
import os
import warnings

import numpy as np
import torch

import inverse_mel

DATA = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "torchaudio_2_11_reference.npz")
RCONDS = [1e-7, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "rcond_tradeoff.md"))
    args = parser.parse_args()
    data = np.load(DATA)
    meta = json.loads(str(data["meta"]))

    lines = ["# Rank cut-off trade-off on torchaudio's 30 reference configurations\n",
             f"Default: rcond = {inverse_mel.DEFAULT_RCOND:g}. Requirements: parity <= 1e-4, residual excess <= 0.01, "
             "noise change <= 0.25.\n",
             "| rcond | parity (well-cond.) | residual excess vs gelsd | worst noise change (config) | Whisper fp16 max ratio | configs cut below n_mels |",
             "|---|---|---|---|---|---|"]
    for rcond in RCONDS:
        parity = residual = noise = 0.0
        worst_noise_config = None
        cut = 0
        for i, m in enumerate(meta):
            fb = torch.from_numpy(data[f"fb_{i}"])
            melspec = torch.from_numpy(data[f"M_{i}"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = inverse_mel.InverseMelScale(
                    m["n_freqs"], m["n_mels"], m["sample_rate"], m["f_min"], m["f_max"], m["norm"], m["mel_scale"], rcond=rcond
                )
            cut += module._operator_f64.rank < m["n_mels"]
            out = module(melspec)
            if m["rank"] == m["n_mels"] and "gels" in m["drivers_ok"]:
                ref = torch.from_numpy(data[f"out_gels_{i}"])
                parity = max(parity, float((out - ref).norm() / ref.norm()))

            def res(s):
                return float((fb.T.double() @ s.double() - melspec.double()).norm() / melspec.double().norm())

            residual = max(residual, res(out) - res(torch.from_numpy(data[f"out_gelsd_{i}"])))
            gen = torch.Generator().manual_seed(1234 + i)
            for _ in range(5):
                noisy = melspec + torch.randn(melspec.shape, generator=gen) * 0.01 * melspec.abs().mean()
                change = float((module(noisy) - out).norm() / out.norm())
                if change > noise:
                    noise, worst_noise_config = change, i
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whisper = inverse_mel.InverseMelScale(201, 80, 16000, norm="slaney", mel_scale="slaney", rcond=rcond)
        spec = torch.rand(4, 201, 50, generator=torch.Generator().manual_seed(0))
        fp16 = float(whisper((whisper.fb.T @ spec).half().float()).max() / spec.max())
        m = meta[worst_noise_config]
        where = f"{m['sample_rate']} Hz, {m['n_freqs']} bins, {m['n_mels']} mels"
        line = f"| {rcond:g} | {parity:.1e} | {residual:.4f} | {noise:.3f} ({where}) | {fp16:.2f} | {cut} |"
        lines.append(line)
        print(line, flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
