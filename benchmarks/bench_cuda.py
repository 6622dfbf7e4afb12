"""GPU forward time of the mel inverse: ours vs torchaudio's method on CUDA, against the
memory-bandwidth limit, and NNLS against our least squares. Needs a CUDA device.

Configs: the four of the CPU benchmark; batch 1, 32 and 256 x 1000 frames; float32 and bfloat16
input. Timing: CUDA events after warm-up, median of --repeats.

  ours        inverse_mel.InverseMelScale(...).cuda() (operator factored once)
  dense       torch.relu(P @ melspec), P = pinv(fb.T) precomputed (the cuBLAS baseline)
  torchaudio  torch.relu(torch.linalg.lstsq(fb.T[None], melspec).solution) (gels, the only CUDA driver;
              it assumes full rank: rank-deficient configs are marked)
  limit       (bytes of melspec read + bytes of output written) / measured device copy bandwidth
  nnls        InverseMelScale(..., solver="nnls") (CPU fallback until the CUDA kernel lands: said in the table)

Usage: python benchmarks/bench_cuda.py [--repeats 20] [--out benchmarks/results/cuda.md]
"""
import argparse
import os
import statistics
import warnings

import torch

import inverse_mel
from common import write_results
from inverse_mel.functional import _has_kernel

CONFIGS = {
    "whisper": dict(n_stft=201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney"),
    "docs": dict(n_stft=513, n_mels=128, sample_rate=16000),
    "tts": dict(n_stft=513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney"),
    "music": dict(n_stft=1025, n_mels=128, sample_rate=44100),
}
BATCHES = (1, 32, 256)
FRAMES = 1000


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


def copy_bandwidth(nbytes=1 << 30, repeats=20):
    """Device-to-device copy bandwidth in bytes/s (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    ms = cuda_median_ms(lambda: dst.copy_(src), repeats)
    return 2 * nbytes / (ms / 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "cuda.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_cuda.py needs a CUDA device")
    device = torch.cuda.get_device_name()
    bandwidth = copy_bandwidth()
    nnls_native = _has_kernel("nnls", torch.device("cuda"))
    rows = []
    for name, cfg in CONFIGS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = inverse_mel.InverseMelScale(**cfg).cuda()
            nnls = inverse_mel.InverseMelScale(**cfg, solver="nnls").cuda()
        fb = ours.fb
        rank = int(torch.linalg.matrix_rank(fb.double().cpu()))
        pinv = torch.linalg.pinv(fb.T.double()).float()
        for batch in BATCHES:
            for dtype in (torch.float32, torch.bfloat16):
                melspec = (fb.T @ torch.rand(batch, cfg["n_stft"], FRAMES, device="cuda") ** 2).to(dtype)
                out_bytes = batch * cfg["n_stft"] * FRAMES * melspec.element_size()
                limit_ms = 1e3 * (melspec.numel() * melspec.element_size() + out_bytes) / bandwidth
                t_ours = cuda_median_ms(lambda: ours(melspec), args.repeats)
                m32 = melspec.float()
                t_dense = cuda_median_ms(lambda: torch.relu(pinv @ m32).to(dtype), args.repeats)
                try:
                    t_ta = cuda_median_ms(
                        lambda: torch.relu(torch.linalg.lstsq(fb.T[None], m32, driver="gels").solution).to(dtype),
                        max(3, args.repeats // 4))
                except RuntimeError as exc:
                    t_ta = float("nan")
                    warnings.warn(f"torchaudio method failed on {name}: {exc}")
                t_nnls = cuda_median_ms(lambda: nnls(melspec), max(3, args.repeats // 4)) if batch <= 32 or nnls_native else float("nan")
                rows.append(dict(config=name, batch=batch, dtype=str(dtype).replace("torch.", ""), rank=rank,
                                 n_mels=cfg["n_mels"], ours_ms=t_ours, dense_ms=t_dense, torchaudio_ms=t_ta,
                                 limit_ms=limit_ms, nnls_ms=t_nnls))
    lines = [
        f"# CUDA forward: ours vs torchaudio's method vs dense, {device}\n",
        f"Measured copy bandwidth {bandwidth / 1e9:.0f} GB/s. Batch x {FRAMES} frames. CUDA events after warm-up, "
        f"median of {args.repeats} (torchaudio and NNLS: of {max(3, args.repeats // 4)}). "
        f"NNLS: {'CUDA kernel' if nnls_native else 'CPU fallback (no CUDA kernel yet)'}.\n",
        "| config | batch | dtype | ours ms | dense ms | torchaudio ms | ours vs torchaudio | limit ms | limit / ours | NNLS ms | NNLS / ours |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        note = "" if r["rank"] == r["n_mels"] else f" (rank {r['rank']}/{r['n_mels']})"
        lines.append(
            f"| {r['config']}{note} | {r['batch']} | {r['dtype']} | {r['ours_ms']:.3f} | {r['dense_ms']:.3f} | "
            f"{r['torchaudio_ms']:.3f} | {r['torchaudio_ms'] / r['ours_ms']:.1f}x | {r['limit_ms']:.3f} | "
            f"{r['limit_ms'] / r['ours_ms']:.0%} | {r['nnls_ms']:.3f} | {r['nnls_ms'] / r['ours_ms']:.1f}x |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, dict(device=device, bandwidth=bandwidth, rows=rows))


if __name__ == "__main__":
    main()
