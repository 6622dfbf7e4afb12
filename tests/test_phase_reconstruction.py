"""Phase reconstruction beyond Griffin-Lim: phase-gradient heap integration (PGHI) and
mel-consistent Griffin-Lim (MCGL), and their compiled ops."""
import heapq
import importlib.util
import math
import os

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from inverse_mel import metrics
from helpers import synthetic_audio
from devices import DEVICES

OPS = torch.ops.inverse_mel


# -- the heap integration ---------------------------------------------------------------------------
def reference_integration(magnitude, time_step, freq_step, init_phase, relative_tol):
    """PGHI's integration written from the paper, with Python's heapq (ties: lower index first)."""
    n_freqs, frames = magnitude.shape
    mag = magnitude.tolist()
    phase = [row[:] for row in init_phase.tolist()]
    threshold = relative_tol * max(max(row) for row in mag)
    reached = [[False] * frames for _ in range(n_freqs)]
    order = sorted(((-mag[f][t], f * frames + t) for f in range(n_freqs) for t in range(frames)))
    for negative, start in order:
        f0, t0 = divmod(start, frames)
        if -negative < threshold:
            break
        if reached[f0][t0]:
            continue
        reached[f0][t0] = True
        heap = [(negative, start)]
        while heap:
            _, i = heapq.heappop(heap)
            f, t = divmod(i, frames)
            for df, dt, step, sign in ((0, 1, time_step, 1), (0, -1, time_step, -1), (1, 0, freq_step, 1),
                                       (-1, 0, freq_step, -1)):
                g, u = f + df, t + dt
                if not (0 <= g < n_freqs and 0 <= u < frames) or reached[g][u] or mag[g][u] < threshold:
                    continue
                mean = 0.5 * (float(step[f, t]) + float(step[g, u]))
                phase[g][u] = phase[f][t] + sign * mean
                reached[g][u] = True
                heapq.heappush(heap, (-mag[g][u], g * frames + u))
    return torch.tensor(phase, dtype=magnitude.dtype)


def _random_problem(n_freqs, frames, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    magnitude = torch.rand(n_freqs, frames, generator=gen, dtype=dtype) ** 4  # a few large ones, many small
    steps = [torch.randn(n_freqs, frames, generator=gen, dtype=dtype) for _ in range(2)]
    init = torch.rand(n_freqs, frames, generator=gen, dtype=dtype)
    return magnitude, steps[0], steps[1], init


def _integrate(magnitude, time_step, freq_step, init, relative_tol):
    order = torch.argsort(magnitude.flatten(-2), dim=-1, descending=True, stable=True)
    return OPS.pghi_integrate(magnitude, time_step, freq_step, order, init, relative_tol)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("relative_tol", [0.0, 1e-3, 0.2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integration_equals_the_papers_algorithm(seed, relative_tol, device):
    magnitude, time_step, freq_step, init = _random_problem(17, 23, seed)
    expected = reference_integration(magnitude, time_step, freq_step, init, relative_tol)
    # Both devices run csrc/shared/pghi_integrate.h (bit-identical, test_cuda.py): the same bound.
    got = _integrate(*(x.to(device) for x in (magnitude, time_step, freq_step, init)), relative_tol)
    torch.testing.assert_close(got.cpu(), expected, rtol=0, atol=1e-12)


def _tifresi_pghi():
    spec = importlib.util.find_spec("tifresi")
    if spec is None or spec.submodule_search_locations is None:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "phase", "pghi.py")
    module_spec = importlib.util.spec_from_file_location("tifresi_pghi", path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)  # numba; tifresi's package __init__ needs ltfatpy, not this file
    except ImportError:
        return None
    return module.pghi


@pytest.mark.slow  # 6.5 s: numba compiles tifresi's PGHI
def test_integration_equals_tifresi():
    """tifresi (the TiFGAN authors' PGHI) integrates ltfat-convention gradients; fed the same steps
    in its units, it must give the same phase (it starts every spread from phase 0)."""
    pghi = _tifresi_pghi()
    if pghi is None:
        pytest.skip("tifresi is not installed (pip install --no-deps tifresi)")
    import numpy as np

    a, M, N = 16, 64, 40
    L = a * N
    b = L / M
    magnitude, time_step, freq_step, _ = _random_problem(M // 2 + 1, N, 5)
    # tifresi: tgradw = a * tgrad * 2 pi / L, fgradw = -b * (fgrad + n a) * 2 pi / L.
    n = torch.arange(N, dtype=torch.float64)
    tgrad = time_step * L / (2 * math.pi * a)
    fgrad = -freq_step * L / (2 * math.pi * b) - n * a
    expected = pghi(magnitude.numpy(), tgrad.numpy(), fgrad.numpy(), a, M, L, 1e-3)
    got = _integrate(magnitude, time_step, freq_step, torch.zeros_like(magnitude), 1e-3)
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_integration_op_checks_batches_and_empty(device):
    magnitude, time_step, freq_step, init = (x.to(device) for x in _random_problem(9, 11, 3))
    batch = torch.stack([magnitude, magnitude.flip(-1)])
    out = _integrate(batch, torch.stack([time_step] * 2), torch.stack([freq_step] * 2), torch.stack([init] * 2), 1e-4)
    assert out.shape == (2, 9, 11)
    torch.testing.assert_close(out[0], _integrate(magnitude, time_step, freq_step, init, 1e-4))
    order = torch.argsort(magnitude.flatten(), descending=True)
    torch.library.opcheck(OPS.pghi_integrate, (magnitude, time_step, freq_step, order, init, 1e-4))
    empty = torch.zeros(0, 9, 11, dtype=torch.float64, device=device)
    assert _integrate(empty, empty, empty, empty, 1e-4).shape == (0, 9, 11)
    with pytest.raises(RuntimeError, match="order must be an int64 tensor of shape"):
        OPS.pghi_integrate(magnitude, time_step, freq_step, order[:-1], init, 1e-4)
    with pytest.raises(RuntimeError, match="relative_tol must lie in"):
        OPS.pghi_integrate(magnitude, time_step, freq_step, order, init, 2.0)
    silent = torch.zeros_like(magnitude)  # nothing to integrate: the initial phase stays
    assert torch.equal(_integrate(silent, time_step, freq_step, init, 1e-4), init)


# -- the phase gradients ----------------------------------------------------------------------------
def test_gaussian_fit_matches_the_papers_window_constants():
    # Prusa et al. (2017), Table I: lam = gamma * L^2 for Hann 0.25645, Hamming 0.29794, Blackman 0.17954.
    for window_fn, gamma in ((torch.hann_window, 0.25645), (torch.hamming_window, 0.29794),
                             (torch.blackman_window, 0.17954)):
        assert F.gaussian_lambda(window_fn(1024), 1024) / 1024 ** 2 == pytest.approx(gamma, rel=0.02)


@pytest.mark.parametrize("device", DEVICES)
def test_pghi_phase_matches_the_true_phase_with_a_gaussian_window(device):
    """With a true Gaussian window the relations are exact (up to the finite differences): PGHI's
    phase steps between strong neighbours equal the true STFT's."""
    n_fft, hop = 512, 32
    lam = 0.2 * n_fft ** 2
    t = torch.arange(n_fft, dtype=torch.float64) - n_fft // 2
    window = torch.exp(-math.pi * t ** 2 / lam)
    sr = 8000
    time = torch.arange(2 * sr, dtype=torch.float64) / sr
    signal = torch.sin(2 * math.pi * (300 * time + 400 * time ** 2)) + 0.5 * torch.sin(2 * math.pi * 1800 * time)
    stft = torch.stft(signal, n_fft, hop, window=window, return_complex=True)
    magnitude = stft.abs()
    # The same magnitudes on every device (torch.stft rounds differently on each).
    estimate = F.phase_gradient_init(magnitude.to(device), window.to(device), n_fft, hop, 1.0,
                                     generator=torch.Generator().manual_seed(0)).cpu()
    true_phasor = stft / magnitude.clamp_min(1e-30)
    strong = magnitude > 0.3 * magnitude.max()
    for dim in (-1, -2):  # steps in time and in frequency
        true_step = true_phasor.narrow(dim, 1, true_phasor.shape[dim] - 1) * true_phasor.narrow(
            dim, 0, true_phasor.shape[dim] - 1).conj()
        est_step = estimate.narrow(dim, 1, estimate.shape[dim] - 1) * estimate.narrow(
            dim, 0, estimate.shape[dim] - 1).conj()
        both = strong.narrow(dim, 1, strong.shape[dim] - 1) & strong.narrow(dim, 0, strong.shape[dim] - 1)
        error = torch.angle(true_step * est_step.conj())[both].abs()
        assert both.sum() > 100 and float(error.median()) < 0.05 and float(error.quantile(0.9)) < 0.2, dim


@pytest.mark.slow  # 6 s: Griffin-Lim runs on 2 s of audio
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_pghi_start_beats_a_random_start(power):
    # From the true magnitude of speech-like audio: PGHI + 32 iterations is below random + 32.
    n_fft, hop = 1024, 256
    audio = synthetic_audio(16000, seconds=2.0)
    window = torch.hann_window(n_fft)
    spec = torch.stft(audio, n_fft, hop, window=window, return_complex=True).abs().pow(power)
    scs = {}
    for init in (None, "pghi"):
        out = F.griffin_lim(spec, None, n_fft, hop, n_fft, power, 32, 0.99, audio.numel(), True,
                            generator=torch.Generator().manual_seed(0), phase_init=init)
        again = torch.stft(out, n_fft, hop, window=window, return_complex=True).abs().pow(power)
        scs[init] = metrics.spectral_convergence(spec.pow(1 / power), again.pow(1 / power))
    assert scs["pghi"] < 0.8 * scs[None], scs  # (5x lower on real speech: benchmarks/results/phase.md)


def test_griffin_lim_module_phase_init():
    spec = torch.stft(synthetic_audio(16000, 1.0), 400, 100, window=torch.hann_window(400), return_complex=True).abs() ** 2
    module = inverse_mel.GriffinLim(n_fft=400, hop_length=100, phase_init="pghi", seed=3)
    assert "phase_init='pghi'" in repr(module)
    assert torch.equal(module(spec), module(spec))  # seeded: reproducible
    batch = module(torch.stack([spec, spec]))
    assert batch.shape[0] == 2 and bool(torch.isfinite(batch).all())
    assert module(spec[..., :0]).shape == (0,) or module(spec[..., :0]).numel() == 0
    with pytest.raises(ValueError, match="phase_init must be None"):
        inverse_mel.GriffinLim(n_fft=400, phase_init="zeros")
    torch.jit.script(inverse_mel.GriffinLim(n_fft=400))  # the default module still scripts


# -- the mel projection ------------------------------------------------------------------------------
def _tts(device="cpu"):
    return inverse_mel.get_preset("hifigan").inverse_mel_scale(solver="nnls").to(device)


@pytest.mark.parametrize("device", DEVICES)
def test_projection_keeps_a_consistent_prior_and_fits_the_mel(device):
    module = _tts(device)
    op = module.operator(torch.float64)
    fb = module.fb.double()
    spec = torch.stft(synthetic_audio(22050, 1.0).double(), 1024, 256, window=torch.hann_window(1024, dtype=torch.float64),
                      return_complex=True).abs().to(device)
    mel = fb.T @ spec
    same = OPS.mel_projection(mel, spec, op.tap_index, op.tap_weight, 1e-6, 5)
    torch.testing.assert_close(same, spec, rtol=1e-6, atol=1e-9 * float(spec.max()))
    flat = torch.full_like(spec, float(spec.mean()))
    projected = OPS.mel_projection(mel, flat, op.tap_index, op.tap_weight, 1e-6, 30)
    misfit = torch.linalg.vector_norm(fb.T @ projected - mel) / torch.linalg.vector_norm(mel)
    assert float(misfit) < 1e-3 and bool((projected >= 0).all())
    uncovered = ~(op.tap_weight != 0).any(dim=1)
    assert bool(uncovered.any()) and torch.equal(projected[uncovered], flat[uncovered])  # above f_max: the prior
    torch.library.opcheck(OPS.mel_projection, (mel[:, :5].float(), flat[:, :5].float(),
                                                module.operator(torch.float32).tap_index,
                                                module.operator(torch.float32).tap_weight, 0.03, 1))
    empty = OPS.mel_projection(mel[:, :0], spec[:, :0], op.tap_index, op.tap_weight, 0.03, 1)
    assert empty.shape == (spec.shape[0], 0)
    with pytest.raises(RuntimeError, match="penalty must be a finite number > 0"):
        OPS.mel_projection(mel, spec, op.tap_index, op.tap_weight, 0.0, 1)


@pytest.mark.parametrize("device", DEVICES)
def test_projection_is_the_per_frame_solver_on_every_device_shape(device):
    # Batched and strided input give the frame-by-frame result.
    module = _tts(device)
    op = module.operator(torch.float32)
    gen = torch.Generator().manual_seed(0)
    prior = torch.rand(2, 513, 7, generator=gen).to(device)
    mel = module.fb.T @ torch.rand(2, 513, 7, generator=gen).to(device)
    batched = OPS.mel_projection(mel, prior, op.tap_index, op.tap_weight, 0.03, 2)
    for b in range(2):
        for t in range(7):
            single = OPS.mel_projection(mel[b, :, t:t + 1].contiguous(), prior[b, :, t:t + 1].contiguous(),
                                        op.tap_index, op.tap_weight, 0.03, 2)
            assert torch.equal(batched[b, :, t:t + 1], single)
    strided = OPS.mel_projection(mel.transpose(-1, -2).contiguous().transpose(-1, -2), prior, op.tap_index,
                                 op.tap_weight, 0.03, 2)
    assert torch.equal(strided, batched)


# -- mel to audio ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def speech():
    preset = inverse_mel.get_preset("hifigan")
    audio = synthetic_audio(22050, seconds=2.0)
    return preset, audio, preset.features(audio)


def _audio_sc(preset, audio, waveform):
    reference = preset.spectrogram(audio)
    again = preset.spectrogram(waveform)
    n = min(reference.shape[-1], again.shape[-1])
    return metrics.spectral_convergence(reference[..., :n], again[..., :n])


@pytest.mark.slow  # 15 s: three full mel-to-audio chains
def test_new_methods_beat_the_classic_chain(speech):
    preset, audio, features = speech
    sc = {m: _audio_sc(preset, audio, inverse_mel.mel_to_audio(features, preset, method=m))
          for m in ("griffin_lim", "pghi", "mcgl")}
    assert sc["pghi"] < 0.95 * sc["griffin_lim"] and sc["mcgl"] < 0.95 * sc["griffin_lim"], sc


@pytest.mark.slow  # 5 s: mel-to-audio chains
@pytest.mark.parametrize("method", ["pghi", "mcgl"])
def test_model_like_input_does_not_blow_up(speech, method):
    preset, audio, features = speech
    noisy = features + 0.3 * torch.randn(features.shape, generator=torch.Generator().manual_seed(0))  # ln-mel: x exp(0.3 N)
    waveform = inverse_mel.mel_to_audio(noisy, preset, method=method)
    classic = inverse_mel.mel_to_audio(noisy, preset, method="griffin_lim")
    assert bool(torch.isfinite(waveform).all())
    assert float(waveform.abs().max()) < 2.0 * float(classic.abs().max())


def test_mel_to_audio_methods_batches_and_errors(speech):
    preset, _, features = speech
    batch = torch.stack([features, features])
    out = inverse_mel.mel_to_audio(batch, preset, method="mcgl", mcgl_iter=2)
    # Item 0 draws the random phase (of the bins PGHI leaves) that a single call draws. Not bit for
    # bit: torch's CPU FFT may round a batch of 2 differently from a single transform (on an Intel
    # Xeon with MKL, istft/stft round trips differ by 1e-5 and the iterations carry that to 6e-4
    # of the waveform's norm); another seed's phase differs by more than 100%.
    single = inverse_mel.mel_to_audio(features, preset, method="mcgl", mcgl_iter=2)
    assert float((out[0] - single).norm() / single.norm()) < 1e-2
    assert inverse_mel.mel_to_audio(features[:, :0], preset, method="mcgl").numel() == 0
    with pytest.raises(ValueError, match="method must be one of griffin_lim, pghi, mcgl"):
        inverse_mel.mel_to_audio(features, preset, method="best")


@pytest.mark.parametrize("device", DEVICES)
def test_mcgl_runs_on_the_device(speech, device):
    preset, _, features = speech
    waveform = inverse_mel.mel_to_audio(features.to(device), preset, method="mcgl", mcgl_iter=2)
    assert waveform.device.type == device
    if device != "cpu":
        cpu = inverse_mel.mel_to_audio(features, preset, method="mcgl", mcgl_iter=2)
        assert metrics.spectral_convergence(cpu, waveform.cpu()) < 1e-2
