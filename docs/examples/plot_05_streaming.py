"""
Streaming, chunk by chunk
=========================

Features that arrive a few frames at a time (a streaming TTS model, a live preview) can be turned
into audio as they come. The mel inverse is per frame, so a chunk's spectrogram never depends on
the frames after it: inverting chunk by chunk gives the same spectrogram as inverting the whole.
The phase is what needs state across chunks; :class:`inverse_mel.MelToAudioStream` keeps that
state bounded and returns the samples that are final after each ``push`` (see
:doc:`/guides/streaming`).
"""
import matplotlib.pyplot as plt
import torch

import inverse_mel
from inverse_mel.demo import synthesize

preset = inverse_mel.get_preset("hifigan")
audio = synthesize(preset.sample_rate, seconds=1.5)
features = preset.features(audio)                  # (n_mels, frames)
chunk = 16                                          # frames per chunk
starts = list(range(0, features.shape[-1] - chunk // 2, chunk))   # the last chunk takes the tail

# %%
# The mel inverse, chunk by chunk, against the whole input at once.
inverse = preset.inverse_mel_scale(solver="nnls")
mel = preset.to_linear_mel(features)
whole = inverse(mel)
ends = starts[1:] + [features.shape[-1]]
pieces = torch.cat([inverse(mel[..., s:e]) for s, e in zip(starts, ends)], dim=-1)
print(f"{len(starts)} chunks of {chunk} frames; largest difference from the whole-input inverse: "
      f"{float((pieces - whole).abs().max()):.2e}")

# %%
# Audio as the chunks arrive: each ``push`` returns the samples that are final so far and
# ``flush`` the rest. Against it, each chunk's audio reconstructed on its own with
# :func:`inverse_mel.mel_to_audio` and the pieces joined, which is what a stream avoids: each piece
# starts from a fresh phase.
stream = inverse_mel.MelToAudioStream(preset)
outputs = [stream.push(features[..., s:e]) for s, e in zip(starts, ends)] + [stream.flush()]
label = f"MelToAudioStream (latency {stream.latency} samples)"
alone = torch.cat([inverse_mel.mel_to_audio(features[..., s:e], preset) for s, e in zip(starts, ends)])
streamed = torch.cat([o.reshape(-1) for o in outputs])
offline = inverse_mel.mel_to_audio(features, preset)
print(f"{label}: {streamed.numel()} samples from {len(outputs)} calls; offline: {offline.numel()} samples")

# %%
# Where the chunks meet. Without stream state the pieces meet with a jump in phase; the stream
# carries the phase across (its output is delayed by ``stream.latency`` samples only until
# ``flush``: the joined output lines up with the offline audio).
sizes = torch.tensor([o.numel() for o in outputs])
edges = torch.cumsum(sizes, 0)[:-1]
fig, axes = plt.subplots(2, 1, figsize=(9, 5), constrained_layout=True)
axes[0].plot(offline, lw=0.5, label="offline, whole input")
axes[0].plot(streamed, lw=0.5, alpha=0.8, label=label)
for e in edges:
    axes[0].axvline(int(e), color="k", lw=0.3)
axes[0].set_title("waveforms; the vertical lines are the ends of the pieces")
axes[0].legend(loc="upper right", fontsize=8)
edge = int(edges[len(edges) // 2])
window = slice(max(edge - 300, 0), edge + 300)
axes[1].plot(range(window.start, window.stop), streamed[window], lw=1, label=label)
axes[1].plot(range(window.start, window.stop), offline[window], lw=1, label="offline")
axes[1].plot(range(window.start, window.stop), alone[window], lw=1, alpha=0.7, label="each chunk alone")
axes[1].axvline(edge, color="k", lw=0.5)
axes[1].set_xlabel("sample")
axes[1].set_title("around one chunk edge")
axes[1].legend(fontsize=8)
plt.show()
