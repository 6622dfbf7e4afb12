"""Batch throughput: files per second converting a folder of real recordings to audio, on the CPU,
side by side in one run.

Input: every recording of Debian's alsa-utils (speech, WAV) and sound-theme-freedesktop (Ogg
Vorbis, .oga) that benchmarks/fetch_audio.sh extracts, --copies times over. Each file: read, resample to 22.05 kHz, its
magnitude mel (n_fft 1024, hop 256, 80 slaney mels up to 8 kHz), invert, 32 Griffin-Lim iterations,
write a 16-bit WAV.

  ours, 1 process      inverse-mel FOLDER -o OUT --preset hifigan --method griffin_lim (NNLS, 32
                       iterations from a random phase: librosa's chain)
  ours, 2 processes    the same under torchrun --nproc-per-node 2 (each takes half the files)
  ours, default        1 process, the command's default method (PGHI, then 32 iterations)
  librosa loop         a plain Python loop: librosa.load, librosa.feature.melspectrogram,
                       librosa.feature.inverse.mel_to_audio(n_iter=32), soundfile.write

Every method runs as a fresh process (interpreter and imports included), into an empty folder;
medians of --repeats.

Usage: python benchmarks/bench_batch.py [--repeats 3] [--copies 4] [--out benchmarks/results/batch.md]
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import machine, write_results

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
EXTRACTED = os.path.join(HERE, "audio", "extracted", "usr", "share", "sounds")

LIBROSA_LOOP = r"""
import os, sys
import librosa, numpy as np, soundfile
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    audio, sr = librosa.load(os.path.join(src, name), sr=22050, mono=True)
    mel = librosa.feature.melspectrogram(y=audio, sr=sr, n_fft=1024, hop_length=256, n_mels=80, fmax=8000.0,
                                         power=1.0, center=False, htk=False, norm="slaney")
    out = librosa.feature.inverse.mel_to_audio(mel, sr=sr, n_fft=1024, hop_length=256, center=False, power=1.0,
                                               n_iter=32, fmax=8000.0, htk=False, norm="slaney")
    soundfile.write(os.path.join(dst, os.path.splitext(name)[0] + ".wav"), out, sr, subtype="PCM_16")
"""


def collect(folder, copies):
    """The recordings, `copies` times each (so the processes' start-up is amortised as in a real
    batch job); returns the list of copied files."""
    files = sorted(glob.glob(os.path.join(EXTRACTED, "alsa", "*.wav"))
                   + glob.glob(os.path.join(EXTRACTED, "freedesktop", "stereo", "*.oga")))
    if not files:
        raise SystemExit("no recordings: run benchmarks/fetch_audio.sh first")
    copied = []
    for copy in range(copies):
        for path in files:
            stem, ext = os.path.splitext(os.path.basename(path))
            copied.append(os.path.join(folder, f"{stem}_{copy}{ext}"))
            shutil.copy(path, copied[-1])
    return copied


def timed(command, output, env):
    shutil.rmtree(output, ignore_errors=True)
    os.makedirs(output)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    written = len([n for n in os.listdir(output) if n.endswith(".wav")])
    return seconds, written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4, help="copies of each recording in the folder")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "batch.md"))
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=REPO)
    with tempfile.TemporaryDirectory() as work:
        inputs = os.path.join(work, "in")
        os.makedirs(inputs)
        files = collect(inputs, args.copies)
        seconds_of_audio = sum(__import__("soundfile").info(f).duration for f in files)
        cli = ["-m", "inverse_mel", inputs, "--preset", "hifigan", "--quiet"]
        ours = [sys.executable] + cli + ["--method", "griffin_lim", "-o"]
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"] + cli + [
            "--method", "griffin_lim", "-o"]
        default = [sys.executable] + cli + ["-o"]
        librosa = [sys.executable, "-c", LIBROSA_LOOP, inputs]
        methods = {"ours, 1 process": ours, "ours, 2 processes (torchrun)": torchrun,
                   "ours, 1 process, default method (PGHI)": default, "librosa loop": librosa}
        times = {name: [] for name in methods}
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit every method alike
            for name, command in methods.items():
                output = os.path.join(work, "out")
                seconds, written = timed(command + [output], output, env)
                if written != len(files):
                    raise SystemExit(f"{name} wrote {written} of {len(files)} files")
                times[name].append(seconds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["librosa loop"]
    lines = [
        "# Batch throughput: a folder of real recordings to audio (CPU)\n",
        f"Machine: {machine()}. {len(files)} files ({seconds_of_audio:.0f} s of audio: {args.copies} copies of the "
        f"{len(files) // args.copies} alsa-utils speech WAVs and sound-theme-freedesktop .oga), each read, resampled to 22.05 kHz, magnitude mel (n_fft 1024, hop 256, 80 slaney "
        "mels to 8 kHz), inverted, 32 Griffin-Lim iterations (from a random phase, as librosa's, unless PGHI is named), written as 16-bit WAV. Each method a fresh process "
        f"(startup included), median of {args.repeats}, run interleaved.\n",
        "| method | seconds | files/s | vs librosa loop |",
        "|---|---|---|---|",
    ]
    for name, seconds in medians.items():
        lines.append(f"| {name} | {seconds:.1f} | {len(files) / seconds:.2f} | {base / seconds:.1f}x |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, dict(files=len(files), seconds_of_audio=seconds_of_audio, times=times,
                                       medians=medians, machine=machine()))


if __name__ == "__main__":
    main()
