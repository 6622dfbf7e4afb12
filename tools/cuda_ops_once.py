"""Every CUDA op once, on small inputs (for compute-sanitizer in tools/gpu_check.sh): the filterbank,
least squares (banded and dense banks), NNLS forward and backward (float32/64, with band_edge_fill), the
mel projection and PGHI's integration. Exits non-zero if an output is not finite."""
import sys
import warnings

import torch

import inverse_mel

warnings.simplefilter("ignore")
device = "cuda"
ops = torch.ops.inverse_mel
failures = []
for n_stft, n_mels, sample_rate, kwargs in ((513, 80, 22050, dict(f_max=8000.0, norm="slaney", mel_scale="slaney")),
                                            (201, 80, 16000, dict(norm="slaney", mel_scale="slaney"))):
    for solver in ("lstsq", "nnls"):
        for dtype in (torch.float32, torch.float64):
            module = inverse_mel.InverseMelScale(n_stft, n_mels, sample_rate, solver=solver, **kwargs).to(device, dtype)
            mel = (module.fb.T @ torch.rand(2, n_stft, 37, device=device, dtype=dtype) ** 2).requires_grad_()
            out = module(mel)
            out.sum().backward()
            if not (torch.isfinite(out).all() and torch.isfinite(mel.grad).all()):
                failures.append(f"{solver} {dtype} {n_stft}x{n_mels}")
module = inverse_mel.get_preset("hifigan").inverse_mel_scale(solver="nnls")
op = module.operator(torch.float32)
mel = (module.fb.T @ torch.rand(2, 513, 9) ** 2).to(device)
projected = ops.mel_projection(mel, torch.rand(2, 513, 9, device=device), op.tap_index.to(device),
                               op.tap_weight.to(device), 0.03, 3)
magnitude = torch.rand(2, 65, 20, device=device) ** 4
order = torch.argsort(magnitude.flatten(-2), dim=-1, descending=True)
phase = ops.pghi_integrate(magnitude, torch.randn_like(magnitude), torch.randn_like(magnitude), order,
                           torch.rand_like(magnitude), 1e-4)
for name, x in (("mel_projection", projected), ("pghi_integrate", phase)):
    if not torch.isfinite(x).all():
        failures.append(name)
torch.cuda.synchronize()
print("cuda_ops_once:", "FAILED " + ", ".join(failures) if failures else "every op ran, outputs finite")
sys.exit(1 if failures else 0)
