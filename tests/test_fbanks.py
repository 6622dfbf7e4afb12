"""melscale_fbanks and the Hz/mel conversions against torchaudio 2.11 and an independent formula."""
import math
import warnings

import numpy as np
import pytest
import torch

from inverse_mel import functional as F
from helpers import ALL_CONFIGS, REFERENCE, STORED_FB_ATOL


@pytest.mark.parametrize("i", ALL_CONFIGS)
def test_melscale_fbanks_matches_torchaudio(i):
    m = REFERENCE.meta[i]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fb = F.melscale_fbanks(m["n_freqs"], m["f_min"], m["f_max"], m["n_mels"], m["sample_rate"], m["norm"], m["mel_scale"])
    expected = REFERENCE.array("fb", i)
    assert fb.dtype == torch.float32 and fb.shape == expected.shape
    assert float((fb - expected).abs().max()) <= STORED_FB_ATOL
    warned = any("all zero values" in str(w.message) for w in caught)
    assert warned == m["warned"]


def _htk_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _slaney_mel(f):
    f = np.asarray(f, dtype=np.float64)
    return np.where(f < 1000.0, 3.0 * f / 200.0, 15.0 + 27.0 * np.log(np.maximum(f, 1e-9) / 1000.0) / np.log(6.4))


@pytest.mark.parametrize("scale, formula", [("htk", _htk_mel), ("slaney", _slaney_mel)])
def test_hz_mel_conversions(scale, formula):
    freqs = np.array([0.0, 20.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0, 24000.0])
    mels = F.hz_to_mel(torch.tensor(freqs, dtype=torch.float64), scale)
    np.testing.assert_allclose(mels.numpy(), formula(freqs), rtol=1e-12, atol=1e-12)
    for f in freqs:  # the float path agrees with the tensor path
        assert math.isclose(F.hz_to_mel(float(f), scale), formula(f), rel_tol=1e-12, abs_tol=1e-12)
    back = F.mel_to_hz(mels, scale)
    np.testing.assert_allclose(back.numpy(), freqs, rtol=1e-10, atol=1e-9)
    assert math.isclose(F.mel_to_hz(F.hz_to_mel(440.0, scale), scale), 440.0, rel_tol=1e-12)


def test_invalid_norm_and_scale():
    with pytest.raises(ValueError, match="norm must be one of None or"):
        F.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, norm="l2")
    with pytest.raises(ValueError, match='mel_scale should be one of "htk" or "slaney"'):
        F.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, mel_scale="bark")


def test_filterbank_is_close_to_librosa():
    # librosa builds its frequency grid a little differently: close, not equal.
    for i in (1, 2):
        ours = REFERENCE.array("fb", i)
        theirs = REFERENCE.array("librosa_fb", i).T
        assert float((ours - theirs).abs().max()) < 0.05 * float(theirs.abs().max())
