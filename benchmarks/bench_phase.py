"""Mel to audio on real recordings: phase reconstruction methods side by side in one run (CPU).

Clips: the 13 recordings benchmarks/fetch_audio.sh fetches (8 alsa-utils speech announcements and
5 sound-theme-freedesktop sounds), each resampled to the preset's rate. Presets: whisper, hifigan,
vocos, and the docs config (16 kHz, n_fft 1024, 128 htk mels, power 2, centred frames). For each
clip the mel is computed with the preset (linear, in its power), then inverted to audio by:

  today            NNLS + 32 fast Griffin-Lim iterations from a random phase (the chain before PGHI/MCGL)
  pghi             NNLS + PGHI + 32 iterations                     mel_to_audio(method="pghi")
  mcgl K           NNLS + PGHI + 32 iterations + K mel-consistent  mel_to_audio(method="mcgl", mcgl_iter=K)
  torchaudio       relu(lstsq(fb.T, mel)) (gels; gelsd where gels raises) + torchaudio's GriffinLim
                   (32 iterations, random start: our griffinlim, bit-identical to torchaudio's)
  librosa          librosa.feature.inverse.mel_to_audio(n_iter=32)

Measures per clip: audio SC (spectral convergence of the output's magnitude spectrogram against
the original's, the preset's STFT), audio LSD (dB) and CPU seconds per second of audio; the tables
give medians over the clips. Also: the phase-retrieval floor from the true magnitude (random start
with 32 and 200 iterations, PGHI + 32), and model-like input (the mel times exp(0.3 N(0, 1)):
SC against the clean original, and the output's peak over the original's).

With --auto (results/auto.md): the default method="auto" against the classic chain (today) and
"pghi" on every preset of inverse_mel.presets and the docs config, 4 clips of 3 s (not the 4 the
auto rule was tuned on), inputs clean, mel x exp(s N) for s = 0.1, 0.3, 0.5, and the ln-mel blurred
over 3x3 and 5x5 (box filter, edges replicated); with the clean-level table of
inverse_mel.metrics.mel_inconsistency per preset.

Usage: python benchmarks/bench_phase.py [--out benchmarks/results/phase.md] [--quick] [--auto]
"""
import argparse
import os
import statistics
import time
import warnings

import librosa
import numpy as np
import soundfile
import soxr
import torch

import inverse_mel
from inverse_mel import metrics
from inverse_mel.functional.filterbank import mel_scale
from inverse_mel.functional.phase import griffin_lim, griffinlim
from inverse_mel.pipeline import reconstruct_waveform
from common import machine, write_results

HERE = os.path.dirname(os.path.abspath(__file__))
CLIPS = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav", "Rear_Center.wav", "Rear_Left.wav",
         "Rear_Right.wav", "Side_Left.wav", "Side_Right.wav", "alarm-clock-elapsed.oga", "camera-shutter.oga",
         "complete.oga", "phone-incoming-call.oga", "service-login.oga"]
PRESETS = {
    "whisper": inverse_mel.get_preset("whisper"),
    "hifigan": inverse_mel.get_preset("hifigan"),
    "vocos": inverse_mel.get_preset("vocos"),
    "docs": inverse_mel.Preset(name="docs", sample_rate=16000, n_fft=1024, hop_length=256, n_mels=128, f_max=8000.0,
                               norm=None, mel_scale="htk", power=2.0, log="none", center=True),
}
N_ITER, MOMENTUM = 32, 0.99


def load_clips(rate):
    clips = []
    for name in CLIPS:
        path = os.path.join(HERE, "audio", name)
        if not os.path.exists(path):
            raise SystemExit("recordings missing: run benchmarks/fetch_audio.sh first")
        data, source_rate = soundfile.read(path, dtype="float32", always_2d=True)
        clips.append(torch.from_numpy(soxr.resample(data.mean(axis=1), source_rate, rate).astype(np.float32)))
    return clips


def magnitude(preset, audio):
    spec = preset.spectrogram(audio)
    return spec if preset.power == 1 else spec.sqrt()


def quality(preset, reference, audio):
    estimate = magnitude(preset, audio)
    n = min(reference.shape[-1], estimate.shape[-1])
    a, b = reference[..., :n].double(), estimate[..., :n].double()
    return metrics.spectral_convergence(a, b), metrics.log_spectral_distance(a.square(), b.square())


def timed(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def methods_for(preset, nnls, lstsq_fb, mcgl_iters):
    """name -> fn(linear mel, length) -> waveform."""
    def ours(method, mcgl_iter=16):
        def run(mel, length):
            spec = nnls(mel)
            return reconstruct_waveform(spec, preset, N_ITER, MOMENTUM, length, True, 0, method=method, melspec=mel,
                                        inverse=nnls, mcgl_iter=mcgl_iter)
        return run

    def torchaudio_chain(mel, length):
        a = lstsq_fb.T[None]
        try:
            spec = torch.relu(torch.linalg.lstsq(a, mel[None], driver="gels").solution)[0]
        except RuntimeError:  # gels raises on rank-deficient banks (whisper)
            spec = torch.relu(torch.linalg.lstsq(a, mel[None], driver="gelsd").solution)[0]
        torch.manual_seed(0)
        waveform = griffinlim(spec, preset.window(), preset.n_fft, preset.hop_length, preset.window_length,
                              float(preset.power), N_ITER, MOMENTUM, length, True)
        return _uncentre(preset, waveform, length)

    def librosa_chain(mel, length):
        out = librosa.feature.inverse.mel_to_audio(
            mel.double().numpy(), sr=preset.sample_rate, n_fft=preset.n_fft, hop_length=preset.hop_length,
            win_length=preset.window_length, center=True, power=float(preset.power), n_iter=N_ITER,
            fmin=preset.f_min, fmax=preset.f_max, htk=preset.mel_scale == "htk", norm=preset.norm)
        # (librosa's length= fails where the preset drops the last frame: trim or pad here instead.)
        waveform = torch.nn.functional.pad(torch.from_numpy(out).float(), (0, max(0, length - out.shape[-1])))[:length]
        return _uncentre(preset, waveform, length)

    table = {"today": ours("griffin_lim"), "pghi": ours("pghi")}
    for k in mcgl_iters:
        table[f"mcgl {k}"] = ours("mcgl", k)
    table["torchaudio"] = torchaudio_chain
    table["librosa"] = librosa_chain
    return table


def _uncentre(preset, waveform, length):
    if not preset.center:  # as reconstruct_waveform aligns uncentred frames
        shift = preset.n_fft // 2 - (preset.n_fft - preset.hop_length) // 2
        waveform = torch.nn.functional.pad(waveform, (shift, 0))[..., :length]
    return waveform


def floor_rows(preset, clips):
    """Phase retrieval from the true magnitude: SC of random start + 32 / 200, and PGHI + 32."""
    rows = {"random 32": [], "random 200 (torchaudio GriffinLim)": [], "pghi 32": []}
    window = preset.window()
    for audio in clips:
        reference = magnitude(preset, audio)
        spec = preset.spectrogram(audio)
        length = audio.numel()
        for name, n_iter, init in (("random 32", 32, None), ("random 200 (torchaudio GriffinLim)", 200, None),
                                   ("pghi 32", 32, "pghi")):
            waveform = griffin_lim(spec, window, preset.n_fft, preset.hop_length, preset.window_length,
                                   float(preset.power), n_iter, MOMENTUM, length, True,
                                   generator=torch.Generator().manual_seed(0), phase_init=init)
            rows[name].append(quality(preset, reference, _uncentre(preset, waveform, length))[0])
    return {name: statistics.median(values) for name, values in rows.items()}


AUTO_CLIPS = ["Front_Left.wav", "Side_Right.wav", "complete.oga", "phone-incoming-call.oga"]
AUTO_SECONDS = 3.0
AUTO_INPUTS = ("clean", "noise 0.1", "noise 0.3", "noise 0.5", "blur 3x3", "blur 5x5")


def blurred(mel, size):
    """The ln-mel averaged over size x size (mels x frames, edges replicated), back to linear."""
    floor = mel.amax().clamp_min(1e-30) * 1e-8
    log = torch.nn.functional.pad(mel.clamp_min(floor).log()[None, None], (size // 2,) * 4, mode="replicate")
    return torch.nn.functional.avg_pool2d(log, size, stride=1)[0, 0].exp()


def auto_inputs(mel, index):
    noise = torch.randn(mel.shape, generator=torch.Generator().manual_seed(index))
    return {"clean": mel, "noise 0.1": mel * torch.exp(0.1 * noise), "noise 0.3": mel * torch.exp(0.3 * noise),
            "noise 0.5": mel * torch.exp(0.5 * noise), "blur 3x3": blurred(mel, 3), "blur 5x5": blurred(mel, 5)}


def auto_main(args):
    presets = dict(inverse_mel.presets.PRESETS)
    presets["docs"] = PRESETS["docs"]
    data = {}
    for preset_name, preset in presets.items():
        clips = []
        for name in AUTO_CLIPS:
            path = os.path.join(HERE, "audio", name)
            if not os.path.exists(path):
                raise SystemExit("recordings missing: run benchmarks/fetch_audio.sh first")
            audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
            audio = soxr.resample(audio.mean(axis=1), rate, preset.sample_rate).astype(np.float32)
            clips.append(torch.from_numpy(audio[: int(AUTO_SECONDS * preset.sample_rate)]))
        fb = preset.fbanks()
        rows = {name: {m: {"sc": [], "cpu": [], "peak": [], "finite": []} for m in ("today", "pghi", "auto")}
                for name in AUTO_INPUTS}
        kept, levels = {name: 0 for name in AUTO_INPUTS}, {name: [] for name in AUTO_INPUTS}
        for index, audio in enumerate(clips):
            reference = magnitude(preset, audio)
            mel = mel_scale(preset.spectrogram(audio), fb)
            for input_name, mel_in in auto_inputs(mel, index).items():
                peaks = {}
                for method, mel_method in (("today", "griffin_lim"), ("pghi", "pghi"), ("auto", "auto")):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        (waveform, info), cpu = timed(lambda: inverse_mel.mel_to_audio(
                            mel_in, preset, features=False, method=mel_method, n_iter=N_ITER, momentum=MOMENTUM,
                            length=audio.numel(), return_info=True))
                    r = rows[input_name][method]
                    r["finite"].append(bool(torch.isfinite(waveform).all()))
                    r["sc"].append(quality(preset, reference, waveform.float())[0])
                    r["cpu"].append(cpu)
                    peaks[method] = float(waveform.abs().max())
                    if method == "auto":
                        kept[input_name] += info.chosen.count("mcgl")
                        levels[input_name].append(float(info.misfit_pghi))
                for method in peaks:
                    rows[input_name][method]["peak"].append(peaks[method] / max(peaks["today"], 1e-12))
        data[preset_name] = {
            input_name: {
                "methods": {m: {"sc": statistics.median(v["sc"]), "cpu": statistics.median(v["cpu"]),
                                "peak": max(v["peak"]), "finite": all(v["finite"])} for m, v in methods.items()},
                "kept": kept[input_name], "clips": len(clips),
                "inconsistency": statistics.median(levels[input_name]),
            } for input_name, methods in rows.items()}
        print(preset_name, {k: round(v["methods"]["auto"]["sc"] / v["methods"]["pghi"]["sc"] - 1, 4)
                            for k, v in data[preset_name].items()}, flush=True)
    write_results(args.out, auto_report(data), dict(machine=machine(), clips=AUTO_CLIPS, seconds=AUTO_SECONDS,
                                                    results=data))
    write_auto_docs(os.path.splitext(args.out)[0] + ".json")


# The summary the docs show (the docs build makes a page of every results file).
SUMMARY = os.path.join(HERE, "results", "auto_summary.md")


def write_auto_docs(json_path, docs_path=SUMMARY):
    """results/auto_summary.md from the --auto results file (every figure in it comes from there)."""
    import json

    with open(json_path) as f:
        data = json.load(f)["results"]
    rel = os.path.relpath(json_path, os.path.dirname(HERE))
    lines = [
        "# The default `method=\"auto\"` and mel consistency\n",
        f"Generated by `python benchmarks/bench_phase.py --auto` from `{rel}` (do not edit by hand; the full "
        "tables, the machine and the clips are in `benchmarks/results/auto.md`).\n",
        "`mel_to_audio`'s default runs `\"pghi\"` (PGHI, then 32 fast Griffin-Lim iterations), then "
        "`pipeline.AUTO_MCGL_ITER` mel-consistent Griffin-Lim iterations from its phase, and keeps their audio "
        "for an item when they lower the mel misfit (`inverse_mel.metrics.mel_misfit`) to at most "
        "`pipeline.AUTO_KEEP_RATIO` of PGHI's; otherwise it returns PGHI's audio. A mel that some sound has "
        "can be fitted; a mel with independent errors cannot, and fitting it closer fits its errors.\n",
        "## Per preset (audio SC against the original, medians over the clips)\n",
        "| preset | clean: auto vs classic chain | clean: pghi vs classic | auto time vs classic | "
        "model-like inputs: auto vs pghi, worst | auto kept mcgl (clean / model-like) |",
        "|---|---|---|---|---|---|",
    ]
    for preset_name, by_input in data.items():
        clean = by_input["clean"]["methods"]
        others = [k for k in by_input if k != "clean"]
        worst = max(others, key=lambda k: by_input[k]["methods"]["auto"]["sc"] / by_input[k]["methods"]["pghi"]["sc"])
        w = by_input[worst]["methods"]
        kept_other = sum(by_input[k]["kept"] for k in others)
        clips_other = sum(by_input[k]["clips"] for k in others)
        lines.append(f"| {preset_name} | {clean['auto']['sc'] / clean['today']['sc'] - 1:+.1%} | "
                     f"{clean['pghi']['sc'] / clean['today']['sc'] - 1:+.1%} | "
                     f"{clean['auto']['cpu'] / clean['today']['cpu']:.2f}x | "
                     f"{w['auto']['sc'] / w['pghi']['sc'] - 1:+.1%} ({worst}) | "
                     f"{by_input['clean']['kept']}/{by_input['clean']['clips']} / {kept_other}/{clips_other} |")
    missed_clean = [p for p, b in data.items()
                    if b["clean"]["methods"]["auto"]["sc"] / b["clean"]["methods"]["today"]["sc"] - 1 > -0.12
                    or b["clean"]["methods"]["auto"]["cpu"] / b["clean"]["methods"]["today"]["cpu"] > 2.5]
    missed_model = [f"{p} {k}" for p, b in data.items() for k, d in b.items() if k != "clean"
                    and d["methods"]["auto"]["sc"] / d["methods"]["pghi"]["sc"] > 1.01]
    peaks = [f"{p} {k}" for p, b in data.items() for k, d in b.items() if d["methods"]["auto"]["peak"] > 2.0]
    pghi_peaks = [x for x in peaks if data[x.split(" ", 1)[0]][x.split(" ", 1)[1]]["methods"]["pghi"]["peak"] > 2.0]
    lines += [
        "\nGoals: clean mels >= 12% below the classic chain (NNLS + 32 iterations from a random phase) at <= 2.5x "
        "its time: " + ("met on every preset" if not missed_clean else "missed on " + ", ".join(missed_clean))
        + ". Model-like inputs (noise, blur) no more than 1% worse than `\"pghi\"`: "
        + ("met everywhere" if not missed_model else "missed on " + ", ".join(missed_model)) + ". Output peak "
        "<= 2x the classic chain's: " + ("met everywhere" if not peaks else f"missed on {len(peaks)} preset/input "
        f"pairs, in {len(pghi_peaks)} of them by `\"pghi\"` too (PGHI's phase, not the mel-consistent step): "
        + ", ".join(peaks)) + ".\n",
        "## When an explicit method is better\n",
        "- `\"mcgl\"` (`pipeline.DEFAULT_MCGL_ITER` mel-consistent iterations): clean mels, when several times "
        "the classic chain's time is acceptable (see `benchmarks/results/phase.md`); worse than `\"pghi\"` on "
        "model-like mels.",
        "- `\"pghi\"`: mels known to be a model's (it is what `\"auto\"` returns for them, without the "
        "mel-consistent attempt's time).",
        "- `\"griffin_lim\"`: the fastest, and the only method differentiable end to end.\n",
        "## Clean levels of `inverse_mel.metrics.mel_inconsistency`\n",
        "The mel misfit of the `\"pghi\"` reconstruction, median over the clips, for mels computed from the "
        "recordings (clean) and for the same mels with independent log-domain errors (`mel x exp(s N)`) or "
        "blurred. A model's mels well above their preset's clean level are far from any real sound.\n",
        "| preset | " + " | ".join(AUTO_INPUTS) + " |",
        "|---|" + "---|" * len(AUTO_INPUTS),
    ]
    for preset_name, by_input in data.items():
        lines.append(f"| {preset_name} | " + " | ".join(f"{by_input[k]['inconsistency']:.3f}" for k in AUTO_INPUTS)
                     + " |")
    os.makedirs(os.path.dirname(docs_path), exist_ok=True)
    with open(docs_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def auto_report(data, machine_text=None):
    lines = [
        "# The default method=\"auto\" against the classic chain and \"pghi\" (CPU)\n",
        f"Machine: {machine_text or machine()}. Clips: {', '.join(AUTO_CLIPS)} (first {AUTO_SECONDS:g} s, resampled to each "
        f"preset's rate; the auto rule was tuned on other clips). {N_ITER} fast Griffin-Lim iterations (momentum "
        f"{MOMENTUM}) in every chain; today = NNLS + {N_ITER} iterations from a random phase. Audio SC: the output's "
        "magnitude spectrogram against the clean original's (preset STFT), median over the clips. Time: median "
        "CPU time of mel_to_audio over the clips, relative to today's. Peak: the largest ratio over the clips "
        "of the output's peak to today's output's peak on the same input. auto kept mcgl: items where the "
        "mel-consistent result was kept.\n",
        "## Clean mels: goal >= 12% below today, at <= 2.5x its time\n",
        "| preset | today SC | pghi SC | auto SC | auto vs today | auto vs pghi | auto time vs today | auto kept mcgl | goal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for preset_name, by_input in data.items():
        d = by_input["clean"]
        m = d["methods"]
        gain = m["auto"]["sc"] / m["today"]["sc"] - 1
        time_ratio = m["auto"]["cpu"] / m["today"]["cpu"]
        met = "met" if gain <= -0.12 and time_ratio <= 2.5 else "MISSED"
        lines.append(f"| {preset_name} | {m['today']['sc']:.4f} | {m['pghi']['sc']:.4f} | {m['auto']['sc']:.4f} | "
                     f"{gain:+.1%} | {m['auto']['sc'] / m['pghi']['sc'] - 1:+.1%} | {time_ratio:.2f}x | "
                     f"{d['kept']}/{d['clips']} | {met} |")
    lines += ["\n## Model-like inputs: goal auto <= 1.01x pghi's SC, finite, peak <= 2x today's\n",
              "| preset | input | today SC | pghi SC | auto SC | auto vs pghi | auto kept mcgl | auto peak / today's | "
              "pghi peak / today's | all finite | goal |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for preset_name, by_input in data.items():
        for input_name, d in by_input.items():
            if input_name == "clean":
                continue
            m = d["methods"]
            ratio = m["auto"]["sc"] / m["pghi"]["sc"]
            finite = all(x["finite"] for x in m.values())
            met = "met" if ratio <= 1.01 and finite and m["auto"]["peak"] <= 2.0 else "MISSED"
            lines.append(f"| {preset_name} | {input_name} | {m['today']['sc']:.4f} | {m['pghi']['sc']:.4f} | "
                         f"{m['auto']['sc']:.4f} | {ratio - 1:+.1%} | {d['kept']}/{d['clips']} | "
                         f"{m['auto']['peak']:.2f} | {m['pghi']['peak']:.2f} | {finite} | {met} |")
    lines += ["\n## Clean levels of inverse_mel.metrics.mel_inconsistency\n",
              "The mel misfit of the pghi reconstruction (median over the clips): a mel from real audio gives the "
              "clean level; a model's mels well above their preset's clean level are inconsistent.\n",
              "| preset | " + " | ".join(AUTO_INPUTS) + " |", "|---|" + "---|" * len(AUTO_INPUTS)]
    for preset_name, by_input in data.items():
        lines.append(f"| {preset_name} | " + " | ".join(f"{by_input[i]['inconsistency']:.3f}" for i in AUTO_INPUTS)
                     + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "phase.md"))
    parser.add_argument("--mcgl", default="8,16,32,100", help="mel-consistent iteration counts to measure")
    parser.add_argument("--quick", action="store_true", help="3 clips, no librosa (a smoke run)")
    parser.add_argument("--auto", action="store_true", help="method=auto on every preset (results/auto.md)")
    parser.add_argument("--auto-docs", action="store_true", help="only regenerate results/auto.md and "
                        "results/auto_summary.md from results/auto.json")
    args = parser.parse_args()
    if args.auto_docs:  # both from the stored results, without measuring again
        import json

        path = os.path.join(HERE, "results", "auto.json")
        with open(path) as f:
            stored = json.load(f)
        with open(os.path.splitext(path)[0] + ".md", "w") as f:
            f.write(auto_report(stored["results"], stored["machine"]))
        return write_auto_docs(path)
    if args.auto:
        if args.out == parser.get_default("out"):
            args.out = os.path.join(HERE, "results", "auto.md")
        return auto_main(args)
    mcgl_iters = [int(k) for k in args.mcgl.split(",")]
    results, floors, model_like = {}, {}, {}
    for preset_name, preset in PRESETS.items():
        clips = load_clips(preset.sample_rate)
        if args.quick:
            clips = clips[:3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nnls = preset.inverse_mel_scale(solver="nnls")
        fb = preset.fbanks()
        methods = methods_for(preset, nnls, fb.double(), mcgl_iters)
        if args.quick:
            methods.pop("librosa")
        per_method = {name: {"sc": [], "lsd": [], "cpu": []} for name in methods}
        noisy = {name: {"sc": [], "peak": [], "finite": []} for name in ("today", "pghi", *[f"mcgl {k}" for k in mcgl_iters])}
        for index, audio in enumerate(clips):
            reference = magnitude(preset, audio)
            mel = mel_scale(preset.spectrogram(audio), fb)
            seconds = audio.numel() / preset.sample_rate
            length = audio.numel()
            for name, fn in methods.items():
                mel_in = mel.double() if name == "torchaudio" else mel
                waveform, cpu = timed(lambda: fn(mel_in, length))
                sc, lsd = quality(preset, reference, waveform.float())
                per_method[name]["sc"].append(sc)
                per_method[name]["lsd"].append(lsd)
                per_method[name]["cpu"].append(cpu / seconds)
            noise = torch.randn(mel.shape, generator=torch.Generator().manual_seed(index))
            mel_noisy = mel * torch.exp(0.3 * noise)
            for name in noisy:
                waveform = methods[name](mel_noisy, length)
                noisy[name]["finite"].append(bool(torch.isfinite(waveform).all()))
                noisy[name]["sc"].append(quality(preset, reference, waveform.float())[0])
                noisy[name]["peak"].append(float(waveform.abs().max() / audio.abs().max().clamp_min(1e-12)))
            print(preset_name, index, {n: round(v["sc"][-1], 4) for n, v in per_method.items()}, flush=True)
        results[preset_name] = {name: {k: statistics.median(v) for k, v in m.items()} for name, m in per_method.items()}
        model_like[preset_name] = {name: dict(sc=statistics.median(v["sc"]), peak=max(v["peak"]),
                                              finite=all(v["finite"])) for name, v in noisy.items()}
        floors[preset_name] = floor_rows(preset, clips)
    write_results(args.out, report(results, floors, model_like, mcgl_iters, args),
                  dict(machine=machine(), results=results, floors=floors, model_like=model_like))


def report(results, floors, model_like, mcgl_iters, args):
    lines = [
        "# Mel to audio: phase reconstruction on real recordings (CPU)\n",
        f"Machine: {machine()}. {3 if args.quick else len(CLIPS)} clips (alsa-utils speech, freedesktop sounds) per preset; "
        f"{N_ITER} fast Griffin-Lim iterations (momentum {MOMENTUM}) in every chain. Medians over the clips. "
        "SC/LSD: the output's magnitude spectrogram against the original's (preset STFT). CPU: process time "
        "per second of audio.\n",
        "| preset | method | audio SC | vs today | audio LSD dB | CPU s per s | time vs today |",
        "|---|---|---|---|---|---|---|",
    ]
    for preset_name, table in results.items():
        today = table["today"]
        for name, r in table.items():
            lines.append(f"| {preset_name} | {name} | {r['sc']:.4f} | {r['sc'] / today['sc'] - 1:+.1%} | {r['lsd']:.2f} | "
                         f"{r['cpu']:.3f} | {r['cpu'] / today['cpu']:.2f}x |")
    lines += ["\n## Phase retrieval from the true magnitude (audio SC, medians)\n",
              "| preset | random + 32 | random + 200 (torchaudio GriffinLim) | PGHI + 32 |", "|---|---|---|---|"]
    for preset_name, f in floors.items():
        lines.append(f"| {preset_name} | {f['random 32']:.4f} | {f['random 200 (torchaudio GriffinLim)']:.4f} | "
                     f"{f['pghi 32']:.4f} |")
    lines += ["\n## Model-like input: the mel times exp(0.3 N(0,1))\n",
              "| preset | method | audio SC vs the clean original | vs today | largest output peak / original peak | all finite |",
              "|---|---|---|---|---|---|"]
    for preset_name, table in model_like.items():
        today = table["today"]["sc"]
        for name, r in table.items():
            lines.append(f"| {preset_name} | {name} | {r['sc']:.4f} | {r['sc'] / today - 1:+.1%} | {r['peak']:.2f} | "
                         f"{r['finite']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
