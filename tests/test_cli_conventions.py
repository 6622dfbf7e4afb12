"""The command-line tool and the features' convention: a warning when an array contradicts the
preset, --preset auto, preset files, batched arrays (one output per item) and features whose scaling
overflows (a message about the features and the preset's log)."""
import json
import wave

import numpy as np
import pytest
import torch

import inverse_mel
from inverse_mel import cli
from helpers import synthetic_audio


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    root = tmp_path_factory.mktemp("conventions")
    hifigan, whisper = inverse_mel.get_preset("hifigan"), inverse_mel.get_preset("whisper")
    features = hifigan.features(synthetic_audio(22050, seconds=1.0))
    np.save(root / "hifigan.npy", features.numpy())
    np.save(root / "whisper.npy", whisper.features(synthetic_audio(16000, seconds=1.0)).numpy())
    batch = torch.stack([features, features * 0.5 - 1.0, features - 2.0])
    np.save(root / "batch.npy", batch.numpy())
    np.save(root / "overflow.npy", np.full((80, 20), 1e30, dtype=np.float32))
    return root, features, batch


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.mark.slow  # 3.4 s: a full conversion
def test_whisper_features_given_to_hifigan_warn_once_and_still_convert(arrays, capsys, tmp_path):
    root = arrays[0]
    out = tmp_path / "w.npy"
    code, err = run_cli(capsys, root / "whisper.npy", "-o", out)
    assert code == 0 and out.exists(), err
    warnings = [line for line in err.splitlines() if "warning:" in line]
    assert len(warnings) == 1, err
    assert "these values look like whisper's log10-mel (floor 1e-10), floor at max - 8" in warnings[0]
    assert "of values sit at its floor" in warnings[0]
    assert "preset hifigan expects ln-mel (floor 1e-05)" in warnings[0]


def test_matching_preset_gives_no_warning(arrays, capsys, tmp_path):
    code, err = run_cli(capsys, arrays[0] / "hifigan.npy", "-o", tmp_path / "h.npy")
    assert code == 0 and "warning" not in err, err


def test_preset_auto_uses_the_best_fit(arrays, capsys, tmp_path):
    out = tmp_path / "auto.npy"
    code, err = run_cli(capsys, arrays[0] / "whisper.npy", "-o", out, "--preset", "auto")
    assert code == 0, err
    assert "--preset auto: whisper" in err and "preset whisper (16000 Hz" in err
    assert np.load(out).shape == (201, np.load(arrays[0] / "whisper.npy").shape[-1])
    code, err = run_cli(capsys, arrays[0] / "whisper.npy", "-o", tmp_path / "x.wav", "--preset", "auto", "--quiet")
    assert code == 0 and "auto" not in err


def test_preset_auto_needs_an_array(capsys, tmp_path):
    path = tmp_path / "a.wav"
    inverse_mel._io.write_audio(str(path), synthetic_audio(16000, seconds=0.5), 16000)
    code, err = run_cli(capsys, path, "-o", tmp_path / "b.wav", "--preset", "auto")
    assert code == 2 and "--preset auto recognises a model's features in mel arrays" in err


def test_preset_file(arrays, capsys, tmp_path):
    preset_file = tmp_path / "mine.toml"
    inverse_mel.get_preset("hifigan").replace(name="mine").to_file(str(preset_file))
    out = tmp_path / "f.npy"
    code, err = run_cli(capsys, arrays[0] / "hifigan.npy", "-o", out, "--preset", preset_file)
    assert code == 0 and "preset mine (22050 Hz" in err, err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(name="x", sample_rate=16000, n_fft=512, hop_length=128, n_mels=64, hop=3)))
    code, err = run_cli(capsys, arrays[0] / "hifigan.npy", "-o", out, "--preset", bad)
    assert code == 2 and err.count("\n") == 1 and "unknown key(s) ['hop']" in err, err


def test_batched_array_writes_one_output_per_item(arrays, capsys, tmp_path):
    root, features, batch = arrays
    out = tmp_path / "items.npy"
    code, err = run_cli(capsys, root / "batch.npy", "-o", out, "--solver", "lstsq")
    assert code == 0, err
    preset = inverse_mel.get_preset("hifigan")
    inverse = preset.inverse_mel_scale(solver="lstsq")
    for index in range(batch.shape[0]):
        spec = np.load(tmp_path / f"items_{index}.npy")
        expected = inverse(preset.to_linear_mel(batch[index]))
        torch.testing.assert_close(torch.from_numpy(spec), expected)
    assert not out.exists()
    folder = tmp_path / "folder"
    code, err = run_cli(capsys, root / "batch.npy", "-o", folder, "--griffin-lim-iters", "2")
    assert code == 0, err
    for index in range(batch.shape[0]):
        with wave.open(str(folder / f"batch_{index}.wav")) as f:
            assert f.getframerate() == 22050
            assert abs(f.getnframes() - preset.frames_to_samples(features.shape[-1])) <= preset.hop_length
    manifest = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert manifest[0]["outputs"] == [str(folder / f"batch_{i}.wav") for i in range(3)]


def test_overflowing_features_name_the_features_and_the_log(arrays, capsys, tmp_path):
    code, err = run_cli(capsys, arrays[0] / "overflow.npy", "-o", tmp_path / "o.npy")
    assert code != 0
    assert "features up to 1e+30 overflow when preset 'hifigan' undoes its ln log" in err, err
    assert "InverseMelScale" not in err and "NaN or Inf" not in err
    assert "look like" not in err  # no preset's features reach 1e30: no preset to suggest


def test_an_unregistered_preset_that_fits_gives_no_warning(arrays, capsys, tmp_path):
    preset_file = tmp_path / "whisper_copy.json"
    inverse_mel.get_preset("whisper").replace(name="my-whisper").to_file(str(preset_file))
    code, err = run_cli(capsys, arrays[0] / "whisper.npy", "-o", tmp_path / "w.npy", "--preset", preset_file)
    assert code == 0 and "warning" not in err, err
