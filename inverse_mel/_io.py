"""File input/output for the command-line tool: mel arrays (.npy, .npz, .pt), audio (.wav with the
standard library; other formats through the optional ``soundfile``) and quality measures."""
from __future__ import annotations

import os
import wave
from typing import Optional, Tuple

import torch
from torch import Tensor

ARRAY_SUFFIXES = (".npy", ".npz", ".pt")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MEL_KEYS = ("mel", "melspec", "mel_spectrogram", "features", "feats", "logmel", "log_mel", "spec")


class InputError(Exception):
    """A problem with one input or output file, reported as one line."""


def suffix(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _numpy():
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy ships with the test extras
        raise InputError("reading .npy/.npz needs numpy: pip install numpy") from None
    return numpy


def load_array(path: str, key: Optional[str] = None) -> Tensor:
    """A mel array from .npy, .npz or .pt (a tensor, or a dict holding one under ``key`` or a
    usual name such as ``mel``)."""
    ext = suffix(path)
    try:
        if ext == ".pt":
            obj = torch.load(path, map_location="cpu", weights_only=True)
        elif ext == ".npy":
            obj = torch.from_numpy(_numpy().load(path, allow_pickle=False))
        else:
            with _numpy().load(path, allow_pickle=False) as npz:
                obj = {name: torch.from_numpy(npz[name]) for name in npz.files}
    except InputError:
        raise
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
    """Mono float32 audio in [-1, 1] and its sample rate."""
    if suffix(path) == ".wav":
        try:
            return _load_wav(path)
        except (wave.Error, EOFError) as exc:
            wav_error = exc  # e.g. a float WAV: try soundfile below
        except OSError as exc:
            raise InputError(f"cannot read audio: {exc.strerror or exc}") from None
    else:
        wav_error = None
    try:
        import soundfile
    except ImportError:
        detail = f" ({wav_error})" if wav_error else ""
        raise InputError(
            f"cannot read this audio file{detail}: only PCM .wav is built in; pip install soundfile for "
            f"{suffix(path) or 'this format'}"
        ) from None
    try:
        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read audio: {exc}") from None
    return torch.from_numpy(data).mean(dim=1), int(rate)


def _load_wav(path: str) -> Tuple[Tensor, int]:
    with wave.open(path, "rb") as f:
        channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
        raw = f.readframes(frames)
    if width == 1:
        x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(torch.float32).sub_(128.0).div_(128.0)
    elif width == 2:
        x = torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.float32).div_(32768.0)
    elif width == 3:
        b = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(-1, 3).to(torch.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = torch.where(v >= 2**23, v - 2**24, v).to(torch.float32).div_(2.0**23)
    elif width == 4:
        x = torch.frombuffer(bytearray(raw), dtype=torch.int32).to(torch.float32).div_(2.0**31)
    else:
        raise InputError(f"unsupported WAV sample width of {width} bytes")
    if x.numel() == 0:
        raise InputError("the audio file holds no samples")
    return x.reshape(-1, channels).mean(dim=1), rate


def write_wav(path: str, audio: Tensor, sample_rate: int) -> None:
    """16-bit PCM mono WAV; peaks above full scale are scaled down, not clipped."""
    x = audio.detach().to("cpu", torch.float32).reshape(-1)
    peak = float(x.abs().max()) if x.numel() else 0.0
    if peak > 1.0:
        x = x / peak
    pcm = (x * 32767.0).round().clamp(-32768, 32767).to(torch.int16)
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.numpy().tobytes())


def write_array(path: str, array: Tensor) -> None:
    x = array.detach().to("cpu")
    if suffix(path) == ".pt":
        torch.save(x, path)
    else:
        _numpy().save(path, x.numpy())


def resample(audio: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """Band-limited resampling through scipy (an optional dependency)."""
    if source_rate == target_rate:
        return audio
    try:
        from math import gcd

        from scipy.signal import resample_poly
    except ImportError:
        raise InputError(
            f"the audio is {source_rate} Hz but the preset needs {target_rate} Hz; resampling needs scipy "
            "(pip install scipy), or resample the file first"
        ) from None
    g = gcd(source_rate, target_rate)
    out = resample_poly(audio.numpy(), target_rate // g, source_rate // g)
    return torch.from_numpy(out.astype("float32"))


def spectral_convergence(reference: Tensor, estimate: Tensor) -> float:
    """``||S - S_hat||_F / ||S||_F`` on magnitudes."""
    return float((reference - estimate).norm() / reference.norm().clamp_min(1e-30))


def log_spectral_distance(reference_power: Tensor, estimate_power: Tensor, floor_db: float = -80.0) -> float:
    """Mean over frames of the RMS over bins of ``10 log10(P / P_hat)``, in dB, with both powers
    floored at ``floor_db`` below the reference's peak."""
    floor = reference_power.max().clamp_min(1e-30) * 10.0 ** (floor_db / 10.0)
    diff = 10.0 * torch.log10(reference_power.clamp_min(floor) / estimate_power.clamp_min(floor))
    return float(diff.square().mean(dim=-2).sqrt().mean())
