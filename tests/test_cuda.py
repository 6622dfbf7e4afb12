"""Device parity: what runs on the CPU gives the same answers on CUDA (the CUDA cases skip cleanly
without a GPU; tools/gpu_check.sh runs them on one).

The CPU cases check what the CUDA kernels are built on: the shared filterbank formula
(csrc/shared/fbanks_formula.h) against torchaudio's. The per-frame NNLS and least-squares
arithmetic the kernels run is held to the CPU kernels in test_per_frame.py; opcheck, gradcheck and
torch.compile on every device are in test_ops.py.
"""
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from helpers import (ALL_CONFIGS, NNLS_TOL, REFERENCE, STORED_FB_ATOL, WELL_CONDITIONED, rel_err, synthetic_audio,
                     torchaudio_fbanks)
from devices import DEVICES, needs_cuda, needs_two_cuda_devices

# (sample_rate, n_fft, hop, n_mels, f_max, norm, mel_scale): TTS, Whisper (rank-deficient), docs.
SPECTROGRAM_BANKS = {
    "tts": (22050, 1024, 256, 80, 8000.0, "slaney", "slaney"),
    "whisper": (16000, 400, 160, 80, 8000.0, "slaney", "slaney"),
    "docs": (16000, 1024, 256, 128, 8000.0, None, "htk"),
}


def _corners(m):
    """The float32 corner frequencies and bin frequencies, exactly as melscale_fbanks makes them."""
    all_freqs = torch.linspace(0, m["sample_rate"] // 2, m["n_freqs"])
    m_min = F.hz_to_mel(m["f_min"], m["mel_scale"])
    m_max = F.hz_to_mel(m["f_max"], m["mel_scale"])
    f_pts = F.mel_to_hz(torch.linspace(m_min, m_max, m["n_mels"] + 2), m["mel_scale"])
    return f_pts, all_freqs


def _module(i, device, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return REFERENCE.module(i, **kwargs).to(device)


def _bank_module(name, device, **kwargs):
    sr, n_fft, _, n_mels, f_max, norm, scale = SPECTROGRAM_BANKS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale, **kwargs).to(device)


def _mel_of_speechlike_audio(name, power=2, seconds=1.0, model_like=False):
    """The mel spectrogram of synthetic speech-like audio; model_like adds 30% log-normal noise, so no
    spectrum fits it exactly (like a TTS model's output)."""
    sr, n_fft, hop = SPECTROGRAM_BANKS[name][:3]
    audio = synthetic_audio(sr, seconds).double()
    spec = torch.stft(audio, n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      return_complex=True).abs().pow(power)
    mel = _bank_module(name, "cpu").fb.double().T @ spec
    if model_like:
        noise = torch.randn(mel.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        mel = mel * torch.exp(0.3 * noise)
    return mel


def assert_nnls_parity(cuda_result, cpu_result, tol=NNLS_TOL):
    """Same convergence flags; every converged frame's solution within tol of the CPU's (relative to
    the frame's norm); NaN where the CPU has NaN."""
    assert torch.equal(cuda_result.converged.cpu(), cpu_result.converged), "convergence flags differ"
    got, expected = cuda_result.specgram.cpu().double(), cpu_result.specgram.double()
    assert torch.equal(torch.isnan(got), torch.isnan(expected))
    scale = torch.linalg.vector_norm(torch.nan_to_num(expected), dim=-2, keepdim=True).clamp_min(1e-300)
    difference = torch.nan_to_num((got - expected).abs() / scale)
    assert float(difference.max()) <= tol, f"CUDA and CPU NNLS differ by {float(difference.max()):.3g} of a frame"


# -- filterbank ---------------------------------------------------------------------------------
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
    assert float((expected - REFERENCE.array("fb", i)).abs().max()) <= STORED_FB_ATOL  # and its stored output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert torch.equal(F.melscale_fbanks_on_device(m["n_freqs"], m["f_min"], m["f_max"], m["n_mels"],
                                                       m["sample_rate"], m["norm"], m["mel_scale"], device).cpu(),
                           expected)


@pytest.mark.parametrize("device", DEVICES)
def test_fbanks_op_checks_and_opcheck(device):
    f_pts, all_freqs = (x.to(device) for x in _corners(REFERENCE.meta[0]))
    with pytest.raises(RuntimeError, match=r"hz_points must have shape \(n_mels \+ 2,\)"):
        torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts[:2], all_freqs, False)
    with pytest.raises(RuntimeError, match="must be float32"):
        torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts.double(), all_freqs.double(), False)
    for norm in (False, True):
        torch.library.opcheck(torch.ops.inverse_mel.melscale_fbanks_triangles, (f_pts, all_freqs, norm))


# -- least squares --------------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_lstsq_cuda_equals_cpu_on_the_fixtures(i):
    cpu, gpu = _module(i, "cpu"), _module(i, "cuda")
    melspec = REFERENCE.array("M", i)
    out_cpu = cpu(melspec)
    out_gpu = gpu(melspec.cuda())
    assert out_gpu.device.type == "cuda" and out_gpu.shape == out_cpu.shape
    assert rel_err(out_gpu.cpu(), out_cpu) <= 1e-5  # float32 round-off
    assert rel_err(gpu.double()(melspec.double().cuda()).cpu(), cpu.double()(melspec.double())) <= 1e-12


@needs_cuda
@pytest.mark.parametrize("i", WELL_CONDITIONED)
def test_reference_fixtures_on_cuda(i):
    out = _module(i, "cuda")(REFERENCE.array("M", i).cuda()).cpu()
    assert rel_err(out, REFERENCE.array("out_gelsd", i)) <= 1e-5


@needs_cuda
@pytest.mark.parametrize("name", list(SPECTROGRAM_BANKS))
def test_lstsq_cuda_equals_cpu_on_spectrograms(name):
    mel = _mel_of_speechlike_audio(name, model_like=True).float()
    expected = _bank_module(name, "cpu")(mel)
    assert rel_err(_bank_module(name, "cuda")(mel.cuda()).cpu(), expected) <= 1e-5


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(SPECTROGRAM_BANKS))
def test_lstsq_cuda_equals_the_per_frame_code_bit_for_bit(name, dtype):
    # The kernel runs shared/lstsq_expand.h, as the CPU op _lstsq_apply_per_frame does: same bits,
    # whatever the batch, the strides and the kernel's tiling (77 frames: a ragged last tile).
    module = _bank_module(name, "cpu")
    op = module.operator(dtype)
    mel = _mel_of_speechlike_audio(name, model_like=True, seconds=0.5).to(dtype)[..., :77]
    mel = torch.stack([mel, mel.flip(-1)])
    expected = torch.ops.inverse_mel._lstsq_apply_per_frame(mel, op.gram_pinv, op.tap_index, op.tap_weight, None)
    on_gpu = [x.cuda() for x in (mel, op.gram_pinv, op.tap_index, op.tap_weight)]
    got = torch.ops.inverse_mel.lstsq_apply(*on_gpu, None)
    assert torch.equal(got.cpu(), expected)
    strided = on_gpu[0].transpose(-1, -2).contiguous().transpose(-1, -2)
    assert torch.equal(torch.ops.inverse_mel.lstsq_apply(strided, *on_gpu[1:], None), got)


# -- NNLS -----------------------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("model_like", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(SPECTROGRAM_BANKS))
def test_nnls_cuda_equals_cpu_on_spectrograms(name, dtype, model_like):
    mel = _mel_of_speechlike_audio(name, model_like=model_like).to(dtype)
    for fill in (True, False):
        cpu = _bank_module(name, "cpu", solver="nnls", band_edge_fill=fill)
        gpu = _bank_module(name, "cuda", solver="nnls", band_edge_fill=fill)
        cpu_result, gpu_result = cpu.forward_with_info(mel), gpu.forward_with_info(mel.cuda())
        assert gpu_result.specgram.device.type == "cuda" and gpu_result.specgram.dtype == dtype
        assert_nnls_parity(gpu_result, cpu_result)
        if not model_like:
            assert bool(gpu_result.converged.all())


@needs_cuda
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_nnls_cuda_equals_cpu_on_the_fixtures(i):
    melspec = REFERENCE.array("M", i)
    assert_nnls_parity(_module(i, "cuda", solver="nnls").forward_with_info(melspec.cuda()),
                       _module(i, "cpu", solver="nnls").forward_with_info(melspec))


@needs_cuda
def test_nnls_cuda_zero_nan_inf_and_subnormal_frames():
    mel = _mel_of_speechlike_audio("tts", seconds=0.3).float()
    mel[:, 0] = 0.0
    mel[3, 1] = float("nan")
    mel[:, 2] = mel[:, 2] * 1e-42 / float(mel[:, 2].abs().max())
    mel[5, 3] = float("inf")
    # On CUDA the module skips the NaN check (it would sync): a bad frame stays in its frame and is
    # reported as not converged. The CPU module would raise, so the CPU side is the op itself.
    gpu = _bank_module("tts", "cuda", solver="nnls").forward_with_info(mel.cuda())
    cpu_module = _bank_module("tts", "cpu", solver="nnls")
    op = cpu_module.operator(torch.float32)
    cpu = F.InverseMelResult(*torch.ops.inverse_mel.nnls(mel, op.tap_index, op.tap_weight, cpu_module.max_iter,
                                                         cpu_module.tol, cpu_module._band_edge_fill))
    assert_nnls_parity(gpu, cpu)
    converged = gpu.converged.cpu()
    assert not bool(converged[1]) and not bool(converged[3]) and bool(converged[0]) and bool(converged[2])
    assert bool((gpu.specgram[:, 0] == 0).all()) and bool(torch.isfinite(gpu.specgram[:, 2]).all())
    assert bool(torch.isfinite(gpu.specgram[:, 4:]).all())


@needs_cuda
def test_nnls_cuda_backward_equals_cpu():
    mel = _mel_of_speechlike_audio("docs", seconds=0.3)
    grads = []
    for device in ("cpu", "cuda"):
        module = _bank_module("docs", device, solver="nnls").double()
        melspec = mel.detach().to(device).requires_grad_()  # a leaf on each device
        weights = torch.linspace(0.5, 1.5, 513, dtype=torch.float64, device=device)[:, None]
        (module(melspec) * weights).sum().backward()
        grads.append(melspec.grad.cpu())
    assert rel_err(grads[1], grads[0]) <= 1e-6


@needs_cuda
def test_nnls_cuda_refuses_a_bank_it_cannot_hold():
    fb = torch.rand(33, 6, dtype=torch.float64, device="cuda")  # every bin touches all 6 filters
    with pytest.raises(ValueError, match=r'solver="nnls" on CUDA .* at most 4 adjacent filters'):
        F.inverse_mel_scale(torch.rand(6, 3, dtype=torch.float64, device="cuda"), fb, solver="nnls")


# -- dtypes, layouts, devices -----------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_cuda_dtypes_shapes_and_strides(solver, dtype):
    module = _module(2, "cuda", solver=solver)
    base = module.fb.T @ torch.rand(2, 3, 513, 40, device="cuda") ** 2
    out = module(base.to(dtype))
    assert out.dtype == dtype and out.shape == (2, 3, 513, 40) and bool(torch.isfinite(out).all())
    expected = _module(2, "cpu", solver=solver)(base.cpu().to(dtype))
    low_precision = dtype in (torch.float16, torch.bfloat16)
    tolerance = 1e-2 if low_precision else (1e-5 if solver == "lstsq" else 2 * NNLS_TOL)
    assert rel_err(out.cpu().double(), expected.double()) <= tolerance
    transposed = base.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert torch.equal(module(transposed), module(base.contiguous()))
    expanded = base[:1, :1].expand(4, 2, 80, 40)
    assert torch.equal(module(expanded), module(base[:1, :1]).expand(4, 2, 513, 40))


@needs_cuda
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_cuda_empty_inputs(solver):
    module = _module(2, "cuda", solver=solver)
    assert module(torch.rand(0, 80, 7, device="cuda")).shape == (0, 513, 7)
    result = module.forward_with_info(torch.rand(3, 80, 0, device="cuda"))
    assert result.specgram.shape == (3, 513, 0) and result.converged.shape == (3, 0)


@needs_two_cuda_devices
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_non_default_device_index(solver):
    module = _module(2, "cuda:1", solver=solver)
    melspec = REFERENCE.array("M", 2)
    with torch.cuda.device(0):  # the kernels must follow the input, not the current device
        out = module(melspec.to("cuda:1"))
    assert out.device == torch.device("cuda:1")
    assert rel_err(out.cpu(), _module(2, "cpu", solver=solver)(melspec)) <= (1e-5 if solver == "lstsq" else NNLS_TOL)


# -- graphs and host synchronisation ---------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_cuda_graph_capture(solver):
    module = _module(2, "cuda", solver=solver)
    static_in = module.fb.T @ torch.rand(4, 513, 100, device="cuda")
    expected = module(static_in)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):  # warm-up on a side stream, as torch.cuda.graphs asks
        module(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = module(static_in)
    graph.replay()
    assert torch.equal(static_out, expected)
    static_in.copy_(module.fb.T @ torch.rand(4, 513, 100, device="cuda"))
    graph.replay()  # new input, same graph
    assert torch.equal(static_out, module(static_in))


@needs_cuda
@pytest.mark.parametrize("with_info", [False, True])
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_cuda_forward_never_syncs_with_the_host(solver, with_info):
    module = _module(2, "cuda", solver=solver)
    melspec = module.fb.T @ torch.rand(4, 513, 100, device="cuda")
    module(melspec)  # first call: nothing left to build
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = module.forward_with_info(melspec) if with_info else module(melspec)
        half = module(melspec.half())
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    assert (out.specgram if with_info else out).shape == (4, 513, 100) and half.dtype == torch.float16


# -- phase reconstruction kernels: PGHI's integration and the mel projection ------------------------
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pghi_integration_cuda_equals_cpu(dtype):
    # The same header (csrc/shared/pghi_integrate.h) on both: identical phases, batch items included.
    gen = torch.Generator().manual_seed(0)
    magnitude = torch.rand(3, 65, 40, generator=gen, dtype=dtype) ** 4
    time_step, freq_step, init = (torch.randn(3, 65, 40, generator=gen, dtype=dtype) for _ in range(3))
    order = torch.argsort(magnitude.flatten(-2), dim=-1, descending=True, stable=True)
    args = (magnitude, time_step, freq_step, order, init)
    cpu = torch.ops.inverse_mel.pghi_integrate(*args, 1e-4)
    gpu = torch.ops.inverse_mel.pghi_integrate(*(x.cuda() for x in args), 1e-4)
    assert gpu.is_cuda
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)


@needs_cuda
def test_phase_gradient_init_cuda_equals_cpu():
    audio = synthetic_audio(22050, 0.5).double()
    window = torch.hann_window(1024, dtype=torch.float64)
    spec = torch.stft(audio, 1024, 256, window=window, return_complex=True).abs()
    # torch.stft rounds differently on the two devices: feed both the same magnitudes.
    cpu = F.phase_gradient_init(spec, window, 1024, 256, generator=torch.Generator().manual_seed(0))
    gpu = F.phase_gradient_init(spec.cuda(), window.cuda(), 1024, 256, generator=torch.Generator().manual_seed(0))
    assert gpu.is_cuda
    # The gradients come from torch ops (log, differences) that may round differently on the GPU;
    # the integrated phase then differs by round-off accumulated along the integration paths.
    loud = spec > 1e-3 * spec.max()
    difference = torch.angle(gpu.cpu()[loud] * cpu[loud].conj()).abs()
    assert float(difference.max()) < 1e-6


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mel_projection_cuda_equals_cpu(dtype):
    module = inverse_mel.get_preset("hifigan").inverse_mel_scale(solver="nnls")
    op = module.operator(dtype)
    gen = torch.Generator().manual_seed(0)
    mel = (module.fb.T @ torch.rand(2, 513, 30, generator=gen) ** 2).to(dtype)
    prior = torch.rand(2, 513, 30, generator=gen, dtype=dtype)
    cpu = torch.ops.inverse_mel.mel_projection(mel, prior, op.tap_index, op.tap_weight, 0.03, 3)
    gpu = torch.ops.inverse_mel.mel_projection(mel.cuda(), prior.cuda(), op.tap_index.cuda(), op.tap_weight.cuda(),
                                               0.03, 3)
    assert rel_err(gpu.cpu().double(), cpu.double()) <= (1e-5 if dtype == torch.float32 else 1e-12)


@needs_cuda
@pytest.mark.parametrize("method", ["pghi", "griffin_lim"])
def test_mel_to_audio_cuda_matches_cpu(method):
    preset = inverse_mel.get_preset("hifigan")
    features = preset.features(synthetic_audio(preset.sample_rate, 1.0))
    cpu = inverse_mel.mel_to_audio(features, preset, method=method)
    gpu = inverse_mel.mel_to_audio(features.cuda(), preset, method=method)
    assert gpu.is_cuda and gpu.shape == cpu.shape and bool(torch.isfinite(gpu).all())
    # Griffin-Lim amplifies round-off differences of cuFFT and pocketfft over its iterations, and the
    # random phase is drawn on each device: compare the audio's spectra, not its samples.
    spec = lambda x: torch.stft(x.cpu(), 1024, 256, window=torch.hann_window(1024), return_complex=True).abs()
    assert rel_err(spec(gpu), spec(cpu)) < 0.1
