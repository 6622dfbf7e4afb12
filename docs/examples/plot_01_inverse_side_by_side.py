"""
Inverses side by side: least squares, NNLS and the truth
========================================================

A mel spectrogram keeps far fewer numbers per frame than the linear spectrogram it came from, so
every inverse has to choose a spectrum among the many that fit. torchaudio's
``InverseMelScale`` takes the minimum-norm least-squares solution and clips it at zero
(``solver="lstsq"``, the default here too); ``solver="nnls"`` solves the non-negative problem and,
among the spectra that fit the mel exactly, returns the one closest to the mel envelope
(:doc:`/guides/nnls`). Here both invert HiFi-GAN's mel of the test signal.
"""
import matplotlib.pyplot as plt
import torch

import inverse_mel
from inverse_mel import metrics
from inverse_mel.demo import synthesize

preset = inverse_mel.get_preset("hifigan")
audio = synthesize(preset.sample_rate, seconds=2.0)
truth = preset.spectrogram(audio)                 # (n_freqs, frames), magnitude (preset.power == 1)
melspec = preset.mel_spectrogram(audio)           # (n_mels, frames) = fb.T @ truth

estimates = {}
for solver in ("lstsq", "nnls"):
    inverse = preset.inverse_mel_scale(solver=solver)
    estimates[solver] = inverse(melspec)          # (n_freqs, frames), non-negative

# %%
# How close each comes, and how well it fits the mel it was given (the mel residual): the NNLS
# solution fits the mel to its tolerance, the clipped least-squares one does not.
fb = preset.fbanks()
for solver, estimate in estimates.items():
    sc = metrics.spectral_convergence(truth, estimate)
    lsd = metrics.log_spectral_distance(truth.square(), estimate.square())
    residual = float((fb.T @ estimate - melspec).norm() / melspec.norm())
    print(f"{solver:>5}: spectral convergence {sc:.3f}, log-spectral distance {lsd:.2f} dB, "
          f"mel residual {residual:.1e}")

# %%
# The spectrograms in dB. The least-squares solution is a smooth curve through each frame's mel
# bands, negative between harmonics and clipped to zero there (the dark gaps); NNLS keeps the
# quiet bins quiet but positive.


def db(x):
    return 20 * torch.log10(x.clamp_min(1e-5))


panels = [("truth |STFT|", truth), ("lstsq + ReLU (torchaudio's)", estimates["lstsq"]),
          ("NNLS", estimates["nnls"])]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True, constrained_layout=True)
top = float(db(truth).max())
for ax, (title, spec) in zip(axes, panels):
    im = ax.imshow(db(spec), origin="lower", aspect="auto", vmin=top - 80, vmax=top, cmap="magma",
                   extent=(0, audio.numel() / preset.sample_rate, 0, preset.sample_rate / 2000))
    ax.set_title(title)
    ax.set_xlabel("time (s)")
axes[0].set_ylabel("frequency (kHz)")
fig.colorbar(im, ax=axes, label="dB")

# %%
# One frame, to see where the two differ.
t = truth.shape[-1] // 3
freqs = torch.arange(truth.shape[0]) * preset.sample_rate / preset.n_fft
fig, ax = plt.subplots(figsize=(8, 3.2), constrained_layout=True)
for title, spec in panels:
    ax.plot(freqs / 1000, db(spec[:, t]), label=title, lw=1)
ax.set_xlim(0, 8)
ax.set_ylim(top - 90, top + 5)
ax.set_xlabel("frequency (kHz)")
ax.set_ylabel("dB")
ax.set_title(f"frame {t}")
ax.legend()
plt.show()
