"""Batch runs of the command-line tool: every audio format libsndfile reads, outputs that appear only
when complete, resuming after a kill, the manifest, sharding (--shard and torchrun), and a light
library import."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import soundfile
import torch

import inverse_mel
from inverse_mel import _io, cli
from helpers import subprocess_env, synthetic_audio

FAST = ["--griffin-lim-iters", "4"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def run_process(*argv, env=None, **kwargs):
    full_env = subprocess_env(**(env or {}))
    return subprocess.run([sys.executable, "-m", "inverse_mel", *map(str, argv)], capture_output=True, text=True,
                          env=full_env, **kwargs)


def manifest_records(folder):
    records = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("manifest") and name.endswith(".jsonl"):
            with open(os.path.join(folder, name)) as f:
                records += [json.loads(line) for line in f]
    return records


def folder_bytes(folder, suffix=".wav"):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))
            if name.endswith(suffix)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Speech-like clips at 22.05 and 44.1 kHz in the formats users have, including Ogg Vorbis
    under .oga (what Linux sound themes ship)."""
    root = tmp_path_factory.mktemp("clips")
    audio = synthetic_audio(22050, seconds=1.2).numpy()
    soundfile.write(root / "speech.oga", audio, 22050, format="OGG", subtype="VORBIS")
    soundfile.write(root / "speech_flac.flac", audio, 22050, subtype="PCM_24")
    soundfile.write(root / "music44k.wav", synthetic_audio(44100, seconds=1.0).numpy(), 44100, subtype="FLOAT")
    soundfile.write(root / "aiff_clip.aiff", audio, 22050)
    shutil.copy(root / "speech.oga", root / "renamed.dat")  # audio recognised by content, not by name
    return root


@pytest.fixture(scope="module")
def many_clips(tmp_path_factory):
    """16 short clips for resume and sharding runs."""
    root = tmp_path_factory.mktemp("many")
    for i in range(16):
        audio = synthetic_audio(22050, seconds=1.0 + 0.05 * i).numpy() * (0.5 + 0.02 * i)
        fmt = ("OGG", "VORBIS") if i % 2 else ("WAV", "PCM_16")
        soundfile.write(root / f"clip{i:02d}.{'oga' if i % 2 else 'wav'}", audio, 22050, format=fmt[0], subtype=fmt[1])
    return root


# -- formats ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["speech.oga", "speech_flac.flac", "music44k.wav", "aiff_clip.aiff", "renamed.dat"])
def test_every_format_libsndfile_reads(clips, capsys, tmp_path, name):
    out = tmp_path / "out.wav"
    code, err = run_cli(capsys, clips / name, "-o", out, *FAST)
    assert code == 0, err
    info = soundfile.info(out)
    assert info.samplerate == 22050 and info.channels == 1 and info.frames > 20000
    assert "SC " in err  # measured against the source


@pytest.mark.slow  # 1-4 s per format: audio encoders
@pytest.mark.parametrize("output, container, subtype, sample_format", [
    ("x.flac", "FLAC", "PCM_16", "pcm16"),
    ("x.flac", "FLAC", "PCM_24", "pcm24"),
    ("x.wav", "WAV", "FLOAT", "float"),
    ("x.wav", "WAV", "PCM_24", "pcm24"),
    ("x.ogg", "OGG", "VORBIS", "pcm16"),
])
def test_output_format_follows_the_suffix(clips, capsys, tmp_path, output, container, subtype, sample_format):
    out = tmp_path / output
    code, err = run_cli(capsys, clips / "speech.oga", "-o", out, "--sample-format", sample_format, *FAST)
    assert code == 0, err
    assert out.is_file()  # a file, never a folder named x.flac
    info = soundfile.info(out)
    assert (info.format, info.subtype) == (container, subtype)


def test_folder_of_oga_files_and_every_write_kind(clips, capsys, tmp_path):
    only_oga = tmp_path / "oga"
    only_oga.mkdir()
    shutil.copy(clips / "speech.oga", only_oga / "a.oga")
    shutil.copy(clips / "speech.oga", only_oga / "b.oga")
    (only_oga / "notes.txt").write_text("not audio")
    out = tmp_path / "out"
    code, err = run_cli(capsys, only_oga, "-o", out, *FAST, *sum((["--write", k] for k in ["wav", "flac", "ogg", "npy"]), []))
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["a.flac", "a.npy", "a.ogg", "a.wav", "b.flac", "b.npy", "b.ogg", "b.wav",
                                       "manifest.jsonl"]
    assert "notes.txt" not in err


def test_flac_cannot_hold_float_and_mp3_is_not_written(clips, capsys, tmp_path):
    code, err = run_cli(capsys, clips / "speech.oga", "-o", tmp_path / "x.flac", "--sample-format", "float", *FAST)
    assert code == 1 and ".flac cannot hold float samples" in err and not list(tmp_path.iterdir())
    code, err = run_cli(capsys, clips / "speech.oga", "-o", tmp_path / "x.mp3", *FAST)
    assert code == 2 and "cannot write .mp3 files" in err and not list(tmp_path.iterdir())


# -- never a half-written file ----------------------------------------------------------------------
@pytest.mark.slow  # 4 s: a subprocess
def test_unwritable_output_is_one_line(clips, tmp_path):
    result = run_process(clips / "speech.oga", "-o", "/proc/x.wav", *FAST)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        f"{clips / 'speech.oga'}: error: cannot write /proc/x.wav: No such file or directory"]


@pytest.mark.slow  # 6 s
def test_full_disk_leaves_nothing_behind(clips, capsys, tmp_path, monkeypatch):
    real_fsync = os.fsync

    def no_space_for_outputs(fd):  # the disk fills while outputs are written (the manifest still fits)
        if "manifest" not in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", no_space_for_outputs)
    out = tmp_path / "out"
    code, err = run_cli(capsys, clips / "speech.oga", clips / "speech_flac.flac", "-o", out, *FAST)
    assert code == 1 and err.count("No space left on device") == 2
    assert os.listdir(out) == ["manifest.jsonl"]  # no output and no partial file
    assert [r["status"] for r in manifest_records(out)] == ["error", "error"]
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")))
    code, err = run_cli(capsys, clips / "speech.oga", clips / "speech_flac.flac", "-o", tmp_path / "full", *FAST)
    assert code == 2 and err.strip().splitlines() == [f"{cli.PROG}: error: cannot write {tmp_path / 'full' / 'manifest.jsonl'}: "
                                                      "No space left on device"]


def test_failed_file_is_skipped_and_recorded(clips, capsys, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(clips / "speech.oga", inputs / "good.oga")
    (inputs / "broken.wav").write_bytes(b"RIFF\x00\x00not a wave file")
    out = tmp_path / "out"
    code, err = run_cli(capsys, inputs, "-o", out, *FAST)
    assert code == 1 and "broken.wav: error: cannot read audio" in err
    records = {os.path.basename(r["input"]): r for r in manifest_records(out)}
    assert records["good.oga"]["status"] == "ok" and records["good.oga"]["metrics"]["SC"] > 0
    assert records["broken.wav"]["status"] == "error" and "cannot read audio" in records["broken.wav"]["error"]
    assert sorted(os.listdir(out)) == ["good.wav", "manifest.jsonl"]
    # A rerun retries the failure only.
    code, err = run_cli(capsys, inputs, "-o", out, *FAST)
    assert code == 1 and "1 already complete" in err and "good.oga: ok" not in err


# -- resume ------------------------------------------------------------------------------------------
@pytest.mark.slow  # 15 s: three folder runs
def test_rerun_skips_complete_outputs_and_overwrite_redoes_them(many_clips, capsys, tmp_path):
    out = tmp_path / "out"
    code, err = run_cli(capsys, many_clips, "-o", out, *FAST)
    assert code == 0, err
    first = manifest_records(out)
    before = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out) if name.endswith(".wav")}
    code, err = run_cli(capsys, many_clips, "-o", out, *FAST)
    assert code == 0 and "16 already complete" in err and ": ok" not in err
    assert manifest_records(out) == first
    assert {name: os.stat(out / name).st_mtime_ns for name in before} == before
    code, err = run_cli(capsys, many_clips, "-o", out, "--overwrite", *FAST)
    assert code == 0 and err.count(": ok") == 16 and len(manifest_records(out)) == 16


@pytest.mark.slow  # 37 s: two CLI runs over 12 clips in subprocesses
def test_killed_run_resumes_to_identical_outputs(many_clips, tmp_path):
    reference = tmp_path / "reference"
    assert run_process(many_clips, "-o", reference, "--quiet").returncode == 0
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "inverse_mel", str(many_clips), "-o", str(out), "--quiet"],
                               env=subprocess_env(), stderr=subprocess.PIPE)
    manifest = out / "manifest.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 4:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = {r["input"]: r for r in manifest_records(out)}
    assert 4 <= len(killed_at) < 16, "the run was not killed part-way"
    complete_before = {name for name in os.listdir(out) if name.endswith(".wav")}

    resumed = run_process(many_clips, "-o", out)
    assert resumed.returncode == 0, resumed.stderr
    converted = [line for line in resumed.stderr.splitlines() if ": ok (" in line]
    assert len(converted) == 16 - len(complete_before)  # nothing done twice
    assert f"{len(complete_before)} already complete" in resumed.stderr
    assert folder_bytes(out) == folder_bytes(reference)  # bit-identical to an uninterrupted run
    assert not [name for name in os.listdir(out) if name.startswith(".")]  # no partial files left
    records = manifest_records(out)
    assert sorted(r["input"] for r in records) == sorted(r["input"] for r in manifest_records(reference))
    assert all(r["status"] == "ok" and all(os.path.exists(o) for o in r["outputs"]) for r in records)
    for record in records:  # the records of inputs done before the kill are kept as they were
        if os.path.basename(record["outputs"][0]) in complete_before:
            assert record == killed_at[record["input"]]


# -- sharding --------------------------------------------------------------------------------------
@pytest.mark.slow  # 18 s: three sharded runs
def test_shards_split_the_work_exactly_once(many_clips, capsys, tmp_path):
    single = tmp_path / "single"
    assert run_cli(capsys, many_clips, "-o", single, *FAST)[0] == 0
    sharded = tmp_path / "sharded"
    for index in range(3):
        code, err = run_cli(capsys, many_clips, "-o", sharded, "--shard", f"{index}/3", *FAST)
        assert code == 0, err
    assert folder_bytes(sharded) == folder_bytes(single)
    parts = sorted(n for n in os.listdir(sharded) if n.startswith("manifest"))
    assert parts == [f"manifest.shard-0000{i}-of-00003.jsonl" for i in range(3)]
    inputs = [r["input"] for r in manifest_records(sharded)]
    assert len(inputs) == len(set(inputs)) == 16
    assert {r["shard"] for r in manifest_records(sharded)} == {"0/3", "1/3", "2/3"}


@pytest.mark.parametrize("value", ["3/3", "1", "a/b", "-1/2"])
def test_bad_shard_is_one_line(many_clips, capsys, tmp_path, value):
    code, err = run_cli(capsys, many_clips, "-o", tmp_path / "x", f"--shard={value}")
    assert code == 2 and "--shard must be I/N with 0 <= I < N" in err


@pytest.mark.slow  # 11 s: torchrun starts two processes
def test_torchrun_two_processes(many_clips, tmp_path):
    single = tmp_path / "single"
    assert run_process(many_clips, "-o", single, "--quiet", *FAST).returncode == 0
    out = tmp_path / "torchrun"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "inverse_mel",
         str(many_clips), "-o", str(out), *FAST],
        capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "shard 0/2: 8 of them" in result.stderr and "shard 1/2: 8 of them" in result.stderr
    assert folder_bytes(out) == folder_bytes(single)
    inputs = [r["input"] for r in manifest_records(out)]
    assert len(inputs) == len(set(inputs)) == 16


# -- notes and imports -------------------------------------------------------------------------------
def test_whisper_rank_note_is_accurate_and_once(clips, capsys, tmp_path):
    args = (clips / "speech.oga", clips / "speech_flac.flac", "-o", tmp_path / "o", "--preset", "whisper", *FAST)
    code, err = run_cli(capsys, *args, "--solver", "lstsq")
    assert code == 0, err
    notes = [line for line in err.splitlines() if "note:" in line]
    assert len(notes) == 1 and "78 of its 80 directions" in notes[0] and "fewer mels" not in notes[0]
    code, err = run_cli(capsys, *args, "--overwrite")  # NNLS, the default, does not depend on the rank
    assert code == 0 and "note:" not in err


def test_library_import_stays_light():
    # torch itself may import tqdm and numpy: what counts is what inverse_mel adds.
    probe = ("import sys, warnings; warnings.simplefilter('error'); import torch; before = set(sys.modules); "
             "import inverse_mel; print([m for m in ('soundfile', 'soxr', 'tqdm', 'numpy', 'inverse_mel.cli', "
             "'inverse_mel._io') if m in sys.modules and m not in before])")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env=subprocess_env())
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
    assert "Failed to initialize NumPy" not in result.stderr
    assert inverse_mel.__version__
