"""
Gradients through the inverse
=============================

Both solvers are differentiable with respect to the mel spectrogram: least squares through its
linear solve, NNLS through the implicit derivative on the solution's free set (its own compiled
op, :doc:`/guides/nnls`). So the inverse can sit inside a training loss, for example a loss on the
linear spectrogram of a model that predicts mels. Here a mel spectrogram is fitted, from a flat
start, so that its NNLS inverse matches a target linear spectrogram. ``torch.autograd.gradcheck``
first confirms the least-squares gradient on a small problem. (NNLS's gradient is the
minimum-norm derivative on the free set: exact where the solution is unique, which a mel inverse's
usually is not, so finite differences of the chosen solution need not match it.)
"""
import matplotlib.pyplot as plt
import torch

import inverse_mel
from inverse_mel.demo import power_spectrogram, synthesize

n_fft, sample_rate, n_mels = 512, 16000, 40
kw = dict(n_mels=n_mels, sample_rate=sample_rate, f_max=8000.0, norm="slaney", mel_scale="slaney")
to_mel = inverse_mel.MelScale(n_stft=n_fft // 2 + 1, **kw)
inverse = inverse_mel.InverseMelScale(n_stft=n_fft // 2 + 1, solver="nnls", **kw)

# %%
# The analytic gradient of the least-squares inverse against finite differences, in float64, on
# four frames (before the ReLU, which has no derivative at 0).
lstsq = inverse_mel.InverseMelScale(n_stft=n_fft // 2 + 1, **kw).double()
fb = lstsq.fb
small = (fb.T @ (torch.rand(n_fft // 2 + 1, 4, dtype=torch.float64) + 0.1)).requires_grad_()
print("gradcheck:", torch.autograd.gradcheck(lambda m: lstsq(m), (small,), eps=1e-6, atol=1e-6))

# %%
# Fit a mel spectrogram by gradient descent through the inverse. The loss is on log magnitudes of
# the linear spectrogram; the parameter is the log of the mel.
target = power_spectrogram(synthesize(sample_rate, seconds=0.5), n_fft, n_fft // 4).sqrt()
log_mel = torch.full((n_mels, target.shape[-1]), float(to_mel(target).mean().log()), requires_grad=True)
optimizer = torch.optim.Adam([log_mel], lr=0.1)
losses = []
for step in range(60):
    estimate = inverse(log_mel.exp())
    loss = (torch.log1p(estimate) - torch.log1p(target)).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(float(loss.detach()))
print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}")

# %%
# The loss, the gradient of the first step, and the fitted inverse beside the target.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), constrained_layout=True)
axes[0].semilogy(losses)
axes[0].set_xlabel("step")
axes[0].set_title("loss")
log_mel0 = torch.full_like(log_mel, float(to_mel(target).mean().log()), requires_grad=True)
(torch.log1p(inverse(log_mel0.exp())) - torch.log1p(target)).square().mean().backward()
limit = float(log_mel0.grad.abs().max())
im = axes[1].imshow(log_mel0.grad, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit)
axes[1].set_title("d loss / d log-mel, first step")
axes[1].set_xlabel("frame")
axes[1].set_ylabel("mel band")
fig.colorbar(im, ax=axes[1])
with torch.no_grad():
    fitted = inverse(log_mel.exp())
both = torch.cat([torch.log1p(target), torch.log1p(fitted)], dim=-1)
axes[2].imshow(both, origin="lower", aspect="auto", cmap="magma")
axes[2].axvline(target.shape[-1] - 0.5, color="w")
axes[2].set_title("target | fitted inverse (log1p)")
axes[2].set_xlabel("frame")
plt.show()
