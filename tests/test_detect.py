"""inverse_mel.presets.detect: the ranking's form, its input checks, and that it names the preset
(or a preset with the same value convention, stated as a tie) for every preset's features of a
synthesized signal. benchmarks/bench_detect.py measures it on real recordings."""
import math

import pytest
import torch

from helpers import synthetic_audio
from inverse_mel.presets import PRESETS, Detection, detect

# Value conventions no other preset shares: the detection must name them outright.
UNIQUE = ["whisper", "whisper-128", "coqui", "styletts2", "matcha", "bigvgan-44k-128"]


@pytest.fixture(scope="module")
def features_by_preset():
    audio = {rate: synthetic_audio(rate, seconds=2.0) for rate in {p.sample_rate for p in PRESETS.values()}}
    return {name: preset.features(audio[preset.sample_rate]) for name, preset in PRESETS.items()}


def test_ranking_form(features_by_preset):
    found = detect(features_by_preset["whisper"])
    assert isinstance(found, Detection) and found.best == "whisper"
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert math.isclose(sum(scores), 1.0, rel_tol=1e-9)
    assert {name for name, _ in found} == set(PRESETS)
    assert dict(found)["vocos"] == 0.0  # 100 mels: not a candidate for 80
    assert found.ties == ("whisper",) and found.fits
    assert "whisper's log10-mel" in found.reason and "at its floor" in found.reason


@pytest.mark.parametrize("name", UNIQUE)
def test_unique_conventions_are_named(features_by_preset, name):
    found = detect(features_by_preset[name])
    assert found.best == name, found
    assert found[0][1] > 0.5, found


@pytest.mark.parametrize("name", sorted(set(PRESETS) - set(UNIQUE)))
def test_shared_conventions_tie_with_the_truth(features_by_preset, name):
    found = detect(features_by_preset[name])
    preset = PRESETS[name]
    if found.best != name:
        assert name in found.ties, found
        assert "tied with" in found.reason
        assert PRESETS[found.best].n_mels == preset.n_mels and PRESETS[found.best].log == preset.log


def test_batch_and_sample_rate(features_by_preset):
    hifigan = features_by_preset["hifigan"]
    assert detect(torch.stack([hifigan, hifigan])).best == detect(hifigan).best
    at_24k = detect(hifigan, sample_rate=24000)
    assert all(PRESETS[name].sample_rate == 24000 for name, score in at_24k if score > 0)
    assert detect(hifigan, sample_rate=22050).best in ("hifigan", "tacotron2", "bigvgan-22k-80", "matcha", "coqui")


def test_values_no_preset_gives_do_not_fit():
    found = detect(torch.full((80, 3), 1e30))
    assert found.best is not None and not found.fits


def test_no_preset_with_these_mels():
    found = detect(torch.zeros(7, 10))
    assert found.best is None and found.ties == ()
    assert "no preset has 7 mels" in found.reason


@pytest.mark.parametrize(
    "features, error, match",
    [
        (torch.zeros(80), ValueError, r"detect: features must have shape \(\.\.\., n_mels, frames\), found \(80,\)"),
        (torch.full((80, 3), math.nan), ValueError, "detect: features contain NaN or Inf"),
        (torch.zeros(80, 3, dtype=torch.complex64), TypeError, "detect: features must be real numbers"),
        ("mel", TypeError, "detect: features must be a tensor or an array"),
    ],
)
def test_bad_input(features, error, match):
    with pytest.raises(error, match=match):
        detect(features)
    with pytest.raises(ValueError, match="sample_rate must be a positive int"):
        detect(torch.zeros(80, 3), sample_rate=-1)
