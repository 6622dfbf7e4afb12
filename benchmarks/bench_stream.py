"""Streaming mel to audio (MelToAudioStream) against the offline chains, on the real recordings of
bench_phase.py (CPU, one thread).

Per preset and clip the mel is computed with the preset (model features), then turned into audio by:

  stream LA L R r K k    MelToAudioStream(lookahead=L, refine=r, refine_frames=k), chunks of 8 frames
                         (K0: RTISI on arrival; K3: RTISI-LA over the newest 4 frames; R0: PGHI alone)
  offline pghi           mel_to_audio(method="pghi") (NNLS + PGHI + 32 fast Griffin-Lim iterations)
  offline auto           mel_to_audio() (the offline default, method="auto": pghi, then 8 mel-consistent
                         iterations kept where the mel is consistent)
  classic                mel_to_audio(method="griffin_lim") (NNLS + 32 iterations from a random phase)

Measures per clip: audio SC against the original's magnitude spectrogram (the preset's STFT), CPU
seconds per second of audio (real-time factor: below 1 is faster than real time). Medians over
the clips, ratios against offline pghi and the offline default side by side. Issue 23's goal: the
default stream's SC <= 1.15x offline pghi's and <= the classic chain's, at <= 2x the offline
default's time. Also model-like mels (features + 0.3 N(0, 1),
i.e. the mel times exp(0.3 N) for ln-mel presets): NaN count and the output's peak over the original's.

Usage: python benchmarks/bench_stream.py [--out benchmarks/results/stream.md] [--quick]
"""
import argparse
import statistics
import time

import torch

import inverse_mel
from inverse_mel.stream import DEFAULT_REFINE, DEFAULT_REFINE_FRAMES
from bench_phase import CLIPS, PRESETS, load_clips, magnitude, quality
from common import machine, write_results


def timed(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def stream_run(preset, feats, lookahead, refine, refine_frames, chunk=8):
    s = inverse_mel.MelToAudioStream(preset, lookahead=lookahead, refine=refine, refine_frames=refine_frames)
    pieces = [s.push(feats[..., i:i + chunk]) for i in range(0, feats.shape[-1], chunk)]
    return torch.cat(pieces + [s.flush()], dim=-1)


def goals(data):
    """The goal lines for the default stream, per preset, computed from the medians."""
    name = next(m for m in next(iter(data.values())) if m.endswith("(default)") and m.startswith("stream"))
    lines = []
    for pname, d in data.items():
        s, pghi, classic, auto = d[name], d["offline pghi"], d["classic"], d["offline auto (default)"]
        checks = [("SC <= 1.15x offline pghi", s["sc"] / pghi["sc"], s["sc"] <= 1.15 * pghi["sc"]),
                  ("SC <= classic", s["sc"] / classic["sc"], s["sc"] <= classic["sc"]),
                  ("time <= 2x offline default", s["rtf"] / auto["rtf"], s["rtf"] <= 2 * auto["rtf"])]
        lines += [f"| {pname} | {what} | {ratio:.2f}x | {'met' if ok else 'missed'} |" for what, ratio, ok in checks]
    return ("\n## Goals (default stream)\n\n| preset | goal | measured | |\n|---|---|---|---|\n"
            + "\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/stream.md")
    ap.add_argument("--quick", action="store_true", help="3 clips, 2 presets")
    args = ap.parse_args()
    torch.set_num_threads(1)
    presets = dict(list(PRESETS.items())[:2]) if args.quick else PRESETS
    methods = {}
    for la, refine, frames in ((0, 0, 0), (1, 0, 0), (1, 4, 0), (0, DEFAULT_REFINE, DEFAULT_REFINE_FRAMES),
                               (1, DEFAULT_REFINE, DEFAULT_REFINE_FRAMES)):
        default = (la, refine, frames) == (1, DEFAULT_REFINE, DEFAULT_REFINE_FRAMES)
        methods[f"stream LA{la} R{refine} K{frames}" + (" (default)" if default else "")] = (
            lambda p, f, la=la, r=refine, k=frames: stream_run(p, f, la, r, k))
    methods["offline pghi"] = lambda p, f: inverse_mel.mel_to_audio(f, p, method="pghi")
    methods["offline auto (default)"] = lambda p, f: inverse_mel.mel_to_audio(f, p)
    methods["classic"] = lambda p, f: inverse_mel.mel_to_audio(f, p, method="griffin_lim")
    rows, data = [], {}
    for pname, preset in presets.items():
        clips = load_clips(preset.sample_rate)
        if args.quick:
            clips = clips[:3]
        per = {m: {"sc": [], "rtf": []} for m in methods}
        model_like = {"nan": 0, "peak": []}
        for i, audio in enumerate(clips):
            reference = magnitude(preset, audio)
            feats = preset.features(audio)
            seconds = audio.numel() / preset.sample_rate
            for name, fn in methods.items():
                out, cpu = timed(lambda: fn(preset, feats))
                per[name]["sc"].append(quality(preset, reference, out)[0])
                per[name]["rtf"].append(cpu / seconds)
            noisy = feats + 0.3 * torch.randn(feats.shape, generator=torch.Generator().manual_seed(i))
            out = stream_run(preset, noisy, 1, DEFAULT_REFINE, DEFAULT_REFINE_FRAMES)
            model_like["nan"] += int((~torch.isfinite(out)).sum())
            model_like["peak"].append(float(out.abs().max() / audio.abs().max()))
        base_sc = statistics.median(per["offline pghi"]["sc"])
        base_t = statistics.median(per["offline pghi"]["rtf"])
        classic_sc = statistics.median(per["classic"]["sc"])
        default_t = statistics.median(per["offline auto (default)"]["rtf"])
        data[pname] = {m: {k: statistics.median(v) for k, v in d.items()} for m, d in per.items()}
        data[pname]["model_like"] = {"nan": model_like["nan"], "peak_max": max(model_like["peak"])}
        for name in methods:
            sc, rtf = data[pname][name]["sc"], data[pname][name]["rtf"]
            rows.append(f"| {pname} | {name} | {sc:.4f} | {sc / base_sc:.2f}x | {sc / classic_sc:.2f}x | {rtf:.3f} | "
                        f"{rtf / base_t:.2f}x | {rtf / default_t:.2f}x |")
        rows.append(f"| {pname} | model-like (stream default) | NaN: {model_like['nan']} | peak/original max "
                    f"{max(model_like['peak']):.2f} | | | | |")
    text = (f"# Streaming mel to audio (MelToAudioStream) vs offline (CPU, one thread)\n\n"
            f"Machine: {machine()}. {len(clips)} clips per preset ({', '.join(CLIPS[:len(clips)])}), chunks of 8 "
            "frames. Medians over the clips. SC: the output's magnitude spectrogram against the original's. "
            "RTF: CPU seconds per second of audio (one thread, every method). LA: look-ahead frames, R: refinement "
            "steps per frame, K: frames kept open for refinement (RTISI-LA).\n\n"
            "| preset | method | audio SC | SC vs offline pghi | SC vs classic | RTF | time vs offline pghi | "
            "time vs offline default |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n" + goals(data))
    write_results(args.out, text, data)


if __name__ == "__main__":
    main()
