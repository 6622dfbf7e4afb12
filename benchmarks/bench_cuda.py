"""GPU forward time of the mel inverse, side by side in one run: our least squares against
torchaudio's method, the dense product and the memory-bandwidth limit; our NNLS on CUDA against our
least squares on CUDA and our NNLS on the CPU; CPU/CUDA parity; the NNLS kernel's local memory.
Needs a CUDA device (tools/gpu_check.sh runs it).

Configs: the four of the CPU benchmark; batch 1, 32 and 256 x 1000 frames; float32 and bfloat16
input. Timing: CUDA events after warm-up, medians (the CPU NNLS: wall clock, median).

  ours        inverse_mel.InverseMelScale(...).cuda() (operator factored once)
  dense       torch.relu(P @ melspec), P = pinv(fb.T) precomputed (the cuBLAS baseline)
  torchaudio  torch.relu(torch.linalg.lstsq(fb.T[None], melspec).solution) with gels, the only CUDA
              driver; it assumes full rank, so on rank-deficient configs (marked) its output is
              not a least-squares solution, only a timing
  limit       (bytes of melspec read + bytes of output written) / device-to-device copy bandwidth
              measured in the same run (read + write counted)
  nnls        InverseMelScale(..., solver="nnls").cuda(), the CUDA NNLS kernel
  nnls cpu    the same module on the CPU (batch 1 and 32, float32)
  local mem.  the device memory the NNLS kernels' thread-local state takes

Goals (issue 14): least squares at batch 256 >= 50x torchaudio's method and >= 70% of the copy
bandwidth; NNLS at batch 256 within 3x of our least squares; parity: least squares to float32
round-off, NNLS to tol with the same convergence flags.

Usage: python benchmarks/bench_cuda.py [--repeats 20] [--frames 1000] [--out benchmarks/results/cuda.md]
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
    "whisper": dict(n_stft=201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney"),
    "docs": dict(n_stft=513, n_mels=128, sample_rate=16000),
    "tts": dict(n_stft=513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney"),
    "music": dict(n_stft=1025, n_mels=128, sample_rate=44100),
}
BATCHES = (1, 32, 256)
DTYPES = (torch.float32, torch.bfloat16)
CPU_NNLS_BATCHES = (1, 32)
DEVICE = "cuda"


def cuda_median_ms(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def cpu_median_ms(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def copy_bandwidth(nbytes=1 << 30, repeats=20):
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=DEVICE)
    dst = torch.empty_like(src)
    ms = cuda_median_ms(lambda: dst.copy_(src), repeats)
    return 2 * nbytes / (ms / 1e3)


def modules(cfg, device):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (inverse_mel.InverseMelScale(**cfg).to(device),
                inverse_mel.InverseMelScale(**cfg, solver="nnls").to(device))


def model_like_mel(fb, batch, frames, generator):
    """A mel of a random power spectrum with 30% log-normal noise: no spectrum fits it exactly (like
    a model's output), so NNLS runs both phases."""
    spec = torch.rand(batch, fb.shape[0], frames, generator=generator, device=fb.device) ** 2
    noise = torch.randn(batch, fb.shape[1], frames, generator=generator, device=fb.device)
    return (fb.T @ spec) * torch.exp(0.3 * noise)


def local_memory_taken():
    """The device memory the NNLS kernels' thread-local state takes, cumulative over launches of
    growing size: the drop in free memory, less what PyTorch's allocator reserved meanwhile (the
    driver reserves local memory for every thread the GPU can hold, whatever the grid, and keeps it)."""
    torch.cuda.synchronize()
    free_start, reserved_start = torch.cuda.mem_get_info()[0], torch.cuda.memory_reserved()
    rows = []
    for name, dtype in (("tts", torch.float32), ("tts", torch.float64), ("music", torch.float64)):
        _, nnls = modules(CONFIGS[name], DEVICE)
        nnls = nnls.to(dtype)
        nnls(nnls.fb.T @ torch.rand(1, CONFIGS[name]["n_stft"], 64, device=DEVICE, dtype=dtype))
        torch.cuda.synchronize()
        free, reserved = torch.cuda.mem_get_info()[0], torch.cuda.memory_reserved()
        taken = (free_start - free) - (reserved - reserved_start)
        rows.append(dict(config=name, n_mels=CONFIGS[name]["n_mels"], dtype=str(dtype).replace("torch.", ""),
                         local_memory_gb=taken / 1e9))
    return rows


def parity(name, cfg, generator, frames):
    """CPU/CUDA agreement at batch 32 in float32 on model-like input."""
    cpu_ls, cpu_nnls = modules(cfg, "cpu")
    gpu_ls, gpu_nnls = modules(cfg, DEVICE)
    mel = model_like_mel(cpu_ls.fb, 32, frames, generator)
    ls_cpu, ls_gpu = cpu_ls(mel), gpu_ls(mel.to(DEVICE)).cpu()
    ls_err = float((ls_gpu - ls_cpu).norm() / ls_cpu.norm().clamp_min(1e-30))
    nnls_cpu, nnls_gpu = cpu_nnls.forward_with_info(mel), gpu_nnls.forward_with_info(mel.to(DEVICE))
    same_flags = bool(torch.equal(nnls_cpu.converged, nnls_gpu.converged.cpu()))
    frame_norm = torch.linalg.vector_norm(nnls_cpu.specgram, dim=-2).clamp_min(1e-30)
    frame_err = (torch.linalg.vector_norm(nnls_gpu.specgram.cpu() - nnls_cpu.specgram, dim=-2) / frame_norm)
    return dict(config=name, lstsq_rel_err=ls_err, nnls_same_flags=same_flags,
                nnls_converged=float(nnls_cpu.converged.float().mean()),
                nnls_max_frame_err=float(frame_err.max()), nnls_tol=cpu_nnls.tol)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cuda.md"))
    args = parser.parse_args(argv)
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA device; none is visible to torch")
    slow_repeats = max(3, args.repeats // 4)
    device = torch.cuda.get_device_name()
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    cpu_generator = torch.Generator().manual_seed(0)
    bandwidth = copy_bandwidth()
    local_memory = local_memory_taken()
    rows, parity_rows = [], []
    for name, cfg in CONFIGS.items():
        ours, nnls = modules(cfg, DEVICE)
        cpu_nnls = modules(cfg, "cpu")[1]
        fb = ours.fb
        rank = ours.rank
        pinv = torch.linalg.pinv(fb.T.double()).float()
        for batch in BATCHES:
            mel32 = model_like_mel(fb, batch, args.frames, generator)
            for dtype in DTYPES:
                melspec = mel32.to(dtype)
                out_bytes = batch * cfg["n_stft"] * args.frames * melspec.element_size()
                limit_ms = 1e3 * (melspec.numel() * melspec.element_size() + out_bytes) / bandwidth
                t_ours = cuda_median_ms(lambda: ours(melspec), args.repeats)
                t_dense = cuda_median_ms(lambda: torch.relu(pinv @ melspec.float()).to(dtype), args.repeats)
                t_ta = cuda_median_ms(
                    lambda: torch.relu(torch.linalg.lstsq(fb.T[None], melspec.float(), driver="gels").solution).to(dtype),
                    slow_repeats)
                t_nnls = cuda_median_ms(lambda: nnls(melspec), slow_repeats)
                t_nnls_cpu = float("nan")
                if dtype == torch.float32 and batch in CPU_NNLS_BATCHES:
                    mel_cpu = melspec.cpu()
                    t_nnls_cpu = cpu_median_ms(lambda: cpu_nnls(mel_cpu), 3)
                rows.append(dict(config=name, batch=batch, dtype=str(dtype).replace("torch.", ""), rank=rank,
                                 n_mels=cfg["n_mels"], ours_ms=t_ours, dense_ms=t_dense, torchaudio_ms=t_ta,
                                 limit_ms=limit_ms, nnls_ms=t_nnls, nnls_cpu_ms=t_nnls_cpu))
                print(rows[-1], flush=True)
        parity_rows.append(parity(name, cfg, cpu_generator, min(args.frames, 200)))
        print(parity_rows[-1], flush=True)

    lines = [
        f"# CUDA forward, {device}\n",
        f"Host: {machine()}. Measured device-to-device copy bandwidth {bandwidth / 1e9:.0f} GB/s (read + write). "
        f"Batch x {args.frames} frames of model-like mels (30% log-normal noise). CUDA events after warm-up, median of "
        f"{args.repeats} (torchaudio's method and NNLS: of {slow_repeats}); CPU NNLS: wall clock, median of 3.\n",
        "| config | batch | dtype | ours ms | dense ms | torchaudio ms | torchaudio / ours | limit ms | limit / ours "
        "| NNLS ms | NNLS / ours | NNLS CPU ms | CPU / CUDA NNLS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = "" if r["rank"] == r["n_mels"] else f" (rank {r['rank']}/{r['n_mels']}: gels not a LS solution)"
        cpu = "" if r["nnls_cpu_ms"] != r["nnls_cpu_ms"] else f"{r['nnls_cpu_ms']:.1f}"
        cpu_ratio = "" if not cpu else f"{r['nnls_cpu_ms'] / r['nnls_ms']:.0f}x"
        lines.append(
            f"| {r['config']}{note} | {r['batch']} | {r['dtype']} | {r['ours_ms']:.3f} | {r['dense_ms']:.3f} | "
            f"{r['torchaudio_ms']:.3f} | {r['torchaudio_ms'] / r['ours_ms']:.0f}x | {r['limit_ms']:.3f} | "
            f"{r['limit_ms'] / r['ours_ms']:.0%} | {r['nnls_ms']:.3f} | {r['nnls_ms'] / r['ours_ms']:.1f}x | {cpu} | "
            f"{cpu_ratio} |")
    big = [r for r in rows if r["batch"] == max(BATCHES)]
    lines += [
        f"\n## Goals at batch {max(BATCHES)}\n",
        "| goal | worst | all configs and dtypes meet it |",
        "|---|---|---|",
        f"| least squares >= 50x torchaudio's method | {min(r['torchaudio_ms'] / r['ours_ms'] for r in big):.0f}x | "
        f"{all(r['torchaudio_ms'] / r['ours_ms'] >= 50 for r in big)} |",
        f"| least squares >= 70% of copy bandwidth | {min(r['limit_ms'] / r['ours_ms'] for r in big):.0%} | "
        f"{all(r['limit_ms'] / r['ours_ms'] >= 0.7 for r in big)} |",
        f"| NNLS within 3x of least squares | {max(r['nnls_ms'] / r['ours_ms'] for r in big):.1f}x | "
        f"{all(r['nnls_ms'] / r['ours_ms'] <= 3 for r in big)} |",
        "\n## CPU/CUDA parity (batch 32 x 200 frames, float32, model-like input)\n",
        "| config | lstsq rel. error | NNLS same flags | NNLS converged | NNLS worst frame error | NNLS tol |",
        "|---|---|---|---|---|---|",
    ]
    for p in parity_rows:
        lines.append(f"| {p['config']} | {p['lstsq_rel_err']:.1e} | {p['nnls_same_flags']} | {p['nnls_converged']:.1%} | "
                     f"{p['nnls_max_frame_err']:.1e} | {p['nnls_tol']:g} |")
    lines += ["\n## NNLS kernels' local memory (taken once per process by the driver)\n",
              "| config | n_mels | dtype | GB |", "|---|---|---|---|"]
    for m in local_memory:
        lines.append(f"| {m['config']} | {m['n_mels']} | {m['dtype']} | {m['local_memory_gb']:.2f} |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, dict(device=device, bandwidth=bandwidth, rows=rows, parity=parity_rows,
                                       local_memory=local_memory))


if __name__ == "__main__":
    main()
