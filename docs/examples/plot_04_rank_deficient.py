"""
A rank-deficient filterbank, handled
====================================

With many mel bands and few frequency bins, low filters cover the same one or two bins and become
(nearly) linearly dependent: the filterbank loses rank. torchaudio's own defaults do this,
``InverseMelScale(n_stft=201, n_mels=128, sample_rate=16000)``, and so does Whisper's front end.
``torch.linalg.lstsq`` with torchaudio's default driver ``gels`` then raises, or returns a
solution that mel noise blows up along the near-null directions. :class:`inverse_mel.InverseMelScale`
keeps the directions whose noise gain stays below :data:`inverse_mel.functional.MAX_NOISE_GAIN`,
warns once at construction, and never raises.
"""
import warnings

import matplotlib.pyplot as plt
import torch

import inverse_mel
from inverse_mel.demo import power_spectrogram, synthesize

# %%
# torchaudio's defaults: ``gels`` raises, inverse_mel warns and inverts.
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    default = inverse_mel.InverseMelScale(n_stft=201)
for w in caught:
    print("warning:", w.message)
melspec = inverse_mel.MelScale(n_stft=201)(torch.rand(201, 10))
try:
    torch.linalg.lstsq(default.fb.T, melspec, driver="gels")
except RuntimeError as error:
    print("gels raised:", str(error).splitlines()[0][:120], "...")
print("inverse_mel:", tuple(default(melspec).shape), f"(kept {default.rank} of {default.n_mels} directions)")

# %%
# Whisper's filterbank: 80 slaney mels on 201 bins. Its two lowest directions are nearly null.
# torchaudio's computation, ``relu(lstsq(fb.T, melspec).solution)``, against ours, on a clean mel and
# on the same mel with one percent of white noise added.
kw = dict(n_mels=80, sample_rate=16000, f_max=8000.0, norm="slaney", mel_scale="slaney")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    inverse = inverse_mel.InverseMelScale(n_stft=201, **kw)
mel = inverse_mel.MelScale(n_stft=201, **kw)
truth = power_spectrogram(synthesize(16000, seconds=1.0), 400, 160)
clean = mel(truth)
gen = torch.Generator().manual_seed(0)
noisy = (clean + 0.01 * clean.norm() / clean.numel() ** 0.5 * torch.randn(clean.shape, generator=gen)).clamp_min(0)

methods = {
    "torchaudio (gels, float32)": lambda m: torch.relu(torch.linalg.lstsq(inverse.fb.T, m, driver="gels").solution),
    "gelsd, float64": lambda m: torch.relu(
        torch.linalg.lstsq(inverse.fb.T.double(), m.double(), driver="gelsd").solution).float(),
    "inverse_mel": inverse,
}
outputs = {}
for name, f in methods.items():
    outputs[name] = (f(clean), f(noisy))
    change = float((outputs[name][1] - outputs[name][0]).norm() / outputs[name][0].norm())
    print(f"{name:>27}: 1% mel noise changes the output by {100 * change:.3g}%")

# %%
# The singular values of the filterbank with the cut, and one frame of each inverse of the noisy
# mel.
s = inverse.operator().singular_values.cpu()
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), constrained_layout=True)
axes[0].semilogy(s, ".", ms=4)
axes[0].axvline(inverse.rank - 0.5, color="C1", label=f"noise-gain rule keeps {inverse.rank}")
axes[0].set_xlabel("index")
axes[0].set_ylabel("singular value of fb")
axes[0].legend()
frame = truth.shape[-1] // 2
axes[1].semilogy(truth[:, frame].clamp_min(1e-8), label="truth", lw=1.5, color="k")
for name, (_, dirty) in outputs.items():
    axes[1].semilogy(dirty[:, frame].clamp_min(1e-8), label=name, lw=1)
axes[1].set_xlabel("frequency bin")
axes[1].set_ylabel("power")
axes[1].set_title(f"frame {frame}, mel with 1% noise")
axes[1].legend(fontsize=8)
plt.show()
