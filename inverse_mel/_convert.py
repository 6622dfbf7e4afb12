"""One input file's conversion, as the command-line tool runs it: read a mel array or audio, invert
the mel, run the phase iterations, and measure the result against the source where it is known."""
from __future__ import annotations

import os
import warnings
from typing import Dict, NamedTuple, Optional

import torch
from torch import Tensor

from . import _io
from .functional.filterbank import mel_scale
from .metrics import log_spectral_distance, spectral_convergence
from .pipeline import DEFAULT_MCGL_ITER, DEFAULT_METHOD, reconstruct_waveform
from .presets import Preset


class Converted(NamedTuple):
    mel: Tensor  # (n_mels, frames), or (batch, n_mels, frames) for a batched array; linear, on the CPU
    estimate: Tensor  # (n_freqs, frames) linear spectrogram (batch first for a batched array), on the CPU
    original: Optional[Tensor]  # the source's spectrogram (audio input only)
    audio: Optional[Tensor]  # (samples,) or (batch, samples) on the CPU, when audio was asked for
    metrics: Dict[str, float]  # SC, LSD (and SC of the audio) when the source is known

    @property
    def batched(self) -> bool:
        return self.mel.dim() == 3

    def item(self, index: int) -> "Converted":
        """Item ``index`` of a batched result (the same for an unbatched one and index 0)."""
        if not self.batched:
            return self
        audio = None if self.audio is None else self.audio[index]
        return Converted(self.mel[index], self.estimate[index], None, audio, {})


def convention_warning(preset: Preset, features: Tensor) -> Optional[str]:
    """One line when ``features`` look like another preset's and not like ``preset``'s, else None."""
    from .presets import PRESETS, detect

    candidates = list(PRESETS.values())
    if PRESETS.get(preset.name) != preset:  # a preset file's or explicit settings: ranked with the others
        candidates.append(preset)
    found = detect(features, presets=candidates)
    if found.best is None or not found.fits or preset.name in found.ties:
        return None
    scores = dict(found)
    if found[0][1] < 0.5 or scores.get(preset.name, 0.0) > 0.05:
        return None  # no clear alternative, or the chosen preset fits too
    best = found.best
    return (f"these values look like {found.reason}; preset {preset.name} expects "
            f"{preset.describe_scale()}; converting with {preset.name} anyway (--preset {best} or --preset auto to "
            "use the fit)")


class Converter:
    """Inverts files with modules built once (per run and device)."""

    def __init__(self, preset: Preset, solver: str, device: torch.device, griffin_lim_iters: int,
                 input_scale: str = "features", key: Optional[str] = None, method: str = DEFAULT_METHOD,
                 mcgl_iters: int = DEFAULT_MCGL_ITER):
        self.preset, self.solver, self.device = preset, solver, device
        self.griffin_lim_iters, self.input_scale, self.key = griffin_lim_iters, input_scale, key
        self.method, self.mcgl_iters = method, mcgl_iters
        with warnings.catch_warnings():
            # The rank note is given once by the caller (rank_note), in words that fit a preset.
            warnings.simplefilter("ignore")
            self.inverse = preset.inverse_mel_scale(solver=solver).to(device)
        self.fbanks = preset.fbanks()  # (n_freqs, n_mels), for the mel of audio inputs (on the CPU)
        self.convention_notes: list = []  # warnings on the arrays' scale, for the caller to print once

    def rank_note(self) -> Optional[str]:
        """A one-line note for a least-squares run on a filterbank with nearly coincident filters
        (e.g. Whisper's), without a fix a user of a fixed model front end cannot apply. NNLS does not
        depend on the rank: no note."""
        rank, n_mels = self.inverse.rank, self.preset.n_mels
        if self.solver != "lstsq" or rank == n_mels:
            return None
        return (f"the {self.preset.name} filterbank ({n_mels} mels on {self.preset.n_freqs} bins) has nearly "
                f"coincident filters: least squares inverts {rank} of its {n_mels} directions (the minimum-norm "
                "solution in them); --solver nnls does not depend on this")

    def convert(self, path: str, want_audio: bool) -> Converted:
        if not os.path.exists(path):
            raise _io.InputError("no such file")
        preset = self.preset
        original = None
        if _io.is_array_file(path):
            mel = self._mel_from_array(path)
        else:
            audio, rate = self._read_audio(path)
            audio = _io.resample(audio, rate, preset.sample_rate)
            if audio.numel() <= preset.n_fft:
                raise _io.InputError(f"audio of {audio.numel()} samples is shorter than n_fft={preset.n_fft}")
            original = preset.spectrogram(audio)
            mel = preset.to_linear_mel(preset.compress(mel_scale(original, self.fbanks)))  # a model's features
        mel = mel.to(self.device)
        estimate = self.inverse(mel)
        audio_out = None
        if want_audio:
            audio_out = reconstruct_waveform(estimate, preset, self.griffin_lim_iters, 0.99, None, True, 0,
                                             method=self.method, melspec=mel, inverse=self.inverse,
                                             mcgl_iter=self.mcgl_iters).cpu()
        estimate = estimate.cpu()
        return Converted(mel.cpu(), estimate, original, audio_out, self._metrics(original, estimate, audio_out))

    @staticmethod
    def _read_audio(path: str):
        """Audio recognised by its content; libsndfile's reason when the name says audio."""
        try:
            return _io.load_audio(path)
        except _io.InputError:
            if _io.suffix(path) in _io.AUDIO_NAME_SUFFIXES:
                raise
        raise _io.InputError(
            f"unsupported file type {_io.suffix(path) or '(none)'}: not a .npy, .npz or .pt array, and not audio "
            "that libsndfile reads (WAV, FLAC, Ogg Vorbis or Opus, MP3, AIFF, ...)"
        )

    def _mel_from_array(self, path: str) -> Tensor:
        """The linear mel of an array file: ``(n_mels, frames)``, or ``(batch, n_mels, frames)`` for a
        batch of a model's outputs (a batch of one is one item)."""
        preset = self.preset
        array = _io.load_array(path, self.key)
        if array.dim() == 3 and array.shape[0] == 1:
            array = array[0]
        if array.dim() not in (2, 3) or array.shape[-2] != preset.n_mels:
            transposed = array.dim() in (2, 3) and array.shape[-1] == preset.n_mels
            hint = "; it looks transposed: save it as (n_mels, frames)" if transposed else ""
            if not transposed and array.dim() in (2, 3) and bool(torch.isfinite(array).all()):
                hint = self._detected_hint(array)
            raise _io.InputError(
                f"expected mel features of shape ({preset.n_mels}, frames) for preset {preset.name}, found "
                f"{tuple(array.shape)}{hint} (a batch is (batch, {preset.n_mels}, frames))"
            )
        if array.shape[-1] == 0 or array.shape[0] == 0:
            raise _io.InputError(f"the array of shape {tuple(array.shape)} holds no frames")
        if not bool(torch.isfinite(array).all()):
            raise _io.InputError("the array contains NaN or Inf")
        if self.input_scale == "linear":
            if bool((array < 0).any()):
                raise _io.InputError(
                    "a linear mel spectrogram must be non-negative (is it log-scaled? drop --input-scale linear)")
            return array
        warning = convention_warning(preset, array)
        if warning and warning not in self.convention_notes:
            self.convention_notes.append(warning)
        try:
            return preset.to_linear_mel(array)
        except ValueError as exc:  # finite features that overflow the preset's inverse scaling
            raise _io.InputError(f"{exc}{self._detected_hint(array)}") from None

    @staticmethod
    def _detected_hint(array: Tensor) -> str:
        from .presets import detect

        found = detect(array)
        if found.best is None or not found.fits:
            return ""
        return f"; they look like {found.best}'s features (--preset {found.best})"

    def _metrics(self, original: Optional[Tensor], estimate: Tensor, audio: Optional[Tensor]) -> Dict[str, float]:
        if original is None:
            return {}
        power = self.preset.power
        magnitude = original if power == 1 else original.sqrt()
        estimate_magnitude = estimate if power == 1 else estimate.sqrt()
        metrics = {
            "SC": spectral_convergence(magnitude, estimate_magnitude),
            "LSD": log_spectral_distance(magnitude.square(), estimate_magnitude.square()),
        }
        if audio is not None:
            again = self.preset.spectrogram(audio)
            again = again if power == 1 else again.sqrt()
            n = min(again.shape[-1], magnitude.shape[-1])
            metrics["SC audio"] = spectral_convergence(magnitude[..., :n], again[..., :n])
        return metrics
