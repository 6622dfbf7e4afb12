"""Per-call cost of the modules at the size of a call in a training loop or a streaming step
(batch 1 x 100 frames), against the compiled op they wrap and torchaudio's method, side by side
in one run (rounds interleaved, medians of the rounds; each round times a block of calls).

  op            torch.ops.inverse_mel.lstsq_apply / nnls on the module's prepared operator
  module        InverseMelScale(...)(melspec), with grad enabled and under torch.inference_mode (op and
                module both, the mode entered once per block of calls)
  torchaudio    torch.relu(torch.linalg.lstsq(fb.T[None], melspec, driver="gels").solution)
  compiled      torch.compile(module, fullgraph=True) (graph breaks counted by torch._dynamo.explain)
  MelScale      inverse_mel.MelScale(...)(specgram) against torch.matmul(fb.T, specgram)

Goals (issue 21): module <= 1.3x op for both solvers, with grad and in inference mode; >= 10x
torchaudio's method (moonshot 15x) on the three configurations.

Usage: python benchmarks/bench_small_calls.py [--rounds 15] [--calls 200] [--out benchmarks/results/small_calls.md]
"""
import argparse
import os
import statistics
import time
import warnings

import torch

import inverse_mel
from common import machine, write_results

CONFIGS = {
    # name: (n_stft, n_mels, sample_rate, f_max, norm, mel_scale)
    "tts 513/80 slaney": (513, 80, 22050, 8000.0, "slaney", "slaney"),
    "docs 513/128 htk": (513, 128, 16000, None, None, "htk"),
    "music 1025/128 htk": (1025, 128, 44100, None, None, "htk"),
}


INFERENCE = ", inference mode"
"""Entries whose name ends so run their block of calls under ``torch.inference_mode`` (entered once
per block, as a serving loop does, so the context manager's own cost is not counted per call)."""


def per_call_us(fn, calls, inference=False):
    with torch.inference_mode(inference):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return 1e6 * (time.perf_counter() - start) / calls


def candidates(name, solver, frames):
    n_stft, n_mels, sr, f_max, norm, scale = CONFIGS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(n_stft, n_mels, sr, 0.0, f_max, norm, scale, solver=solver)
    gen = torch.Generator().manual_seed(0)
    melspec = module.fb.T @ torch.rand(1, n_stft, frames, generator=gen) ** 2
    op = module.operator(torch.float32)
    ops = torch.ops.inverse_mel
    if solver == "lstsq":
        raw = lambda: ops.lstsq_apply(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)  # noqa: E731
    else:
        fill = module._band_edge_fill if module._band_edge_fill.numel() else None
        raw = lambda: ops.nnls(melspec, op.tap_index, op.tap_weight, module.max_iter, module.tol, fill)  # noqa: E731
    fns = {"op": raw, "module": lambda: module(melspec), "op" + INFERENCE: raw,
           "module" + INFERENCE: lambda: module(melspec)}
    if solver == "lstsq":
        a = module.fb.T[None]
        fns["torchaudio"] = lambda: torch.relu(torch.linalg.lstsq(a, melspec, driver="gels").solution)
    return module, melspec, fns


def compile_report(module, melspec):
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(module)(melspec)
    compiled = torch.compile(module, fullgraph=True)
    compiled(melspec)
    return explanation.graph_break_count, compiled


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "small_calls.md"))
    args = parser.parse_args(argv)
    rows, mel_rows = [], []
    for name in CONFIGS:
        for solver in ("lstsq", "nnls"):
            module, melspec, fns = candidates(name, solver, args.frames)
            breaks, compiled = compile_report(module, melspec)
            fns["compiled"] = lambda: compiled(melspec)
            calls = args.calls if solver == "lstsq" else max(10, args.calls // 10)
            for key, fn in fns.items():  # warm-up
                per_call_us(fn, 5, key.endswith(INFERENCE))
            times = {key: [] for key in fns}
            for _ in range(args.rounds):
                for key, fn in fns.items():
                    times[key].append(per_call_us(fn, calls, key.endswith(INFERENCE)))
            med = {key: statistics.median(v) for key, v in times.items()}
            rows.append(dict(config=name, solver=solver, graph_breaks=breaks, **{f"{k}_us": v for k, v in med.items()}))
            print(rows[-1], flush=True)
        n_stft, n_mels, sr, f_max, norm, scale = CONFIGS[name]
        mel = inverse_mel.MelScale(n_mels, sr, 0.0, f_max, n_stft, norm, scale)
        spec = torch.rand(1, n_stft, args.frames)
        fb_t = mel.fb.T
        fns = {"matmul": lambda: torch.matmul(fb_t, spec), "MelScale": lambda: mel(spec)}
        times = {key: [] for key in fns}
        for _ in range(args.rounds):
            for key, fn in fns.items():
                times[key].append(per_call_us(fn, args.calls))
        mel_rows.append(dict(config=name, **{f"{k}_us": statistics.median(v) for k, v in times.items()}))
        print(mel_rows[-1], flush=True)

    lines = [
        f"# Small calls: batch 1 x {args.frames} frames, float32, CPU\n",
        f"Machine: {machine()}. Medians of {args.rounds} interleaved rounds of {args.calls} calls "
        f"(NNLS: {max(10, args.calls // 10)}); microseconds per call.\n",
        "Inference mode: the op and the module each timed with the block of calls under "
        "`torch.inference_mode()`.\n",
        "| config | solver | op µs | module µs | module / op | inference mode: op µs | module µs | module / op "
        "| compiled µs | compiled / op | graph breaks | torchaudio µs | torchaudio / module |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ta = r.get("torchaudio_us")
        lines.append(
            f"| {r['config']} | {r['solver']} | {r['op_us']:.1f} | {r['module_us']:.1f} | {r['module_us'] / r['op_us']:.2f}x | "
            f"{r['op, inference mode_us']:.1f} | {r['module, inference mode_us']:.1f} | "
            f"{r['module, inference mode_us'] / r['op, inference mode_us']:.2f}x | "
            f"{r['compiled_us']:.1f} | {r['compiled_us'] / r['op_us']:.2f}x | {r['graph_breaks']} | "
            + (f"{ta:.1f} | {ta / r['module_us']:.1f}x |" if ta else " | |"))
    lines += ["\n## MelScale against torch.matmul(fb.T, specgram)\n",
              "| config | matmul µs | MelScale µs | MelScale / matmul |", "|---|---|---|---|"]
    for r in mel_rows:
        lines.append(f"| {r['config']} | {r['matmul_us']:.1f} | {r['MelScale_us']:.1f} | "
                     f"{r['MelScale_us'] / r['matmul_us']:.2f}x |")
    lstsq = [r for r in rows if r["solver"] == "lstsq"]
    lines += ["\n## Goals\n", "| goal | worst | met |", "|---|---|---|"]
    worst = max(max(r["module_us"] / r["op_us"], r["module, inference mode_us"] / r["op, inference mode_us"])
                for r in rows)
    lines.append(f"| module <= 1.3x op (both solvers, grad and inference mode) | {worst:.2f}x | {worst <= 1.3} |")
    lead = min(r["torchaudio_us"] / r["module_us"] for r in lstsq)
    lines.append(f"| >= 10x torchaudio's method at 1 x {args.frames} (moonshot 15x) | {lead:.1f}x | {lead >= 10} |")
    breaks = max(r["graph_breaks"] for r in rows)
    lines.append(f"| torch.compile(fullgraph=True) without graph breaks | {breaks} breaks | {breaks == 0} |")
    write_results(args.out, "\n".join(lines) + "\n", dict(machine=machine(), rows=rows, melscale=mel_rows))


if __name__ == "__main__":
    main()
