"""CPU forward time of the least-squares mel inverse, side by side in one run, same inputs.

Methods:
  ours        inverse_mel.InverseMelScale (operator factored once; small GEMM + fused 2-tap expansion)
  torchaudio  torch.relu(torch.linalg.lstsq(fb.T[None], melspec, driver=...).solution), written inline
              as torchaudio.transforms.InverseMelScale does it (gels; gelsd where gels raises)
  dense       torch.relu(P @ melspec) with P = pinv(fb.T) precomputed

Also, at the largest batch: a time breakdown against the machine's measured copy bandwidth, and
the peak extra memory of one forward (peak RSS growth minus the output, in a fresh subprocess).

Usage: python benchmarks/bench_lstsq_cpu.py [--repeats N] [--quick] [--out benchmarks/results/cpu_lstsq.md]
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import warnings

import torch

import inverse_mel
from common import machine, median_time, torchaudio_method

CONFIGS = {
    # name: (sample_rate, n_fft, n_mels, f_max, norm, mel_scale)
    "whisper": (16000, 400, 80, None, "slaney", "slaney"),
    "docs": (16000, 1024, 128, None, None, "htk"),
    "tts": (22050, 1024, 80, 8000.0, "slaney", "slaney"),
    "music": (44100, 2048, 128, None, None, "htk"),
}
BATCHES = [(1, 100), (1, 1000), (8, 1000), (32, 1000)]


def make_module(name):
    sr, n_fft, n_mels, f_max, norm, scale = CONFIGS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale)


def melspec_for(module, batch, time_frames, seed=0):
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(batch, module.n_stft, time_frames, generator=gen)
    return module.fb.T @ spec


# --- breakdown helpers -------------------------------------------------------------------------
_libc = ctypes.CDLL(None)
_MADV_HUGEPAGE = 14


def fresh_fill(shape, huge_pages):
    out = torch.empty(shape)
    if huge_pages:
        huge = 2 << 20
        begin = out.data_ptr()
        start = (begin + huge - 1) & ~(huge - 1)
        end = (begin + out.nbytes) & ~(huge - 1)
        if end > start:
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_HUGEPAGE)
    out.fill_(0.0)
    return out


def copy_bandwidth(repeats):
    src = torch.rand(16 << 20)  # 64 MB
    dst = torch.empty_like(src)
    dst.copy_(src)
    t = median_time(lambda: dst.copy_(src), repeats)
    return 2 * src.nbytes / t  # bytes read + written per second


def breakdown(name, batch, time_frames, repeats, bandwidth):
    """Split ours into: the solve (banded Cholesky or small GEMM), the fused expansion, and the
    first touch of the fresh output. Each part is measured, none is inferred from a model."""
    module = make_module(name)
    melspec = melspec_for(module, batch, time_frames)
    op = module.operator(torch.float32)
    args = (op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    warm_out = torch.empty(batch, module.n_stft, time_frames)
    torch.ops.inverse_mel.lstsq_apply_out(melspec, *args, warm_out)
    # One frequency bin: the kernel still solves every tile, but expands almost nothing.
    one_bin = (op.gram_pinv, op.tap_index[:1], op.tap_weight[:1], op.gram_cholesky_band)
    one_bin_out = torch.empty(batch, 1, time_frames)
    total = median_time(lambda: module(melspec), repeats)
    solve = median_time(lambda: torch.ops.inverse_mel.lstsq_apply_out(melspec, *one_bin, one_bin_out), repeats)
    warm = median_time(lambda: torch.ops.inverse_mel.lstsq_apply_out(melspec, *args, warm_out), repeats)
    out_shape = (batch, module.n_stft, time_frames)
    fill_4k = median_time(lambda: fresh_fill(out_shape, False), repeats)
    fill_huge = median_time(lambda: fresh_fill(out_shape, True), repeats)
    bytes_moved = melspec.nbytes + batch * module.n_stft * time_frames * 4
    floor = bytes_moved / bandwidth
    return dict(
        config=name, batch=f"{batch}x{time_frames}",
        solve_kind="banded Cholesky" if op.gram_cholesky_band is not None else "dense GEMM (rank-deficient)",
        total_ms=total * 1e3, solve_ms=solve * 1e3, expansion_ms=(warm - solve) * 1e3,
        output_first_touch_ms=(total - warm) * 1e3, warm_output_total_ms=warm * 1e3,
        fresh_output_fill_4k_ms=fill_4k * 1e3, fresh_output_fill_hugepage_ms=fill_huge * 1e3,
        bytes_moved_mb=bytes_moved / 1e6, bandwidth_floor_ms=floor * 1e3,
        floor_over_total=floor / total, floor_over_warm=floor / warm,
    )


# --- peak memory, measured in a fresh process per method ---------------------------------------
_MEMORY_CHILD = r"""
import sys, warnings, torch
sys.path.insert(0, {bench_dir!r})
import bench_lstsq_cpu as b
from common import torchaudio_method
name, method, batch, frames = {name!r}, {method!r}, {batch}, {frames}
module = b.make_module(name)
melspec = b.melspec_for(module, batch, frames)
ta, _ = torchaudio_method(module.fb)
P = torch.linalg.pinv(module.fb.T.double()).float()
fns = dict(ours=module, torchaudio=ta, dense=lambda m: torch.relu(P @ m))
fn = fns[method]
fn(melspec[:1, :, :16])
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS counter
before = status("VmRSS:")
out = fn(melspec)
print(status("VmHWM:") - before - out.nbytes, out.nbytes)
"""


def peak_extra_memory(name, method, batch, frames):
    code = _MEMORY_CHILD.format(
        bench_dir=os.path.dirname(os.path.abspath(__file__)), name=name, method=method, batch=batch, frames=frames
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    extra, out_bytes = map(int, res.stdout.split()[-2:])
    return extra, out_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, skip the memory subprocesses")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cpu_lstsq.md"))
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    lines = [f"# CPU least-squares forward: ours vs torchaudio's method vs dense pinv\n",
             f"Machine: {machine()}. Medians of {repeats} runs after warm-up, all methods on the same inputs in one run.\n",
             "| config | batch | torchaudio (driver) ms | dense ms | ours ms | ours vs torchaudio | ours vs dense |",
             "|---|---|---|---|---|---|---|"]
    results = []
    for name in CONFIGS:
        module = make_module(name)
        ta, driver = torchaudio_method(module.fb)
        P = torch.linalg.pinv(module.fb.T.double()).float()
        for batch, frames in BATCHES:
            melspec = melspec_for(module, batch, frames)
            # torchaudio's lstsq is slow at large batch: fewer repeats keep the run short.
            ta_repeats = max(3, repeats // 3) if batch * frames >= 8000 else repeats
            t_ta = median_time(lambda: ta(melspec), ta_repeats, warmup=1)
            t_dense = median_time(lambda: torch.relu(P @ melspec), repeats)
            t_ours = median_time(lambda: module(melspec), repeats)
            row = dict(config=name, batch=f"{batch}x{frames}", driver=driver, torchaudio_ms=t_ta * 1e3,
                       dense_ms=t_dense * 1e3, ours_ms=t_ours * 1e3, speedup_vs_torchaudio=t_ta / t_ours,
                       speedup_vs_dense=t_dense / t_ours)
            results.append(row)
            line = (f"| {name} | {batch}x{frames} | {t_ta*1e3:.2f} ({driver}) | {t_dense*1e3:.2f} | {t_ours*1e3:.3f} "
                    f"| {t_ta/t_ours:.1f}x | {t_dense/t_ours:.2f}x |")
            lines.append(line)
            print(line, flush=True)

    bandwidth = copy_bandwidth(repeats)
    lines += ["", "## Breakdown at batch 32x1000\n",
              f"Measured copy bandwidth: {bandwidth/1e9:.1f} GB/s (read + write of a warm 64 MB buffer). "
              "Floor = (bytes of melspec read + bytes of output written) / that bandwidth. "
              "Solve = the op with a 1-bin filterbank (every tile solved, almost nothing expanded); "
              "expansion = the op into a warm output (`lstsq_apply_out`) minus the solve; "
              "first touch = ours (fresh output, huge pages advised) minus the warm-output run. "
              "For reference, the cost of merely filling a fresh output of that size with 4 KiB and huge pages.\n",
              "| config | solve kind | ours ms | solve ms | expansion ms | output first touch ms | fill fresh 4K / huge ms | floor ms | floor / ours | floor / warm-output ours |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    breakdowns = []
    for name in CONFIGS:
        b = breakdown(name, 32, 1000, repeats, bandwidth)
        breakdowns.append(b)
        line = (f"| {name} | {b['solve_kind']} | {b['total_ms']:.2f} | {b['solve_ms']:.2f} | {b['expansion_ms']:.2f} "
                f"| {b['output_first_touch_ms']:.2f} | {b['fresh_output_fill_4k_ms']:.1f} / {b['fresh_output_fill_hugepage_ms']:.1f} "
                f"| {b['bandwidth_floor_ms']:.2f} | {b['floor_over_total']:.0%} | {b['floor_over_warm']:.0%} |")
        lines.append(line)
        print(line, flush=True)

    memory = []
    if not args.quick and os.path.exists("/proc/self/clear_refs"):
        lines += ["", "## Peak extra memory of one forward, batch 32x1000\n",
                  "Peak RSS growth during the call minus the output's size, each method in a fresh process.\n",
                  "| config | output MB | ours extra MB | torchaudio extra MB | dense extra MB |", "|---|---|---|---|---|"]
        for name in CONFIGS:
            row = {"config": name}
            for method in ("ours", "torchaudio", "dense"):
                extra, out_bytes = peak_extra_memory(name, method, 32, 1000)
                row[method] = extra / 1e6
                row["output_mb"] = out_bytes / 1e6
            memory.append(row)
            line = (f"| {name} | {row['output_mb']:.1f} | {row['ours']:.2f} | {row['torchaudio']:.1f} | {row['dense']:.1f} |")
            lines.append(line)
            print(line, flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(dict(machine=machine(), repeats=repeats, timings=results, breakdown=breakdowns,
                       copy_bandwidth_gbs=bandwidth / 1e9, memory=memory), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
