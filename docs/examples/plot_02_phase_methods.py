"""
Phase methods compared
======================

A mel spectrogram has no phase. :func:`inverse_mel.mel_to_audio` inverts the mel, then
reconstructs a phase with one of the methods of :data:`inverse_mel.constants.METHODS`:

- ``"griffin_lim"``: fast Griffin-Lim from a random phase, the classic chain of librosa and
  torchaudio;
- ``"pghi"``: phase-gradient heap integration (:func:`inverse_mel.functional.phase_gradient_init`)
  as the start, then the same Griffin-Lim iterations;
- ``"mcgl"``: ``"pghi"``, then mel-consistent Griffin-Lim
  (:func:`inverse_mel.functional.mel_consistent_griffin_lim`), which keeps the spectrogram
  consistent with the mel instead of with one fixed estimate.

Each runs here on the same features; the measured trade-offs on real recordings are in
:doc:`/guides/choosing`.
"""
import time

import matplotlib.pyplot as plt
import torch

import inverse_mel
from inverse_mel import metrics
from inverse_mel.constants import METHODS
from inverse_mel.demo import synthesize

preset = inverse_mel.get_preset("hifigan")
audio = synthesize(preset.sample_rate, seconds=1.5)
features = preset.features(audio)                 # (n_mels, frames): HiFi-GAN's ln-mel
original = preset.spectrogram(audio)

results = {}
for method in METHODS:
    kwargs = {"mcgl_iter": 16} if method == "mcgl" else {}  # fewer than the default, to keep the page quick
    start = time.perf_counter()
    waveform = inverse_mel.mel_to_audio(features, preset, method=method, **kwargs)
    seconds = time.perf_counter() - start
    again = preset.spectrogram(waveform)
    n = min(again.shape[-1], original.shape[-1])
    results[method] = (waveform, again, metrics.spectral_convergence(original[..., :n], again[..., :n]), seconds)
    print(f"{method:>12}: audio spectral convergence {results[method][2]:.3f} in {seconds:.2f} s")

# %%
# The re-analysed spectrogram of each output, beside the original's. The random start of
# ``"griffin_lim"`` leaves smeared, phasey partials that the other two avoid.


def db(x):
    return 20 * torch.log10(x.clamp_min(1e-5))


top = float(db(original).max())
fig, axes = plt.subplots(1, len(results) + 1, figsize=(3.2 * (len(results) + 1), 3.4), sharey=True,
                         constrained_layout=True)
panels = [("original", original)] + [(f"{m} (SC {r[2]:.3f})", r[1]) for m, r in results.items()]
for ax, (title, spec) in zip(axes, panels):
    ax.imshow(db(spec[:200]), origin="lower", aspect="auto", vmin=top - 80, vmax=top, cmap="magma")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("frame")
axes[0].set_ylabel("bin")

# %%
# Quality against time on this clip.
fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
for method, (_, _, sc, seconds) in results.items():
    ax.scatter(seconds, sc)
    ax.annotate(method, (seconds, sc), textcoords="offset points", xytext=(5, 5))
ax.set_xlabel("seconds (this machine)")
ax.set_ylabel("audio spectral convergence")
plt.show()
