"""Shared test helpers, imported by the test files as ``from helpers import ...`` (conftest.py keeps
only pytest fixtures and hooks): the torchaudio 2.11 reference fixtures, independent float64
references, and the tests' own deterministic test signal."""
import json
import math
import os
import warnings

import numpy as np
import torch

import inverse_mel

DATA = os.path.join(os.path.dirname(__file__), "data", "torchaudio_2_11_reference.npz")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def subprocess_env(**extra):
    """The environment for a child Python that must import the package under test, this checkout's
    ``inverse_mel``, whatever else is installed (an editable install of another checkout, say):
    PYTHONPATH set to the repository root, plus ``extra``."""
    return dict(os.environ, PYTHONPATH=REPO, **extra)


class Reference:
    """torchaudio 2.11 filterbanks and InverseMelScale outputs for 30 configurations."""

    def __init__(self, path=DATA):
        self._npz = np.load(path)
        self.meta = json.loads(str(self._npz["meta"]))

    def __len__(self):
        return len(self.meta)

    def array(self, name, i):
        return torch.from_numpy(self._npz[f"{name}_{i}"])

    def has(self, name, i):
        return f"{name}_{i}" in self._npz.files

    def config(self, i):
        m = self.meta[i]
        return dict(
            n_stft=m["n_freqs"], n_mels=m["n_mels"], sample_rate=m["sample_rate"],
            f_min=m["f_min"], f_max=m["f_max"], norm=m["norm"], mel_scale=m["mel_scale"],
        )

    def well_conditioned(self, i):
        m = self.meta[i]
        return m["rank"] == m["n_mels"] and "gels" in m["drivers_ok"]

    def module(self, i, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return inverse_mel.InverseMelScale(**self.config(i), **kwargs)


REFERENCE = Reference()
# The stored torchaudio filterbanks against the same formula run here: torch's float32 pow rounds
# differently across CPUs (AVX2 / AVX-512, AMD / Intel) and versions, which moves narrow triangles'
# corners. Measured: up to 4.3e-6 on an Intel Xeon host (torch 2.13 here, 2.11 on the H200 machine).
STORED_FB_ATOL = 1e-5
ALL_CONFIGS = list(range(len(REFERENCE)))
WELL_CONDITIONED = [i for i in ALL_CONFIGS if REFERENCE.well_conditioned(i)]
ILL_CONDITIONED = [i for i in ALL_CONFIGS if not REFERENCE.well_conditioned(i)]



def noise_gain_rank(fb, max_gain=20.0, dtype=torch.float32, rcond=None):
    """Independent NumPy transcription of the documented rank rule: drop singular values at or
    below the compute dtype's round-off (eps * max(n_freqs, n_mels)) or ``rcond``; with
    ``rcond=None`` then drop the smallest while the noise gain sqrt(sum (s_rms / s_i)^2 / n) of
    the kept ones exceeds ``max_gain``."""
    a = np.asarray(fb, dtype=np.float64)
    s = np.linalg.svd(a, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    relative = s / s[0]
    floor = np.finfo(np.float32 if dtype in (torch.float32, torch.float16, torch.bfloat16) else np.float64).eps
    threshold = max(floor * max(s.size, a.shape[1]), rcond or 0.0)
    rank = int((relative > threshold).sum())
    while rcond is None and rank > 1:
        kept = relative[:rank]
        rms = np.sqrt(np.mean(kept**2))
        if np.sqrt(np.sum((rms / kept) ** 2) / s.size) <= max_gain:
            break
        rank -= 1
    return rank


def truncated_pinv(fb, rank):
    """Independent float64 reference: pinv(fb.T) keeping the ``rank`` largest singular values (numpy SVD)."""
    a = np.asarray(fb, dtype=np.float64).T  # (n_mels, n_freqs)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    return torch.from_numpy((vt[:rank].T / s[:rank]) @ u[:, :rank].T)  # (n_freqs, n_mels)


def reference_inverse(melspec, fb, rcond=None, dtype=None):
    """relu(truncated_pinv(fb.T) @ melspec) in float64, with the rank the rule gives for inputs of
    ``dtype`` (default: melspec's)."""
    rank = noise_gain_rank(fb, dtype=dtype or melspec.dtype, rcond=rcond)
    return torch.relu(truncated_pinv(fb, rank) @ melspec.to(torch.float64))


def torchaudio_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm=None, mel_scale="htk"):
    """torchaudio 2.11's melscale_fbanks, transcribed here with torch ops. The fixtures were written
    on an AVX-512 machine; torch's float32 pow/log round differently under AVX2, so bit-for-bit
    comparisons use this transcription on the machine at hand (and the fixtures to 1e-6)."""
    def hz_to_mel(f):
        if mel_scale == "htk":
            return 2595.0 * math.log10(1.0 + f / 700.0)
        return f / (200.0 / 3) if f < 1000.0 else 15.0 + math.log(f / 1000.0) / (math.log(6.4) / 27.0)

    def mel_to_hz(mels):
        if mel_scale == "htk":
            return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
        freqs = (200.0 / 3) * mels
        log_t = mels >= 15.0
        freqs[log_t] = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mels[log_t] - 15.0))
        return freqs

    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    f_pts = mel_to_hz(torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up_slopes = slopes[:, 2:] / f_diff[1:]
    fb = torch.max(torch.zeros(1), torch.min(down_slopes, up_slopes))
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])).unsqueeze(0)
    return fb


# CPU/CUDA float32 round-off (measured in test_cuda.py): least squares agree to 1e-5 relative, NNLS
# to NNLS_TOL of a frame's norm. A CUDA variant of a test bounded against a reference is held to
# the CPU bound plus that difference (the triangle inequality through the CPU result).
LSTSQ_DEVICE_RTOL = 1e-5
NNLS_TOL = 1e-4


def device_bound(device, cpu_bound, device_difference=LSTSQ_DEVICE_RTOL):
    """``cpu_bound`` on the CPU; ``cpu_bound + device_difference`` on another device."""
    return cpu_bound if device == "cpu" else cpu_bound + device_difference


def rel_err(a, b):
    a = a.to(torch.float64)
    b = b.to(torch.float64)
    return float((a - b).norm() / b.norm())


def synthetic_audio(sample_rate, seconds=4.0, seed=0):
    """The tests' deterministic test signal, their own copy so that the demo can change freely: a
    harmonic tone at 220 Hz (8 partials, 1/k amplitudes) with 1% vibrato at 5 Hz and a slow tremolo,
    a chirp rising from 300 Hz to 8 kHz over the clip, noise bursts of 0.15 s at 0.5, 1.7 and 2.9 s
    and a decaying 98 Hz note. Shape ``(samples,)``, float32, peak 0.9. Speech-like enough for the
    quality bounds (NNLS, PGHI, Griffin-Lim) measured on it: harmonic partials, a moving component,
    broadband transients. It reproduces, sample for sample, the signal those bounds were measured on
    (inverse_mel.demo.synthesize at the time of writing)."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate), dtype=torch.float64) / sample_rate
    f0 = 220.0 * (1.0 + 0.01 * torch.sin(2 * math.pi * 5.0 * t))
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sample_rate
    tone = sum(torch.sin(k * phase) / k for k in range(1, 9))
    chirp_freq = 300.0 * (8000.0 / 300.0) ** (t / seconds)
    chirp = 0.3 * torch.sin(2 * math.pi * torch.cumsum(chirp_freq, 0) / sample_rate)
    bursts = torch.zeros_like(t)
    for start in (0.5, 1.7, 2.9):
        mask = (t >= start) & (t < start + 0.15)
        bursts[mask] = 0.4 * torch.randn(int(mask.sum()), generator=gen, dtype=torch.float64)
    low = 0.5 * torch.sin(2 * math.pi * 98.0 * t) * torch.exp(-1.5 * t)
    x = tone * (0.6 + 0.4 * torch.sin(2 * math.pi * 0.5 * t)) + chirp + bursts + low
    return (0.9 * x / x.abs().max()).to(torch.float32)
