"""Fake (meta) kernels and autograd formulas for the ops in ``torch.ops.inverse_mel``.

The schemas and the device kernels are in C++ (``csrc/``); this module adds what
``torch.compile`` and ``torch.export`` (fake tensors) and autograd need, in one place. It imports
only the op library (``_ops``), never the user-facing API.
"""
from typing import Optional

import torch
from torch import Tensor

from ._ops import dense_from_taps


# ---------------------------------------------------------------------------
# lstsq_apply: out = relu(F @ (gram_pinv @ melspec)), F = ELL(tap_index, tap_weight)
# ---------------------------------------------------------------------------
@torch.library.register_fake("inverse_mel::lstsq_apply")
def _lstsq_apply_fake(
    melspec: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    gram_cholesky_band: Optional[Tensor] = None,
    check_finite: bool = False,
) -> Tensor:
    torch._check(melspec.dim() >= 2, lambda: "lstsq_apply: melspec must have shape (..., n_mels, time)")
    torch._check(
        melspec.dtype in (torch.float32, torch.float64),
        lambda: f"lstsq_apply: melspec must be float32 or float64, found {melspec.dtype}",
    )
    n_mels = melspec.shape[-2]
    torch._check(
        gram_pinv.dim() == 2 and gram_pinv.shape[0] == n_mels and gram_pinv.shape[1] == n_mels,
        lambda: f"lstsq_apply: expected gram_pinv of shape ({n_mels}, {n_mels}), found {tuple(gram_pinv.shape)}",
    )
    torch._check(
        tap_index.dim() == 2 and tap_index.shape == tap_weight.shape,
        lambda: "lstsq_apply: tap_index and tap_weight must both have shape (n_freqs, taps)",
    )
    torch._check(tap_index.dtype == torch.int64, lambda: "lstsq_apply: tap_index must be int64")
    torch._check(
        gram_pinv.dtype == melspec.dtype and tap_weight.dtype == melspec.dtype,
        lambda: "lstsq_apply: gram_pinv and tap_weight must have melspec's dtype",
    )
    if gram_cholesky_band is not None:
        torch._check(
            gram_cholesky_band.dim() == 2 and gram_cholesky_band.shape[1] == n_mels,
            lambda: f"lstsq_apply: gram_cholesky_band must have shape (bands, {n_mels})",
        )
        torch._check(
            gram_cholesky_band.dtype == melspec.dtype,
            lambda: "lstsq_apply: gram_cholesky_band must have melspec's dtype",
        )
    return melspec.new_empty((*melspec.shape[:-2], tap_index.shape[0], melspec.shape[-1]))


@torch.library.register_fake("inverse_mel::lstsq_apply_out")
def _lstsq_apply_out_fake(
    melspec: Tensor,
    gram_pinv: Tensor,
    tap_index: Tensor,
    tap_weight: Tensor,
    gram_cholesky_band: Optional[Tensor],
    out: Tensor,
) -> None:
    expected = _lstsq_apply_fake(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band)
    torch._check(
        out.shape == expected.shape and out.dtype == expected.dtype,
        lambda: f"lstsq_apply_out: out must have shape {tuple(expected.shape)} and dtype {expected.dtype}",
    )


def _lstsq_apply_setup_context(ctx, inputs, output) -> None:
    melspec, gram_pinv, tap_index, tap_weight, band = inputs[:5]
    ctx.banded = band is not None
    ctx.save_for_backward(melspec, gram_pinv, tap_index, tap_weight, output)


def _lstsq_apply_backward(ctx, grad_out: Tensor):
    melspec, gram_pinv, tap_index, tap_weight, out = ctx.saved_tensors
    n_mels = gram_pinv.shape[0]
    # d relu: pass the gradient where the output is positive (0 where clamped or NaN).
    grad_pre = grad_out * (out > 0).to(grad_out.dtype)  # (..., n_freqs, time)
    dense = dense_from_taps(tap_index, tap_weight, n_mels)  # (n_freqs, n_mels)
    grad_y = dense.mT @ grad_pre  # (..., n_mels, time)
    grad_melspec = grad_gram = grad_weight = None
    # With a Cholesky band the forward solves with it; gram_pinv (its exact inverse) then only
    # serves the backward, so neither has a gradient of its own.
    if ctx.banded and (ctx.needs_input_grad[1] or ctx.needs_input_grad[4]):
        raise NotImplementedError(
            "lstsq_apply: gradients with respect to gram_pinv / gram_cholesky_band are only "
            "defined without gram_cholesky_band; pass gram_cholesky_band=None"
        )
    if ctx.needs_input_grad[0]:
        grad_melspec = gram_pinv.mT @ grad_y
    if ctx.needs_input_grad[1]:
        grad_gram = (grad_y @ melspec.mT).reshape(-1, n_mels, n_mels).sum(0)
    if ctx.needs_input_grad[3]:
        y = gram_pinv @ melspec  # (..., n_mels, time)
        grad_dense = (grad_pre @ y.mT).reshape(-1, tap_index.shape[0], n_mels).sum(0)
        # out = relu(sum_j w_j * y[idx_j]) for every tap, padding included, so the gather is exact.
        grad_weight = torch.gather(grad_dense, 1, tap_index)
    return grad_melspec, grad_gram, None, grad_weight, None, None


torch.library.register_autograd(
    "inverse_mel::lstsq_apply", _lstsq_apply_backward, setup_context=_lstsq_apply_setup_context
)


# ---------------------------------------------------------------------------
# nnls: per-frame min ||fb^T s - m|| s.t. s >= 0 -> (solution, iterations, residual, converged)
# ---------------------------------------------------------------------------
@torch.library.register_fake("inverse_mel::nnls")
def _nnls_fake(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill=None):
    torch._check(melspec.dim() >= 2, lambda: "nnls: melspec must have shape (..., n_mels, time)")
    torch._check(
        melspec.dtype in (torch.float32, torch.float64),
        lambda: f"nnls: melspec must be float32 or float64, found {melspec.dtype}",
    )
    torch._check(
        tap_index.dim() == 2 and tap_index.shape == tap_weight.shape and tap_index.dtype == torch.int64,
        lambda: "nnls: tap_index (int64) and tap_weight must both have shape (n_freqs, taps)",
    )
    torch._check(tap_weight.dtype == melspec.dtype, lambda: "nnls: tap_weight must have melspec's dtype")
    if band_edge_fill is not None:
        torch._check(
            band_edge_fill.dim() == 1 and band_edge_fill.shape[0] == tap_index.shape[0]
            and band_edge_fill.dtype == torch.int64,
            lambda: "nnls: band_edge_fill must be an int64 tensor of shape (n_freqs,)",
        )
    solution = melspec.new_empty((*melspec.shape[:-2], tap_index.shape[0], melspec.shape[-1]))
    frames = (*melspec.shape[:-2], melspec.shape[-1])
    return (
        solution,
        melspec.new_empty(frames, dtype=torch.int32),
        melspec.new_empty(frames),
        melspec.new_empty(frames, dtype=torch.bool),
    )


@torch.library.register_fake("inverse_mel::nnls_backward")
def _nnls_backward_fake(grad, solution, tap_index, tap_weight, n_mels):
    torch._check(grad.shape == solution.shape, lambda: "nnls_backward: grad and solution must have the same shape")
    return grad.new_empty((*grad.shape[:-2], n_mels, grad.shape[-1]))


def _nnls_setup_context(ctx, inputs, output) -> None:
    melspec, tap_index, tap_weight, _max_iter, _tol, band_edge_fill = inputs
    solution, iterations, residual, converged = output
    ctx.mark_non_differentiable(iterations, residual, converged)
    ctx.n_mels = melspec.shape[-2]
    ctx.save_for_backward(solution, tap_index, tap_weight, band_edge_fill)


def _nnls_backward(ctx, grad_solution, _grad_iterations, _grad_residual, _grad_converged):
    # Implicit differentiation on the free set F = {s > 0}: locally s_F = pinv(A_F) m, so
    # dL/dm = pinv(A_F)^T dL/ds_F = (A_F A_F^T)^+ A_F dL/ds_F (the minimum-norm solution where
    # the NNLS solution is not unique). Gradients reach melspec only.
    solution, tap_index, tap_weight, band_edge_fill = ctx.saved_tensors
    grad_melspec = None
    if ctx.needs_input_grad[0]:
        grad = grad_solution.contiguous()
        if band_edge_fill is not None:
            # A filled bin is a copy of its source bin: its gradient belongs to the source.
            filled = (band_edge_fill >= 0).nonzero().squeeze(1)
            grad = grad.index_add(-2, band_edge_fill[filled].to(grad.device),
                                  grad.index_select(-2, filled.to(grad.device)))
        grad_melspec = torch.ops.inverse_mel.nnls_backward(grad, solution, tap_index, tap_weight, ctx.n_mels)
    return grad_melspec, None, None, None, None, None


torch.library.register_autograd("inverse_mel::nnls", _nnls_backward, setup_context=_nnls_setup_context)


def _nnls_double_backward(ctx, *grads):
    raise NotImplementedError(
        "inverse_mel: double backward through the NNLS solver is not supported "
        "(the first derivative is piecewise constant in the free set)"
    )


def _nnls_backward_setup_context(ctx, inputs, output) -> None:
    pass


torch.library.register_autograd(
    "inverse_mel::nnls_backward", _nnls_double_backward, setup_context=_nnls_backward_setup_context
)


# ---------------------------------------------------------------------------
# _nnls_per_frame, _nnls_backward_per_frame, _lstsq_apply_per_frame: the CUDA kernels' per-frame
# code built for the CPU (tests only). Same shapes as the ops they mirror; no autograd.
# ---------------------------------------------------------------------------
torch.library.register_fake("inverse_mel::_nnls_per_frame")(_nnls_fake)
torch.library.register_fake("inverse_mel::_nnls_backward_per_frame")(_nnls_backward_fake)
torch.library.register_fake("inverse_mel::_lstsq_apply_per_frame")(_lstsq_apply_fake)


# ---------------------------------------------------------------------------
# pghi_integrate: phase-gradient heap integration -> phase (..., n_freqs, frames). Not
# differentiable (no autograd: the integration order is discrete).
# ---------------------------------------------------------------------------
@torch.library.register_fake("inverse_mel::pghi_integrate")
def _pghi_integrate_fake(magnitude, time_step, freq_step, order, init_phase, relative_tol):
    torch._check(magnitude.dim() >= 2, lambda: "pghi_integrate: magnitude must have shape (..., n_freqs, frames)")
    torch._check(
        time_step.shape == magnitude.shape and freq_step.shape == magnitude.shape and init_phase.shape == magnitude.shape,
        lambda: "pghi_integrate: time_step, freq_step and init_phase must match magnitude",
    )
    torch._check(order.dtype == torch.int64, lambda: "pghi_integrate: order must be int64")
    return magnitude.new_empty(magnitude.shape)  # contiguous, as the kernels return it


# ---------------------------------------------------------------------------
# mel_projection: the maximum-entropy projection of a prior onto the mel -> (..., n_freqs, time).
# Not differentiable (mel-consistent Griffin-Lim's magnitude step).
# ---------------------------------------------------------------------------
@torch.library.register_fake("inverse_mel::mel_projection")
def _mel_projection_fake(melspec, prior, tap_index, tap_weight, penalty, steps):
    torch._check(melspec.dim() >= 2, lambda: "mel_projection: melspec must have shape (..., n_mels, time)")
    torch._check(
        prior.shape == (*melspec.shape[:-2], tap_index.shape[0], melspec.shape[-1]),
        lambda: "mel_projection: prior must have shape (..., n_freqs, time)",
    )
    torch._check(prior.dtype == melspec.dtype, lambda: "mel_projection: prior must have melspec's dtype")
    return prior.new_empty(prior.shape)  # contiguous, as the kernels return it


# ---------------------------------------------------------------------------
# melscale_fbanks_triangles: (n_mels + 2,), (n_freqs,) -> (n_freqs, n_mels)
# ---------------------------------------------------------------------------
@torch.library.register_fake("inverse_mel::melscale_fbanks_triangles")
def _melscale_fbanks_triangles_fake(hz_points: Tensor, all_freqs: Tensor, slaney_norm: bool) -> Tensor:
    torch._check(hz_points.dim() == 1 and hz_points.shape[0] >= 3, lambda: "hz_points must have shape (n_mels + 2,)")
    torch._check(all_freqs.dim() == 1, lambda: "all_freqs must have shape (n_freqs,)")
    torch._check(hz_points.dtype == torch.float32 and all_freqs.dtype == torch.float32, lambda: "float32 inputs")
    return hz_points.new_empty((all_freqs.shape[0], hz_points.shape[0] - 2))
