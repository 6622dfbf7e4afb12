"""solver="nnls": optimality (KKT), agreement with an independent NNLS, scale invariance,
edge cases, autograd, opcheck and torch.compile.

The solver tests on banded (mel) filterbanks run on every device (tests/devices.py), each device's
result held to the same independent checks. Dense custom banks, thread counts, the vector-ISA
builds and the eager NaN check are CPU matters (the CUDA solver takes banks whose bins touch at
most 4 adjacent filters); CPU/CUDA parity itself is in test_cuda.py."""
import copy
import warnings

import numpy as np
import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from helpers import ALL_CONFIGS, REFERENCE, rel_err, subprocess_env
from devices import DEVICES


def lawson_hanson(a, b, max_iter=500):
    """Independent reference: Lawson-Hanson active-set NNLS, min ||a x - b|| s.t. x >= 0, float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = a.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    w = a.T @ (b - a @ x)
    tol = 1e-12 * max(1.0, np.abs(a).max() * np.abs(b).max() * n)
    for _ in range(max_iter):
        if passive.all() or (w[~passive] <= tol).all():
            break
        j = np.argmax(np.where(passive, -np.inf, w))
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > 1e-15
        w = a.T @ (b - a @ x)
    return x


def kkt_violation(fb, spec, melspec):
    """Scaled KKT violation of min ||fb.T s - m|| s.t. s >= 0, per frame, in float64."""
    a = fb.double().T
    s = spec.double()
    g = a.T @ (a @ s - melspec.double())  # gradient
    scale = torch.linalg.matrix_norm(a, ord=2) * torch.linalg.vector_norm(melspec.double(), dim=-2).clamp_min(1e-30)
    negative = (-s).clamp_min(0).amax(dim=-2) / torch.linalg.vector_norm(s, dim=-2).clamp_min(1e-30)
    free_grad = torch.where(s > 0, g.abs(), (-g).clamp_min(0)).amax(dim=-2) / scale
    return negative, free_grad


def _module(i, device="cpu", **kwargs):
    return REFERENCE.module(i, solver="nnls", **kwargs).to(device)


# --- optimality --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_kkt_on_reference_configs(i, device):
    module = _module(i, device)
    fb = REFERENCE.array("fb", i)
    melspec = REFERENCE.array("M", i)  # exact: fb.T @ S for a non-negative S
    result = module.forward_with_info(melspec.to(device))
    assert result.converged.all()
    negative, free_grad = kkt_violation(fb, result.specgram.cpu(), melspec)
    assert float(negative.max()) == 0.0
    assert float(free_grad.max()) <= 1e-3
    # A non-negative exact solution exists, so NNLS fits the mel spectrogram (ReLU'd lstsq does not).
    assert float(result.residual.max()) <= 1e-3


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", [2, 4, 7, 21])
def test_objective_matches_lawson_hanson(i, device):
    fb = REFERENCE.array("fb", i).double()
    gen = torch.Generator().manual_seed(i)
    # Inconsistent input: noisy mel, so the optimum has a residual and is mostly unique.
    melspec = fb.T @ torch.rand(fb.shape[0], 4, generator=gen, dtype=torch.float64)
    melspec = (melspec + 0.05 * melspec.mean() * torch.randn(melspec.shape, generator=gen, dtype=torch.float64)).clamp_min(0)
    ours = F.inverse_mel_scale(melspec.to(device), fb.to(device), solver="nnls", tol=1e-10, max_iter=200).cpu()
    for t in range(melspec.shape[-1]):
        ref = lawson_hanson(fb.T.numpy(), melspec[:, t].numpy())
        obj_ref = np.linalg.norm(fb.T.numpy() @ ref - melspec[:, t].numpy())
        obj_ours = float((fb.T @ ours[:, t] - melspec[:, t]).norm())
        # Where both fit exactly, ours stops at ||r|| <= tol ||m|| (tol = 1e-10).
        assert obj_ours <= obj_ref * (1 + 1e-6) + 2e-10 * float(melspec[:, t].norm())


def test_unique_solution_equals_lawson_hanson():
    # More mel bands than bins and a generic dense bank: the NNLS solution is unique.
    gen = torch.Generator().manual_seed(0)
    fb = torch.rand(12, 30, generator=gen, dtype=torch.float64)
    truth = torch.rand(12, 5, generator=gen, dtype=torch.float64) - 0.3  # some entries want to be < 0
    melspec = fb.T @ truth + 0.01 * torch.randn(30, 5, generator=gen, dtype=torch.float64)
    ours = F.inverse_mel_scale(melspec, fb, solver="nnls", tol=1e-12, max_iter=200)
    for t in range(5):
        ref = torch.from_numpy(lawson_hanson(fb.T.numpy(), melspec[:, t].numpy()))
        torch.testing.assert_close(ours[:, t], ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_nnls_fits_better_than_lstsq_relu(device):
    module_l = REFERENCE.module(2).to(device)
    module_n = _module(2, device)
    spec = torch.rand(3, 513, 40, generator=torch.Generator().manual_seed(1)) ** 4  # peaky spectra
    melspec = module_l.fb.T @ spec.to(device)
    res_l = module_l.forward_with_info(melspec).residual
    res_n = module_n.forward_with_info(melspec).residual
    assert float(res_l.mean()) > 1e-3 and float(res_n.max()) <= 1e-3


# --- scale invariance, determinism -----------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-6, 1e6])
def test_scale_invariance(scale):
    module = _module(2).double()
    spec = torch.rand(2, 513, 30, generator=torch.Generator().manual_seed(2), dtype=torch.float64) ** 3
    melspec = module.fb.T @ spec
    base = module.forward_with_info(melspec)
    scaled = module.forward_with_info(melspec * scale)
    torch.testing.assert_close(scaled.specgram / scale, base.specgram, rtol=1e-8, atol=1e-12 * float(base.specgram.max()))
    assert torch.equal(scaled.iterations, base.iterations)
    # Powers of two scale exactly: bit-identical, in float32 too, even for very quiet input, except
    # entries that the quiet output cannot hold: below float32's smallest normal number they lose
    # bits (the solution has tiny entries, e.g. 3e-23 here, which become 2e-44 at 2^-70).
    module32 = _module(2)
    quiet = module32((melspec * 2.0**-70).float()) * 2.0**70
    loud = module32(melspec.float())
    holds = ((loud * 2.0**-70).abs() >= torch.finfo(torch.float32).tiny) | (loud == 0)
    assert torch.equal(quiet[holds], loud[holds])
    assert holds.float().mean() > 0.9
    assert ((quiet - loud)[~holds].abs() <= torch.finfo(torch.float32).tiny * 2.0**70).all()


def test_batch_equals_per_item_and_threads_do_not_matter():
    module = _module(2)
    spec = torch.rand(5, 513, 77, generator=torch.Generator().manual_seed(3)) ** 3
    melspec = module.fb.T @ spec
    batched = module(melspec)
    for b in range(5):
        assert torch.equal(batched[b], module(melspec[b]))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = module(melspec)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, batched)


_ISA_SCRIPT = """
import sys, torch, warnings
import inverse_mel
warnings.simplefilter("ignore")
gen = torch.Generator().manual_seed(5)
outputs = []
# Triangular banks (1- and 2-tap runs) and a random sparse bank (bins of 0 to 12 taps: the per-bin
# path); 203 frames
# leave a partial vector of lanes at the end of a tile; clean and noisy (inconsistent) mels.
for args in [(201, 80, 16000, 0.0, None, "slaney", "slaney"), (513, 128, 16000, 0.0, None, None, "htk")]:
    module = inverse_mel.InverseMelScale(*args, solver="nnls")
    for dtype in (torch.float32, torch.float64):
        spec = torch.rand(args[0], 203, generator=gen, dtype=torch.float64) ** 4
        mel = (module.fb.double().T @ spec).to(dtype)
        noisy = mel * torch.exp(0.3 * torch.randn(mel.shape, generator=gen, dtype=torch.float64)).to(dtype)
        for x in (mel, noisy):
            outputs.append(tuple(module.to(dtype).forward_with_info(x)))
fb = torch.rand(100, 12, generator=gen, dtype=torch.float64)
fb = fb * (fb > 0.6)
mel = fb.T @ torch.rand(100, 203, generator=gen, dtype=torch.float64)
outputs.append(tuple(inverse_mel.functional.inverse_mel_scale_with_info(mel, fb, solver="nnls")))
torch.save(outputs, sys.argv[1])
"""


@pytest.mark.slow  # 9-21 s: two subprocesses per width
@pytest.mark.parametrize("isa", ["avx2", "baseline"])
def test_every_vector_width_gives_the_same_bits(isa, tmp_path):
    # The entropy passes are compiled for AVX-512, AVX2 and the baseline ISA (64-, 32- and
    # 16-byte vectors) and the widest the CPU has runs; INVERSE_MEL_VECTOR_ISA caps it. Lanes are
    # frames and every width does the same IEEE operations, so the results must match bit for bit.
    import subprocess
    import sys
    script = tmp_path / "run.py"
    script.write_text(_ISA_SCRIPT)
    results = {}
    for name, env in (("widest", {}), (isa, {"INVERSE_MEL_VECTOR_ISA": isa})):
        out = tmp_path / f"{name}.pt"
        subprocess.run([sys.executable, str(script), str(out)], check=True, env=subprocess_env(**env))
        results[name] = torch.load(out)
    assert len(results["widest"]) == 9
    for widest, capped in zip(results["widest"], results[isa]):
        for a, b in zip(widest, capped):
            assert torch.equal(a, b)


def test_unrecognised_vector_isa_setting_warns():
    # A typo in the test knob must not pass silently: it warns and keeps the widest width.
    import subprocess
    import sys
    code = ("import torch, inverse_mel\n"
            "fb = inverse_mel.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, 'slaney', 'slaney')\n"
            "inverse_mel.functional.inverse_mel_scale(fb.T @ torch.rand(201, 20), fb, solver='nnls')\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=subprocess_env(INVERSE_MEL_VECTOR_ISA="AVX2"))
    assert "INVERSE_MEL_VECTOR_ISA=AVX2 is not recognised (use avx2 or baseline" in run.stderr


# --- edge cases --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_zero_frames_give_zero_output(device):
    module = _module(2, device)
    melspec = module.fb.T @ torch.rand(2, 513, 6, generator=torch.Generator().manual_seed(4)).to(device)
    melspec[0, :, 2] = 0.0
    melspec[1] = 0.0
    result = module.forward_with_info(melspec)
    assert torch.equal(result.specgram[0, :, 2].cpu(), torch.zeros(513))
    assert torch.equal(result.specgram[1].cpu(), torch.zeros(513, 6))
    assert result.converged.all() and result.iterations[1].eq(0).all()


def test_nan_and_inf_frames_are_reported_and_contained():
    module = _module(2)
    melspec = module.fb.T @ (torch.rand(2, 513, 8, generator=torch.Generator().manual_seed(5)) ** 3)
    clean = module.forward_with_info(melspec)
    bad = melspec.clone()
    bad[0, 10, 3] = float("nan")
    bad[1, 20, 5] = float("inf")
    with pytest.raises(ValueError, match=r"melspec contains NaN or Inf \(first at index \(0, 10, 3\)"):
        module.forward_with_info(bad)
    # The op (what compiled graphs run, without the eager check) reports and contains them.
    op = module.operator(torch.float32)
    result = F.InverseMelResult(
        *torch.ops.inverse_mel.nnls(bad, op.tap_index, op.tap_weight, 50, 1e-4, module._band_edge_fill)
    )
    assert not result.converged[0, 3] and not result.converged[1, 5]
    keep = torch.ones(2, 8, dtype=torch.bool)
    keep[0, 3] = keep[1, 5] = False
    assert torch.equal(result.specgram.transpose(1, 2)[keep], clean.specgram.transpose(1, 2)[keep])
    assert torch.equal(result.converged[keep], clean.converged[keep])


def test_negative_filterbank_is_rejected():
    fb = torch.rand(65, 10)
    fb[3, 2] = -0.5
    with pytest.raises(ValueError, match=r'solver="nnls" needs a non-negative filterbank.*use solver="lstsq"'):
        F.inverse_mel_scale(torch.rand(10, 4), fb, solver="nnls")
    F.inverse_mel_scale(torch.rand(10, 4), fb, solver="lstsq")  # fine for least squares
    module = _module(2)
    with torch.no_grad():
        module.fb[5, 3] = -1.0
    with pytest.raises(ValueError, match="needs a non-negative filterbank"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the edited bank is also rank-deficient: the rebuild warns
        module(torch.rand(80, 3))
    op = F.lstsq_operator(fb)
    with pytest.raises(RuntimeError, match="negative weights"):
        torch.ops.inverse_mel.nnls(torch.rand(10, 4).double(), op.tap_index, op.tap_weight, 10, 1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", [21, 26, 28])  # 10 empty filters; rank 54/64; rank 52/64
def test_empty_filters_and_rank_deficiency(i, device):
    module = _module(i, device)
    melspec = REFERENCE.array("M", i).to(device)
    result = module.forward_with_info(melspec)
    assert result.converged.all() and (result.specgram >= 0).all()
    assert float(result.residual.max()) <= 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_max_iter_zero_is_the_mel_envelope(device):
    # The solver starts from the mel envelope: each band's energy per unit filter area,
    # spread back over its bins with the filter weights (computed here independently).
    nnls = _module(2, max_iter=0)
    fb = nnls.fb.double()
    melspec = REFERENCE.array("M", 2).double()
    density = melspec / fb.sum(0).clamp_min(1e-300)[:, None]
    envelope = (fb @ density) / fb.sum(1).clamp_min(1e-300)[:, None]
    result = nnls.double().to(device).forward_with_info(melspec.to(device))
    result = F.InverseMelResult(*(x.cpu() for x in result))
    # The band-edge bins no filter weighs copy their neighbour (band_edge_fill).
    fill = nnls._band_edge_fill.cpu()
    envelope[..., fill >= 0, :] = envelope[..., fill[fill >= 0], :]
    torch.testing.assert_close(result.specgram, envelope.clamp_min(0), rtol=1e-12, atol=1e-15)
    assert result.iterations.eq(0).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes(dtype, device):
    module = _module(2, device)
    melspec = REFERENCE.array("M", 2).to(device)
    result = module.forward_with_info(melspec.to(dtype))
    assert result.specgram.dtype == dtype and result.converged.all()
    # Each precision stops at its own point within tol = 1e-4 of an exact fit, so they agree
    # to about tol (float64 vs float32), or to the input rounding (half types vs float32).
    assert rel_err(result.specgram.cpu(), module(melspec.to(dtype).float()).cpu()) <= (1e-3 if dtype == torch.float64 else 1e-2)
    assert float(result.residual.max()) <= 1e-4


def test_empty_inputs():
    module = _module(2)
    for shape in [(0, 80, 5), (2, 80, 0)]:
        result = module.forward_with_info(torch.rand(shape))
        assert result.specgram.shape == (*shape[:-2], 513, shape[-1])
        assert result.iterations.shape == result.converged.shape == (*shape[:-2], shape[-1])
        # The op returns empty results.
        op = module.operator(torch.float32)
        specgram, iterations, residual, converged = torch.ops.inverse_mel.nnls(torch.rand(shape), op.tap_index, op.tap_weight, 50, 1e-4)
        assert specgram.shape == (*shape[:-2], 513, shape[-1])
        assert iterations.shape == residual.shape == converged.shape == (*shape[:-2], shape[-1])


def test_solver_argument_validation():
    with pytest.raises(ValueError, match=r"solver must be one of \['lstsq', 'nnls'\]"):
        inverse_mel.InverseMelScale(201, 40, solver="lbfgs")
    with pytest.raises(ValueError, match="max_iter must be an int >= 0"):
        inverse_mel.InverseMelScale(201, 40, solver="nnls", max_iter=-1)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        F.inverse_mel_scale(torch.rand(40, 3), torch.rand(201, 40), solver="nnls", tol=float("nan"))


def test_lstsq_return_info_residual():
    module = REFERENCE.module(2)
    melspec = REFERENCE.array("M", 2)
    result = module.forward_with_info(melspec)
    expected = (module.fb.T.double() @ result.specgram.double() - melspec.double()).norm(dim=-2) / melspec.double().norm(dim=-2)
    torch.testing.assert_close(result.residual.double(), expected, rtol=1e-4, atol=1e-7)
    assert result.iterations.eq(0).all() and result.converged.all()


def test_repr_and_state_dict():
    module = _module(2, max_iter=7, tol=1e-5)
    assert "solver='nnls', max_iter=7, tol=1e-05" in repr(module)
    assert list(module.state_dict()) == ["fb"]
    clone = copy.deepcopy(module)
    melspec = REFERENCE.array("M", 2)
    assert torch.equal(clone(melspec), module(melspec))


# --- autograd, opcheck, compile ------------------------------------------------------------------
def _unique_problem(seed):
    """A dense bank with more mels than bins (full column rank) and the exact mel of a strictly
    positive spectrum: the NNLS solution is unique and smooth in the mel spectrogram."""
    gen = torch.Generator().manual_seed(seed)
    fb = torch.rand(8, 14, generator=gen, dtype=torch.float64)
    truth = torch.rand(2, 8, 3, generator=gen, dtype=torch.float64) + 0.5
    return fb, fb.T @ truth


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradcheck_on_unique_problems(seed):
    fb, melspec = _unique_problem(seed)
    fn = lambda m: F.inverse_mel_scale(m, fb, solver="nnls", tol=1e-12, max_iter=100)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (melspec.requires_grad_(),))
    nc = melspec.detach().transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_()
    assert torch.autograd.gradcheck(fn, (nc,))


def test_gradcheck_with_active_constraints():
    # Some solution entries pinned at 0 (strictly complementary): the free-set derivative.
    gen = torch.Generator().manual_seed(7)
    fb = torch.rand(8, 14, generator=gen, dtype=torch.float64)
    truth = torch.rand(8, 3, generator=gen, dtype=torch.float64) + 0.5
    truth[:2] = -0.5  # two bins the non-negative fit must pin at zero
    melspec = fb.T @ truth
    out = F.inverse_mel_scale(melspec, fb, solver="nnls", tol=1e-12, max_iter=100)
    assert (out[:2] == 0).all() and (out[2:] > 0).all()
    fn = lambda m: F.inverse_mel_scale(m, fb, solver="nnls", tol=1e-12, max_iter=100)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (melspec.requires_grad_(),))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype, scale", [(torch.float32, 1e-38), (torch.float32, 1e-40), (torch.float64, 1e-310)])
def test_subnormal_frames_are_solved_not_nan(dtype, scale, device):
    # Found on recorded speech (near-silent Whisper frames): a frame whose largest value is
    # subnormal got an infinite power-of-two scale and came out NaN, reported as not converged.
    module = _module(2).to(dtype).to(device)
    spec = torch.rand(513, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) ** 2
    melspec = (module.fb.double().T.cpu() @ spec).to(dtype).to(device)
    reference = module.forward_with_info(melspec)
    tiny = module.forward_with_info(melspec * scale)
    assert bool(tiny.converged.all()) and bool(torch.isfinite(tiny.specgram).all())
    # The solution of the scaled input is the scaled solution (to the subnormal's lost digits).
    assert rel_err(tiny.specgram.cpu() / scale, reference.specgram.cpu()) <= (1e-2 if scale < 1e-39 else 1e-3)


def test_rank_deficient_bank_converges_at_default_settings():
    # Found by the property tests: a rank-49/67 bank needed 69 Newton steps on one frame, more
    # than the former default max_iter of 50. With the damping adapted per frame it needs a few.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(114, 67, 44100, 1448.0, 12573.0, "slaney", "htk", solver="nnls").double()
    spec = torch.rand(114, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64) ** 3
    result = module.forward_with_info(module.fb.double().T @ spec)
    assert bool(result.converged.all()) and int(result.iterations.max()) <= 20
    assert float(result.residual.max()) <= 1e-4


def test_ill_conditioned_bank_converges():
    # Found by the property tests: 156 mels on 79 bins (rank 68). The entropy phase's penalised
    # optimum missed tol by 1.33x on one frame, and the projected Newton phase, damped by 1e-4 of
    # the Gram's diagonal, then took 190 steps to 1.006 tol (converged=False at max_iter=200).
    # Damping now adapts per frame (Levenberg-Marquardt).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(79, 156, 16000, 0.0, 7074.0, "slaney", "htk", solver="nnls")
    fb = module.fb.double()
    spec = torch.rand(79, 5, generator=torch.Generator().manual_seed(4639), dtype=torch.float64) ** 3
    for dtype in (torch.float32, torch.float64):
        result = module.to(dtype).forward_with_info((fb.T @ spec).to(dtype))
        assert bool(result.converged.all()), result.iterations.tolist()
        assert int(result.iterations.max()) <= 20
        r = fb.T @ result.specgram.double() - fb.T @ spec
        assert float((r.norm(dim=0) / (fb.T @ spec).norm(dim=0)).max()) <= 1.01e-4


def test_stalled_projected_newton_frames_get_less_damping():
    # Found by fuzzing the property-test space: a 198-mel bank on a 4.2-8.9 kHz band, noisy input.
    # One frame sat at 1.46 tol for 190 projected Newton steps, held back by the solver's damping
    # (1e-4 of the Gram's diagonal) along weak directions. Damping now adapts per frame.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(1081, 198, 24000, 4216.426143060766, 8880.001430330998, "slaney",
                                             "slaney", solver="nnls")
    fb = module.fb.double()
    gen = torch.Generator().manual_seed(513)
    spec = torch.rand(1081, 5, generator=gen, dtype=torch.float64) ** 3
    melspec = fb.T @ spec
    melspec = (melspec + 0.1 * melspec.mean() * torch.randn(melspec.shape, generator=gen, dtype=torch.float64)).abs()
    result = module.forward_with_info(melspec.float())
    assert bool(result.converged.all()), result.iterations.tolist()
    assert int(result.iterations.max()) <= 60
    # Optimal (independently checked): the gradient mapping, or an exact fit.
    s = result.specgram.double()
    r = fb.T @ s - melspec
    g = fb @ r
    lip = torch.linalg.matrix_norm(fb, 2) ** 2
    mapping = lip * (s - (s - g / lip).clamp_min(0))
    ok = (mapping.norm(dim=0) <= 2e-4 * lip.sqrt() * r.norm(dim=0)) | (r.norm(dim=0) <= 1.01e-4 * melspec.norm(dim=0))
    assert bool(ok.all())


# --- the choice among exact solutions, band edges, inconsistent input ------------------------------
def _speechlike(n_freqs, frames, seed):
    """Spectra with a decaying envelope, harmonic ripple and random detail (power, positive)."""
    gen = torch.Generator().manual_seed(seed)
    f = torch.arange(n_freqs, dtype=torch.float64)[:, None]
    envelope = torch.exp(-f / (0.2 * n_freqs))
    ripple = 1.0 + 0.8 * torch.cos(2 * torch.pi * f / (7 + torch.rand(1, frames, generator=gen, dtype=torch.float64) * 5))
    return envelope * ripple * torch.rand(n_freqs, frames, generator=gen, dtype=torch.float64) ** 2 + 1e-9


def test_exact_solution_is_the_maximum_entropy_one():
    # Among the exact non-negative solutions, the solver returns s = envelope * exp(fb @ lam):
    # log(s / envelope) lies in the row space of fb^T. Check it with an independent least-squares fit.
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney",
                                         solver="nnls", band_edge_fill=False).double()
    fb = module.fb
    spec = _speechlike(513, 6, 11)
    melspec = fb.T @ spec
    info = module.forward_with_info(melspec)
    assert info.converged.all() and float(info.residual.max()) <= 1e-4
    area = fb.sum(0)
    rows = fb.sum(1)
    touched = rows > 0
    envelope = ((fb / area) @ melspec)[touched] / rows[touched, None]
    log_ratio = torch.log(info.specgram[touched] / envelope)
    lam = torch.linalg.lstsq(fb[touched], log_ratio).solution
    misfit = (fb[touched] @ lam - log_ratio).norm(dim=0) / log_ratio.norm(dim=0)
    assert float(misfit.max()) < 1e-3
    # And it is not the minimum-norm exact solution (which would put log_ratio far off that space).
    pinv = torch.linalg.pinv(fb.T) @ melspec
    assert float((pinv - info.specgram).norm() / info.specgram.norm()) > 1e-2


def test_band_edge_fill_names_the_unweighed_in_band_bins():
    whisper = F.melscale_fbanks(201, 0.0, 8000.0, 80, 16000, "slaney", "slaney")
    fill = F.band_edge_fill(whisper, 16000, 0.0, 8000.0)
    assert fill.dtype == torch.int64 and fill.shape == (201,)
    assert {f: int(fill[f]) for f in (fill >= 0).nonzero().flatten().tolist()} == {0: 1, 200: 199}
    tts = F.melscale_fbanks(513, 0.0, 8000.0, 80, 22050, "slaney", "slaney")
    # f_max below Nyquist: bins above 8 kHz lie outside the band and stay unfilled.
    assert (F.band_edge_fill(tts, 22050, 0.0, 8000.0) >= 0).nonzero().flatten().tolist() == [0]
    shifted = F.melscale_fbanks(513, 100.0, 8000.0, 80, 22050, "slaney", "slaney")
    assert (F.band_edge_fill(shifted, 22050, 100.0, 8000.0) >= 0).sum() == 0  # 100 Hz lies inside bin 2's support
    dense = torch.rand(12, 5)
    assert (F.band_edge_fill(dense, 16000) == -1).all()


def test_module_fills_band_edges_and_keeps_the_fit():
    kwargs = dict(norm="slaney", mel_scale="slaney", solver="nnls")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Whisper's bank is rank-deficient
        filled = inverse_mel.InverseMelScale(201, 80, 16000, **kwargs)
        plain = inverse_mel.InverseMelScale(201, 80, 16000, band_edge_fill=False, **kwargs)
    melspec = filled.fb.T @ _speechlike(201, 20, 3).float()
    a, b = filled(melspec), plain(melspec)
    assert torch.equal(a[..., 0, :], a[..., 1, :]) and torch.equal(a[..., 200, :], a[..., 199, :])
    assert (b[..., 0, :] == 0).all() and (b[..., 200, :] == 0).all()
    assert torch.equal(a[..., 1:200, :], b[..., 1:200, :])  # the solve itself is the same
    torch.testing.assert_close(filled.fb.T @ a, plain.fb.T @ b)  # and so is the fit: no filter sees those bins
    assert "band_edge_fill=False" in repr(plain)
    # The functional form fills only when asked, with the same result.
    fill = F.band_edge_fill(filled.fb, 16000, 0.0, 8000.0)
    assert torch.equal(F.inverse_mel_scale(melspec, filled.fb, solver="nnls", band_edge_fill=fill), a)


def test_the_band_edge_option_keeps_its_old_names_with_a_warning():
    """Before 0.2 the module's option was fill_band_edges= and the functional one fill_from=."""
    melspec = inverse_mel.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk").T @ _speechlike(201, 6, 1).float()
    new = inverse_mel.InverseMelScale(201, 40, 16000, solver="nnls", band_edge_fill=False)
    with pytest.warns(FutureWarning, match=r"fill_band_edges= was renamed band_edge_fill="):
        old = inverse_mel.InverseMelScale(201, 40, 16000, solver="nnls", fill_band_edges=False)
    assert old.band_edge_fill is False and old.fill_band_edges is False and new.fill_band_edges is False
    assert torch.equal(old(melspec), new(melspec)) and repr(old) == repr(new)
    with pytest.raises(ValueError, match=r"InverseMelScale: fill_band_edges= is the old name of band_edge_fill="):
        inverse_mel.InverseMelScale(201, 40, 16000, solver="nnls", band_edge_fill=False, fill_band_edges=False)
    filled = inverse_mel.InverseMelScale(201, 40, 16000, solver="nnls")
    fill = F.band_edge_fill(filled.fb, 16000, 0.0, 8000.0)
    assert (fill >= 0).any()
    for fn in (F.inverse_mel_scale, lambda *a, **k: F.inverse_mel_scale_with_info(*a, **k).specgram):
        with pytest.warns(FutureWarning, match=r"fill_from= was renamed band_edge_fill="):
            by_old_name = fn(melspec, filled.fb, solver="nnls", fill_from=fill)
        assert torch.equal(by_old_name, fn(melspec, filled.fb, solver="nnls", band_edge_fill=fill))
        assert torch.equal(by_old_name, filled(melspec))
        with pytest.raises(ValueError, match=r"fill_from= is the old name of band_edge_fill=; pass only"):
            fn(melspec, filled.fb, solver="nnls", band_edge_fill=fill, fill_from=fill)


def test_a_module_pickled_before_the_rename_loads():
    """A module pickled with the old attribute (fill_band_edges) and buffer (_fill_from) names."""
    module = inverse_mel.InverseMelScale(201, 40, 16000, solver="nnls", band_edge_fill=False)
    state = module.__getstate__()
    state["fill_band_edges"] = state.pop("band_edge_fill")
    state["_buffers"] = dict(state["_buffers"])
    state["_buffers"]["_fill_from"] = state["_buffers"].pop("_band_edge_fill")
    old = inverse_mel.InverseMelScale.__new__(inverse_mel.InverseMelScale)
    old.__setstate__(state)
    assert old.band_edge_fill is False and "_fill_from" not in old._buffers
    melspec = module.fb.T @ _speechlike(201, 4, 2).float()
    assert torch.equal(old(melspec), module(melspec))


def test_gradient_of_a_filled_bin_reaches_its_source():
    gen = torch.Generator().manual_seed(5)
    fb = torch.rand(9, 14, generator=gen, dtype=torch.float64)
    fb[0] = 0  # bin 0: no filter weighs it, filled from bin 1
    truth = torch.rand(9, 3, generator=gen, dtype=torch.float64) + 0.5
    melspec = (fb.T @ truth).requires_grad_()
    fill = torch.full((9,), -1, dtype=torch.int64)
    fill[0] = 1
    fn = lambda m: F.inverse_mel_scale(m, fb, solver="nnls", tol=1e-12, max_iter=100, band_edge_fill=fill)  # noqa: E731
    out = fn(melspec)
    assert torch.equal(out[0], out[1])
    assert torch.autograd.gradcheck(fn, (melspec,))


@pytest.mark.slow  # 2-4 s: 300 frames of model-like input
@pytest.mark.parametrize("name,args", [
    ("whisper", (201, 80, 16000, 0.0, None, "slaney", "slaney")),
    ("docs", (513, 128, 16000, 0.0, None, None, "htk")),
])
def test_inconsistent_model_like_input_converges(name, args):
    # A TTS model's mel is not the mel of any spectrum: multiplicative log-domain noise on an exact
    # mel. At default settings nearly every frame must still reach the NNLS tests (the float32
    # projected-Newton phase used to stall on half of the Whisper frames).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(*args, solver="nnls")
    gen = torch.Generator().manual_seed(1)
    melspec = (module.fb.double().T @ _speechlike(args[0], 300, 4)).float()
    melspec = melspec * torch.exp(0.3 * torch.randn(melspec.shape, generator=gen))
    info = module.forward_with_info(melspec)
    assert float(info.converged.float().mean()) >= 0.99
    assert int(info.iterations.float().median()) <= 20
    fb = module.fb
    # Optimal to tol: no projected-gradient step lowers the objective by more than round-off.
    s = info.specgram.double()
    r = fb.double().T @ s - melspec.double()
    g = fb.double() @ r
    lip = torch.linalg.matrix_norm(fb.double(), 2) ** 2
    mapping = lip * (s - (s - g / lip).clamp_min(0))
    ok = info.converged
    ratio = mapping.norm(dim=0) / (lip.sqrt() * r.norm(dim=0))
    exact = r.norm(dim=0) <= 1.01e-4 * melspec.double().norm(dim=0)
    assert bool(((ratio <= 2e-4) | exact)[ok].all())
