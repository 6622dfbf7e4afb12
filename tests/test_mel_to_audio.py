"""Presets, Griffin-Lim and mel_to_audio: every preset's round trip (audio -> the preset's log-mel ->
inverse -> spectral convergence), the presets against independent transcriptions of their front
ends, and Griffin-Lim against random phase."""
import math
import warnings

import pytest
import torch

import inverse_mel
from inverse_mel import functional as F
from helpers import synthetic_audio
from inverse_mel.presets import Preset

PRESET_NAMES = ["whisper", "hifigan", "vocos"]


def _sc(reference_mag, estimate_mag):
    n = min(reference_mag.shape[-1], estimate_mag.shape[-1])
    a, b = reference_mag[..., :n], estimate_mag[..., :n]
    return float((a - b).norm() / a.norm())


def _magnitude(preset, spec):
    return spec if preset.power == 1 else spec.sqrt()


@pytest.fixture(scope="module")
def audio_by_rate():
    return {rate: synthetic_audio(rate, seconds=2.0) for rate in (16000, 22050, 24000)}


# -- the presets reproduce their front ends (transcribed here from the projects' code) -----------
def _whisper_reference(audio, fb):
    window = torch.hann_window(400)
    stft = torch.stft(audio, 400, 160, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = fb.T @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def _hifigan_reference(audio, fb):
    n_fft, hop = 1024, 256
    y = torch.nn.functional.pad(audio[None, None], (int((n_fft - hop) / 2), int((n_fft - hop) / 2)), mode="reflect")[0]
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=n_fft, window=torch.hann_window(n_fft), center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
    return torch.log(torch.clamp(fb.T @ spec, min=1e-5))[0]


def _vocos_reference(audio, fb):
    spec = torch.stft(audio, 1024, 256, window=torch.hann_window(1024), center=True, pad_mode="reflect",
                      return_complex=True).abs()
    return torch.log(torch.clip(fb.T @ spec, min=1e-7))


@pytest.mark.parametrize("name, reference", [("whisper", _whisper_reference), ("hifigan", _hifigan_reference),
                                             ("vocos", _vocos_reference)])
def test_preset_features_match_the_front_end(audio_by_rate, name, reference):
    preset = inverse_mel.get_preset(name)
    audio = audio_by_rate[preset.sample_rate]
    ours = preset.features(audio)
    expected = reference(audio, preset.fbanks())
    assert ours.shape == expected.shape == (preset.n_mels, expected.shape[-1])
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    # to_linear_mel undoes the scaling wherever the clamp did not act.
    mel = preset.mel_spectrogram(audio)
    back = preset.to_linear_mel(ours)
    kept = back > 2 * preset.clamp_min
    if preset.normalization == "whisper":
        kept &= ours > ours.max() - 2.0 + 1e-3  # above the max - 8 (log10) floor
    torch.testing.assert_close(back[kept], mel[kept], rtol=1e-4, atol=0)
    # frames_to_samples gives the length the frames came from (up to one hop).
    assert abs(preset.frames_to_samples(ours.shape[-1]) - audio.numel()) < preset.hop_length


# -- every preset's round trip: audio -> features -> inverse -> spectral convergence -------------
# Bounds measured on this synthesized signal (NNLS: whisper 0.114, hifigan 0.191, vocos 0.142),
# with margin; NNLS must also beat the least-squares inverse.
SC_BOUND = {"whisper": 0.16, "hifigan": 0.25, "vocos": 0.2}


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_round_trip_spectral_convergence(audio_by_rate, name):
    preset = inverse_mel.get_preset(name)
    audio = audio_by_rate[preset.sample_rate]
    truth = _magnitude(preset, preset.spectrogram(audio))
    features = preset.features(audio)
    results = {}
    for solver in ("lstsq", "nnls"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Whisper's bank is rank-deficient at the default rcond
            inverse = preset.inverse_mel_scale(solver=solver)
        results[solver] = _sc(truth, _magnitude(preset, inverse(preset.to_linear_mel(features))))
    assert results["nnls"] <= SC_BOUND[name]
    assert results["nnls"] < results["lstsq"]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_mel_to_audio_round_trip(audio_by_rate, name):
    preset = inverse_mel.get_preset(name)
    audio = audio_by_rate[preset.sample_rate]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        waveform, specgram = inverse_mel.mel_to_audio(preset.features(audio), name, n_iter=32, return_specgram=True)
        random_phase = inverse_mel.mel_to_audio(preset.features(audio), name, n_iter=0, method="griffin_lim")
        pghi_phase = inverse_mel.mel_to_audio(preset.features(audio), name, n_iter=0, method="pghi")
    assert waveform.shape == random_phase.shape == pghi_phase.shape
    assert abs(waveform.numel() - audio.numel()) < preset.hop_length
    truth = _magnitude(preset, preset.spectrogram(audio))
    sc_audio = _sc(truth, _magnitude(preset, preset.spectrogram(waveform)))
    sc_random = _sc(truth, _magnitude(preset, preset.spectrogram(random_phase)))
    assert sc_audio < 0.3 and sc_audio < 0.5 * sc_random
    # PGHI's phase alone, before any iteration, beats a random phase by far.
    assert _sc(truth, _magnitude(preset, preset.spectrogram(pghi_phase))) < 0.7 * sc_random
    # The waveform lines up with the original in time (HiFi-GAN's uncentred frames included):
    # its spectrogram is closer to the original than a copy shifted by one hop.
    shifted = _magnitude(preset, preset.spectrogram(torch.roll(waveform, preset.hop_length)))
    assert sc_audio < _sc(truth, shifted)


def test_custom_preset_and_registry():
    custom = Preset(name="test-custom", sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, f_max=7600.0,
                    norm="slaney", mel_scale="slaney", power=1.0, log="log10", clamp_min=1e-6)
    inverse_mel.register_preset(custom)
    try:
        assert inverse_mel.get_preset("test-custom") is custom
        with pytest.raises(ValueError, match="exists; pass overwrite=True"):
            inverse_mel.register_preset(custom)
        audio = synthetic_audio(16000, seconds=1.0)
        waveform = inverse_mel.mel_to_audio(custom.features(audio), "test-custom", n_iter=8)
        assert waveform.shape[-1] == custom.frames_to_samples(custom.features(audio).shape[-1])
    finally:
        inverse_mel.PRESETS.pop("test-custom", None)
    with pytest.raises(ValueError, match=r"unknown preset 'nope'"):
        inverse_mel.get_preset("nope")
    with pytest.raises(ValueError, match="log must be one of"):
        custom.replace(log="log2")
    with pytest.raises(ValueError, match="f_max=9000.0 Hz is above the Nyquist"):
        custom.replace(f_max=9000.0)
    assert inverse_mel.get_preset("whisper").replace(n_mels=128).fbanks().shape == (201, 128)  # large-v3


# -- Griffin-Lim -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tone_spec():
    audio = synthetic_audio(16000, seconds=1.5)
    window = torch.hann_window(512)
    return audio, torch.stft(audio, 512, 128, window=window, return_complex=True).abs()


@pytest.mark.parametrize("momentum", [0.0, 0.99])
def test_griffin_lim_improves_over_random_phase(tone_spec, momentum):
    audio, magnitude = tone_spec
    window = torch.hann_window(512)

    def sc_of(n_iter):
        gen = torch.Generator().manual_seed(1)
        y = F.griffin_lim(magnitude, window, 512, 128, 512, 1.0, n_iter, momentum, audio.numel(), True, generator=gen)
        assert y.shape == audio.shape
        rebuilt = torch.stft(y, 512, 128, window=window, return_complex=True).abs()
        return _sc(magnitude, rebuilt)

    random_phase, iterated = sc_of(0), sc_of(50)
    assert iterated < 0.5 * random_phase, (random_phase, iterated)


def test_griffin_lim_module_matches_functional_and_is_seeded(tone_spec):
    audio, magnitude = tone_spec
    power = magnitude.square()
    module = inverse_mel.GriffinLim(n_fft=512, hop_length=128, n_iter=10, power=2.0, length=audio.numel(), seed=3)
    gen = torch.Generator().manual_seed(3)
    expected = F.griffin_lim(power, torch.hann_window(512), 512, 128, 512, 2.0, 10, 0.99, audio.numel(), True, generator=gen)
    assert torch.equal(module(power), expected)
    assert torch.equal(module(power), module(power))  # the seed makes it reproducible
    batched = module(torch.stack([power, power]).unsqueeze(0))  # leading dims (1, 2, ...)
    # item 0 draws the same phase as the single call (the later items draw their own)
    assert batched.shape == (1, 2, audio.numel()) and torch.equal(batched[0, 0], expected)
    zero_phase = inverse_mel.GriffinLim(n_fft=512, hop_length=128, n_iter=0, rand_init=False, power=2.0)(power)
    assert torch.isfinite(zero_phase).all()
    # torchaudio's defaults
    default = inverse_mel.GriffinLim()
    assert (default.n_fft, default.n_iter, default.win_length, default.hop_length, default.power,
            default.momentum, default.rand_init) == (400, 32, 400, 200, 2.0, 0.99, True)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(momentum=1.0), r"momentum must be in the range \[0, 1\), found 1.0"),
        (dict(n_iter=-1), "n_iter must be an int >= 0, found -1"),
        (dict(win_length=600), r"win_length \(600\) must be <= n_fft \(512\)"),
        (dict(power=0.0), "power must be > 0"),
        (dict(length=-1), r"length must be an int >= 0 or None, found -1"),
    ],
)
def test_griffin_lim_argument_errors(kwargs, match):
    args = dict(n_fft=512, hop_length=128)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        inverse_mel.GriffinLim(**args)


def test_griffin_lim_input_errors():
    module = inverse_mel.GriffinLim(n_fft=512, hop_length=128)
    with pytest.raises(ValueError, match=r"specgram must have shape \(\.\.\., 257, time\), found \(200, 10\)"):
        module(torch.rand(200, 10))
    bad = torch.rand(257, 10)
    bad[3, 3] = math.nan
    with pytest.raises(ValueError, match="specgram contains NaN or Inf"):
        module(bad)
    with pytest.raises(TypeError, match="specgram must be a real floating-point tensor"):
        module(torch.ones(257, 10, dtype=torch.int64))
