"""Preset detection on real recordings: does inverse_mel.presets.detect name the preset that made
the features?

Clips: the 13 recordings benchmarks/fetch_audio.sh fetches (8 alsa-utils speech announcements and
5 sound-theme-freedesktop sounds), each resampled (soxr) to every preset's rate. For every preset
and clip, the preset's features of the clip go to detect(features) (no sample rate: the harder
case, as for a bare array file) and to detect(features, sample_rate=preset.sample_rate).

A detection is correct when the top-ranked preset's features of the same audio (resampled to its
rate) equal the given features (same shape, |difference| <= 1e-4 * max(1, |value|)): a preset with
the very same convention counts as correct. "Within the tie" also counts a top preset whose stated
tie group (Detection.ties) holds the true preset. The confusion table lists the wrong top picks.

Usage: python benchmarks/bench_detect.py [--out benchmarks/results/detect.md]
"""
import argparse
import collections
import os
import sys

import numpy as np
import soundfile
import soxr
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import inverse_mel  # noqa: E402
from inverse_mel._detect import _value_convention  # noqa: E402
from inverse_mel.presets import PRESETS, detect  # noqa: E402

from common import machine, write_results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIPS = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav", "Rear_Center.wav", "Rear_Left.wav",
         "Rear_Right.wav", "Side_Left.wav", "Side_Right.wav", "alarm-clock-elapsed.oga", "camera-shutter.oga",
         "complete.oga", "phone-incoming-call.oga", "service-login.oga"]


def load_clips():
    clips = []
    for name in CLIPS:
        path = os.path.join(HERE, "audio", name)
        if not os.path.exists(path):
            raise SystemExit("recordings missing: run benchmarks/fetch_audio.sh first")
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        clips.append((name, data.mean(axis=1), rate))
    return clips


def resampled(clip, rate, cache={}):
    name, data, source_rate = clip
    key = (name, rate)
    if key not in cache:
        cache[key] = torch.from_numpy(soxr.resample(data, source_rate, rate).astype(np.float32))
    return cache[key]


def same_features(a, b):
    return a.shape == b.shape and bool(((a - b).abs() <= 1e-4 * b.abs().clamp_min(1.0)).all())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "detect.md"))
    args = parser.parse_args()
    clips = load_clips()
    names = sorted(PRESETS)
    rows = []
    for true_name in names:
        true = PRESETS[true_name]
        for clip in clips:
            audio = resampled(clip, true.sample_rate)
            features = true.features(audio)
            for rate in (None, true.sample_rate):
                found = detect(features, sample_rate=rate)
                top = found.best
                top_features = PRESETS[top].features(resampled(clip, PRESETS[top].sample_rate)) if top else None
                rows.append(dict(preset=true_name, clip=clip[0], sample_rate_given=rate is not None, top=top,
                                 correct=top is not None and same_features(top_features, features),
                                 within_tie=true_name in found.ties, ties=list(found.ties), reason=found.reason))
    write_results(args.out, report(rows, names, len(clips)), dict(machine=machine(), rows=rows))


def report(rows, names, n_clips):
    lines = ["# Preset detection on real recordings", "",
             "`python benchmarks/bench_detect.py`: every preset's features of the 13 recordings of "
             "benchmarks/fetch_audio.sh (resampled to its rate) go to `inverse_mel.presets.detect`. Correct: the "
             "top preset's features of the same audio equal the given ones (presets with the very same convention "
             "count as correct). Within the tie: the true preset is among the ties the result states.", "",
             f"Machine: {machine()}", "",
             "| sample rate given | cases | correct | accuracy | within the stated tie |",
             "|---|---:|---:|---:|---:|"]
    summary = {}
    for given in (False, True):
        subset = [r for r in rows if r["sample_rate_given"] == given]
        correct = sum(r["correct"] for r in subset)
        tie = sum(r["correct"] or r["within_tie"] for r in subset)
        summary[given] = correct / len(subset)
        lines.append(f"| {'yes' if given else 'no'} | {len(subset)} | {correct} | {correct / len(subset):.1%} | "
                     f"{tie / len(subset):.1%} |")
    for given in (False, True):
        lines += ["", f"## Per preset, sample rate {'given' if given else 'not given'}", "",
                  f"| preset | correct of {n_clips} | wrong top picks (count) |", "|---|---:|---|"]
        for name in names:
            subset = [r for r in rows if r["sample_rate_given"] == given and r["preset"] == name]
            wrong = collections.Counter(r["top"] for r in subset if not r["correct"])
            listed = ", ".join(f"{top} ({count})" for top, count in wrong.most_common()) or "-"
            lines.append(f"| {name} | {sum(r['correct'] for r in subset)} | {listed} |")
    groups = collections.defaultdict(list)
    for name in names:
        groups[_value_convention(PRESETS[name])].append(name)
    shared = ["{" + ", ".join(group) + "}" for group in groups.values() if len(group) > 1]
    lines += ["", "Presets that share a value convention (same mels, log, floor and normalisation; they differ in "
              "framing, filterbank range or FFT size, which the values do not show): " + ", ".join(shared) + ". "
              "detect states them as ties; their features of the same audio differ, so a pick within such a group "
              "counts as wrong unless the features coincide (e.g. speecht5 and espnet2 where no power falls under "
              "ESPnet2's 1e-10 floor)."]
    lines += ["", "## Confusions (sample rate not given)", "",
              "| true preset | detected as | count |", "|---|---|---:|"]
    confusions = collections.Counter((r["preset"], r["top"]) for r in rows
                                     if not r["sample_rate_given"] and not r["correct"])
    for (true_name, top), count in sorted(confusions.items(), key=lambda item: (-item[1], item[0])):
        lines.append(f"| {true_name} | {top} | {count} |")
    if not confusions:
        lines.append("| - | - | 0 |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    with torch.no_grad():
        main()
