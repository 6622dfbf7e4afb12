"""The per-frame NNLS solver and least-squares expansion that the CUDA kernels run
(csrc/shared/nnls_frame.h, lstsq_expand.h), built for the CPU as the ops _nnls_per_frame,
_nnls_backward_per_frame and _lstsq_apply_per_frame, held to the CPU kernels: so the GPU's logic is
tested on every CI run, without a GPU.

CPU-only by design, and not parametrised over devices: these tests exercise the CPU build of the
GPU's per-frame code. The CUDA kernels themselves are held to the same per-frame ops, bit for bit
or to NNLS_TOL, in test_cuda.py."""
import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import _validation as V
from inverse_mel import functional as F
from inverse_mel.functional.inverse import gram_bands
from helpers import ALL_CONFIGS, REFERENCE, synthetic_audio

OPS = torch.ops.inverse_mel
TOL = 1e-4
PRESET_BANKS = {
    "tts": (22050, 1024, 256, 80, 8000.0, "slaney", "slaney"),
    "whisper": (16000, 400, 160, 80, 8000.0, "slaney", "slaney"),  # rank-deficient
    "docs": (16000, 1024, 256, 128, 8000.0, None, "htk"),
}


def _module(cfg):
    sr, n_fft, hop, n_mels, f_max, norm, scale = cfg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return inverse_mel.InverseMelScale(n_fft // 2 + 1, n_mels, sr, 0.0, f_max, norm, scale, solver="nnls")


def _spectrogram(cfg, power, seconds=1.2):
    sr, n_fft, hop = cfg[:3]
    audio = synthetic_audio(sr, seconds)
    return torch.stft(audio.double(), n_fft, hop, window=torch.hann_window(n_fft, dtype=torch.float64),
                      return_complex=True).abs().pow(power)


def assert_same_solution(melspec, tap_index, tap_weight, band_edge_fill=None, max_iter=200, tol=TOL):
    """The per-frame solver gives the batch solver's very bits: solution, iterations, residual and
    convergence flags (both run the same arithmetic in the same order, and every decision comes
    from shared/nnls_rules.h; tools/per_frame_vs_batch.py measures it at every vector width)."""
    cpu = OPS.nnls(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill)
    frame = OPS._nnls_per_frame(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill)
    for name, a, b in zip(("solution", "iterations", "residual", "converged"), frame, cpu):
        same = (a == b) | (a.isnan() & b.isnan()) if a.is_floating_point() else a == b
        if not bool(same.all()):
            worst = float(((a.double() - b.double()).abs() / b.double().abs().clamp_min(1e-300)).nan_to_num(0).max())
            raise AssertionError(f"{name} differs in {int((~same).sum())} of {same.numel()} values "
                                 f"(largest relative difference {worst:.3g})")
    return cpu, frame


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_per_frame_equals_cpu_on_the_fixtures(i, dtype):
    module = REFERENCE.module(i, solver="nnls")
    op = module.operator(dtype)
    melspec = REFERENCE.array("M", i).to(dtype)
    noisy = melspec * torch.exp(0.3 * torch.randn(melspec.shape, generator=torch.Generator().manual_seed(i))).to(dtype)
    for mel in (melspec, noisy):
        assert_same_solution(mel, op.tap_index, op.tap_weight, module._band_edge_fill)


@pytest.mark.parametrize("power", [1, 2])
@pytest.mark.parametrize("fill", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(PRESET_BANKS))
def test_per_frame_equals_cpu_on_spectrograms(name, dtype, fill, power):
    cfg = PRESET_BANKS[name]
    module = _module(cfg)
    op = module.operator(dtype)
    mel = module.fb.double().T @ _spectrogram(cfg, power)
    model_like = mel * torch.exp(0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    band_edge_fill = module._band_edge_fill if fill else None
    for melspec in (mel, model_like):
        cpu, frame = assert_same_solution(melspec.to(dtype), op.tap_index, op.tap_weight, band_edge_fill)
        assert bool(frame[3].all())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_nan_and_subnormal_frames(dtype):
    module = _module(PRESET_BANKS["tts"])
    op = module.operator(dtype)
    mel = (module.fb.double().T @ _spectrogram(PRESET_BANKS["tts"], 2, seconds=0.3)).to(dtype)
    mel[:, 0] = 0.0
    mel[3, 1] = float("nan")
    mel[:, 2] = mel[:, 2] * (1e-42 if dtype == torch.float32 else 1e-315) / float(mel[:, 2].abs().max())
    mel[5, 3] = float("inf")
    cpu, frame = assert_same_solution(mel, op.tap_index, op.tap_weight, module._band_edge_fill)
    assert bool((frame[0][:, 0] == 0).all()) and not bool(frame[3][1]) and not bool(frame[3][3])
    assert bool(frame[3][2]) and bool(torch.isfinite(frame[0][:, 2]).all())


def test_rank_deficient_bank_with_empty_filters():
    i = next(i for i in ALL_CONFIGS if REFERENCE.meta[i]["zero_filters"] > 0)
    module = REFERENCE.module(i, solver="nnls")
    op = module.operator(torch.float64)
    spec = torch.rand(2, REFERENCE.meta[i]["n_freqs"], 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert_same_solution(module.fb.double().T @ spec ** 2, op.tap_index, op.tap_weight)


@pytest.mark.parametrize("max_iter, tol", [(0, 1e-4), (3, 1e-4), (200, 1e-8)])
def test_stopping_settings(max_iter, tol):
    module = _module(PRESET_BANKS["whisper"])
    op = module.operator(torch.float64)
    mel = module.fb.double().T @ _spectrogram(PRESET_BANKS["whisper"], 2, seconds=0.3)
    mel = mel * torch.exp(0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    assert_same_solution(mel, op.tap_index, op.tap_weight, None, max_iter, tol)


@pytest.mark.parametrize("model_like", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(PRESET_BANKS))
def test_backward_per_frame_equals_cpu(name, dtype, model_like):
    # The backward is written twice (cpu/nnls/backward.cpp over SIMD lanes, FrameNnlsBackward in
    # shared/nnls_frame.h); this holds the two copies bit-identical.
    cfg = PRESET_BANKS[name]
    module = _module(cfg)
    op = module.operator(dtype)
    mel = module.fb.double().T @ _spectrogram(cfg, 2, seconds=0.3)
    if model_like:
        mel = mel * torch.exp(0.3 * torch.randn(mel.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    mel = mel.to(dtype)
    solution = OPS.nnls(mel, op.tap_index, op.tap_weight, 200, TOL, None)[0]
    grad = torch.randn(solution.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    cpu = OPS.nnls_backward(grad, solution, op.tap_index, op.tap_weight, mel.shape[-2])
    frame = OPS._nnls_backward_per_frame(grad, solution, op.tap_index, op.tap_weight, mel.shape[-2])
    assert torch.equal(frame, cpu), f"differs by {float((frame - cpu).abs().max()):.3g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_lstsq_expansion_per_frame_equals_cpu(i, dtype):
    module = REFERENCE.module(i)
    op = module.operator(dtype)
    melspec = REFERENCE.array("M", i).to(dtype)
    expected = OPS.lstsq_apply(melspec, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    got = OPS._lstsq_apply_per_frame(melspec, op.gram_pinv, op.tap_index, op.tap_weight, None)
    eps = torch.finfo(dtype).eps
    cond = float(op.singular_values[0] / op.singular_values[op.rank - 1])
    assert float((got - expected).norm() / expected.norm()) <= 64 * eps * cond ** 2


def test_per_frame_refuses_what_the_gpu_cannot_hold():
    gen = torch.Generator().manual_seed(0)
    fb = torch.rand(33, 6, generator=gen, dtype=torch.float64)  # dense: every bin in all 6 filters
    op = F.lstsq_operator(fb)
    with pytest.raises(RuntimeError, match="at most 512 mels whose bins touch at most 4 adjacent filters"):
        OPS._nnls_per_frame(torch.rand(6, 3, dtype=torch.float64), op.tap_index, op.tap_weight, 20, 1e-4, None)


def test_per_frame_on_empty_input():
    module = _module(PRESET_BANKS["tts"])
    op = module.operator(torch.float32)
    out = OPS._nnls_per_frame(torch.rand(0, 80, 5), op.tap_index, op.tap_weight, 20, 1e-4, None)
    assert out[0].shape == (0, 513, 5) and out[1].shape == (0, 5)


def test_per_frame_ops_pass_opcheck():
    module = _module(PRESET_BANKS["whisper"])
    op = module.operator(torch.float64)
    mel = module.fb.double().T @ _spectrogram(PRESET_BANKS["whisper"], 2, seconds=0.05)
    fake_only = ("test_schema", "test_faketensor")
    torch.library.opcheck(OPS._nnls_per_frame, (mel, op.tap_index, op.tap_weight, 50, TOL, module._band_edge_fill),
                          test_utils=fake_only)
    solution = OPS._nnls_per_frame(mel, op.tap_index, op.tap_weight, 50, TOL, None)[0]
    torch.library.opcheck(OPS._nnls_backward_per_frame,
                          (torch.rand_like(solution), solution, op.tap_index, op.tap_weight, mel.shape[-2]),
                          test_utils=fake_only)
    lstsq = inverse_mel.InverseMelScale(201, 80, 16000, f_max=8000.0, norm="slaney", mel_scale="slaney").operator(torch.float64)
    torch.library.opcheck(OPS._lstsq_apply_per_frame,
                          (mel, lstsq.gram_pinv, lstsq.tap_index, lstsq.tap_weight, lstsq.gram_cholesky_band),
                          test_utils=fake_only)


@pytest.mark.parametrize("spread", [1, 2, 3, 4, 5, 9])
def test_python_capacity_check_agrees_with_the_kernel(spread):
    # Each bin touches two filters `spread - 1` apart: the Gram has `spread` bands.
    n_mels = 12
    fb = torch.zeros(40, n_mels, dtype=torch.float64)
    for f in range(40):
        k = f % (n_mels - spread + 1)
        fb[f, k] += 1.0
        fb[f, k + spread - 1] += 0.5
    op = F.lstsq_operator(fb)
    bands = gram_bands(op.tap_index, op.tap_weight)
    assert bands == spread
    args = (torch.rand(n_mels, 3, dtype=torch.float64), op.tap_index, op.tap_weight, 20, 1e-4, None)
    if bands <= 4:
        OPS._nnls_per_frame(*args)
        V.check_cuda_nnls_bank(n_mels, bands, torch.device("cuda"), "fn")
    else:
        with pytest.raises(RuntimeError, match="touch at most 4 adjacent filters"):
            OPS._nnls_per_frame(*args)
        with pytest.raises(ValueError, match=r'fn: solver="nnls" on CUDA .* at most 4 adjacent filters.*\.cpu\(\)'):
            V.check_cuda_nnls_bank(n_mels, bands, torch.device("cuda"), "fn")
    V.check_cuda_nnls_bank(n_mels, bands, torch.device("cpu"), "fn")  # the CPU solver takes any bank


def test_cuda_capacity_check_counts_mels():
    with pytest.raises(ValueError, match="at most 512 mels"):
        V.check_cuda_nnls_bank(513, 2, torch.device("cuda"), "fn")
    V.check_cuda_nnls_bank(512, 2, torch.device("cuda"), "fn")


@pytest.mark.slow  # ~15 s a width: every per-frame case in a fresh process
@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_per_frame_equals_cpu_bit_for_bit_at_every_width(isa):
    # The batch solver's passes are compiled once per vector width (cpu/simd.h); the width is read
    # once per process. The default (widest) width is what the tests above check.
    tool = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools", "per_frame_vs_batch.py")
    env = dict(os.environ, INVERSE_MEL_VECTOR_ISA=isa)
    run = subprocess.run([sys.executable, tool], capture_output=True, text=True, env=env, check=True)
    for line in run.stdout.strip().splitlines():
        result = json.loads(line)
        assert result["all"] == result["frames"] > 0, result
