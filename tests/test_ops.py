"""torch.ops.inverse_mel.*: opcheck, gradcheck, torch.compile."""
import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from conftest import REFERENCE


def sample_inputs(device="cpu", dtype=torch.float64, requires_grad=False):
    """(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band) samples: sparse with a banded
    Cholesky solve, sparse rank-deficient (dense solve), a dense custom bank, batched shapes."""
    gen = torch.Generator().manual_seed(0)
    samples = []
    fbs = [
        REFERENCE.array("fb", 4),  # 201 x 40 htk, full rank
        REFERENCE.array("fb", 10),  # 129 x 40 slaney norm, rank 38
        torch.rand(33, 6, generator=gen),  # dense custom bank
    ]
    shapes = [(40, 7), (2, 3, 40, 5), (6, 4)]
    for fb, shape in zip(fbs, shapes):
        op = F.lstsq_operator(fb).to(dtype)
        # Mel inputs built from a positive spectrum, so no pre-ReLU output sits at a kink.
        spec = torch.rand(*shape[:-2], fb.shape[0], shape[-1], generator=gen, dtype=torch.float64) + 0.5
        melspec = (fb.T.double() @ spec).to(dtype)
        samples.append(
            (
                melspec.to(device).requires_grad_(requires_grad),
                op.gram_pinv.to(device),
                op.tap_index.to(device),
                op.tap_weight.to(device),
                None if op.gram_cholesky_band is None else op.gram_cholesky_band.to(device),
            )
        )
    assert samples[0][4] is not None and samples[1][4] is None  # both solve paths are covered
    return samples


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck(dtype):
    for args in sample_inputs(dtype=dtype, requires_grad=True):
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)
    for args in sample_inputs(dtype=dtype, requires_grad=False):
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)


def test_opcheck_with_all_float_inputs_requiring_grad():
    melspec, gram, idx, w, _ = sample_inputs()[1]
    args = (melspec.requires_grad_(), gram.clone().requires_grad_(), idx, w.clone().requires_grad_())
    torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_out_variant(dtype):
    for melspec, gram, idx, w, band in sample_inputs(dtype=dtype):
        out = melspec.new_empty((*melspec.shape[:-2], idx.shape[0], melspec.shape[-1]))
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply_out.default, (melspec, gram, idx, w, band, out))
        out.fill_(-1.0)
        assert torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, out) is None
        assert torch.equal(out, torch.ops.inverse_mel.lstsq_apply(melspec, gram, idx, w, band))


def test_out_variant_rejects_bad_outputs():
    melspec, gram, idx, w, band = sample_inputs(dtype=torch.float32)[0]
    good_shape = (idx.shape[0], melspec.shape[-1])
    with pytest.raises(RuntimeError, match="out must have shape"):
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, torch.empty(3, 3))
    with pytest.raises(RuntimeError, match="out must be a CPU tensor of melspec's dtype"):
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, torch.empty(good_shape, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="out must be contiguous"):
        out = torch.empty(good_shape[::-1]).T
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, out)


def test_banded_solve_equals_dense_solve():
    for melspec, gram, idx, w, band in sample_inputs():
        if band is None:
            continue
        banded = torch.ops.inverse_mel.lstsq_apply(melspec, gram, idx, w, band)
        dense = torch.ops.inverse_mel.lstsq_apply(melspec, gram, idx, w, None)
        torch.testing.assert_close(banded, dense, rtol=1e-10, atol=1e-10 * float(dense.abs().max()))


def test_no_gradient_for_the_operator_on_the_banded_path():
    melspec, gram, idx, w, band = sample_inputs()[0]
    out = torch.ops.inverse_mel.lstsq_apply(melspec, gram.clone().requires_grad_(), idx, w, band)
    with pytest.raises(NotImplementedError, match="pass gram_cholesky_band=None"):
        out.sum().backward()


def test_gradcheck_melspec():
    for melspec, gram, idx, w, band in sample_inputs(requires_grad=True):
        fn = lambda m: torch.ops.inverse_mel.lstsq_apply(m, gram, idx, w, band)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (melspec,))
        # non-contiguous input
        nc = melspec.detach().transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()
        assert torch.autograd.gradcheck(fn, (nc,))


def test_gradcheck_operator_fields():
    # Positive gram, weights and input keep every pre-ReLU output away from the kink at 0
    # (an empty bin's output is exactly 0, where only a subgradient exists).
    gen = torch.Generator().manual_seed(0)
    n_mels, n_freqs = 5, 9
    gram = (torch.eye(n_mels, dtype=torch.float64) + 0.1).requires_grad_()
    idx = torch.randint(0, n_mels, (n_freqs, 3), generator=gen)
    w = (torch.rand(n_freqs, 3, generator=gen, dtype=torch.float64) + 0.1)
    w[0, 2] = 0.0  # a padding tap still gets its gradient
    w.requires_grad_()
    melspec = torch.rand(2, n_mels, 4, generator=gen, dtype=torch.float64) + 0.1
    fn = lambda g, wt: torch.ops.inverse_mel.lstsq_apply(melspec, g, idx, wt)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (gram, w))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_through_module(seed):
    module = inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000).double()
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(2, 201, 6, generator=gen, dtype=torch.float64) + 0.5
    melspec = (module.fb.T @ spec).requires_grad_()
    assert torch.autograd.gradcheck(module, (melspec,))


def test_backward_through_float32_module():
    module = inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000)
    melspec = torch.rand(3, 40, 8, requires_grad=True)
    module(melspec).sum().backward()
    assert melspec.grad is not None and melspec.grad.shape == melspec.shape
    half = torch.rand(3, 40, 8).half().requires_grad_()
    module(half).sum().backward()
    assert half.grad.dtype == torch.float16


def test_torch_compile_fullgraph_matches_eager():
    module = inverse_mel.InverseMelScale(513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney")
    compiled = torch.compile(module, fullgraph=True)
    melspec = module.fb.T @ torch.rand(2, 513, 20, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(compiled(melspec), module(melspec), rtol=0, atol=0)
    # another batch size reuses or recompiles without a graph break
    torch.testing.assert_close(compiled(melspec[:1]), module(melspec[:1]), rtol=0, atol=0)


def test_torch_compile_functional():
    fb = REFERENCE.array("fb", 4)
    op = F.lstsq_operator(fb).to(torch.float32)

    @torch.compile(fullgraph=True)
    def invert(melspec):
        return torch.ops.inverse_mel.lstsq_apply(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band) * 2.0

    melspec = torch.rand(3, 40, 9)
    torch.testing.assert_close(invert(melspec), 2.0 * inverse_mel.inverse_mel_scale(melspec, fb))
