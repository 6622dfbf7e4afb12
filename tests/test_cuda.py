"""Device parity: every op on CPU and CUDA (the CUDA cases skip cleanly without a GPU).

The CPU cases check what the CUDA kernels are built on: the shared filterbank formula
(csrc/fbanks_formula.h) against torchaudio's, and the ops' behaviour that CUDA must reproduce.
"""
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from conftest import ALL_CONFIGS, REFERENCE, WELL_CONDITIONED, rel_err, torchaudio_fbanks

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


def _corners(m):
    """The float32 corner frequencies and bin frequencies, exactly as melscale_fbanks makes them."""
    all_freqs = torch.linspace(0, m["sample_rate"] // 2, m["n_freqs"])
    m_min = F.hz_to_mel(m["f_min"], m["mel_scale"])
    m_max = F.hz_to_mel(m["f_max"], m["mel_scale"])
    f_pts = F.mel_to_hz(torch.linspace(m_min, m_max, m["n_mels"] + 2), m["mel_scale"])
    return f_pts, all_freqs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_fbanks_kernel_gives_torchaudios_bits(device, i):
    m = REFERENCE.meta[i]
    f_pts, all_freqs = _corners(m)
    fb = torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts.to(device), all_freqs.to(device), m["norm"] == "slaney")
    assert fb.device.type == device and fb.dtype == torch.float32
    expected = torchaudio_fbanks(m["n_freqs"], m["f_min"], m["f_max"], m["n_mels"], m["sample_rate"], m["norm"],
                                 m["mel_scale"])
    assert torch.equal(fb.cpu(), expected)  # torchaudio 2.11's formula, bit for bit
    assert float((expected - REFERENCE.array("fb", i)).abs().max()) <= 1e-6  # and its stored output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(F.melscale_fbanks(m["n_freqs"], m["f_min"], m["f_max"], m["n_mels"], m["sample_rate"],
                                             m["norm"], m["mel_scale"], device=device).cpu(), expected)


def test_fbanks_op_checks_and_opcheck():
    f_pts, all_freqs = _corners(REFERENCE.meta[0])
    with pytest.raises(RuntimeError, match=r"hz_points must have shape \(n_mels \+ 2,\)"):
        torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts[:2], all_freqs, False)
    with pytest.raises(RuntimeError, match="must be float32"):
        torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts.double(), all_freqs.double(), False)
    for norm in (False, True):
        torch.library.opcheck(torch.ops.inverse_mel.melscale_fbanks_triangles, (f_pts, all_freqs, norm))


# -- least squares on the device --------------------------------------------------------------
def _module(i, device, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return REFERENCE.module(i, **kwargs).to(device)


@needs_cuda
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_lstsq_cuda_equals_cpu(i):
    cpu, gpu = _module(i, "cpu"), _module(i, "cuda")
    melspec = REFERENCE.array("M", i)
    out_cpu = cpu(melspec)
    out_gpu = gpu(melspec.cuda())
    assert out_gpu.device.type == "cuda" and out_gpu.shape == out_cpu.shape
    assert rel_err(out_gpu.cpu(), out_cpu) <= 1e-5  # float32 round-off
    assert torch.equal(gpu.double()(melspec.double().cuda()).cpu() >= 0, torch.ones_like(out_cpu, dtype=torch.bool))


@needs_cuda
@pytest.mark.parametrize("i", WELL_CONDITIONED)
def test_reference_fixtures_on_cuda(i):
    out = _module(i, "cuda")(REFERENCE.array("M", i).cuda()).cpu()
    assert rel_err(out, REFERENCE.array("out_gelsd", i)) <= 1e-5


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_cuda_dtypes_shapes_and_strides(dtype):
    module = _module(2, "cuda")
    base = module.fb.T @ torch.rand(2, 3, 513, 40, device="cuda") ** 2
    out = module(base.to(dtype))
    assert out.dtype == dtype and out.shape == (2, 3, 513, 40)
    transposed = base.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert torch.equal(module(transposed), module(base.contiguous()))
    expanded = base[:1, :1].expand(4, 2, 80, 40)
    assert torch.equal(module(expanded), module(base[:1, :1]).expand(4, 2, 513, 40))


@needs_cuda
@pytest.mark.skipif(HAS_CUDA and torch.cuda.device_count() < 2, reason="needs a second CUDA device")
def test_non_default_device_index():
    module = _module(2, "cuda:1")
    melspec = REFERENCE.array("M", 2)
    out = module(melspec.to("cuda:1"))
    assert out.device == torch.device("cuda:1")
    assert rel_err(out.cpu(), _module(2, "cpu")(melspec)) <= 1e-5


@needs_cuda
def test_cuda_opcheck_gradcheck_and_compile():
    module = _module(2, "cuda")
    op = module.operator(torch.float64)
    melspec = (module.fb.double().T @ torch.rand(2, 513, 6, device="cuda", dtype=torch.float64)).requires_grad_()
    args = (melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    torch.library.opcheck(torch.ops.inverse_mel.lstsq_apply, args)
    torch.autograd.gradcheck(lambda m: torch.ops.inverse_mel.lstsq_apply(m, *args[1:]), (melspec,))
    m32 = melspec.detach().float()
    module32 = _module(2, "cuda")
    expected = module32(m32)
    assert torch.equal(torch.compile(module32, fullgraph=True)(m32), expected)
    compiled = torch.compile(module32, mode="reduce-overhead", fullgraph=True)
    for _ in range(3):  # warm-up, record, replay
        assert torch.equal(compiled(m32), expected)


@needs_cuda
def test_cuda_graph_capture_has_no_host_sync():
    module = _module(2, "cuda")
    static_in = module.fb.T @ torch.rand(4, 513, 100, device="cuda")
    expected = module(static_in)  # eager, also builds the operator cast
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        module(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    op = module.operator(torch.float32)
    with torch.cuda.graph(graph):
        static_out = torch.ops.inverse_mel.lstsq_apply(static_in, op.gram_pinv, op.tap_index, op.tap_weight,
                                                       op.gram_cholesky_band)
    graph.replay()
    assert torch.equal(static_out, expected)


@needs_cuda
def test_nnls_on_cuda_matches_cpu():
    cpu = _module(2, "cpu", solver="nnls")
    gpu = _module(2, "cuda", solver="nnls")
    melspec = cpu.fb.T @ torch.rand(2, 513, 30) ** 3
    assert rel_err(gpu(melspec.cuda()).cpu(), cpu(melspec)) <= 1e-3
