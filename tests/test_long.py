"""Long inputs in pieces: the block spectrogram equals the whole one, the piece-wise result of
each method stays within 2% audio SC of the whole-input result, the buffers stay bounded, short
inputs are unchanged, and the CLI reads and writes long audio piece by piece."""
import os
import subprocess
import sys

import pytest
import torch

import inverse_mel
import inverse_mel._long as long_mod
from helpers import subprocess_env, synthetic_audio
from inverse_mel import _io, metrics
from inverse_mel._long import BlockSpectrogram, PieceWiseReconstruction, mel_to_audio_in_pieces
from inverse_mel.pipeline import _cached_inverse

HIFIGAN = inverse_mel.get_preset("hifigan")


@pytest.mark.parametrize("name", ["hifigan", "vocos", "whisper"])  # uncentred, centred, drop_last_frame
@pytest.mark.parametrize("block", [700, 4096, 10 ** 6])
def test_block_spectrogram_equals_the_whole(name, block):
    preset = inverse_mel.get_preset(name)
    audio = synthetic_audio(preset.sample_rate, seconds=1.2)[None]
    stream = BlockSpectrogram(preset)
    frames = [stream.push(audio[:, i:i + block]) for i in range(0, audio.shape[-1], block)] + [stream.flush()]
    torch.testing.assert_close(torch.cat(frames, dim=-1), preset.spectrogram(audio), atol=0, rtol=0)


def _sc(preset, audio, out):
    reference, estimate = preset.spectrogram(audio), preset.spectrogram(out)
    if preset.power == 2:
        reference, estimate = reference.sqrt(), estimate.sqrt()
    n = min(reference.shape[-1], estimate.shape[-1])
    return metrics.spectral_convergence(reference[..., :n], estimate[..., :n])


@pytest.mark.parametrize("method", ["pghi", "auto", pytest.param("griffin_lim", marks=pytest.mark.slow),
                                    pytest.param("mcgl", marks=pytest.mark.slow)])
def test_pieces_within_two_percent_of_the_whole(method):
    preset = HIFIGAN
    audio = torch.cat([synthetic_audio(preset.sample_rate, seconds=4.0, seed=s) for s in range(2)])
    feats = preset.features(audio)
    mel = preset.to_linear_mel(feats)
    inverse = _cached_inverse(preset, "nnls", torch.device("cpu"))
    whole = inverse_mel.mel_to_audio(feats, preset, method=method, mcgl_iter=8)
    # Pieces of 240 frames (7 pieces): the boundaries weigh ~17x more than with the default 4096.
    pieces, _ = mel_to_audio_in_pieces(mel, preset, inverse, method, 32, 0.99, None, True, 0, 8, piece_frames=240)
    assert pieces.shape == whole.shape
    assert bool(torch.isfinite(pieces).all())
    sc_whole, sc_pieces = _sc(preset, audio, whole), _sc(preset, audio, pieces)
    assert sc_pieces <= 1.02 * sc_whole, (sc_pieces, sc_whole)


@pytest.mark.parametrize("method", ["auto", "pghi"])
def test_long_input_info_reports_the_whole_inputs_misfit(method, monkeypatch):
    """return_info on an input long enough for pieces: the misfit summed over the pieces' core
    frames matches mel_misfit of the returned audio, computed on the whole; "auto" on clean mels
    keeps the mel-consistent iterations, as it does on the whole input."""
    preset = HIFIGAN
    audio = torch.stack([synthetic_audio(preset.sample_rate, seconds=3.0, seed=s) for s in range(2)])
    feats = preset.features(audio)  # (2, n_mels, frames)
    _, whole_info = inverse_mel.mel_to_audio(feats, preset, method=method, return_info=True)
    monkeypatch.setattr(long_mod, "PIECE_FRAMES", 200)
    assert feats.shape[-1] > long_mod.PIECE_FRAMES + long_mod.OVERLAP_FRAMES  # the pieces' path
    waveform, info = inverse_mel.mel_to_audio(feats, preset, method=method, return_info=True)
    assert info.method == method and len(info.chosen) == 2 and info.misfit.shape == (2,)
    whole_misfit = metrics.mel_misfit(preset.to_linear_mel(feats), waveform, preset)
    torch.testing.assert_close(info.misfit, whole_misfit.to(info.misfit.dtype), rtol=0.1, atol=0)
    if method == "auto":
        assert info.chosen == ["mcgl", "mcgl"], info.reason
        assert bool((info.misfit_mcgl <= info.misfit_pghi).all())
        assert whole_info.chosen == ["mcgl", "mcgl"]
    else:
        assert info.misfit_pghi is None and info.chosen == ["pghi", "pghi"]


def test_pieces_keep_bounded_buffers():
    preset = HIFIGAN
    inverse = _cached_inverse(preset, "nnls", torch.device("cpu"))
    feats = preset.features(synthetic_audio(preset.sample_rate, seconds=2.0))
    mel = preset.to_linear_mel(feats)[None]
    spec = inverse(mel)
    pieces = PieceWiseReconstruction(preset, "pghi", 2, 0.99, True, 0, inverse, 0, piece_frames=64,
                                     overlap_frames=16)
    held, returned = [], 0
    for _ in range(4):  # the same 2 s four times: 8 s through pieces of 64 frames
        for i in range(0, spec.shape[-1], 10):
            returned += pieces.push(spec[..., i:i + 10]).shape[-1]
            held.append(sum(b.shape[-1] for b in pieces._spec))
    assert max(held) <= 64 + 2 * 16 + 10
    total = preset.frames_to_samples(4 * spec.shape[-1])
    returned += pieces.flush(total).shape[-1]
    assert returned == total


def test_mel_to_audio_splits_only_long_inputs(monkeypatch):
    preset = HIFIGAN
    feats = preset.features(synthetic_audio(preset.sample_rate, seconds=2.0))
    whole = inverse_mel.mel_to_audio(feats, preset)
    monkeypatch.setattr(long_mod, "PIECE_FRAMES", feats.shape[-1] - long_mod.OVERLAP_FRAMES)  # exactly one piece
    torch.testing.assert_close(inverse_mel.mel_to_audio(feats, preset), whole, atol=0, rtol=0)
    monkeypatch.setattr(long_mod, "PIECE_FRAMES", 64)
    split = inverse_mel.mel_to_audio(feats, preset)
    assert split.shape == whole.shape and not torch.equal(split, whole)
    # return_specgram needs the whole spectrogram: not split.
    torch.testing.assert_close(inverse_mel.mel_to_audio(feats, preset, return_specgram=True)[0], whole, atol=0, rtol=0)


CLI_WITH_PIECES = ("import sys, inverse_mel._long as L; L.PIECE_FRAMES = int(sys.argv[1]); "
                   "from inverse_mel.cli import main; sys.exit(main(sys.argv[2:]))")


def _cli(pieces, *args):
    return subprocess.run([sys.executable, "-c", CLI_WITH_PIECES, str(pieces), *args], env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)


def test_cli_long_audio_in_pieces(tmp_path):
    import soundfile

    audio = torch.cat([synthetic_audio(22050, seconds=4.0, seed=s) for s in range(2)])
    source = tmp_path / "long.flac"
    soundfile.write(str(source), audio.numpy(), 44100)  # read at 44.1 kHz: resampled block by block
    outs = {}
    for pieces in (128, 10 ** 9):  # in pieces, and whole (the path before)
        out = tmp_path / f"out_{pieces}.wav"
        done = _cli(pieces, str(source), "-o", str(out))
        assert done.returncode == 0, done.stderr
        assert "SC audio" in done.stderr
        outs[pieces] = soundfile.read(str(out), dtype="float32")[0]
        assert not os.path.exists(tmp_path / f".out_{pieces}.wav.partial")
        assert not any(name.endswith(".f32") for name in os.listdir(tmp_path))
    assert outs[128].shape == outs[10 ** 9].shape
    preset = HIFIGAN
    reference = _io.resample(torch.from_numpy(soundfile.read(str(source), dtype="float32")[0]), 44100,
                                         22050)
    sc_pieces = _sc(preset, reference, torch.from_numpy(outs[128]))
    sc_whole = _sc(preset, reference, torch.from_numpy(outs[10 ** 9]))
    assert sc_pieces <= 1.02 * sc_whole, (sc_pieces, sc_whole)
