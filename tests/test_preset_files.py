"""Preset.from_file / Preset.to_file: every built-in preset round-trips through JSON and TOML, and a
bad file gets one clear error naming the file, the key and what is expected."""
import json

import pytest

from inverse_mel.presets import PRESETS, Preset


@pytest.mark.parametrize("suffix", [".json", ".toml"])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip(tmp_path, name, suffix):
    path = str(tmp_path / f"preset{suffix}")
    PRESETS[name].to_file(path)
    assert Preset.from_file(path) == PRESETS[name]


def test_toml_by_hand_with_defaults(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\nsample_rate = 16000\nn_fft = 512\nhop_length = 128\nn_mels = 64\n'
                    'f_max = 7600\nnorm = "slaney"\nlog = "log10"\nclamp_min = 1e-6\n')
    preset = Preset.from_file(str(path))
    assert preset == Preset(name="mine", sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, f_max=7600.0,
                            norm="slaney", log="log10", clamp_min=1e-6)
    assert isinstance(preset.f_max, float)  # an integer where a number is expected is that number


def _write(tmp_path, data, suffix=".json"):
    path = tmp_path / f"bad{suffix}"
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)
    return str(path)


BASE = dict(name="mine", sample_rate=16000, n_fft=512, hop_length=128, n_mels=64)


@pytest.mark.parametrize(
    "data, match",
    [
        (dict(BASE, n_ffts=512), r"unknown key\(s\) \['n_ffts'\]; the Preset fields are"),
        (dict(BASE, n_fft="512"), r"n_fft must be an integer, found '512'"),
        (dict(BASE, n_fft=512.0), r"n_fft must be an integer, found 512.0"),
        (dict(BASE, center="yes"), r"center must be true or false, found 'yes'"),
        (dict(BASE, clamp_min=None), r"clamp_min must be a float, found null"),
        (dict(BASE, log="log2"), r"log must be one of \['none', 'ln', 'log10'\], found 'log2'"),
        (dict(BASE, f_max=9000), r"f_max=9000.0 Hz is above the Nyquist frequency"),
        (dict(BASE, hop_length=-4), r"hop_length must be a positive int, found -4"),
        ({k: v for k, v in BASE.items() if k != "n_mels"}, r"missing required key\(s\) \['n_mels'\]"),
        ("[1, 2]", r"expected an object of Preset fields, found list"),
        ("{not json", r"not valid JSON"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, data, match):
    path = _write(tmp_path, data)
    with pytest.raises(ValueError, match=match) as info:
        Preset.from_file(path)
    assert path in str(info.value)


def test_bad_toml_and_suffix_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"not valid TOML"):
        Preset.from_file(_write(tmp_path, "name = \n", ".toml"))
    with pytest.raises(ValueError, match=r"name it .json or .toml, found .yaml"):
        Preset.from_file(str(tmp_path / "p.yaml"))
    with pytest.raises(ValueError, match=r"cannot read it: No such file or directory"):
        Preset.from_file(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match=r"name it .json or .toml"):
        PRESETS["hifigan"].to_file(str(tmp_path / "p.txt"))
