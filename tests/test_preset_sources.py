"""The model presets against their sources: each model's feature code transcribed here from the
cited repository (and BigVGAN's own ``meldataset.py`` where the ``bigvgan`` package is installed),
independently of ``Preset``'s code.

Each reference takes the filterbank as an argument. With the preset's own filterbank the comparison
is tight (it checks the framing, window, magnitude, floor, log and normalisation). With the
filterbank the model builds (``librosa.filters.mel``, whose HTK/no-norm form is torchaudio's), the
tolerance is the filterbank difference, measured and stated in ``LIBROSA_ATOL``."""
import importlib.util
import math
import sys
import types
import warnings

import numpy as np
import pytest
import torch

import inverse_mel
from helpers import synthetic_audio
from inverse_mel.presets import ALIASES, PRESETS, Preset

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")


@pytest.fixture(scope="module")
def audio_by_rate():
    return {rate: synthetic_audio(rate, seconds=1.5) for rate in (16000, 22050, 24000, 44100)}


def _librosa_fb(sr, n_fft, n_mels, fmin=0.0, fmax=None, htk=False, norm="slaney", dtype=torch.float32):
    """(n_freqs, n_mels), as the models build it (librosa's (n_mels, n_freqs), transposed)."""
    return torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                                                norm=norm)).to(dtype).T


# -- transcriptions -----------------------------------------------------------------------------
def _hifigan_style(audio, fb, n_fft, hop, win):
    """BigVGAN / Matcha / CosyVoice ``mel_spectrogram`` (HiFi-GAN's), center=False."""
    padding = (n_fft - hop) // 2
    y = torch.nn.functional.pad(audio[None, None], (padding, padding), mode="reflect")[0]
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win), center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
    return torch.log(torch.clamp(fb.T @ spec, min=1e-5))[0]


def _bigvgan_22k(audio, fb):
    return _hifigan_style(audio, fb, 1024, 256, 1024)


_bigvgan_24k = _bigvgan_44k = _bigvgan_22k


def _matcha(audio, fb):
    return (_hifigan_style(audio, fb, 1024, 256, 1024) - (-5.536622)) / 2.116101  # configs/data/ljspeech.yaml


def _cosyvoice2(audio, fb):
    return _hifigan_style(audio, fb, 1920, 480, 1920)


def _speecht5(audio, fb):
    """transformers' SpeechT5FeatureExtractor._stft + _extract_mel_features, in float64 numpy."""
    window = torch.hann_window(1024, periodic=True).numpy().astype(np.float64)
    waveform = np.pad(audio.numpy(), [(512, 512)], mode="reflect").astype(np.float64)  # (float64 audio in)
    num_frames = int(1 + np.floor((waveform.size - 1024) / 256))
    spectrogram = np.empty((num_frames, 513))
    for frame_idx in range(num_frames):
        spectrogram[frame_idx] = np.abs(np.fft.rfft(waveform[frame_idx * 256: frame_idx * 256 + 1024] * window))
    mel = np.log10(np.maximum(1e-10, np.dot(spectrogram, fb.double().numpy())))  # (frames, 80)
    return torch.from_numpy(mel.T)  # float64, as the model computes it


def _tacotron2(audio, fb):
    """NVIDIA/tacotron2 stft.py STFT.transform (a conv1d with the windowed Fourier basis, reflect
    padding of filter_length / 2) + layers.py TacotronSTFT.mel_spectrogram."""
    filter_length, hop, win = 1024, 256, 1024
    fourier_basis = np.fft.fft(np.eye(filter_length))
    cutoff = filter_length // 2 + 1
    fourier_basis = np.vstack([np.real(fourier_basis[:cutoff]), np.imag(fourier_basis[:cutoff])])
    window = librosa.util.pad_center(scipy_signal.get_window("hann", win, fftbins=True), size=filter_length)
    forward_basis = torch.from_numpy(fourier_basis[:, None, :] * window).to(audio.dtype)  # FloatTensor there
    x = torch.nn.functional.pad(audio[None, None], (filter_length // 2, filter_length // 2), mode="reflect")
    forward = torch.nn.functional.conv1d(x, forward_basis, stride=hop)
    real, imag = forward[:, :cutoff], forward[:, cutoff:]
    magnitude = torch.sqrt(real ** 2 + imag ** 2)
    return torch.log(torch.clamp(fb.T @ magnitude, min=1e-5) * 1)[0]


def _espnet2(audio, fb):
    """espnet2 Stft (torch.stft, centred, reflect) + LogMelFbank.forward + LogMel.forward."""
    stft = torch.stft(audio, 1024, hop_length=256, win_length=1024, window=torch.hann_window(1024), center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    stft = torch.view_as_real(stft).transpose(0, 1)  # (frames, freqs, 2), ESPnet's layout
    input_power = stft[..., 0] ** 2 + stft[..., 1] ** 2
    input_amp = torch.sqrt(torch.clamp(input_power, min=1.0e-10))
    mel_feat = torch.clamp(torch.matmul(input_amp, fb), min=1e-10)
    return mel_feat.log10().T


def _coqui(audio, fb, symmetric_norm=True, max_norm=4.0):
    """Coqui TTS AudioProcessor.melspectrogram with BaseAudioConfig's defaults (numpy)."""
    D = librosa.stft(y=audio.numpy(), n_fft=1024, hop_length=256, win_length=1024,
                     pad_mode="reflect", window="hann", center=True)
    S = np.dot(fb.double().numpy().T, np.abs(D))
    S = 20 * np.log10(np.maximum(1e-8, S))  # amp_to_db, spec_gain 20
    S = S - 20  # ref_level_db
    S_norm = (S - -100) / (--100)
    if symmetric_norm:
        S_norm = ((2 * max_norm) * S_norm) - max_norm
        return torch.from_numpy(np.clip(S_norm, -max_norm, max_norm))  # float64, as the model computes it
    return torch.from_numpy(np.clip(max_norm * S_norm, 0, max_norm))


def _styletts2(audio, fb):
    """torchaudio MelSpectrogram(n_mels=80, n_fft=2048, win_length=1200, hop_length=300), power 2,
    centred reflect; then (log(1e-5 + mel) - (-4)) / 4."""
    spec = torch.stft(audio, 2048, hop_length=300, win_length=1200, window=torch.hann_window(1200), center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True).abs().pow(2.0)
    return (torch.log(1e-5 + fb.T @ spec) - (-4)) / 4


def _f5_tts(audio, fb):
    """torchaudio MelSpectrogram(24000, 1024, 1024, 256, 100, power=1, center=True, norm=None) + clamp(1e-5).log()."""
    spec = torch.stft(audio, 1024, hop_length=256, win_length=1024, window=torch.hann_window(1024), center=True,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True).abs()
    return (fb.T @ spec).clamp(min=1e-5).log()


def _whisper_128(audio, fb):
    stft = torch.stft(audio, 400, 160, window=torch.hann_window(400), return_complex=True)
    log_spec = torch.clamp(fb.T @ (stft[..., :-1].abs() ** 2), min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


# name -> (transcription, the filterbank the model's code builds)
SOURCES = {
    "bigvgan-22k-80": (_bigvgan_22k, lambda: _librosa_fb(22050, 1024, 80, 0, None)),
    "bigvgan-24k-100": (_bigvgan_24k, lambda: _librosa_fb(24000, 1024, 100, 0, None)),
    "bigvgan-44k-128": (_bigvgan_44k, lambda: _librosa_fb(44100, 1024, 128, 0, None)),
    "whisper-128": (_whisper_128, lambda: _librosa_fb(16000, 400, 128)),
    "speecht5": (_speecht5, lambda: _librosa_fb(16000, 1024, 80, 80, 7600)),
    "tacotron2": (_tacotron2, lambda: _librosa_fb(22050, 1024, 80, 0, 8000)),
    "espnet2": (_espnet2, lambda: _librosa_fb(16000, 1024, 80, 80, 7600)),
    "coqui": (_coqui, lambda: _librosa_fb(22050, 1024, 80, 0, None)),
    # torchaudio's MelSpectrogram with its default sample_rate=16000: HTK, no norm, to 8000 "Hz".
    "styletts2": (_styletts2, lambda: _librosa_fb(16000, 2048, 80, 0, 8000, htk=True, norm=None)),
    "matcha": (_matcha, lambda: _librosa_fb(22050, 1024, 80, 0, 8000)),
    "cosyvoice2": (_cosyvoice2, lambda: _librosa_fb(24000, 1920, 80, 0, 8000)),
    "f5-tts": (_f5_tts, lambda: _librosa_fb(24000, 1024, 100, 0, 12000, htk=True, norm=None)),
}

# Numpy front ends (SpeechT5, Coqui) compute in float64, and so does the comparison. Tacotron 2's
# float32 conv1d STFT rounds mels near its 1e-5 floor differently from an FFT (0.002 in ln): its
# formula is compared in float64.
FLOAT64 = {"tacotron2"}
# SpeechT5 casts a float32 Hann window to float64: its rounding leaks into bins 8 or more decades
# below the peak (with a float64 window the two agree to 1e-9 everywhere). Values within 5 decades of
# the maximum are compared.
COMPARED_RANGE = {"speecht5": 5.0}

# The largest feature difference allowed between the model's own filterbank (librosa's) and
# melscale_fbanks, in the features' units (ln, log10, Coqui's [-4, 4], a normalised ln). Measured
# on the synthesized signal: at most 7e-5 (f5-tts; the weights differ by < 1e-5 of the largest, float32
# against librosa's float64).
LIBROSA_ATOL = 2e-4


def test_every_model_preset_has_a_source_test():
    assert set(SOURCES) | {"whisper", "hifigan", "vocos"} == set(PRESETS)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_preset_reproduces_the_model_code(audio_by_rate, name):
    preset = inverse_mel.get_preset(name)
    assert preset.source and preset.description
    reference, model_fb = SOURCES[name]
    audio = audio_by_rate[preset.sample_rate]
    exact = reference(audio, preset.fbanks())
    if exact.dtype == torch.float64 or name in FLOAT64:
        audio = audio.double()
        exact = reference(audio, preset.fbanks().double())
    ours = preset.features(audio)
    assert ours.dtype == exact.dtype
    assert ours.shape == exact.shape == (preset.n_mels, exact.shape[-1])
    compared = exact >= exact.max() - COMPARED_RANGE.get(name, math.inf)
    assert compared.float().mean() > 0.6
    torch.testing.assert_close(ours[compared], exact[compared], rtol=1e-4, atol=2e-4)
    fb = model_fb()
    assert fb.shape == preset.fbanks().shape
    with_model_fb = reference(audio, fb.to(audio.dtype))
    assert float((ours - with_model_fb).abs()[compared].max()) <= LIBROSA_ATOL


@pytest.mark.parametrize("name", ["bigvgan-22k-80", "bigvgan-24k-100", "bigvgan-44k-128"])
def test_bigvgan_presets_match_the_bigvgan_package(audio_by_rate, name):
    spec = importlib.util.find_spec("bigvgan")
    if spec is None:
        pytest.skip("the bigvgan package is not installed")
    # bigvgan/__init__.py imports the generator (and huggingface_hub); the feature code alone needs
    # only meldataset.py: load it under a bare package.
    saved = {key: sys.modules.pop(key) for key in ("bigvgan", "bigvgan.meldataset", "bigvgan.env")
             if key in sys.modules}
    try:
        package = types.ModuleType("bigvgan")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["bigvgan"] = package
        try:
            meldataset = importlib.import_module("bigvgan.meldataset")
        except ImportError as error:
            pytest.skip(f"bigvgan.meldataset does not import here: {error}")
        preset = inverse_mel.get_preset(name)
        audio = audio_by_rate[preset.sample_rate]
        theirs = meldataset.mel_spectrogram(audio[None], preset.n_fft, preset.n_mels, preset.sample_rate,
                                            preset.hop_length, preset.window_length, 0, None, center=False)[0]
    finally:
        for key in ("bigvgan", "bigvgan.meldataset", "bigvgan.env"):
            sys.modules.pop(key, None)
        sys.modules.update(saved)
    ours = preset.features(audio)
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().max()) <= LIBROSA_ATOL


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_compress_and_to_linear_mel_are_inverses(name):
    """On mels the clamp, floor and clip leave alone, to_linear_mel(compress(mel)) == mel."""
    preset = inverse_mel.get_preset(name)
    generator = torch.Generator().manual_seed(0)
    # between 1e-3 and 1: above every floor (Coqui's 1e-4, Whisper's max - 8) and below Coqui's 10
    mel = torch.pow(10.0, -3 * torch.rand(preset.n_mels, 50, generator=generator, dtype=torch.float64))
    back = preset.to_linear_mel(preset.compress(mel))
    torch.testing.assert_close(back, mel, rtol=1e-9, atol=0)
    features = preset.compress(mel)
    torch.testing.assert_close(preset.compress(preset.to_linear_mel(features)), features, rtol=1e-9, atol=1e-12)


def test_aliases_resolve_to_the_same_convention(audio_by_rate):
    for alias, target in ALIASES.items():
        assert inverse_mel.get_preset(alias) is PRESETS[target]
    # CosyVoice 1's settings are HiFi-GAN's: its transcription gives the hifigan preset's features
    audio = audio_by_rate[22050]
    torch.testing.assert_close(inverse_mel.get_preset("cosyvoice").features(audio),
                               _hifigan_style(audio, PRESETS["hifigan"].fbanks(), 1024, 256, 1024),
                               rtol=1e-4, atol=2e-4)


def test_whisper_128_is_whisper_with_128_mels():
    assert PRESETS["whisper-128"].replace(name="whisper", n_mels=80, description="", source="") == \
        PRESETS["whisper"].replace(description="", source="")


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(normalization="zscore"), r"normalization must be one of \['none', 'whisper', 'mean_std', 'coqui'\]"),
        (dict(norm_std=0.0), r"norm_std must be > 0"),
        (dict(log_gain=-20.0), r"log_gain must be > 0"),
        (dict(log="none", log_gain=20.0), r"log_gain scales a log; with log='none' it must be 1"),
        (dict(clamp_min=0.0), r"the log needs a floor: clamp_min must be > 0 \(or log_offset > 0\)"),
        (dict(log_offset=-1e-5), r"log_offset must be >= 0"),
        (dict(power_floor=math.nan), r"power_floor must be a finite number, found nan"),
        (dict(min_level_db=10.0), r"min_level_db must be < 0 dB"),
        (dict(max_norm=0.0), r"max_norm must be > 0"),
        (dict(symmetric_norm="yes"), r"symmetric_norm must be true or false"),
        (dict(filterbank_sample_rate=0), r"filterbank_sample_rate must be a positive int or None"),
        (dict(filterbank_sample_rate=8000, f_max=7600.0), r"f_max=7600.0 Hz is above the Nyquist"),
        (dict(norm="htk"), r'norm must be None or "slaney", found \'htk\''),
        (dict(mel_scale="bark"), r"mel_scale must be one of \['htk', 'slaney'\]"),
    ],
)
def test_new_fields_are_validated(changes, match):
    with pytest.raises(ValueError, match=match):
        PRESETS["hifigan"].replace(**changes)


def test_styletts2_offset_floor_and_overflow_message():
    preset = PRESETS["styletts2"]
    # below log(1e-5): the floor, a zero mel (not a negative one)
    assert float(preset.to_linear_mel(torch.full((80, 2), -4.0)).max()) == 0.0
    with pytest.raises(ValueError, match=r"features up to 1e\+30 overflow when preset 'hifigan' undoes its ln log"):
        PRESETS["hifigan"].to_linear_mel(torch.full((80, 3), 1e30))


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_mel_to_audio_with_every_model_preset(audio_by_rate, name):
    """Each model preset's features back to audio: finite, the source's length (within a hop), and a
    spectrogram close to the source's (every preset measured 0.07-0.25 at 16 iterations)."""
    preset = inverse_mel.get_preset(name)
    audio = audio_by_rate[preset.sample_rate]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank notes of the least-squares start
        waveform = inverse_mel.mel_to_audio(preset.features(audio), name, n_iter=16)
    assert bool(torch.isfinite(waveform).all())
    assert abs(waveform.numel() - audio.numel()) < preset.hop_length
    truth, rebuilt = preset.spectrogram(audio), preset.spectrogram(waveform)
    if preset.power == 2:
        truth, rebuilt = truth.sqrt(), rebuilt.sqrt()
    n = min(truth.shape[-1], rebuilt.shape[-1])
    assert float((truth[..., :n] - rebuilt[..., :n]).norm() / truth[..., :n].norm()) < 0.35


def test_coqui_zero_to_one_normalisation(audio_by_rate):
    """symmetric_norm=False, max_norm=1: Coqui's [0, 1] range (normalize's other branch)."""
    preset = inverse_mel.get_preset("coqui").replace(name="coqui-01", symmetric_norm=False, max_norm=1.0)
    audio = audio_by_rate[22050].double()
    ours = preset.features(audio)
    torch.testing.assert_close(ours, _coqui(audio, preset.fbanks().double(), symmetric_norm=False, max_norm=1.0),
                               rtol=1e-4, atol=2e-4)
    assert float(ours.min()) >= 0.0 and float(ours.max()) <= 1.0
    mel = torch.pow(10.0, -3 * torch.rand(80, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    torch.testing.assert_close(preset.to_linear_mel(preset.compress(mel)), mel, rtol=1e-9, atol=0)
