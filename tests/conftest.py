"""Shared test helpers: the torchaudio 2.11 reference fixtures and independent float64 references."""
import json
import os
import warnings

import numpy as np
import pytest
import torch

import inverse_mel

DATA = os.path.join(os.path.dirname(__file__), "data", "torchaudio_2_11_reference.npz")


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
ALL_CONFIGS = list(range(len(REFERENCE)))
WELL_CONDITIONED = [i for i in ALL_CONFIGS if REFERENCE.well_conditioned(i)]
ILL_CONDITIONED = [i for i in ALL_CONFIGS if not REFERENCE.well_conditioned(i)]


@pytest.fixture
def reference():
    return REFERENCE


def truncated_pinv(fb, rcond):
    """Independent float64 reference: pinv(fb.T) keeping singular values > rcond * max (numpy SVD)."""
    a = np.asarray(fb, dtype=np.float64).T  # (n_mels, n_freqs)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    keep = s > rcond * s.max()
    return torch.from_numpy((vt[keep].T / s[keep]) @ u[:, keep].T)  # (n_freqs, n_mels)


def reference_inverse(melspec, fb, rcond=inverse_mel.DEFAULT_RCOND):
    """relu(truncated_pinv(fb.T) @ melspec) in float64."""
    return torch.relu(truncated_pinv(fb, rcond) @ melspec.to(torch.float64))


def rel_err(a, b):
    a = a.to(torch.float64)
    b = b.to(torch.float64)
    return float((a - b).norm() / b.norm())
