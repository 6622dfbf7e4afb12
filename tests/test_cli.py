"""The command-line tool on files in a temporary folder: every success path and every failure path
(one clear line, a non-zero exit, never a traceback; a failed file in a folder run is skipped)."""
import os
import subprocess
import sys
import wave

import numpy as np
import pytest
import torch

import inverse_mel
from inverse_mel import _io, cli
from helpers import synthetic_audio
from devices import needs_cuda


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    preset = inverse_mel.get_preset("hifigan")
    audio = synthetic_audio(22050, seconds=1.5)
    features = preset.features(audio)
    _io.write_audio(str(root / "clip.wav"), audio, 22050)
    _io.write_audio(str(root / "clip16k.wav"), synthetic_audio(16000, seconds=1.0), 16000)
    np.save(root / "feats.npy", features.numpy())
    np.savez(root / "bundle.npz", mel=features.numpy(), other=np.zeros(3))
    np.savez(root / "two.npz", a=features.numpy(), b=features.numpy())
    torch.save({"mel": features}, root / "feats_dict.pt")
    torch.save(features[None], root / "feats_batch1.pt")
    np.save(root / "linear.npy", preset.mel_spectrogram(audio).numpy())
    np.save(root / "wrong_mels.npy", np.zeros((100, 20), dtype=np.float32))
    np.save(root / "transposed.npy", features.T.contiguous().numpy())
    nan = features.clone()
    nan[3, 4] = float("nan")
    np.save(root / "nan.npy", nan.numpy())
    (root / "broken.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    (root / "notes.txt").write_text("not an input")
    return root, preset, audio, features


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


@pytest.mark.slow  # 6 s: a full conversion with a plot
def test_audio_to_wav_with_quality_and_plot(files, capsys, tmp_path):
    root, preset, audio, _ = files
    out, plot = tmp_path / "out.wav", tmp_path / "plot.png"
    code, err = run_cli(capsys, root / "clip.wav", "--output", out, "--plot", plot, "--griffin-lim-iters", "16")
    assert code == 0, err
    assert "ok" in err and "SC " in err and "LSD " in err  # per-file quality against the source
    with wave.open(str(out)) as f:
        assert f.getframerate() == 22050 and f.getnchannels() == 1
        assert abs(f.getnframes() - audio.numel()) < preset.hop_length
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20000


@pytest.mark.parametrize("name", ["feats.npy", "bundle.npz", "feats_dict.pt", "feats_batch1.pt"])
@pytest.mark.parametrize("kind", [".npy", ".pt"])
def test_array_to_linear_spectrogram(files, capsys, tmp_path, name, kind):
    root, preset, _, features = files
    out = tmp_path / f"spec{kind}"
    code, err = run_cli(capsys, root / name, "-o", out, "--solver", "lstsq")
    assert code == 0, err
    spec = torch.load(out) if kind == ".pt" else torch.from_numpy(np.load(out))
    expected = preset.inverse_mel_scale(solver="lstsq")(preset.to_linear_mel(features))
    assert spec.shape == (513, features.shape[-1])
    torch.testing.assert_close(spec, expected)


def test_linear_input_scale_and_explicit_settings(files, capsys, tmp_path):
    root, preset, _, _ = files
    code, err = run_cli(capsys, root / "linear.npy", "-o", tmp_path / "a.npy", "--input-scale", "linear")
    assert code == 0, err
    code, err = run_cli(capsys, root / "clip16k.wav", "-o", tmp_path / "b.wav", "--preset", "whisper",
                        "--n-mels", "64", "--griffin-lim-iters", "2")
    assert code == 0, err
    assert "whisper+custom" in err and "64 mels" in err


@pytest.mark.slow  # 8 s
def test_folder_run_skips_failures_and_writes_the_rest(files, capsys, tmp_path):
    root, _, _, _ = files
    out = tmp_path / "outdir"
    code, err = run_cli(capsys, root, "-o", out, "--write", "wav", "--write", "npy", "--griffin-lim-iters", "2",
                        "--plot", tmp_path / "plots")
    assert code == 1
    written = sorted(os.listdir(out))
    for stem in ("clip", "clip16k", "feats", "bundle", "feats_dict", "feats_batch1"):
        assert f"{stem}.wav" in written and f"{stem}.npy" in written, (stem, written)
    lines = err.splitlines()
    for bad, reason in [
        ("broken.wav", "cannot read"),
        ("wrong_mels.npy", "expected mel features of shape (80, frames) for preset hifigan, found (100, 20)"),
        ("transposed.npy", "it looks transposed"),
        ("nan.npy", "NaN or Inf"),
        ("two.npz", "choose one with --key"),
    ]:
        assert any(bad in line and "error:" in line and reason in line for line in lines), (bad, err)
    assert "input(s) failed" in lines[-1]
    assert sorted(os.listdir(tmp_path / "plots"))  # one plot per processed input
    assert not any("notes.txt" in line for line in lines)  # not an input type: not picked up


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{root}/missing.npy", "-o", "{tmp}/x.wav"], "missing.npy: error: no such file"),
        (["{root}/feats.npy", "-o", "{root}/notes.txt/x.wav"], "cannot create output"),
        (["{root}/feats.npy", "-o", "{tmp}/no/such/dir/x.wav"], "does not exist"),
        (["{root}/feats.npy", "{root}/bundle.npz", "-o", "{tmp}/x.wav"], "2 inputs need a folder as --output"),
        (["{root}/feats.npy"], "--output is required"),
        (["{root}/feats.npy", "-o", "{tmp}/x.wav", "--preset", "nope"], "unknown preset 'nope'"),
        (["{root}/feats.npy", "-o", "{tmp}/x.wav", "--solver", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["{root}/feats.npy", "-o", "{tmp}/x.wav", "--griffin-lim-iters", "-3"], "--griffin-lim-iters must be >= 0"),
        (["{root}/feats.npy", "-o", "{tmp}/x.wav", "--f-max", "20000"], "above the Nyquist frequency"),
        (["{root}/notes.txt", "-o", "{tmp}/x.wav"], "unsupported file type .txt"),
        (["{root}/broken.wav", "-o", "{tmp}/x.wav"], "broken.wav: error: cannot read"),
        (["{root}/wrong_mels.npy", "-o", "{tmp}/x.npy"], "found (100, 20)"),
        (["{root}/two.npz", "-o", "{tmp}/x.npy", "--key", "zzz"], "no array named 'zzz'"),
    ],
)
def test_failures_are_one_clear_line(files, capsys, tmp_path, argv, message):
    root = files[0]
    argv = [a.format(root=root, tmp=tmp_path) for a in argv]
    try:
        code, err = run_cli(capsys, *argv)
    except SystemExit as exc:  # argparse errors exit from inside parse_args
        code, err = exc.code, capsys.readouterr().err
        assert "Traceback" not in err
    assert code != 0
    assert message in err, err
    error_lines = [line for line in err.splitlines() if "error" in line]
    assert len(error_lines) == 1, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is missing")
def test_cuda_requested_without_cuda(files, capsys, tmp_path):
    code, err = run_cli(capsys, files[0] / "feats.npy", "-o", tmp_path / "x.npy", "--device", "cuda")
    assert code == 2 and "no CUDA device is available" in err


@needs_cuda
def test_cuda_run_matches_cpu(files, capsys, tmp_path):
    # NNLS (the default solver) on the GPU, then the same phase iterations: the audio agrees.
    root = files[0]
    outputs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.wav"
        code, err = run_cli(capsys, root / "feats.npy", "-o", out, "--device", device, "--griffin-lim-iters", "8")
        assert code == 0, err
        outputs[device] = _io.load_audio(str(out))[0]
    difference = (outputs["cuda"] - outputs["cpu"]).norm() / outputs["cpu"].norm()
    assert float(difference) < 1e-2


@pytest.mark.slow  # 17 s: three interpreter starts
def test_python_dash_m_entry_point(files, tmp_path):
    # The real entry point, in a subprocess: exit codes and stderr as a shell sees them.
    root = files[0]
    ok = subprocess.run([sys.executable, "-m", "inverse_mel", str(root / "feats.npy"), "-o", str(tmp_path / "y.npy")],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "y.npy").exists(), ok.stderr
    bad = subprocess.run([sys.executable, "-m", "inverse_mel", str(root / "missing.npy"), "-o", str(tmp_path / "z.npy")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "no such file" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "inverse_mel", "--bogus"], capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "unrecognized arguments: --bogus" in usage.stderr
