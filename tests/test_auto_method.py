"""method="auto" (the default of mel_to_audio) and the consistency metrics: the choice follows the
measured mel misfits, it is deterministic and finite, it reports what it chose, and
metrics.mel_misfit / mel_inconsistency behave as measures (0 on a sound's own mel, growing with
independent errors, clear errors on bad input)."""
import logging
import warnings

import pytest
import torch

import inverse_mel
from helpers import synthetic_audio
from inverse_mel import metrics
from inverse_mel.pipeline import AUTO_KEEP_RATIO, DEFAULT_METHOD, mel_to_audio

PRESET = "hifigan"


@pytest.fixture(scope="module")
def clean():
    """(linear mel (80, frames), audio) of the tests' signal, 1.5 s at 22.05 kHz."""
    preset = inverse_mel.get_preset(PRESET)
    audio = synthetic_audio(preset.sample_rate, seconds=1.5)
    return preset.mel_spectrogram(audio), audio


def _noisy(mel, sigma, seed=1):
    return mel * torch.exp(sigma * torch.randn(mel.shape, generator=torch.Generator().manual_seed(seed)))


def _auto(mel, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mel_to_audio(mel, PRESET, features=False, return_info=True, **kwargs)


def test_auto_is_the_default():
    import inspect

    from inverse_mel.cli import build_parser

    assert DEFAULT_METHOD == "auto"
    assert inspect.signature(mel_to_audio).parameters["method"].default == "auto"
    assert build_parser().parse_args(["x", "-o", "y"]).method == "auto"


def test_auto_choice_follows_the_misfits(clean):
    mel, _ = clean
    batch = torch.stack([mel, _noisy(mel, 0.5)])
    waveform, info = _auto(batch)
    assert info.method == "auto" and len(info.chosen) == 2
    # The rule, recomputed from the reported misfits of the two candidates.
    expected = ["mcgl" if float(m) <= AUTO_KEEP_RATIO * float(p) else "pghi"
                for m, p in zip(info.misfit_mcgl, info.misfit_pghi)]
    assert info.chosen == expected
    # Clean mels are consistent: the mel-consistent iterations close much more of PGHI's misfit on
    # them than on the noisy copy, which the rule leaves to PGHI.
    ratio = info.misfit_mcgl / info.misfit_pghi
    assert float(ratio[0]) < float(ratio[1])
    assert info.chosen == ["mcgl", "pghi"], (ratio, info.reason)
    # The noisy item is exactly pghi's audio (the same batch: PGHI's random phase of near-silent bins
    # is drawn per batch), and the reported misfit is the returned audio's.
    pghi = mel_to_audio(batch, PRESET, features=False, method="pghi")
    assert torch.equal(waveform[1], pghi[1])
    assert torch.allclose(info.misfit, metrics.mel_misfit(batch, waveform, PRESET), rtol=1e-4)


def test_auto_is_deterministic_and_batch_consistent(clean):
    mel, _ = clean
    noisy = _noisy(mel, 0.3)
    first, info_a = _auto(torch.stack([mel, noisy]))
    second, info_b = _auto(torch.stack([mel, noisy]))
    assert torch.equal(first, second) and info_a.chosen == info_b.chosen
    single, info_single = _auto(noisy)
    assert info_single.chosen == info_a.chosen[1:]
    # Alone or in a batch: the same audio up to PGHI's random global phase (compared as spectra).
    preset = inverse_mel.get_preset(PRESET)
    a, b = preset.spectrogram(single), preset.spectrogram(first[1])
    assert float((a - b).norm() / a.norm()) < 0.05


def test_auto_is_finite_on_hard_inputs(clean):
    mel, audio = clean
    for hard in (torch.zeros_like(mel), _noisy(mel, 2.0), mel * 1e-12, mel * 1e6):
        waveform, info = _auto(hard)
        assert bool(torch.isfinite(waveform).all()) and bool(torch.isfinite(info.misfit).all())
        assert waveform.shape[-1] == audio.shape[-1] - audio.shape[-1] % 256 or abs(
            waveform.shape[-1] - audio.shape[-1]) < 256


def test_auto_reports_and_logs(clean, caplog):
    mel, audio = clean
    with caplog.at_level(logging.INFO, logger="inverse_mel"):
        waveform, specgram, info = _auto(mel, return_specgram=True, length=audio.numel())
    assert waveform.shape == audio.shape and specgram.shape[-2] == 513
    assert info.reason.startswith("auto:") and info.reason in caplog.text
    assert str(AUTO_KEEP_RATIO) in info.reason
    _, explicit = _auto(mel, method="pghi")
    assert explicit.method == "pghi" and explicit.chosen == ["pghi"] and explicit.misfit_mcgl is None


def test_explicit_methods_do_not_change(clean):
    mel, _ = clean
    from inverse_mel.pipeline import reconstruct_waveform

    preset = inverse_mel.get_preset(PRESET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inverse = preset.inverse_mel_scale(solver="nnls")
    spec = inverse(mel)
    for method in ("griffin_lim", "pghi"):
        direct = reconstruct_waveform(spec, preset, 8, 0.99, None, True, 0, method=method)
        assert torch.equal(mel_to_audio(mel, PRESET, features=False, method=method, n_iter=8), direct)


# -- metrics ----------------------------------------------------------------------------------------
def test_mel_misfit_is_zero_on_the_audios_own_mel(clean):
    mel, audio = clean
    assert float(metrics.mel_misfit(mel, audio, PRESET)) < 1e-5
    other = synthetic_audio(22050, seconds=1.5, seed=3) * 0.5
    assert float(metrics.mel_misfit(mel, other, PRESET)) > 0.1


def test_mel_inconsistency_grows_with_noise(clean):
    mel, _ = clean
    preset = inverse_mel.get_preset(PRESET)
    levels = [float(metrics.mel_inconsistency(preset.compress(_noisy(mel, s)), PRESET)) for s in (0.0, 0.1, 0.3, 0.6)]
    assert levels == sorted(levels) and levels[-1] > 2 * levels[0], levels
    # features=False on the linear mel gives the same value as the features.
    linear = float(metrics.mel_inconsistency(preset.to_linear_mel(preset.compress(mel)), PRESET, features=False))
    assert abs(linear - levels[0]) < 1e-3 * levels[0] + 1e-6


def test_mel_inconsistency_batch_and_determinism(clean):
    mel, _ = clean
    preset = inverse_mel.get_preset(PRESET)
    features = torch.stack([preset.compress(mel), preset.compress(_noisy(mel, 0.3))])
    a = metrics.mel_inconsistency(features, PRESET)
    assert a.shape == (2,) and torch.equal(a, metrics.mel_inconsistency(features, PRESET))


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(40, 10), "n_mels|80"),
    (torch.full((80, 10), float("nan")), "NaN"),
    ("not a tensor", "tensor"),
])
def test_mel_inconsistency_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        metrics.mel_inconsistency(bad, PRESET)


def test_mel_inconsistency_negative_linear_mel():
    with pytest.raises(ValueError, match="non-negative"):
        metrics.mel_inconsistency(-torch.ones(80, 20), PRESET, features=False)


def test_mel_misfit_bad_input(clean):
    mel, audio = clean
    with pytest.raises(ValueError, match="batch shape"):
        metrics.mel_misfit(mel, torch.stack([audio, audio]), PRESET)
    with pytest.raises(ValueError, match="melspec"):
        metrics.mel_misfit(mel[:40], audio, PRESET)
