"""Peak memory and throughput of the CLI on long recordings (CPU).

Builds WAV files of the given lengths (minutes of 22.05 kHz audio: the recordings of bench_phase.py
repeated), runs ``python -m inverse_mel.cli LONG.wav -o OUT.wav --quiet`` on each in a child
process, and records the child's peak resident memory (ru_maxrss) and its CPU seconds per second
of audio. Issue 23's goal: peak RSS within 10% across lengths and at most 600 MB, throughput no
worse than before.

Usage: python benchmarks/bench_long.py [--minutes 1 4] [--out benchmarks/results/long.md]
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


def run_cli(path, out):
    """Peak RSS (MB) and CPU seconds of one CLI run in a fresh child (wait4's rusage)."""
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen([sys.executable, "-m", "inverse_mel.cli", path, "-o", out, "--quiet"], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"the CLI failed on {path} (status {status})")
    return usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[10.0, 120.0])
    ap.add_argument("--out", default="benchmarks/results/long.md")
    args = ap.parse_args()
    rows, data = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = os.path.join(tmp, f"long_{minutes:g}min.wav")
            long_wav(path, minutes)
            rss, cpu = run_cli(path, os.path.join(tmp, "out.wav"))
            seconds = minutes * 60
            data.append(dict(minutes=minutes, peak_rss_mb=rss, cpu_s=cpu, cpu_per_audio_s=cpu / seconds))
            rows.append(f"| {minutes:g} min | {rss:.0f} MB | {rss / data[0]['peak_rss_mb']:.2f}x | {rss / seconds:.2f} MB | "
                        f"{cpu:.1f} s | {cpu / seconds:.3f} |")
            os.remove(path)
    text = (f"# The CLI on long recordings: peak memory and throughput (CPU)\n\nMachine: {machine()}. "
            "`python -m inverse_mel.cli LONG.wav -o OUT.wav --quiet`, 22.05 kHz mono (the benchmark "
            "recordings repeated), default preset (hifigan) and method. Peak RSS: the child's ru_maxrss.\n\n"
            "| audio | peak RSS | vs shortest | per s of audio | CPU | CPU s per s of audio |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows) + "\n")
    write_results(args.out, text, data)


if __name__ == "__main__":
    main()
