"""torch.ops.inverse_mel.*: opcheck, gradcheck, torch.compile, on every device (tests/devices.py)."""
import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from helpers import REFERENCE
from devices import DEVICES, cpu_and_cuda


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


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck(device, dtype):
    for args in sample_inputs(device, dtype=dtype, requires_grad=True):
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)
    for args in sample_inputs(device, dtype=dtype, requires_grad=False):
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_with_all_float_inputs_requiring_grad(device):
    melspec, gram, idx, w, _ = sample_inputs(device)[1]
    args = (melspec.requires_grad_(), gram.clone().requires_grad_(), idx, w.clone().requires_grad_())
    torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply.default, args)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_out_variant(device, dtype):
    for melspec, gram, idx, w, band in sample_inputs(device, dtype=dtype):
        out = melspec.new_empty((*melspec.shape[:-2], idx.shape[0], melspec.shape[-1]))
        torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply_out.default, (melspec, gram, idx, w, band, out))
        out.fill_(-1.0)
        assert torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, out) is None
        assert torch.equal(out, torch.ops.inverse_mel.lstsq_apply(melspec, gram, idx, w, band))


@pytest.mark.parametrize("device", DEVICES)
def test_out_variant_rejects_bad_outputs(device):
    melspec, gram, idx, w, band = sample_inputs(device, dtype=torch.float32)[0]
    good_shape = (idx.shape[0], melspec.shape[-1])
    backend = "CUDA" if device == "cuda" else "CPU"
    with pytest.raises(RuntimeError, match="out must have shape"):
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, torch.empty(3, 3, device=device))
    with pytest.raises(RuntimeError, match=f"out must be a {backend} tensor of melspec's dtype"):
        wrong = torch.empty(good_shape, dtype=torch.float64, device=device)
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, wrong)
    with pytest.raises(RuntimeError, match="out must be contiguous"):
        out = torch.empty(good_shape[::-1], device=device).T
        torch.ops.inverse_mel.lstsq_apply_out(melspec, gram, idx, w, band, out)


@pytest.mark.parametrize("device", DEVICES)
def test_banded_solve_equals_dense_solve(device):
    for melspec, gram, idx, w, band in sample_inputs(device):
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


@pytest.mark.parametrize("device", cpu_and_cuda(slow_on_cpu=True))  # CPU: 25-56 s of finite differences
def test_gradcheck_melspec(device):
    for melspec, gram, idx, w, band in sample_inputs(device, requires_grad=True):
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


@pytest.mark.parametrize("device", cpu_and_cuda(slow_on_cpu=True))  # CPU: 25-56 s of finite differences
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_through_module(device, seed):
    # NNLS through a module is underdetermined (201 bins from 40 mels): its gradient is checked on
    # unique problems in the NNLS tests below, where finite differences are meaningful.
    module = inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000).double().to(device)
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(2, 201, 6, generator=gen, dtype=torch.float64) + 0.5
    melspec = (module.fb.T.cpu() @ spec).to(device).requires_grad_()
    assert torch.autograd.gradcheck(module, (melspec,))


@pytest.mark.parametrize("device", DEVICES)
def test_backward_through_float32_module(device):
    module = inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000).to(device)
    melspec = torch.rand(3, 40, 8, device=device, requires_grad=True)
    module(melspec).sum().backward()
    assert melspec.grad is not None and melspec.grad.shape == melspec.shape
    half = torch.rand(3, 40, 8, device=device).half().requires_grad_()
    module(half).sum().backward()
    assert half.grad.dtype == torch.float16


def _tts(device, **kwargs):
    return inverse_mel.InverseMelScale(513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney",
                                       **kwargs).to(device)


@pytest.mark.parametrize("device", cpu_and_cuda(slow_on_cpu=True))  # CPU: 3 s of compilation
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_torch_compile_fullgraph_matches_eager(device, solver):
    module = _tts(device, solver=solver)
    compiled = torch.compile(module, fullgraph=True)
    melspec = module.fb.T @ (torch.rand(2, 513, 20, generator=torch.Generator().manual_seed(0)) ** 3).to(device)
    torch.testing.assert_close(compiled(melspec), module(melspec), rtol=0, atol=0)
    # another batch size reuses or recompiles without a graph break
    torch.testing.assert_close(compiled(melspec[:1]), module(melspec[:1]), rtol=0, atol=0)


@pytest.mark.parametrize("device", cpu_and_cuda())
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_torch_compile_reduce_overhead(device, solver):
    if device == "cpu":
        pytest.skip("mode='reduce-overhead' records CUDA graphs: CUDA only")
    module = _tts(device, solver=solver)
    melspec = module.fb.T @ (torch.rand(2, 513, 20, generator=torch.Generator().manual_seed(0)) ** 3).to(device)
    expected = module(melspec)
    compiled = torch.compile(module, mode="reduce-overhead", fullgraph=True)
    for _ in range(3):  # warm-up, record, replay
        torch.testing.assert_close(compiled(melspec), expected, rtol=0, atol=0)


@pytest.mark.parametrize("device", cpu_and_cuda(slow_on_cpu=True))  # CPU: 3 s of compilation
def test_torch_compile_functional(device):
    fb = REFERENCE.array("fb", 4).to(device)
    op = F.lstsq_operator(fb).to(torch.float32)

    @torch.compile(fullgraph=True)
    def invert(melspec):
        return torch.ops.inverse_mel.lstsq_apply(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band) * 2.0

    melspec = torch.rand(3, 40, 9, device=device)
    torch.testing.assert_close(invert(melspec), 2.0 * inverse_mel.inverse_mel_scale(melspec, fb))


# -- NNLS ---------------------------------------------------------------------------------------
def banded_unique_problem(seed, device="cpu"):
    """More mels than bins (full column rank), each bin in 3 adjacent filters (a banded Gram, as the
    CUDA kernels need), and the exact mel of a strictly positive spectrum: the NNLS solution is
    unique and smooth in the mel spectrogram."""
    gen = torch.Generator().manual_seed(seed)
    n_freqs, n_mels = 8, 16
    fb = torch.zeros(n_freqs, n_mels, dtype=torch.float64)
    for f in range(n_freqs):
        for k in (2 * f - 1, 2 * f, 2 * f + 1):
            if 0 <= k < n_mels:
                fb[f, k] = 0.5 + torch.rand((), generator=gen, dtype=torch.float64)
    truth = torch.rand(2, n_freqs, 3, generator=gen, dtype=torch.float64) + 0.5
    return fb.to(device), (fb.T @ truth).to(device)


def nnls_samples(device, dtype=torch.float64, requires_grad=False):
    samples = []
    for fb, shape in [(REFERENCE.array("fb", 4), (40, 7)), (REFERENCE.array("fb", 10), (2, 40, 5)),
                      (banded_unique_problem(0)[0], (16, 3))]:
        op = F.lstsq_operator(fb).to(dtype)
        gen = torch.Generator().manual_seed(0)
        melspec = (fb.T.double() @ torch.rand(*shape[:-2], fb.shape[0], shape[-1], generator=gen, dtype=torch.float64)).to(dtype)
        samples.append((melspec.to(device).requires_grad_(requires_grad), op.tap_index.to(device),
                        op.tap_weight.to(device), 20, 1e-4))
    return samples


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_nnls(device, dtype):
    for args in nnls_samples(device, dtype, requires_grad=True) + nnls_samples(device, dtype):
        torch.library.opcheck(torch.ops.inverse_mel.nnls.default, args)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck_nnls_backward(device):
    for melspec, idx, w, _it, _tol in nnls_samples(device):
        solution = torch.ops.inverse_mel.nnls(melspec, idx, w, 200, 1e-4, None)[0]
        grad = torch.randn(solution.shape, dtype=solution.dtype, generator=torch.Generator().manual_seed(0)).to(device)
        torch.library.opcheck(torch.ops.inverse_mel.nnls_backward.default, (grad, solution, idx, w, melspec.shape[-2]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_nnls_on_unique_problems(device, seed):
    fb, melspec = banded_unique_problem(seed, device)
    fn = lambda m: F.inverse_mel_scale(m, fb, solver="nnls", tol=1e-12, max_iter=100)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (melspec.requires_grad_(),))
    nc = melspec.detach().transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()
    assert torch.autograd.gradcheck(fn, (nc,))


@pytest.mark.parametrize("device", DEVICES)
def test_double_backward_through_nnls_is_refused(device):
    fb, melspec = banded_unique_problem(0, device)
    melspec.requires_grad_()
    out = F.inverse_mel_scale(melspec, fb, solver="nnls")
    (grad,) = torch.autograd.grad(out.sum(), melspec, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward through the NNLS solver is not supported"):
        grad.sum().backward()
