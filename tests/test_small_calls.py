"""The modules' eager CPU fast path (InverseMelScale._eager_cpu_forward, MelScale's fb-check cache)
gives what the general path gives, and the same errors."""
import pytest
import torch

import inverse_mel

CONFIG = dict(n_stft=513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney")


def _mel(module, *shape, dtype=torch.float32, seed=0):
    spec = torch.rand(*shape[:-2], module.fb.shape[0], shape[-1], generator=torch.Generator().manual_seed(seed))
    return (module.fb.T @ spec).to(dtype)


@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_path_equals_the_general_path(solver, dtype):
    module = inverse_mel.InverseMelScale(**CONFIG, solver=solver)
    mel = _mel(module, 2, 80, 37, dtype=dtype)
    fast = module._eager_cpu_forward(mel)
    assert fast is not None  # the call this test is about took the fast path
    general = module.forward_with_info(mel).specgram  # the general path (checks, then the op)
    assert torch.equal(fast, general)
    assert torch.equal(module(mel), general)
    # A strided view and an expanded batch: the kernels read any strides.
    strided = mel.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert torch.equal(module(strided), general)


def test_fast_path_is_not_taken_where_the_general_path_must_run():
    module = inverse_mel.InverseMelScale(**CONFIG)
    mel = _mel(module, 80, 10)
    assert module._eager_cpu_forward(mel.requires_grad_()) is None  # a gradient is asked for
    assert module._eager_cpu_forward(mel.detach().half()) is None  # computed in float32 by the general path
    assert module._eager_cpu_forward(mel.detach()[:40]) is None  # the wrong n_mels: the general path's error
    with torch.no_grad():
        module.fb.mul_(1.0)  # an in-place edit: the operator must be rebuilt first
    assert module._eager_cpu_forward(mel.detach()) is None
    module(mel.detach())  # rebuilds
    assert module._eager_cpu_forward(mel.detach()) is not None


@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_nan_input_raises_the_same_error_on_the_fast_path(solver):
    module = inverse_mel.InverseMelScale(**CONFIG, solver=solver)
    mel = _mel(module, 2, 80, 30)
    mel[1, 7, 3] = float("nan")
    with pytest.raises(ValueError, match=r"melspec contains NaN or Inf \(first at index \(1, 7, 3\) of shape "
                                         r"\(2, 80, 30\)\); clean it first"):
        module(mel)
    mel[1, 7, 3] = float("-inf")  # a -Inf would vanish in the ReLU: the kernel still reports it
    with pytest.raises(ValueError, match="melspec contains NaN or Inf"):
        module(mel)


def test_lstsq_op_check_finite_is_opt_in():
    module = inverse_mel.InverseMelScale(**CONFIG)
    op = module.operator(torch.float32)
    mel = _mel(module, 80, 20)
    mel[3, 4] = float("inf")
    args = (mel, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    out = torch.ops.inverse_mel.lstsq_apply(*args)  # the op itself propagates, as before
    assert not torch.isfinite(out).all()
    with pytest.raises(RuntimeError, match="lstsq_apply: melspec contains NaN or Inf"):
        torch.ops.inverse_mel.lstsq_apply(*args, check_finite=True)
    clean = _mel(module, 80, 20)
    assert torch.equal(torch.ops.inverse_mel.lstsq_apply(clean, *args[1:], check_finite=True),
                       torch.ops.inverse_mel.lstsq_apply(clean, *args[1:]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lstsq_op_check_finite_sees_every_non_finite_and_no_finite_value(dtype):
    """The kernel's check reads exponent bits: NaN of either sign and +-Inf anywhere in the tile
    (the last value of a tile whose size is no multiple of a vector too), and never the extreme
    finite values (largest, subnormal, -0)."""
    module = inverse_mel.InverseMelScale(**CONFIG)
    op = module.operator(dtype)
    operands = (op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    finfo = torch.finfo(dtype)
    extreme = _mel(module, 80, 13).to(dtype)
    extreme[0, 0], extreme[1, 1], extreme[2, 2] = finfo.max, finfo.tiny / 4, -0.0
    torch.ops.inverse_mel.lstsq_apply(extreme, *operands, check_finite=True)  # does not raise
    for value in (float("nan"), -float("nan"), float("inf"), -float("inf")):
        for row, col in ((0, 0), (79, 12), (40, 6)):
            mel = _mel(module, 80, 13).to(dtype)
            mel[row, col] = value
            with pytest.raises(RuntimeError, match="melspec contains NaN or Inf"):
                torch.ops.inverse_mel.lstsq_apply(mel, *operands, check_finite=True)


def test_melscale_checks_fb_again_after_it_changes():
    module = inverse_mel.MelScale(80, 22050, f_max=8000.0, n_stft=513)
    spec = torch.rand(513, 12)
    expected = (module.fb.T @ spec)
    torch.testing.assert_close(module(spec), expected)
    with torch.no_grad():
        module.fb[5, 5] = float("nan")
    with pytest.raises(ValueError, match="fb contains NaN or Inf"):
        module(spec)
    module.fb = torch.ones(513, 80)  # a new tensor assigned
    torch.testing.assert_close(module(spec), torch.ones(513, 80).T @ spec)
