"""InverseMelScale / inverse_mel_scale: torchaudio parity, rank deficiency, dtypes, shapes, caching.

The forward and op tests run on every device (tests/devices.py); a CUDA variant is held to the
same reference as the CPU, allowing for CPU/CUDA float32 round-off (helpers.device_bound). Tests of
CPU-only behaviour (threads, the eager NaN check the CUDA path skips, caching, pickling) stay on
the CPU; CUDA-only behaviour is in test_cuda.py."""
import copy
import io
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from helpers import (
    ALL_CONFIGS,
    ILL_CONDITIONED,
    REFERENCE,
    WELL_CONDITIONED,
    device_bound,
    reference_inverse,
    rel_err,
)
from devices import DEVICES

DRIVERS = ["gels", "gelsy", "gelsd", "gelss"]


# --- parity with torchaudio ---------------------------------------------------------------
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("i", WELL_CONDITIONED)
def test_matches_torchaudio_on_well_conditioned(i, driver):
    module = REFERENCE.module(i, driver=driver)
    melspec = REFERENCE.array("M", i)
    out = module(melspec)
    assert out.dtype == torch.float32 and out.shape == REFERENCE.array("out_gelsd", i).shape
    for ta_driver in ("gels", "gelsd"):
        assert rel_err(out, REFERENCE.array(f"out_{ta_driver}", i)) <= 1e-4


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_matches_independent_float64_reference(i, device):
    module = REFERENCE.module(i).double()
    melspec = REFERENCE.array("M", i).double()
    expected = reference_inverse(melspec, module.fb)
    out = module.to(device)(melspec.to(device)).cpu()  # float64: CPU and CUDA agree to 1e-12
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9 * float(expected.abs().max()))


# --- rank-deficient and ill-conditioned filterbanks ---------------------------------------------
def _mel_residual(fb, out, melspec):
    return float((fb.T.double() @ out.double() - melspec.double()).norm() / melspec.double().norm())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("i", ILL_CONDITIONED)
def test_ill_conditioned_never_raises_and_fits_as_well_as_gelsd(i, driver, device):
    module = REFERENCE.module(i, driver=driver).to(device)
    melspec = REFERENCE.array("M", i)
    out = module(melspec.to(device)).cpu()
    assert torch.isfinite(out).all() and (out >= 0).all()
    fb = REFERENCE.array("fb", i)
    gelsd = REFERENCE.array("out_gelsd", i)
    assert _mel_residual(fb, out, melspec) <= _mel_residual(fb, gelsd, melspec) + 0.01


@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_solve_path(i):
    # Nothing cut and a tridiagonal Gram: the banded Cholesky solve; otherwise the dense truncated pinv.
    op = REFERENCE.module(i).operator(torch.float64)
    if op.rank == REFERENCE.config(i)["n_mels"]:
        assert op.gram_cholesky_band is not None and op.gram_cholesky_band.shape[0] == 2
    else:
        assert op.gram_cholesky_band is None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_stable_under_one_percent_noise(i, device):
    module = REFERENCE.module(i).to(device)
    melspec = REFERENCE.array("M", i)
    clean = module(melspec.to(device)).cpu()
    gen = torch.Generator().manual_seed(1234 + i)
    for _ in range(5):
        noise = torch.randn(melspec.shape, generator=gen) * 0.01 * melspec.abs().mean()
        assert rel_err(module((melspec + noise).to(device)).cpu(), clean) <= 0.25


@pytest.mark.parametrize("device", DEVICES)
def test_whisper_fp16_round_trip_stays_bounded(device):
    # Whisper: 16 kHz, n_fft 400, 80 slaney mels. torchaudio's gels blows up to ~3.5e3x here.
    module = REFERENCE.module(0)
    assert REFERENCE.config(0)["n_mels"] == 80 and REFERENCE.config(0)["n_stft"] == 201
    gen = torch.Generator().manual_seed(0)
    spec = torch.rand(4, 201, 50, generator=gen)
    melspec = (module.fb.T @ spec).half().float()
    out = module.to(device)(melspec.to(device)).cpu()
    assert float(out.max()) <= 3.0 * float(spec.max())


def test_rank_warning_once_with_rank_and_fix():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = inverse_mel.InverseMelScale(201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney")
        module(torch.rand(80, 10))
        module(torch.rand(2, 80, 10))
    rank_warnings = [w for w in caught if "directions" in str(w.message)]
    assert len(rank_warnings) == 1
    text = str(rank_warnings[0].message)
    assert "keeps 78 of 80 directions" in text and "fewer mels or a larger n_fft" in text


def test_no_rank_warning_on_full_rank():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inverse_mel.InverseMelScale(513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney")


def test_rcond_is_settable_and_changes_the_cut():
    melspec = REFERENCE.array("M", 0)
    default = REFERENCE.module(0)
    strict = REFERENCE.module(0, rcond=1e-8)
    assert default.rcond == F.DEFAULT_RCOND and strict.rcond == 1e-8
    # Whisper's near-null direction (3e-6) is above 1e-8 but below float32 round-off: kept for
    # float64 computation only.
    assert default.rank == 78 and strict.rank == 78 and strict.operator(torch.float64).rank == 79
    expected = reference_inverse(melspec.double(), strict.fb, rcond=1e-8)
    assert rel_err(strict.double()(melspec.double()), expected) <= 1e-6
    with pytest.raises(ValueError, match="rcond must be a float in"):
        inverse_mel.InverseMelScale(201, 80, rcond=-1.0)


@pytest.mark.parametrize("config", [dict(n_stft=201, n_mels=128, sample_rate=16000),
                                    dict(n_stft=1025, n_mels=256, sample_rate=44100),
                                    dict(n_stft=201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_rcond_zero_stays_finite_on_rank_deficient_banks(config, dtype, device):
    # torchaudio's own defaults, InverseMelScale(201, 128, 16000) and (1025, 256, 44100), are
    # rank-deficient; rcond=0.0 used to keep 1e-17 directions: NaN in float32, 1e28 in float64.
    # The cut never goes below the compute dtype's round-off.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(**config, rcond=0.0).to(dtype).to(device)
    spec = torch.rand(2, config["n_stft"], 20, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    melspec = module.fb.T @ spec
    out = module(melspec)
    assert torch.isfinite(out).all()
    assert float(out.abs().max()) < 1e3 * float(spec.max())
    mel_residual = float((module.fb.T @ out - melspec).norm() / melspec.norm())
    assert mel_residual < 0.05


@pytest.mark.parametrize("device", DEVICES)
def test_a_full_rank_ill_conditioned_bank_outside_the_fixtures_keeps_every_direction(device):
    # smallest/largest singular value 2.4e-3: torchaudio's float32 gels is accurate here (2.8e-7 from
    # float64), and rcond=1e-2 (the old default) cut a direction and moved the output by 2-4%.
    module = inverse_mel.InverseMelScale(401, 128, 11025)
    assert module.rank == 128
    spec = torch.rand(2, 401, 8, generator=torch.Generator().manual_seed(0))
    melspec = module.fb.T @ spec
    exact = torch.relu(torch.linalg.lstsq(module.fb.T.double()[None], melspec.double(), driver="gelsd").solution)
    assert rel_err(module.to(device)(melspec.to(device)).cpu(), exact) <= device_bound(device, 1e-5)
    assert inverse_mel.InverseMelScale(401, 128, 11025, rcond=1e-2).rank == 127


def test_gelsy_is_not_zero_where_torch_gelsy_is():
    # torch's CPU gelsy does not pivot and returns ~0 when the first frequency bin is empty.
    i = 1
    assert float(REFERENCE.array("fb", i)[0].abs().max()) == 0.0
    out = REFERENCE.module(i, driver="gelsy")(REFERENCE.array("M", i))
    assert rel_err(out, REFERENCE.array("out_gelsd", i)) <= 1e-4


# --- dtypes, shapes, strides -------------------------------------------------------------
@pytest.fixture(scope="module")
def tts():
    return inverse_mel.InverseMelScale(513, n_mels=80, sample_rate=22050, f_max=8000.0, norm="slaney", mel_scale="slaney")


def _on(module, device):
    """The module on ``device``; a copy, so that the module-scoped fixture stays on the CPU."""
    return module if device == "cpu" else copy.deepcopy(module).to(device)


def _melspec(module, *shape, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(*shape[:-1], module.n_stft, shape[-1], generator=gen, dtype=torch.float64)
    return (module.fb.T.double().cpu() @ spec).to(dtype).to(module.fb.device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_float_dtypes_are_kept(tts, dtype, device):
    melspec = _melspec(tts, 2, 7, dtype=dtype)
    out = _on(tts, device)(melspec.to(device))
    assert out.dtype == dtype and out.device.type == device
    expected = reference_inverse(melspec.double(), tts.fb, dtype=dtype)
    bound = device_bound(device, 1e-5) if dtype == torch.float32 else device_bound(device, 1e-12, 1e-12)
    assert rel_err(out.cpu(), expected) <= bound


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_dtypes_compute_in_float32(tts, dtype, device):
    tts = _on(tts, device)
    melspec = _melspec(tts, 2, 7, dtype=dtype)
    out = tts(melspec)
    assert out.dtype == dtype
    expected = tts(melspec.float()).to(dtype)
    assert torch.equal(out, expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("lead", [(), (1,), (3,), (2, 3), (2, 1, 2)])
def test_leading_dims(tts, lead, device):
    tts = _on(tts, device)
    melspec = _melspec(tts, *lead, 9)
    out = tts(melspec)
    assert out.shape == (*lead, 513, 9)
    flat = tts(melspec.reshape(-1, 80, 9)).reshape(*lead, 513, 9) if lead else tts(melspec[None])[0]
    assert torch.equal(out, flat)


@pytest.mark.parametrize("shape", [(0, 80, 10), (3, 80, 0), (0, 80, 0), (80, 0), (2, 0, 80, 3)])
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_empty_input_gives_an_empty_output(tts, shape, solver):
    # torchaudio returns (0, n_stft, T) for a zero batch and fails to reshape 0 frames: both are
    # a correctly shaped empty output here, from the module, the functional and the op.
    module = copy.deepcopy(tts)
    module.solver = solver
    out = module(torch.rand(shape))
    assert out.shape == (*shape[:-2], 513, shape[-1]) and out.dtype == torch.float32
    info = module.forward_with_info(torch.rand(shape, dtype=torch.float64))
    assert info.specgram.shape == out.shape and info.iterations.shape == (*shape[:-2], shape[-1])
    assert F.inverse_mel_scale(torch.rand(shape).half(), tts.fb, solver=solver).shape == out.shape
    op = tts.operator(torch.float32)
    out = torch.ops.inverse_mel.lstsq_apply(torch.rand(shape), op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)
    assert out.shape == (*shape[:-2], 513, shape[-1])


def test_non_contiguous_and_expanded_inputs(tts):
    base = _melspec(tts, 4, 12)
    expected = tts(base.contiguous())
    transposed = base.transpose(-1, -2).contiguous().transpose(-1, -2)
    assert not transposed.is_contiguous()
    assert torch.equal(tts(transposed), expected)
    sliced = _melspec(tts, 4, 24)[..., ::2]
    assert torch.equal(tts(sliced), tts(sliced.contiguous()))
    expanded = base[:1].expand(5, 80, 12)
    out = tts(expanded)
    assert torch.equal(out, tts(base[:1]).expand(5, 513, 12))


@pytest.mark.parametrize("device", DEVICES)
def test_batch_equals_per_item(tts, device):
    tts = _on(tts, device)
    melspec = _melspec(tts, 5, 300)
    batched = tts(melspec)
    for b in range(5):
        assert torch.equal(batched[b], tts(melspec[b]))


def test_thread_count_does_not_change_results(tts):
    melspec = _melspec(tts, 6, 700)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = tts(melspec)
        torch.set_num_threads(max(2, threads))
        many = tts(melspec)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)


@pytest.mark.parametrize(
    "config",
    [
        # Found by the property tests: a rank-1 bank (dense gram_pinv product) gave different
        # bits with 3 threads, because the product went through a BLAS GEMM whose blocking
        # depends on the thread count when a single tile runs outside a parallel region.
        dict(n_stft=33, n_mels=5, sample_rate=8000, f_max=200.0),
        dict(n_stft=201, n_mels=80, sample_rate=16000, norm="slaney", mel_scale="slaney"),  # Whisper: rank cut
    ],
)
@pytest.mark.parametrize("frames", [1, 18, 700])
def test_dense_gram_path_is_thread_count_independent(config, frames):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = inverse_mel.InverseMelScale(**config)
    assert module.operator(torch.float32).gram_cholesky_band is None  # the dense product path
    melspec = module.fb.T @ torch.rand(config["n_stft"], frames, generator=torch.Generator().manual_seed(0)) ** 3
    threads = torch.get_num_threads()
    try:
        outputs = []
        for n in (1, 2, 3, 4):
            torch.set_num_threads(n)
            outputs.append(module(melspec))
    finally:
        torch.set_num_threads(threads)
    for out in outputs[1:]:
        assert torch.equal(out, outputs[0])
    # and it is still the truncated pseudo-inverse
    assert rel_err(outputs[0], reference_inverse(melspec, module.fb)) <= 2e-5


@pytest.mark.parametrize("device", DEVICES)
def test_inference_mode_and_no_grad(tts, device):
    tts = _on(tts, device)
    melspec = _melspec(tts, 2, 5)
    expected = tts(melspec)
    with torch.no_grad():
        assert torch.equal(tts(melspec), expected)
    with torch.inference_mode():
        assert torch.equal(tts(melspec), expected)


def test_nan_and_inf_are_rejected_with_their_position(tts):
    melspec = _melspec(tts, 2, 10)
    for value in (float("nan"), float("inf"), -float("inf")):
        bad = melspec.clone()
        bad[1, 7, 8] = value
        with pytest.raises(ValueError, match=r"melspec contains NaN or Inf \(first at index \(1, 7, 8\).*nan_to_num"):
            tts(bad)
        with pytest.raises(ValueError, match=r"melspec contains NaN or Inf"):
            F.inverse_mel_scale(bad.double(), tts.fb.double())
    # float64 values whose sum overflows are still finite: accepted.
    huge = torch.full((80, 4), 1e307, dtype=torch.float64)
    out = copy.deepcopy(tts).double()(huge)  # the float64 sum overflows; the element check passes
    assert out.shape == (513, 4)


@pytest.mark.parametrize("device", DEVICES)
def test_nan_and_inf_stay_in_their_frame_in_the_op(tts, device):
    # The op (used as is by compiled graphs, which skip the eager check) keeps a bad frame's
    # NaN/Inf to that frame.
    tts = _on(tts, device)
    op = tts.operator(torch.float32)

    def apply(m):
        return torch.ops.inverse_mel.lstsq_apply(m, op.gram_pinv, op.tap_index, op.tap_weight, op.gram_cholesky_band)

    melspec = _melspec(tts, 2, 10)
    clean = apply(melspec)
    bad = melspec.clone()
    bad[0, 5, 3] = float("nan")
    bad[1, 7, 8] = float("inf")
    out = apply(bad)
    good = torch.ones(2, 10, dtype=torch.bool, device=device)
    good[0, 3] = False
    good[1, 8] = False
    assert torch.equal(out.transpose(1, 2)[good], clean.transpose(1, 2)[good])
    assert not torch.isfinite(out[0, :, 3]).all() and not torch.isfinite(out[1, :, 8]).all()


@pytest.mark.parametrize("device", DEVICES)
def test_dense_custom_filterbank(device):
    gen = torch.Generator().manual_seed(3)
    fb = torch.rand(65, 20, generator=gen, dtype=torch.float64)  # every bin in every band
    melspec = fb.T @ torch.rand(3, 65, 11, generator=gen, dtype=torch.float64)
    out = F.inverse_mel_scale(melspec.to(device), fb.to(device)).cpu()  # float64: devices agree to 1e-12
    assert rel_err(out, reference_inverse(melspec, fb)) <= 1e-10


@pytest.mark.parametrize("device", DEVICES)
def test_functional_with_librosa_filterbank(device):
    i = 2  # TTS config; librosa's bank is (n_mels, n_freqs): the docstring says pass its transpose
    fb = REFERENCE.array("librosa_fb", i).T.contiguous()
    melspec = fb.T @ torch.rand(2, fb.shape[0], 6, generator=torch.Generator().manual_seed(0))
    out = F.inverse_mel_scale(melspec.to(device), fb.to(device), driver="gelsd").cpu()
    assert rel_err(out, reference_inverse(melspec.double(), fb)) <= device_bound(device, 1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_functional_equals_module(tts, device):
    tts = _on(tts, device)
    melspec = _melspec(tts, 3, 13)
    assert torch.equal(F.inverse_mel_scale(melspec, tts.fb), tts(melspec))


# --- the solve operator is factored once and refreshed when fb changes -----------------------
def test_factor_once_and_refresh(monkeypatch, tts):
    module = copy.deepcopy(tts)
    calls = []
    real = inverse_mel.transforms.lstsq_operator
    monkeypatch.setattr(inverse_mel.transforms, "lstsq_operator", lambda *a, **k: calls.append(1) or real(*a, **k))
    melspec = _melspec(module, 2, 8)
    first = module(melspec)
    for _ in range(3):
        module(melspec)
        module(melspec[0])
    assert calls == []  # built at construction, reused by every call and batch item

    with torch.no_grad():
        module.fb.mul_(2.0)  # in-place edit
    assert torch.allclose(module(melspec), first / 2.0, rtol=1e-5, atol=1e-6)
    assert len(calls) == 1

    module.load_state_dict({"fb": tts.fb.clone()})
    assert torch.allclose(module(melspec), first, rtol=1e-6, atol=1e-7)

    module.double()  # .to(): fb is a new tensor
    out64 = module(melspec.double())
    assert out64.dtype == torch.float64
    assert rel_err(out64, first) <= 1e-5


def test_state_dict_is_torchaudio_compatible(tts):
    state = tts.state_dict()
    assert list(state.keys()) == ["fb"] and state["fb"].shape == (513, 80)
    # A torchaudio InverseMelScale state_dict is exactly {"fb": (n_stft, n_mels)}.
    other = inverse_mel.InverseMelScale(513, n_mels=80, sample_rate=22050)
    other.load_state_dict({"fb": tts.fb.clone()})
    melspec = _melspec(tts, 2, 4)
    assert torch.equal(other(melspec), tts(melspec))


def test_module_pickles(tts):
    buffer = io.BytesIO()
    torch.save(tts, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    melspec = _melspec(tts, 1, 4)
    assert torch.equal(loaded(melspec), tts(melspec))


def test_attributes_and_repr():
    module = inverse_mel.InverseMelScale(201, n_mels=40, sample_rate=16000, f_min=20.0, norm="slaney", mel_scale="slaney", driver="gelsd")
    assert (module.n_stft, module.n_mels, module.sample_rate, module.f_min, module.f_max) == (201, 40, 16000, 20.0, 8000.0)
    assert (module.norm, module.mel_scale, module.driver) == ("slaney", "slaney", "gelsd")
    assert "n_mels=40" in repr(module) and "rcond=None (noise-gain rule)" in repr(module)
    assert "rcond=0.001" in repr(inverse_mel.InverseMelScale(201, n_mels=40, rcond=1e-3))


def test_mel_scale_module_round_trip(tts):
    mel = inverse_mel.MelScale(n_mels=80, sample_rate=22050, f_max=8000.0, n_stft=513, norm="slaney", mel_scale="slaney")
    assert torch.equal(mel.fb, tts.fb)
    spec = torch.rand(2, 513, 6, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(mel(spec), tts.fb.T @ spec)


# --- concurrency ---------------------------------------------------------------------------------
def test_many_threads_share_one_module_from_first_use(tts):
    import threading

    module = copy.deepcopy(tts)
    melspec = _melspec(module, 3, 50)
    expected = tts(melspec)
    with torch.no_grad():
        module.fb.mul_(1.0)  # bump fb's version: the first forward of every thread finds a stale cache
    barrier = threading.Barrier(8)
    results, errors = [None] * 8, []

    def worker(k):
        try:
            barrier.wait()
            for _ in range(5):
                results[k] = module(melspec)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for out in results:
        assert torch.equal(out, expected)


@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_are_solved_in_chunks_with_the_same_result(monkeypatch, solver, dtype):
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney", solver=solver)
    melspec = (module.fb.T @ torch.rand(3, 513, 100, generator=torch.Generator().manual_seed(0)) ** 2).to(dtype)
    whole = module(melspec)
    inverse = inverse_mel.functional._core  # where the pieces are cut
    monkeypatch.setattr(inverse, "_half_piece_bytes", lambda: 513 * 4 * 7)  # 7 frames a piece, a ragged end
    pieces = []
    real_solve = inverse._solve
    monkeypatch.setattr(inverse, "_solve", lambda m, *a: pieces.append(m.shape) or real_solve(m, *a))
    chunked = module(melspec)
    assert len(pieces) == 3 * 15  # 15 pieces per item
    assert chunked.dtype == dtype and torch.equal(chunked, whole)
    assert torch.equal(chunked, module(melspec.float()).to(dtype))
    # Pieces that hold whole items: 2 items a piece, so 2 launches for 3 items (not one per item).
    monkeypatch.setattr(inverse, "_half_piece_bytes", lambda: 513 * 4 * 200)
    pieces.clear()
    by_items = module(melspec)
    assert pieces == [torch.Size([2, 80, 100]), torch.Size([1, 80, 100])]
    assert torch.equal(by_items, whole)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("solver", ["lstsq", "nnls"])
def test_forward_skips_autograd_only_where_no_gradient_is_possible(solver, device):
    # The per-call path calls the op below the autograd layer when nothing can need a gradient:
    # same values, and a graph whenever the input requires grad under grad mode.
    module = inverse_mel.InverseMelScale(513, 80, 22050, f_max=8000.0, norm="slaney", mel_scale="slaney",
                                         solver=solver).double().to(device)
    spec = torch.rand(2, 513, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(device)
    mel = module.fb.T @ spec
    plain = module(mel)
    assert plain.grad_fn is None
    leaf = mel.clone().requires_grad_()
    tracked = module(leaf)
    assert tracked.grad_fn is not None and torch.equal(tracked.detach(), plain)
    (grad,) = torch.autograd.grad(tracked.sum(), leaf)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    with torch.no_grad():
        assert module(leaf).grad_fn is None
    with torch.inference_mode():
        assert torch.equal(module(mel), plain)
    assert torch.equal(module.forward_with_info(mel).specgram, plain)
