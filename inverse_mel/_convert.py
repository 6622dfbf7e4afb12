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
from .pipeline import AUTO_KEEP_RATIO, AUTO_MCGL_ITER, DEFAULT_MCGL_ITER, DEFAULT_METHOD, reconstruct_waveform
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

    def _metric_power(self, original: Tensor) -> Tensor:
        """The power the metrics compare (the magnitude squared)."""
        return original.square() if self.preset.power == 1 else original

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


# -- long audio: read in blocks, reconstructed piece by piece, written progressively ---------------
LONG_BLOCK_SECONDS = 20.0  # audio read (and resampled) per block


def long_audio_frames(path: str, preset: Preset) -> int:
    """The number of frames of an audio file's spectrogram at the preset's rate (from its header;
    0 for anything that is not audio libsndfile reads)."""
    try:
        info = _io._soundfile().info(path)
    except Exception:  # noqa: BLE001 - not audio: the whole-file path reports why
        return 0
    samples = info.frames * preset.sample_rate / max(info.samplerate, 1)
    return int(samples // preset.hop_length) + 1


def is_long(path: str, preset: Preset) -> bool:
    """Audio too long to reconstruct whole within bounded memory (more than one piece)."""
    from ._long import OVERLAP_FRAMES, PIECE_FRAMES

    return not _io.is_array_file(path) and long_audio_frames(path, preset) > PIECE_FRAMES + OVERLAP_FRAMES


def _audio_blocks(path: str, target_rate: int):
    """Mono float32 blocks of an audio file at ``target_rate`` (soxr's streaming resampler)."""
    import numpy as np

    soundfile = _io._soundfile()
    try:
        handle = soundfile.SoundFile(path)
    except Exception as exc:  # noqa: BLE001 - libsndfile's reason, on one line
        raise _io.InputError(f"cannot read audio: {_io.reason(exc).splitlines()[0]}") from None
    with handle:
        rate = handle.samplerate
        stream = None
        if rate != target_rate:
            import soxr

            stream = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
        size = int(LONG_BLOCK_SECONDS * rate)
        while True:
            data = handle.read(size, dtype="float32", always_2d=True)
            last = data.shape[0] < size
            mono = np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)
            if stream is not None:
                mono = stream.resample_chunk(mono, last=last)
            if mono.size:
                yield torch.from_numpy(mono)
            if last:
                return


class _Metrics:
    """SC and LSD of the mel inverse and SC of the output audio, accumulated frame by frame with
    ``Converter._metrics``' definitions (LSD's floor from the reference's peak, known in advance)."""

    def __init__(self, preset: Preset, peak_power: float):
        self.preset = preset
        self.floor = max(peak_power, 1e-30) * 10.0 ** (-80.0 / 10.0)
        self.diff2 = self.ref2 = self.lsd_sum = 0.0
        self.frames = 0
        self.audio_diff2 = self.audio_ref2 = 0.0
        self.pending: list = []  # reference magnitudes awaiting the output's frames
        self.pending_frames = 0

    def magnitude(self, spec: Tensor) -> Tensor:
        return spec if self.preset.power == 1 else spec.sqrt()

    def add_estimate(self, original: Tensor, estimate: Tensor) -> None:
        ref, est = self.magnitude(original), self.magnitude(estimate)
        self.diff2 += float((ref - est).double().square().sum())
        self.ref2 += float(ref.double().square().sum())
        diff = 10.0 * torch.log10(ref.square().clamp_min(self.floor) / est.square().clamp_min(self.floor))
        self.lsd_sum += float(diff.double().square().mean(dim=-2).sqrt().sum())
        self.frames += ref.shape[-1]
        self.pending.append(ref)
        self.pending_frames += ref.shape[-1]

    def add_output(self, again: Tensor) -> None:
        """The output audio's spectrogram frames, in order; compared with the reference's."""
        again = self.magnitude(again)
        while again.shape[-1] and self.pending:
            ref = self.pending[0]
            n = min(ref.shape[-1], again.shape[-1])
            self.audio_diff2 += float((ref[..., :n] - again[..., :n]).double().square().sum())
            self.audio_ref2 += float(ref[..., :n].double().square().sum())
            again = again[..., n:]
            if n == ref.shape[-1]:
                self.pending.pop(0)
            else:
                self.pending[0] = ref[..., n:]

    def result(self) -> Dict[str, float]:
        return {
            "SC": (self.diff2 ** 0.5) / max(self.ref2 ** 0.5, 1e-30),
            "LSD": self.lsd_sum / max(self.frames, 1),
            "SC audio": (self.audio_diff2 ** 0.5) / max(self.audio_ref2 ** 0.5, 1e-30),
        }


def _fixed_mmap_threshold() -> None:
    """glibc raises its mmap threshold (up to 32 MB) each time a mapped block is freed, so the
    pieces' tensors of a few MB end up on the heap, which fragments: the CLI's peak RSS grew with
    the length (582 MB at 10 min, 673 MB at 40 min; 419 MB at 10 min with the threshold fixed at
    1 MB, measured with bench_long.py). Fixing it keeps blocks over 1 MB in their own mappings,
    returned on free. Linux/glibc only; elsewhere nothing happens."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(ctypes.c_int(-3), ctypes.c_int(1 << 20))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def convert_long_audio(converter: "Converter", path: str, outputs, sample_format: str) -> Dict[str, float]:
    """One long audio file to the audio ``outputs`` (.wav/.flac/.ogg), in bounded memory: the
    audio is read in blocks, its spectrogram and mel computed block by block, the mel inverted and
    the phase reconstructed piece by piece (:mod:`inverse_mel._long`), the output written as it
    comes to a float scratch file, then encoded to each output's partial file (peaks above full
    scale scaled down, as for short files). Returns the metrics; the partial files are left for
    the caller to commit (``_io.partial_path(out)``)."""
    import numpy as np

    from ._long import BlockSpectrogram, PieceWiseReconstruction

    _fixed_mmap_threshold()
    preset, device = converter.preset, converter.device
    fbanks = converter.fbanks
    # Pass 1: the reference's peak power (LSD's floor), as the whole-file metrics use it.
    peak = 0.0
    spectrogram = BlockSpectrogram(preset)
    for block in _audio_blocks(path, preset.sample_rate):
        frames = spectrogram.push(block[None])
        if frames.shape[-1]:
            peak = max(peak, float(converter._metric_power(frames).max()))
    tail = spectrogram.flush()
    if tail.shape[-1]:
        peak = max(peak, float(converter._metric_power(tail).max()))
    metrics = _Metrics(preset, peak)
    mcgl_iter = AUTO_MCGL_ITER if converter.method == "auto" else converter.mcgl_iters  # as reconstruct_waveform
    pieces = PieceWiseReconstruction(preset, converter.method, converter.griffin_lim_iters, 0.99, True, 0,
                                     converter.inverse, mcgl_iter, keep_ratio=AUTO_KEEP_RATIO)
    again = BlockSpectrogram(preset)
    shift = preset.uncentred_shift
    scratch = _io.partial_path(outputs[0]) + ".f32"
    soundfile = _io._soundfile()
    out_peak = 0.0
    written = 0
    total_frames = 0
    try:
        with soundfile.SoundFile(scratch, "w", preset.sample_rate, 1, "FLOAT", format="WAV") as sink:
            held = []  # output too short to start its spectrogram with

            def emit(audio: Tensor) -> None:
                nonlocal out_peak, written, held
                if not audio.shape[-1]:
                    return
                audio = audio.reshape(-1).cpu()
                sink.write(audio.numpy())
                out_peak = max(out_peak, float(audio.abs().max()))
                written += audio.numel()
                held.append(audio)
                if written > again.pad:
                    metrics.add_output(again.push(torch.cat(held)[None]))
                    held = []

            spectrogram = BlockSpectrogram(preset)
            if shift:
                emit(torch.zeros(shift))

            def consume(frames: Tensor) -> None:
                nonlocal total_frames
                if not frames.shape[-1]:
                    return
                total_frames += frames.shape[-1]
                mel = preset.to_linear_mel(preset.compress(mel_scale(frames, fbanks))).to(device)
                estimate = converter.inverse(mel)
                metrics.add_estimate(frames, estimate.cpu())
                emit(pieces.push(estimate, mel))

            buffered = []  # blocks too short to start the spectrogram with
            for block in _audio_blocks(path, preset.sample_rate):
                buffered.append(block)
                if sum(b.numel() for b in buffered) <= spectrogram.pad:
                    continue
                consume(spectrogram.push(torch.cat(buffered)[None]))
                buffered = []
            consume(spectrogram.flush())
            total = preset.frames_to_samples(total_frames)
            emit(pieces.flush(max(total - shift, 0)))
            # the output's last frames
            frames = again.flush()
            if frames.shape[-1]:
                metrics.add_output(frames)
        # Pass 3: the scratch file to each output, block by block, scaled as audio_encoder scales.
        scale = 1.0 / out_peak if out_peak > 1.0 else 1.0
        for out in outputs:
            kind = _io.suffix(out)
            container, subtypes = _io.AUDIO_OUTPUTS[kind]
            subtype = "VORBIS" if container == "OGG" else subtypes.get(sample_format)
            if subtype is None:
                raise _io.InputError(f"{kind} cannot hold {sample_format} samples; use --sample-format "
                                     + " or ".join(subtypes))

            def encode(f, subtype=subtype, container=container):
                with soundfile.SoundFile(scratch) as source, soundfile.SoundFile(
                        f, "w", preset.sample_rate, 1, subtype, format=container) as target:
                    for block in source.blocks(blocksize=1 << 20, dtype="float32"):
                        target.write((block * scale).astype(np.float32, copy=False))

            _io.write_partial(out, encode)
    finally:
        _io.discard(scratch)
    return metrics.result()
