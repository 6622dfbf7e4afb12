"""Peak memory and throughput of the CLI on long recordings (CPU).

Builds WAV files of the given lengths (minutes of 22.05 kHz audio: the recordings of bench_phase.py
repeated), runs ``python -m inverse_mel.cli LONG.wav -o OUT.wav --quiet`` on each in a child
process, and records the child's peak resident memory (ru_maxrss) and its CPU seconds per second
of audio. Issue 23's goal: peak RSS within 10% across lengths and at most 600 MB, throughput no
worse than before.

Usage: python benchmarks/bench_long.py [--minutes 10 120] [--whole-minutes 10] [--method auto]
       [--out benchmarks/results/long.md]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np
import soundfile
import torch

from bench_phase import load_clips
from common import machine, write_results

RATE = 22050
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def long_wav(path, minutes):
    clip = torch.cat(load_clips(RATE)).numpy()
    samples = int(minutes * 60 * RATE)
    with soundfile.SoundFile(path, "w", RATE, 1, "PCM_16") as f:
        written = 0
        while written < samples:  # block by block: the benchmark itself stays small
            block = clip[: samples - written]
            f.write(block.astype(np.float32))
            written += block.size


WHOLE = ("import sys, inverse_mel._long as L; L.PIECE_FRAMES = 10 ** 12; from inverse_mel.cli import main; "
         "sys.exit(main(sys.argv[1:]))")


def run_cli(path, out, whole=False, method="auto"):
    """Peak RSS (MB) and CPU seconds of one CLI run in a fresh child (wait4's rusage). ``whole``:
    the CLI with pieces too large to split anything, i.e. the whole-file path of before."""
    env = dict(os.environ, PYTHONPATH=REPO)
    command = ["-c", WHOLE] if whole else ["-m", "inverse_mel.cli"]
    proc = subprocess.Popen([sys.executable, *command, path, "-o", out, "--quiet", "--method", method], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"the CLI failed on {path} (status {status})")
    return usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0, 120.0])
    ap.add_argument("--whole-minutes", type=float, nargs="*", default=[10.0],
                    help="lengths also run whole (the path before pieces), the baseline")
    ap.add_argument("--method", default="auto", help="the CLI's --method (default: the CLI's default, auto)")
    ap.add_argument("--out", default="benchmarks/results/long.md")
    args = ap.parse_args()
    rows, data = [], []
    runs = [(m, False) for m in args.minutes] + [(m, True) for m in args.whole_minutes]
    with tempfile.TemporaryDirectory() as tmp:
        for minutes, whole in runs:
            path = os.path.join(tmp, f"long_{minutes:g}min.wav")
            if not os.path.exists(path):
                long_wav(path, minutes)
            rss, cpu = run_cli(path, os.path.join(tmp, "out.wav"), whole, args.method)
            seconds = minutes * 60
            label = "whole file (before)" if whole else "pieces"
            data.append(dict(minutes=minutes, path=label, method=args.method, peak_rss_mb=rss, cpu_s=cpu, cpu_per_audio_s=cpu / seconds))
            print(data[-1], flush=True)
    first = data[0]
    for d in data:
        rows.append(f"| {d['minutes']:g} min | {d['path']} | {d['peak_rss_mb']:.0f} MB | "
                    f"{d['peak_rss_mb'] / first['peak_rss_mb']:.2f}x | {d['peak_rss_mb'] / (d['minutes'] * 60):.2f} MB | "
                    f"{d['cpu_s']:.1f} s | {d['cpu_per_audio_s']:.3f} | {d['cpu_per_audio_s'] / first['cpu_per_audio_s']:.2f}x |")
    text = (f"# The CLI on long recordings: peak memory and throughput (CPU)\n\nMachine: {machine()}. "
            f"`python -m inverse_mel.cli LONG.wav -o OUT.wav --quiet --method {args.method}`, 22.05 kHz mono (the "
            "benchmark recordings repeated), default preset (hifigan). Peak RSS: the child's ru_maxrss. Goals: "
            "peak RSS within 10% across lengths and at most 600 MB; CPU per second of audio no worse than the "
            "whole-file path's.\n\n"
            "| audio | path | peak RSS | vs first row | RSS per s of audio | CPU | CPU s per s of audio | vs first row |\n"
            "|---|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    write_results(args.out, text, data)


if __name__ == "__main__":
    main()
