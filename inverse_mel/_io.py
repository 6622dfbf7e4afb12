"""File input and output of the command-line tool: audio through soundfile (libsndfile: any format
it reads, recognised by content), resampling through soxr, mel arrays (.npy, .npz, .pt), and
atomic writes (a partial file in the same folder, renamed when complete).

soundfile, soxr and numpy are imported on first use: ``import inverse_mel`` stays light.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

ARRAY_SUFFIXES = (".npy", ".npz", ".pt")
# Output audio: suffix -> (libsndfile format, {--sample-format: libsndfile subtype}); Ogg is Vorbis.
AUDIO_OUTPUTS = {
    ".wav": ("WAV", {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}),
    ".flac": ("FLAC", {"pcm16": "PCM_16", "pcm24": "PCM_24"}),
    ".ogg": ("OGG", {}),
}
SAMPLE_FORMATS = ("pcm16", "pcm24", "float")
# Names that say "audio": an unreadable file with one of them gets libsndfile's reason, not "unsupported".
AUDIO_NAME_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64")
MEL_KEYS = ("mel", "melspec", "mel_spectrogram", "features", "feats", "logmel", "log_mel", "spec")
PARTIAL_SUFFIX = ".partial"


class InputError(Exception):
    """A problem with one input or output file, reported as one line."""


def reason(exc: BaseException) -> str:
    """An error's reason for a one-line message: an OS error's text without its errno and path."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _soundfile():
    import soundfile

    return soundfile


def is_array_file(path: str) -> bool:
    return suffix(path) in ARRAY_SUFFIXES


def is_audio_file(path: str) -> bool:
    """Whether libsndfile recognises the file's content as audio (whatever its name)."""
    try:
        _soundfile().info(path)
    except Exception:  # noqa: BLE001 - any failure means "not audio we can read"
        return False
    return True


# -- reading -------------------------------------------------------------------------------------
def load_array(path: str, key: Optional[str] = None) -> Tensor:
    """A mel array from .npy, .npz or .pt (a tensor, or a dict holding one under ``key`` or a
    usual name such as ``mel``), as float32."""
    import numpy

    ext = suffix(path)
    try:
        if ext == ".pt":
            obj = torch.load(path, map_location="cpu", weights_only=True)
        elif ext == ".npy":
            obj = torch.from_numpy(numpy.load(path, allow_pickle=False))
        else:
            with numpy.load(path, allow_pickle=False) as npz:
                obj = {name: torch.from_numpy(npz[name]) for name in npz.files}
    except Exception as exc:  # noqa: BLE001 - any reader failure is one line for the user
        raise InputError(f"cannot read {ext} file: {type(exc).__name__}: {exc}") from None
    if isinstance(obj, dict):
        names = [k for k, v in obj.items() if isinstance(v, Tensor)]
        if key is not None:
            if key not in obj:
                raise InputError(f"no array named {key!r} (found {sorted(names)})")
            obj = obj[key]
        else:
            chosen = next((k for k in MEL_KEYS if k in names), names[0] if len(names) == 1 else None)
            if chosen is None:
                raise InputError(f"holds several arrays {sorted(names)}: choose one with --key")
            obj = obj[chosen]
    if not isinstance(obj, Tensor):
        raise InputError(f"holds a {type(obj).__name__}, not an array")
    if not (obj.is_floating_point() or obj.dtype in (torch.int16, torch.int32, torch.int64)):
        raise InputError(f"holds a {obj.dtype} array; expected real numbers")
    return obj.to(torch.float32)


def load_audio(path: str) -> Tuple[Tensor, int]:
    """Mono float32 audio (channels averaged) and its sample rate, from any format libsndfile reads."""
    soundfile = _soundfile()
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except OSError as exc:
        raise InputError(f"cannot read audio: {reason(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - libsndfile's own message, on one line
        raise InputError(f"cannot read audio: {str(exc).splitlines()[0]}") from None
    if data.shape[0] == 0:
        raise InputError("the audio file holds no samples")
    return torch.from_numpy(data).mean(dim=1), int(rate)


def resample(audio: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """Band-limited resampling with soxr (high quality), float32 in and out."""
    if source_rate == target_rate:
        return audio
    import soxr

    out = soxr.resample(audio.numpy(), source_rate, target_rate, quality="HQ")
    return torch.from_numpy(out.astype("float32", copy=False))


# -- writing: every output goes to a partial file in its folder, renamed when complete -------------
def partial_path(path: str) -> str:
    """The temporary name an output is written under (hidden, in the same folder, so the rename is
    atomic). Only the process that owns ``path`` writes it, so the name needs no process id."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}{PARTIAL_SUFFIX}")


def write_partial(path: str, encode: Callable) -> str:
    """Write ``path``'s content with ``encode(binary_file)`` to its partial file, flushed to disk;
    returns the partial file's name, for :func:`commit`. On an error nothing is left behind."""
    partial = partial_path(path)
    try:
        with open(partial, "wb") as f:
            encode(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        discard(partial)
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {reason(exc)}") from None
        if isinstance(exc, Exception) and not isinstance(exc, InputError):
            raise InputError(f"cannot write {path}: {str(exc).splitlines()[0]}") from None  # e.g. libsndfile's
        raise
    return partial


def commit(partial: str, path: str) -> None:
    """Move a complete partial file to its final name (atomic within a folder)."""
    try:
        os.replace(partial, path)
    except OSError as exc:
        discard(partial)
        raise InputError(f"cannot write {path}: {reason(exc)}") from None


def discard(partial: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(partial)


def audio_encoder(kind: str, audio: Tensor, sample_rate: int, sample_format: str = "pcm16") -> Callable:
    """Mono audio as ``kind`` (.wav, .flac, .ogg) with ``sample_format`` (pcm16, pcm24 or float;
    .ogg is always Vorbis, .flac has no float). Peaks above full scale are scaled down, not clipped."""
    container, subtypes = AUDIO_OUTPUTS[kind]
    subtype = "VORBIS" if container == "OGG" else subtypes.get(sample_format)
    if subtype is None:
        raise InputError(f"{kind} cannot hold {sample_format} samples; use --sample-format " + " or ".join(subtypes))
    x = audio.detach().to("cpu", torch.float32).reshape(-1)
    peak = float(x.abs().max()) if x.numel() else 0.0
    if peak > 1.0:
        x = x / peak
    soundfile = _soundfile()
    return lambda f: soundfile.write(f, x.numpy(), int(sample_rate), subtype=subtype, format=container)


def array_encoder(kind: str, array: Tensor) -> Callable:
    """A tensor as .npy or .pt."""
    x = array.detach().to("cpu")
    if kind == ".pt":
        return lambda f: torch.save(x, f)
    import numpy

    return lambda f: numpy.save(f, x.numpy())


def write_audio(path: str, audio: Tensor, sample_rate: int, sample_format: str = "pcm16") -> None:
    """Write one audio file atomically (its format from its suffix)."""
    commit(write_partial(path, audio_encoder(suffix(path), audio, sample_rate, sample_format)), path)


def write_array(path: str, array: Tensor) -> None:
    """Write one .npy or .pt file atomically."""
    commit(write_partial(path, array_encoder(suffix(path), array)), path)
