"""Mel to audio for a 10 s clip on CPU: time and quality, side by side in one run, same input.

Settings: 22.05 kHz, n_fft 1024, hop 256, 80 slaney mels, f_max 8000, magnitude mel (the
HiFi-GAN/TTS front end, centred frames so that librosa analyses the same way), 32 Griffin-Lim
iterations with momentum 0.99 for every method.

Methods:
  ours (default)     inverse_mel.mel_to_audio(...): NNLS inverse + PGHI + Griffin-Lim (method="pghi")
  ours (mcgl)        method="mcgl": + 100 mel-consistent iterations (the best-quality setting)
  ours (nnls)        method="griffin_lim": NNLS inverse + Griffin-Lim from a random phase (the classic chain)
  ours (lstsq)       the same with the least-squares inverse
  torchaudio chain   torchaudio's InverseMelScale method written inline (relu(torch.linalg.lstsq(fb.T[None], M,
                     driver="gels").solution), the filterbank factored on every call) + the same Griffin-Lim
                     (torch ops; the Griffin-Lim is the control, so the difference is the mel inverse)
  librosa            librosa.feature.inverse.mel_to_audio(M, ..., n_iter=32) (NNLS by L-BFGS-B + its Griffin-Lim)

Quality, against the original clip's magnitude spectrogram |S|: spectral convergence of the
reconstructed audio's magnitude spectrogram (phase-blind), its log-spectral distance (dB, 80 dB
floor), and the same two for the linear spectrogram estimate before Griffin-Lim.

Input: 10 s of the recorded speech of Debian's alsa-utils (run benchmarks/fetch_audio.sh), else a
synthesized signal (said in the output). Needs librosa and soundfile.

Usage: python benchmarks/bench_mel_to_audio.py [--repeats 5] [--out benchmarks/results/mel_to_audio.md]
"""
import argparse
import os
import statistics
import time
import warnings

import librosa
import numpy as np
import soundfile
import torch

import inverse_mel
from inverse_mel import metrics
from inverse_mel import functional as F
from inverse_mel.demo import synthesize
from common import machine, median_time, write_results

SR, N_FFT, HOP, N_MELS, F_MAX, N_ITER, MOMENTUM = 22050, 1024, 256, 80, 8000.0, 32, 0.99
PRESET = inverse_mel.get_preset("hifigan").replace(name="tts-centred", center=True, magnitude_eps=0.0)
SPEECH = ["Front_Center.wav", "Front_Left.wav", "Front_Right.wav", "Rear_Center.wav", "Rear_Left.wav",
          "Rear_Right.wav", "Side_Left.wav", "Side_Right.wav"]


def ten_seconds():
    audio_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "audio")
    pieces = []
    for name in SPEECH:
        path = os.path.join(audio_dir, name)
        if not os.path.exists(path):
            return synthesize(SR, seconds=10.0).numpy().astype(np.float64), "synthesized signal (no recordings found)"
        x, sr = soundfile.read(path, dtype="float64", always_2d=True)
        pieces.append(librosa.resample(x.mean(axis=1), orig_sr=sr, target_sr=SR))
    audio = np.concatenate(pieces)[: 10 * SR]
    return audio, "alsa-utils recorded speech, first 10 s"


def magnitude(audio):
    x = torch.as_tensor(audio, dtype=torch.float32)
    return torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True).abs()


def quality(reference_mag, estimate_mag):
    """(spectral convergence, log-spectral distance in dB), the CLI's definitions, in float64."""
    n = min(reference_mag.shape[-1], estimate_mag.shape[-1])
    a, b = reference_mag[..., :n].double(), estimate_mag[..., :n].double()
    return metrics.spectral_convergence(a, b), metrics.log_spectral_distance(a.square(), b.square())


def torchaudio_chain(mel, fb):
    # torchaudio.transforms.InverseMelScale.forward, then the same Griffin-Lim as ours.
    specgram = torch.relu(torch.linalg.lstsq(fb.T[None], mel[None], driver="gels").solution)[0]
    generator = torch.Generator().manual_seed(0)
    waveform = F.griffin_lim(specgram, None, N_FFT, HOP, N_FFT, 1.0, N_ITER, MOMENTUM,
                             PRESET.frames_to_samples(mel.shape[-1]), True, generator=generator)
    return waveform, specgram


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "mel_to_audio.md"))
    args = parser.parse_args()
    audio, source = ten_seconds()
    reference = magnitude(audio)
    mel = PRESET.mel_spectrogram(torch.as_tensor(audio, dtype=torch.float32))  # (80, frames), magnitude
    fb = PRESET.fbanks()
    mel_np = mel.double().numpy()

    methods = {
        "ours (nnls)": lambda: inverse_mel.mel_to_audio(mel, PRESET, features=False, solver="nnls", n_iter=N_ITER,
                                                        momentum=MOMENTUM, method="griffin_lim", return_specgram=True),
        "ours (default: nnls + pghi)": lambda: inverse_mel.mel_to_audio(mel, PRESET, features=False, n_iter=N_ITER,
                                                                        momentum=MOMENTUM, return_specgram=True),
        "ours (nnls + mcgl)": lambda: inverse_mel.mel_to_audio(mel, PRESET, features=False, n_iter=N_ITER,
                                                               momentum=MOMENTUM, method="mcgl", return_specgram=True),
        "ours (lstsq)": lambda: inverse_mel.mel_to_audio(mel, PRESET, features=False, solver="lstsq", n_iter=N_ITER,
                                                         momentum=MOMENTUM, method="griffin_lim", return_specgram=True),
        "torchaudio chain": lambda: torchaudio_chain(mel, fb),
        "librosa": lambda: (
            torch.from_numpy(librosa.feature.inverse.mel_to_audio(
                mel_np, sr=SR, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT, power=1.0, n_iter=N_ITER,
                fmax=F_MAX, norm="slaney", htk=False, length=len(audio))),  # its Griffin-Lim: momentum 0.99
            torch.from_numpy(librosa.feature.inverse.mel_to_stft(
                mel_np, sr=SR, n_fft=N_FFT, power=1.0, fmax=F_MAX, norm="slaney", htk=False)),
        ),
    }
    # The mel inverse alone (the step the methods differ in; the Griffin-Lim dominates the chain).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nnls_module = PRESET.inverse_mel_scale(solver="nnls")
        lstsq_module = PRESET.inverse_mel_scale(solver="lstsq")
    inverse_only = {
        "ours (nnls)": lambda: nnls_module(mel),
        "ours (default: nnls + pghi)": lambda: nnls_module(mel),
        "ours (nnls + mcgl)": lambda: nnls_module(mel),
        "ours (lstsq)": lambda: lstsq_module(mel),
        "torchaudio chain": lambda: torch.relu(torch.linalg.lstsq(fb.T[None], mel[None], driver="gels").solution),
        "librosa": lambda: librosa.feature.inverse.mel_to_stft(mel_np, sr=SR, n_fft=N_FFT, power=1.0, fmax=F_MAX,
                                                               norm="slaney", htk=False),
    }
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # librosa first, on its own: the method timed right after its ~3 s of NumPy work runs slower
        # (the NNLS chain: 0.173-0.205 s there, 0.142-0.158 s otherwise). Rotating a round-robin that
        # includes librosa does not help: rotation keeps the cyclic order, so the NNLS chain followed
        # librosa in every round, which is where its "unexplained" 35-65 ms surplus came from.
        chain_times = {name: [] for name in methods}
        slow = "librosa"
        methods[slow]()  # warm-up
        for r in range(args.repeats):
            t0 = time.perf_counter()
            methods[slow]()
            chain_times[slow].append(time.perf_counter() - t0)
        # Then the others round-robin, so drifts in machine load (shared machine) hit them alike.
        order = [(name, fn) for name, fn in methods.items() if name != slow]
        for name, fn in order:
            fn()  # warm-up
        for r in range(args.repeats):
            for name, fn in order[r % len(order):] + order[: r % len(order)]:
                t0 = time.perf_counter()
                fn()
                chain_times[name].append(time.perf_counter() - t0)
        for name, fn in methods.items():
            waveform, specgram = fn()
            seconds = statistics.median(chain_times[name])
            inverse_seconds = median_time(inverse_only[name], max(args.repeats, 20), warmup=2)
            sc_audio, lsd_audio = quality(reference, magnitude(waveform.float()))
            sc_spec, lsd_spec = quality(reference, specgram.float())
            rows.append(dict(method=name, seconds=seconds, inverse_seconds=inverse_seconds, sc_audio=sc_audio, lsd_audio=lsd_audio, sc_spec=sc_spec,
                             lsd_spec=lsd_spec))
    ours = rows[0]["seconds"]
    lines = [
        "# Mel to audio, 10 s clip, CPU\n",
        f"Machine: {machine()}. Input: {source}; 22.05 kHz, n_fft 1024, hop 256, 80 slaney mels, f_max 8 kHz, "
        f"magnitude mel; {N_ITER} Griffin-Lim iterations, momentum {MOMENTUM}, for every method. All methods in one "
        f"run on the same input; times are medians of {args.repeats} runs, librosa's first on their own, then the others round-robin (the mel inverse alone: of at least 20).\n",
        "| method | mel to audio s | its time / ours (nnls) | mel inverse alone ms | SC audio | LSD audio dB | SC spectrogram | LSD spectrogram dB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['seconds']:.3f} | {r['seconds'] / ours:.2f}x | {1e3 * r['inverse_seconds']:.2f} | {r['sc_audio']:.3f} | "
                     f"{r['lsd_audio']:.2f} | {r['sc_spec']:.3f} | {r['lsd_spec']:.2f} |")
    lines.append("\nSC = spectral convergence against the original |S| (lower is better); 'SC audio' re-analyses the "
                 "reconstructed waveform, 'SC spectrogram' is the linear estimate before Griffin-Lim.")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, dict(machine=machine(), source=source, rows=rows))


if __name__ == "__main__":
    main()
