"""Property tests (hypothesis) over random valid configurations: sample rates 8-96 kHz,
n_fft 64-8192, n_mels 1-512, random f_min/f_max, both mel scales and both norms.

Each property is checked against an independent float64 computation written here (numpy),
never against the library's own output:

* ``melscale_fbanks`` equals the triangle formula to float32 round-off;
* the least-squares output satisfies the optimality conditions of the truncated problem;
* the NNLS output satisfies the KKT conditions;
* solutions scale with the input; batches equal per-item calls; threads do not matter.

CI runs a fixed, derandomized set of examples (profile ``ci``); locally each run draws new ones.
"""
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import inverse_mel
from inverse_mel import functional as F
from helpers import noise_gain_rank

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

EPS32 = float(np.finfo(np.float32).eps)


@st.composite
def mel_configs(draw, max_n_fft=8192, max_mels=512):
    sample_rate = draw(st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000]))
    n_fft = draw(st.integers(64, max_n_fft))
    n_mels = draw(st.integers(1, max_mels))
    nyquist = sample_rate / 2
    f_min = draw(st.floats(0.0, 0.4 * nyquist, allow_nan=False))
    f_max = draw(st.floats(f_min + 0.05 * nyquist, nyquist, allow_nan=False))
    norm = draw(st.sampled_from([None, "slaney"]))
    mel_scale = draw(st.sampled_from(["htk", "slaney"]))
    return dict(n_stft=n_fft // 2 + 1, n_mels=n_mels, sample_rate=sample_rate, f_min=f_min, f_max=f_max,
                norm=norm, mel_scale=mel_scale)


def _fb(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty filters are part of the space
        return F.melscale_fbanks(cfg["n_stft"], cfg["f_min"], cfg["f_max"], cfg["n_mels"], cfg["sample_rate"],
                                 cfg["norm"], cfg["mel_scale"])


def _module(cfg, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank warnings
        return inverse_mel.InverseMelScale(**cfg, **kwargs)


# -- the independent float64 filterbank ------------------------------------------------------
def _hz_to_mel64(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + 27.0 * np.log(np.maximum(f, 1e-300) / 1000.0) / np.log(6.4))


def _mel_to_hz64(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    return np.where(m < 15.0, 200.0 * m / 3.0, 1000.0 * np.exp(np.log(6.4) / 27.0 * (m - 15.0)))


def reference_fbanks(cfg):
    """Triangle ``k`` rises from mel point k to k+1 and falls to k+2 (float64 throughout)."""
    n_freqs, n_mels, scale = cfg["n_stft"], cfg["n_mels"], cfg["mel_scale"]
    freqs = np.linspace(0.0, cfg["sample_rate"] // 2, n_freqs)
    mel_points = np.linspace(_hz_to_mel64(cfg["f_min"], scale), _hz_to_mel64(cfg["f_max"], scale), n_mels + 2)
    hz_points = _mel_to_hz64(mel_points, scale)
    lower, center, upper = hz_points[:-2], hz_points[1:-1], hz_points[2:]
    rising = (freqs[:, None] - lower) / (center - lower)
    falling = (upper - freqs[:, None]) / (upper - center)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    if cfg["norm"] == "slaney":
        fb *= 2.0 / (upper - lower)
    return fb, hz_points


@pytest.mark.slow  # 9 s: 300 examples
@settings(max_examples=300)
@given(mel_configs())
def test_melscale_fbanks_equals_the_float64_formula(cfg):
    ours = _fb(cfg).double().numpy()
    ref, hz_points = reference_fbanks(cfg)
    assert ours.shape == ref.shape == (cfg["n_stft"], cfg["n_mels"])
    # float32 round-off: the corner frequencies carry a relative error of a few eps32 (the
    # mel <-> Hz maps amplify by at most ~10), so a weight moves by that error over the
    # narrowest triangle side, relative to its filter's peak.
    narrowest = float(np.diff(hz_points).min())
    bound = 64 * EPS32 * max(cfg["f_max"], cfg["sample_rate"] / 2) / narrowest
    # Relative to each triangle's apex value (1, or 2 / width with slaney norm): a filter that falls
    # between bins has a tiny sampled maximum, which would make any error look large.
    apex = 2.0 / (hz_points[2:] - hz_points[:-2]) if cfg["norm"] == "slaney" else np.ones(cfg["n_mels"])
    error = float((np.abs(ours - ref) / apex).max())
    assert error <= bound, f"max error {error:.3g} relative to the filter apex, bound {bound:.3g}"


# -- least squares: optimality of the truncated problem -----------------------------------------
def _unclipped(module, melspec):
    # The op fuses ReLU into a linear map L: relu(L m) - relu(-L m) = L m exactly.
    return module(melspec) - module(-melspec)


@pytest.mark.slow  # 34 s: 120 examples
@settings(max_examples=120)
@given(mel_configs(max_n_fft=4096, max_mels=256), st.integers(0, 2**31 - 1))
def test_lstsq_satisfies_the_optimality_conditions(cfg, seed):
    module = _module(cfg).double()
    fb = module.fb.double().numpy()
    a = fb.T  # (n_mels, n_freqs): melspec = a @ specgram
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    assume(s[0] > 0)
    rank = module.operator(torch.float64).rank
    assert rank == noise_gain_rank(fb, dtype=torch.float64)  # the documented rule, transcribed independently
    keep = np.arange(s.size) < rank
    assume(rank == s.size or s[rank] < (1 - 1e-6) * s[rank - 1])  # no tie at the cut
    gen = torch.Generator().manual_seed(seed)
    melspec = torch.rand(cfg["n_mels"], 6, generator=gen, dtype=torch.float64)  # generic: inconsistent
    x = _unclipped(module, melspec).numpy()
    m = melspec.numpy()
    residual = a @ x - m
    # (1) the residual is orthogonal to the kept range of a; (2) x lies in the kept row space.
    cond = s[0] / s[keep].min()
    orthogonality = np.linalg.norm(u[:, keep].T @ residual) / (s[0] * np.linalg.norm(x) + np.linalg.norm(m))
    outside_row_space = np.linalg.norm(x - vt[keep].T @ (vt[keep] @ x)) / max(np.linalg.norm(x), 1e-300)
    assert orthogonality <= 1e3 * np.finfo(np.float64).eps * cond
    assert outside_row_space <= 1e3 * np.finfo(np.float64).eps * cond
    # float32 agrees with float64 to float32 round-off times the kept condition number.
    module32 = _module(cfg)
    if module32.rank == rank:  # float32 may cut more: its round-off floor is higher
        x32 = _unclipped(module32, melspec.float()).double().numpy()
        assert np.linalg.norm(x32 - x) <= 64 * EPS32 * cond * np.linalg.norm(x) + 1e-30


# -- NNLS: KKT ----------------------------------------------------------------------------
@pytest.mark.slow  # 24 s: 100 examples
@settings(max_examples=100)
@given(mel_configs(max_n_fft=4096, max_mels=256), st.integers(0, 2**31 - 1), st.booleans())
def test_nnls_satisfies_kkt(cfg, seed, noisy):
    module = _module(cfg, solver="nnls").double()  # default tol (1e-4) and max_iter (200)
    fb = module.fb.double()
    gen = torch.Generator().manual_seed(seed)
    spec = torch.rand(cfg["n_stft"], 5, generator=gen, dtype=torch.float64) ** 3
    melspec = fb.T @ spec
    if noisy:  # inconsistent input: the optimum has a residual and active constraints
        melspec = (melspec + 0.1 * melspec.mean() * torch.randn(melspec.shape, generator=gen, dtype=torch.float64)).abs()
    assume(bool((melspec.norm(dim=0) > 0).all()))
    result = module.forward_with_info(melspec)
    s = result.specgram
    assert float(s.min()) >= 0.0
    assert bool(result.converged.all()), f"not converged: iterations {result.iterations.tolist()}"
    a = fb.T
    r = a @ s - melspec
    g = a.T @ r  # gradient of 0.5 ||a s - m||^2
    norm_a = float(torch.linalg.matrix_norm(a, ord=2))
    # The documented stopping rule: an exact fit (||r|| <= tol ||m||, so |g| <= ||a|| tol ||m||) or a
    # projected gradient <= tol ||a|| ||r||. Either way |g| is bounded on the free set and g >= -bound
    # on the active set. 10x slack covers the float64 evaluation here.
    bound = 10 * F.DEFAULT_TOL * norm_a * torch.maximum(r.norm(dim=0), melspec.norm(dim=0))
    free = s > 0
    violation = torch.where(free, g.abs(), (-g).clamp_min(0))
    assert bool((violation <= bound).all()), f"KKT violation {float((violation / bound).max()):.3g} x bound"


# -- scaling, batching, threads ------------------------------------------------------------
@pytest.mark.slow  # 5 s: 60 examples
@settings(max_examples=60)
@given(mel_configs(max_n_fft=2048, max_mels=160), st.integers(0, 2**31 - 1), st.sampled_from(["lstsq", "nnls"]),
       st.integers(-40, 40), st.floats(1.0, 2.0, exclude_max=True))
def test_solutions_scale_with_the_input(cfg, seed, solver, exponent, mantissa):
    module = _module(cfg, solver=solver)
    gen = torch.Generator().manual_seed(seed)
    melspec = module.fb.T @ (torch.rand(cfg["n_stft"], 7, generator=gen) ** 2)
    assume(bool((melspec.norm(dim=0) > 0).all()))
    base = module(melspec)
    # Powers of two scale every intermediate exactly: bit-identical (the stopping rule is relative).
    power = 2.0 ** exponent
    assert torch.equal(module(melspec * power), base * power)
    # Any other factor: the same solution scaled, to the solver's tolerance; for lstsq, to float32
    # round-off times the kept condition number (a cond-43 bank moved by 1.0017e-5 at factor 1.5,
    # found by hypothesis against a flat 1e-5).
    factor = mantissa * power
    scaled = module(melspec * factor) / factor
    if solver == "lstsq":
        s = np.linalg.svd(module.fb.double().numpy(), compute_uv=False)
        cond = s[0] / s[: module.rank].min()
        tolerance = max(1e-5, 64 * EPS32 * cond)
    else:
        tolerance = 1e-2
    assert float((scaled - base).norm()) <= tolerance * float(base.norm()) + 1e-30


@settings(max_examples=50)
@given(mel_configs(max_n_fft=2048, max_mels=160), st.integers(0, 2**31 - 1), st.sampled_from(["lstsq", "nnls"]),
       st.integers(1, 4), st.integers(1, 70))
def test_batch_equals_per_item_and_threads_do_not_matter(cfg, seed, solver, batch, frames):
    module = _module(cfg, solver=solver)
    gen = torch.Generator().manual_seed(seed)
    melspec = module.fb.T @ (torch.rand(batch, cfg["n_stft"], frames, generator=gen) ** 3)
    together = module(melspec)
    apart = torch.stack([module(item) for item in melspec])
    assert torch.equal(together, apart)
    threads = torch.get_num_threads()
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            assert torch.equal(module(melspec), together)
    finally:
        torch.set_num_threads(threads)
