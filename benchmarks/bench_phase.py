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

Usage: python benchmarks/bench_phase.py [--out benchmarks/results/phase.md] [--quick]
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "phase.md"))
    parser.add_argument("--mcgl", default="8,16,32,100", help="mel-consistent iteration counts to measure")
    parser.add_argument("--quick", action="store_true", help="3 clips, no librosa (a smoke run)")
    args = parser.parse_args()
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
