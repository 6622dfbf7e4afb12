"""
Round trip through a preset
===========================

A :class:`inverse_mel.Preset` holds a model's whole front end: STFT sizes, filterbank, magnitude
or power, and the log scaling of its features. Here the test signal goes through Whisper's front
end (:meth:`~inverse_mel.Preset.features`), back to audio with :func:`inverse_mel.mel_to_audio`,
and through the front end again, so the features can be compared with the ones we started from.
:func:`inverse_mel.presets.detect` recognises the convention from the features alone.
"""
import matplotlib.pyplot as plt

import inverse_mel
from inverse_mel.demo import synthesize
from inverse_mel.presets import detect

preset = inverse_mel.get_preset("whisper")
audio = synthesize(preset.sample_rate, seconds=2.0)
features = preset.features(audio)                     # (n_mels, frames): Whisper's normalised log10-mel
print(preset.name, tuple(features.shape), preset.describe_scale())

ranking = detect(features, sample_rate=preset.sample_rate)
print("detected:", ranking.best, "-", ranking.reason)

waveform = inverse_mel.mel_to_audio(features, preset)  # (samples,) at preset.sample_rate
again = preset.features(waveform)
n = min(features.shape[-1], again.shape[-1])
error = (again[..., :n] - features[..., :n]).abs()
print(f"mean absolute feature difference after the round trip: {float(error.mean()):.3f}")

# %%
# The features before and after, and where they differ.
fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True, constrained_layout=True)
for ax, (title, x, cmap) in zip(axes, [("features", features[..., :n], "viridis"),
                                       ("features of the reconstruction", again[..., :n], "viridis"),
                                       ("absolute difference", error, "Greys")]):
    im = ax.imshow(x, origin="lower", aspect="auto", cmap=cmap)
    ax.set_title(title)
    ax.set_ylabel("mel band")
    fig.colorbar(im, ax=ax)
axes[-1].set_xlabel("frame")

# %%
# The waveforms: the phase is new, so the samples differ while the spectrogram matches.
fig, ax = plt.subplots(figsize=(8, 2.6), constrained_layout=True)
seconds = 0.02
k = int(seconds * preset.sample_rate)
start = audio.numel() // 2
ax.plot(audio[start:start + k], label="original", lw=1)
ax.plot(waveform[start:start + k], label="reconstruction", lw=1)
ax.set_xlabel("sample")
ax.legend()
plt.show()
