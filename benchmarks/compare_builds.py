"""Speed of two builds of inverse_mel side by side (a refactoring must not slow the kernels).

Each build is a source tree with its compiled extension in place (``python setup.py build_ext
--inplace``). Rounds alternate between the builds, each round in a fresh process that imports one
build, times every case (median of --repeats after warm-up) and reports; the table gives the median
over rounds and the new/old ratio.

Cases: NNLS and least squares at batch 32 x 1000 frames and at 1 x 100 frames (a call inside a
training loop or a streaming step; there the per-call overhead shows), power spectra of a synthesized
signal, for the TTS, Whisper and docs configurations, float32; at 1 x 100 also the raw ops, and the
per-frame NNLS and mel projection (csrc/shared/nnls_frame.h, what the GPU runs) on the CPU. The
spread is the range of the per-round medians.

Usage: python benchmarks/compare_builds.py OLD_TREE NEW_TREE [--rounds 5] [--out benchmarks/results/restructure_speed.md]
  e.g. the ATen build against the stable-ABI one: --out benchmarks/results/stable_abi_speed.md
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine, write_results  # noqa: E402

CONFIGS = {
    "TTS": (22050, 1024, 256, 80, 8000.0, "slaney", "slaney"),
    "Whisper": (16000, 400, 160, 80, 8000.0, "slaney", "slaney"),
    "docs": (16000, 1024, 256, 128, 8000.0, None, "htk"),
}

WORKER = r"""
import json, sys, warnings
import torch
import inverse_mel
from inverse_mel._timing import median_time
from inverse_mel.demo import synthesize
from inverse_mel.functional.mel_consistent import MCGL_NEWTON_STEPS, MCGL_PENALTY
configs, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(0)
out = {}
for name, (sr, n_fft, hop, n_mels, f_max, norm, scale) in configs.items():
    audio = synthesize(sr, seconds=1000 * hop / sr + 0.1)
    spec = torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs().square()[:, :1000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lstsq = inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale)
        nnls = inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale, solver="nnls")
    for batch, frames in ((32, 1000), (1, 100)):
        mel = (lstsq.fb.T @ spec[:, :frames]).expand(batch, n_mels, frames).contiguous()
        size = f"{batch}x{frames}"
        # Small calls are repeated more: each takes microseconds.
        reps = repeats if batch > 1 else 20 * repeats
        out[f"{name} nnls {size}"] = median_time(lambda: nnls(mel), reps)
        out[f"{name} lstsq {size}"] = median_time(lambda: lstsq(mel), reps)
        if batch == 1:
            # The raw ops too: the modules' Python layers may differ between the trees, the ops'
            # boxed calls are what the build changes.
            op = lstsq.operator(torch.float32)
            # (the buffer was called _fill_from before 0.2, as in the trees this may compare against)
            stored_fill = getattr(nnls, "_band_edge_fill", None)
            stored_fill = nnls._fill_from if stored_fill is None else stored_fill
            fill = stored_fill if stored_fill.numel() else None
            out[f"{name} nnls op {size}"] = median_time(
                lambda: torch.ops.inverse_mel.nnls(mel, op.tap_index, op.tap_weight, nnls.max_iter, nnls.tol, fill), reps)
            out[f"{name} lstsq op {size}"] = median_time(
                lambda: torch.ops.inverse_mel.lstsq_apply(mel, op.gram_pinv, op.tap_index, op.tap_weight,
                                                          op.gram_cholesky_band), reps)
            # The per-frame code (what the CUDA kernels run), on the CPU: the NNLS and the
            # projection of mel-consistent Griffin-Lim (a flat prior, its default penalty and steps).
            out[f"{name} per-frame nnls op {size}"] = median_time(
                lambda: torch.ops.inverse_mel._nnls_per_frame(mel, op.tap_index, op.tap_weight, nnls.max_iter,
                                                              nnls.tol, fill), reps)
            prior = torch.ones(1, n_fft // 2 + 1, frames)
            out[f"{name} mel_projection op {size}"] = median_time(
                lambda: torch.ops.inverse_mel.mel_projection(mel, prior, op.tap_index, op.tap_weight, MCGL_PENALTY,
                                                             MCGL_NEWTON_STEPS), reps)
print(json.dumps(out))
"""


def run_build(tree, repeats):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    result = subprocess.run([sys.executable, "-c", WORKER, json.dumps(CONFIGS), str(repeats)], env=env, check=True,
                            capture_output=True, text=True, cwd="/")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "restructure_speed.md"))
    args = parser.parse_args()
    samples = {"old": [], "new": []}
    for r in range(args.rounds):
        for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
            samples[which].append(run_build(getattr(args, which), args.repeats))
            print(f"round {r + 1} {which} done", file=sys.stderr, flush=True)
    cases = list(samples["old"][0])
    lines = ["# Speed of two builds, side by side (`benchmarks/compare_builds.py`)", "",
             f"Machine: {machine()}. {args.rounds} alternating rounds, each a fresh process per build; "
             f"a round's figure is the median of {args.repeats} runs; the table gives the median over rounds.", "",
             f"old: `{args.old}`, new: `{args.new}`.", "",
             "| case (batch x frames, float32) | old ms (spread) | new ms (spread) | new / old |",
             "|---|---|---|---|"]
    data = {}
    for case in cases:
        old_rounds = [s[case] * 1e3 for s in samples["old"]]
        new_rounds = [s[case] * 1e3 for s in samples["new"]]
        old, new = statistics.median(old_rounds), statistics.median(new_rounds)
        data[case] = dict(old_ms=old, new_ms=new, ratio=new / old, old_range=[min(old_rounds), max(old_rounds)],
                          new_range=[min(new_rounds), max(new_rounds)])
        lines.append(f"| {case} | {old:.3f} ({min(old_rounds):.3f}-{max(old_rounds):.3f}) | "
                     f"{new:.3f} ({min(new_rounds):.3f}-{max(new_rounds):.3f}) | {new / old:.3f} |")
    write_results(args.out, "\n".join(lines) + "\n", dict(machine=machine(), samples=samples, summary=data))


if __name__ == "__main__":
    main()
