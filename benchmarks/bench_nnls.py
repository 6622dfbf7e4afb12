"""NNLS quality and speed on real recordings, side by side with the least-squares methods and librosa.

Signals (fetch them with benchmarks/fetch_audio.sh):
  speech     the recorded announcements of Debian's alsa-utils (Front_Center.wav, ...)
  non-speech recorded sounds of Debian's sound-theme-freedesktop (alarm clock, camera shutter,
             phone ring, completion chime, login sound)
Each class is resampled to the config's rate, concatenated, and analysed with a Hann STFT.

Configs: TTS (22.05 kHz, n_fft 1024, hop 256, 80 slaney mels, f_max 8000), Whisper (16 kHz, n_fft 400,
hop 160, 80 slaney mels) and docs (16 kHz, n_fft 1024, hop 256, 128 htk mels); power 1 (magnitude)
and power 2 (power) inputs.

Methods, all in float32 on the same spectrogram S:
  ours-nnls   inverse_mel.InverseMelScale(..., solver="nnls") at default settings
  nnls-no-fill  the same with band_edge_fill=False (the band-edge bins no filter weighs stay 0)
  ours-lstsq  inverse_mel.InverseMelScale(...) (torchaudio semantics, rcond cut-off)
  torchaudio  relu(torch.linalg.lstsq(fb.T[None], M, driver="gels").solution), inline (gelsd if gels raises)
  librosa     librosa.feature.inverse.mel_to_stft on librosa's own mel of the same S
Metrics, against the true magnitudes |S|:
  SC   spectral convergence ||S - S_hat||_F / ||S||_F on magnitudes
  LSD  log-spectral distance, dB: mean over frames of the RMS over bins of 10 log10(|S|^2 / |S_hat|^2),
       with both floored at 1e-8 of the largest |S|^2 (an 80 dB range)
  mel  relative mel residual ||fb^T S_hat - M|| / ||M|| in the input's domain, with each method's own fb

Speed (same run): NNLS at batch 1 x 1000 frames against librosa, and at batch 32 x 1000 against our
lstsq, medians of repeated runs, with the iterations NNLS used.

Model-like input (same run): a TTS model's mel is not the mel of any spectrum. The speech mels get
multiplicative log-normal noise (sigma 0.3, 1000 frames); reported: converged frames, iterations and time.

Usage: python benchmarks/bench_nnls.py [--audio-dir benchmarks/audio] [--out benchmarks/results/nnls.md]
"""
import argparse
import json
import os
import warnings

import numpy as np
import torch

import inverse_mel
from common import machine, median_time, torchaudio_method

try:
    import librosa
    import soundfile
except ImportError as exc:  # pragma: no cover
    raise SystemExit(f"bench_nnls.py needs the optional extras: pip install librosa soundfile ({exc})")

CONFIGS = {
    # name: (sample_rate, n_fft, hop, n_mels, f_max, norm, mel_scale)
    "tts": (22050, 1024, 256, 80, 8000.0, "slaney", "slaney"),
    "whisper": (16000, 400, 160, 80, None, "slaney", "slaney"),
    "docs": (16000, 1024, 256, 128, None, None, "htk"),
}
SPEECH = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav", "Rear_Center.wav", "Rear_Left.wav",
          "Rear_Right.wav", "Side_Left.wav", "Side_Right.wav"]
NON_SPEECH = ["alarm-clock-elapsed.oga", "camera-shutter.oga", "phone-incoming-call.oga", "complete.oga",
              "service-login.oga"]


def load_class(audio_dir, names, sample_rate):
    pieces = []
    for name in names:
        path = os.path.join(audio_dir, name)
        if not os.path.exists(path):
            raise SystemExit(f"missing {path}: run benchmarks/fetch_audio.sh first")
        x, sr = soundfile.read(path, dtype="float64", always_2d=True)
        pieces.append(librosa.resample(x.mean(axis=1), orig_sr=sr, target_sr=sample_rate))
        pieces.append(np.zeros(sample_rate // 10))  # 0.1 s gap between recordings
    return np.concatenate(pieces)


def stft_magnitude(audio, n_fft, hop):
    x = torch.from_numpy(audio).float()
    return torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs()  # (freqs, frames)


def speech_power_1000(audio_dir, name):
    """The speech recordings' power spectrogram for config `name`, tiled to 1000 frames: (freqs, 1000)."""
    sr, n_fft, hop = CONFIGS[name][:3]
    mag = stft_magnitude(load_class(audio_dir, SPEECH, sr), n_fft, hop)
    reps = -(-1000 // mag.shape[1])
    return (mag ** 2).repeat(1, reps)[:, :1000].contiguous()


def metrics(mag, mag_hat, fb_t, melspec, estimate_in_input_domain):
    sc = float((mag - mag_hat).norm() / mag.norm())
    floor = 1e-8 * float(mag.max()) ** 2
    ratio = 10 * torch.log10(mag.double().square().clamp_min(floor) / mag_hat.double().square().clamp_min(floor))
    lsd = float(ratio.square().mean(dim=0).sqrt().mean())
    mel = float((fb_t @ estimate_in_input_domain - melspec).norm() / melspec.norm())
    return sc, lsd, mel


def make_modules(name, **nnls_kwargs):
    sr, n_fft, hop, n_mels, f_max, norm, scale = CONFIGS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lstsq = inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale)
        nnls = inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale, solver="nnls",
                                           **nnls_kwargs)
    return lstsq, nnls


def quality(audio_dir, lines, rows):
    lines += ["## Quality on real recordings\n",
              "SC: spectral convergence on magnitudes (lower is better). LSD: log-spectral distance in dB. "
              "mel: relative mel-domain residual. Iterations: NNLS Newton steps per frame, mean / max.\n",
              "| config | signal | power | frames | ours-nnls SC / LSD / mel | nnls-no-fill SC / LSD / mel | ours-lstsq SC / LSD / mel | torchaudio SC / LSD / mel | librosa SC / LSD / mel | nnls iters mean / max |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (sr, n_fft, hop, n_mels, f_max, norm, scale) in CONFIGS.items():
        lstsq, nnls = make_modules(name)
        _, nnls_no_fill = make_modules(name, band_edge_fill=False)
        fb_t = lstsq.fb.T
        ta_batched, driver = torchaudio_method(lstsq.fb)
        ta = lambda m: ta_batched(m[None])[0]  # noqa: E731  (melspec here is (n_mels, time))
        lib_fb = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=f_max,
                                                      htk=scale == "htk", norm=norm)).float()
        for signal, names in (("speech", SPEECH), ("non-speech", NON_SPEECH)):
            mag = stft_magnitude(load_class(audio_dir, names, sr), n_fft, hop)
            for power in (1, 2):
                spec = mag ** power
                melspec = fb_t @ spec
                results = {}
                info = nnls.forward_with_info(melspec)
                results["ours-nnls"] = metrics(mag, info.specgram ** (1 / power), fb_t, melspec, info.specgram)
                est = nnls_no_fill(melspec)
                results["nnls-no-fill"] = metrics(mag, est ** (1 / power), fb_t, melspec, est)
                est = lstsq(melspec)
                results["ours-lstsq"] = metrics(mag, est ** (1 / power), fb_t, melspec, est)
                est = ta(melspec)
                results["torchaudio"] = metrics(mag, est ** (1 / power), fb_t, melspec, est)
                lib_mel = lib_fb @ spec
                lib_mag = torch.from_numpy(librosa.feature.inverse.mel_to_stft(
                    lib_mel.numpy(), sr=sr, n_fft=n_fft, power=power, fmin=0.0, fmax=f_max,
                    htk=scale == "htk", norm=norm)).float()
                results["librosa"] = metrics(mag, lib_mag, lib_fb, lib_mel, lib_mag ** power)
                iters = info.iterations.float()
                row = dict(config=name, signal=signal, power=power, frames=mag.shape[1], torchaudio_driver=driver,
                           nnls_iters_mean=float(iters.mean()), nnls_iters_max=int(iters.max()),
                           nnls_converged=float(info.converged.float().mean()),
                           **{f"{k}_{m}": v for k, r in results.items() for m, v in zip(("sc", "lsd", "mel"), r)})
                rows.append(row)
                cells = " | ".join(f"{results[k][0]:.3f} / {results[k][1]:.2f} / {results[k][2]:.1e}"
                                   for k in ("ours-nnls", "nnls-no-fill", "ours-lstsq", "torchaudio", "librosa"))
                line = (f"| {name} | {signal} | {power} | {mag.shape[1]} | {cells} "
                        f"| {row['nnls_iters_mean']:.2f} / {row['nnls_iters_max']} |")
                lines.append(line)
                print(line, flush=True)


def speed(audio_dir, lines, rows, repeats):
    lines += ["", "## Speed\n",
              "Same mel input for every method, power spectra of the speech recordings tiled to 1000 frames. "
              f"librosa runs mel_to_stft on its own mel of the same spectra. Medians of {repeats} runs of each "
              f"(warm: each method's runs back to back); librosa, being slow, gets {max(1, repeats // 5)} runs.\n",
              "| config | batch | librosa ms | ours-nnls ms | nnls vs librosa | ours-lstsq ms | nnls / lstsq | nnls iters mean / max |",
              "|---|---|---|---|---|---|---|---|"]
    for name, (sr, n_fft, hop, n_mels, f_max, norm, scale) in CONFIGS.items():
        lstsq, nnls = make_modules(name)
        spec1 = speech_power_1000(audio_dir, name)
        lib_fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=f_max, htk=scale == "htk", norm=norm)
        lib_mel = (torch.from_numpy(lib_fb).float() @ spec1).numpy()
        t_lib = median_time(lambda: librosa.feature.inverse.mel_to_stft(
            lib_mel, sr=sr, n_fft=n_fft, power=2, fmin=0.0, fmax=f_max, htk=scale == "htk", norm=norm),
            max(1, repeats // 5), warmup=1)
        for batch in (1, 32):
            # Batch items are the same recording shifted in time, so they differ.
            spec = torch.stack([torch.roll(spec1, 31 * b, dims=1) for b in range(batch)])
            melspec = lstsq.fb.T @ spec
            t_nnls = median_time(lambda: nnls(melspec), repeats)
            t_lstsq = median_time(lambda: lstsq(melspec), repeats)
            info = nnls.forward_with_info(melspec)
            iters = info.iterations.float()
            row = dict(config=name, batch=f"{batch}x1000", librosa_ms=t_lib * 1e3 if batch == 1 else None,
                       nnls_ms=t_nnls * 1e3, lstsq_ms=t_lstsq * 1e3, nnls_iters_mean=float(iters.mean()),
                       nnls_iters_max=int(iters.max()))
            rows.append(row)
            lib_cells = f"{t_lib*1e3:.0f} | {t_nnls*1e3:.2f} | {t_lib/t_nnls:.0f}x" if batch == 1 else f"- | {t_nnls*1e3:.2f} | -"
            line = (f"| {name} | {batch}x1000 | {lib_cells} | {t_lstsq*1e3:.2f} | {t_nnls/t_lstsq:.1f}x "
                    f"| {row['nnls_iters_mean']:.2f} / {row['nnls_iters_max']} |")
            lines.append(line)
            print(line, flush=True)


def model_like(audio_dir, lines, rows, repeats):
    lines += ["", "## Model-like (inconsistent) input\n",
              "The speech mels (power) times exp(0.3 N(0, 1)), 1000 frames: no spectrum fits them exactly, "
              "as with a TTS model's output. NNLS at default settings.\n",
              "| config | converged | iters mean / median / max | mel residual mean | ours-nnls ms | ours-lstsq ms |",
              "|---|---|---|---|---|---|"]
    gen = torch.Generator().manual_seed(0)
    for name in CONFIGS:
        lstsq, nnls = make_modules(name)
        melspec = lstsq.fb.T @ speech_power_1000(audio_dir, name)
        melspec = melspec * torch.exp(0.3 * torch.randn(melspec.shape, generator=gen))
        info = nnls.forward_with_info(melspec)
        t_nnls = median_time(lambda: nnls(melspec), repeats)
        t_lstsq = median_time(lambda: lstsq(melspec), repeats)
        iters = info.iterations.float()
        row = dict(config=name, converged=float(info.converged.float().mean()), iters_mean=float(iters.mean()),
                   iters_median=float(iters.median()), iters_max=int(iters.max()),
                   residual_mean=float(info.residual.mean()), nnls_ms=t_nnls * 1e3, lstsq_ms=t_lstsq * 1e3)
        rows.append(row)
        line = (f"| {name} | {100 * row['converged']:.1f}% | {row['iters_mean']:.1f} / {row['iters_median']:.0f} / "
                f"{row['iters_max']} | {row['residual_mean']:.1e} | {t_nnls * 1e3:.2f} | {t_lstsq * 1e3:.2f} |")
        lines.append(line)
        print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio-dir", default=os.path.join(os.path.dirname(__file__), "audio"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "nnls.md"))
    args = parser.parse_args()
    lines = ["# NNLS: quality on real recordings and speed\n",
             f"Machine: {machine()}, "
             f"librosa {librosa.__version__}. Defaults: max_iter={inverse_mel.functional.DEFAULT_MAX_ITER}, "
             f"tol={inverse_mel.functional.DEFAULT_TOL:g}.\n"]
    quality_rows, speed_rows, model_rows = [], [], []
    quality(args.audio_dir, lines, quality_rows)
    speed(args.audio_dir, lines, speed_rows, args.repeats)
    model_like(args.audio_dir, lines, model_rows, args.repeats)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(dict(quality=quality_rows, speed=speed_rows, model_like=model_rows), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
