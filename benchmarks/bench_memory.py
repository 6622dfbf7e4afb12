"""Peak memory of one forward at batch 256 x 1000 frames, 128 mels, n_fft 2048 (1025 bins).

Each case runs in a fresh subprocess: build the module and the input, reset the kernel's
peak-RSS counter (/proc/self/clear_refs), run one forward, and report the peak RSS growth
during the call. "extra" is that growth minus the output's own size: the working memory the
forward needs beyond the result it returns. Linux only.

Usage: python benchmarks/bench_memory.py [--out benchmarks/results/memory.md]
"""
import argparse
import os
import subprocess
import sys

from common import machine, write_results

BATCH, FRAMES, N_MELS, N_STFT, SAMPLE_RATE = 256, 1000, 128, 1025, 44100

_CHILD = """
import torch, inverse_mel
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
module = inverse_mel.InverseMelScale({n_stft}, {n_mels}, {sample_rate}, solver={solver!r})
melspec = (torch.rand({batch}, {n_mels}, {frames}) ** 2).to({dtype})
module(melspec[:1, :, :50])  # warm-up: operator cast, thread pool
open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS counter
before = status("VmRSS:")
with torch.inference_mode():
    out = module(melspec)
print(status("VmHWM:") - before, out.nbytes, melspec.nbytes)
"""


def measure(solver, dtype):
    code = _CHILD.format(n_stft=N_STFT, n_mels=N_MELS, sample_rate=SAMPLE_RATE, solver=solver, batch=BATCH,
                         frames=FRAMES, dtype=dtype)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, out_bytes, in_bytes = map(int, res.stdout.split()[-3:])
    return dict(solver=solver, dtype=dtype.replace("torch.", ""), peak_growth=peak, output=out_bytes, input=in_bytes,
                extra=peak - out_bytes)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "memory.md"))
    args = parser.parse_args()
    rows = [measure(s, d) for s in ("lstsq", "nnls") for d in ("torch.float32", "torch.float16")]
    mb = 1e6
    lines = [
        "# Peak memory of one forward: batch 256 x 1000 frames, 128 mels, n_fft 2048 (1025 bins)\n",
        f"Machine: {machine()}. Each case in a fresh process; peak RSS growth during the call (VmHWM after "
        "resetting it), minus the output's size = extra working memory.\n",
        "| solver | input dtype | input MB | output MB | peak growth MB | extra MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['solver']} | {r['dtype']} | {r['input'] / mb:.0f} | {r['output'] / mb:.0f} | "
                     f"{r['peak_growth'] / mb:.0f} | {r['extra'] / mb:.1f} |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, dict(machine=machine(), rows=rows))


if __name__ == "__main__":
    main()
