"""Long inputs in bounded memory: the offline phase methods run piece by piece, with overlap.

:class:`PieceWiseReconstruction` takes linear spectrogram frames as they come (from a long mel
array or from audio read block by block) and returns the audio of each piece of
``piece_frames`` frames once its right context (``overlap_frames``) has arrived. Each piece is
reconstructed with ``overlap_frames`` of context on both sides; its initial phase continues the
previous piece's audio (the STFT phase of the previous output on the shared frames, and a per-bin
rotation of PGHI's phase after them), and the two outputs are crossfaded over
``crossfade_frames`` around the boundary. Memory: a few pieces' worth, whatever the input length.

:class:`BlockSpectrogram` computes a preset's spectrogram of audio pushed in blocks, equal to
``Preset.spectrogram`` of the whole audio.
"""
from typing import List, Optional

import torch
from torch import Tensor

from .functional._core import audio_angles, flat_shape, pghi_angles, phase_iterations
from .functional.mel_consistent import mel_consistent_griffin_lim
from .metrics import mel_misfit_terms
from .presets import Preset

__all__ = ["BlockSpectrogram", "CROSSFADE_FRAMES", "OVERLAP_FRAMES", "PIECE_FRAMES", "PieceMisfits",
           "PieceWiseReconstruction"]

PIECE_FRAMES = 4096
"""Frames per piece (about 48 s at HiFi-GAN's 22.05 kHz and hop 256): inputs up to this long (plus
the overlap) are reconstructed whole, exactly as before; the memory of a piece is about
``piece_frames * n_freqs * 100`` bytes."""
OVERLAP_FRAMES = 32
"""Context frames on each side of a piece; the crossfade takes the middle 8 around the boundary."""
CROSSFADE_FRAMES = 8


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


class PieceMisfits:
    """Mel misfit terms (:func:`inverse_mel.metrics.mel_misfit_terms`) summed over the pieces' core
    frames, per item: for the returned audio and, with ``method="auto"``, for both candidates;
    ``kept``: per item, the pieces where the mel-consistent candidate was kept."""

    def __init__(self):
        self.pieces = 0
        self.kept: Optional[Tensor] = None
        self._error_sq: dict = {}
        self._norm_sq: Optional[Tensor] = None

    def add(self, norm_sq: Tensor, **error_sq: Tensor) -> None:
        self._norm_sq = norm_sq if self._norm_sq is None else self._norm_sq + norm_sq
        for name, value in error_sq.items():
            self._error_sq[name] = value if name not in self._error_sq else self._error_sq[name] + value

    def misfit(self, name: str) -> Tensor:
        """``(batch,)`` the whole input's mel misfit of the ``"returned"``, ``"pghi"`` or ``"mcgl"`` audio."""
        error, norm = self._error_sq[name].sqrt(), self._norm_sq.sqrt()
        return torch.where(norm > 0, error / norm.clamp_min(torch.finfo(norm.dtype).tiny), error)


class PieceWiseReconstruction:
    """``method`` ("griffin_lim", "pghi", "mcgl" or "auto") over ``(batch, n_freqs, k)`` spectrogram
    frames pushed in any blocks (with their ``(batch, n_mels, k)`` linear mel for "mcgl", "auto" and
    ``track_misfit``); returns centred audio ``(batch, samples)`` as it becomes final: sample
    ``t * hop`` is frame ``t``'s centre, as ``torch.istft(center=True)`` gives. ``flush(total)``
    returns the rest, ``total`` samples in all.

    "auto" runs ``mel_to_audio``'s choice per piece: PGHI's audio, then ``mcgl_iter`` mel-consistent
    iterations from its phase, kept per item where they lower the mel misfit on the piece's core
    frames to at most ``keep_ratio`` of PGHI's. ``misfits`` (a :class:`PieceMisfits`) sums the misfit
    terms for "auto" and with ``track_misfit``."""

    def __init__(self, preset: Preset, method: str, n_iter: int, momentum: float, rand_init: bool, seed: int,
                 inverse=None, mcgl_iter: int = 0, piece_frames: Optional[int] = None,
                 overlap_frames: Optional[int] = None, crossfade_frames: int = CROSSFADE_FRAMES,
                 keep_ratio: float = 0.85, track_misfit: bool = False):
        # None: the module's settings when called (tests and benchmarks may set them).
        piece_frames = PIECE_FRAMES if piece_frames is None else piece_frames
        overlap_frames = OVERLAP_FRAMES if overlap_frames is None else overlap_frames
        if not 0 < crossfade_frames <= overlap_frames // 2 or piece_frames < overlap_frames:
            raise ValueError(f"PieceWiseReconstruction: need 0 < crossfade_frames <= overlap_frames / 2 <= piece_frames "
                             f"/ 2, found {crossfade_frames}, {overlap_frames}, {piece_frames}")
        self.preset, self.method, self.n_iter, self.momentum = preset, method, n_iter, momentum
        self.rand_init, self.seed, self.inverse, self.mcgl_iter = rand_init, seed, inverse, mcgl_iter
        self.piece, self.overlap, self.fade = piece_frames, overlap_frames, crossfade_frames
        self.hop = preset.hop_length
        self._spec: List[Tensor] = []  # blocks of frames from self._first on
        self._mel: List[Tensor] = []
        self._first = 0  # global index of the first buffered frame
        self._frames = 0  # frames received
        self._core = 0  # the next piece's first core frame
        self._pieces = 0
        self._returned = 0  # samples returned
        self._tail: Optional[Tensor] = None  # previous piece's audio from (core - fade/2) * hop on
        self._tail_start = 0
        self._angles: Optional[Tensor] = None  # previous piece's STFT phasors from frame _angles_start on
        self._angles_start = 0
        self.keep_ratio, self.track_misfit = keep_ratio, track_misfit
        self.misfits = PieceMisfits()
        self.needs_mel = method in ("mcgl", "auto") or track_misfit

    def push(self, specgram: Tensor, melspec: Optional[Tensor] = None) -> Tensor:
        self._spec.append(specgram)
        if melspec is not None:
            self._mel.append(melspec)
        self._frames += specgram.shape[-1]
        outs = []
        while self._frames >= self._core + self.piece + self.overlap:
            outs.append(self._run(self._core + self.piece, final=False))
        return torch.cat(outs, dim=-1) if outs else specgram.new_zeros(specgram.shape[0], 0)

    def flush(self, total: int) -> Tensor:
        """The rest of the audio, ``total`` samples returned in all (``None``: the natural length)."""
        outs = []
        while self._frames - self._core > self.piece + self.overlap:
            outs.append(self._run(self._core + self.piece, final=False))
        outs.append(self._run(self._frames, final=True, total=total))
        return torch.cat(outs, dim=-1)

    def _buffer(self, name: str, start: int, stop: int) -> Tensor:
        blocks = self._spec if name == "spec" else self._mel
        whole = torch.cat(blocks, dim=-1) if len(blocks) != 1 else blocks[0]
        blocks[:] = [whole]
        return whole[..., start - self._first:stop - self._first]

    def _drop_before(self, frame: int) -> None:
        for blocks in (self._spec, self._mel):
            if blocks:
                whole = torch.cat(blocks, dim=-1) if len(blocks) != 1 else blocks[0]
                blocks[:] = [whole[..., frame - self._first:].clone()]
        self._first = frame

    def _run(self, stop: int, final: bool, total: Optional[int] = None) -> Tensor:
        """Reconstruct the piece with core frames [self._core, stop) and return its final audio."""
        p, hop = self.preset, self.hop
        core = self._core
        first = max(0, core - self.overlap)
        last = self._frames if final else min(self._frames, stop + self.overlap)
        spec = self._buffer("spec", first, last)
        compute = spec if spec.dtype in (torch.float32, torch.float64) else spec.float()
        window = p.window(device=compute.device, dtype=compute.dtype)
        power = float(p.power)
        generator = torch.Generator().manual_seed(self.seed + self._pieces)
        if self.method == "griffin_lim":
            shape = flat_shape(compute)
            if self.rand_init:
                angles = torch.rand(shape, dtype=_complex_dtype(compute.dtype), generator=generator).to(compute.device)
            else:
                angles = torch.ones(shape, dtype=_complex_dtype(compute.dtype), device=compute.device)
        else:
            angles = pghi_angles(compute, window, p.n_fft, hop, p.window_length, power, generator)
        if self._angles is not None:  # continue the previous piece's audio
            join = min(core + self.overlap // 2, last) - first  # frames [0, join) take its phase
            known = self._angles[..., first - self._angles_start:first - self._angles_start + join]
            if self.method != "griffin_lim":  # rotate PGHI's phase per bin to meet it at the join
                rotation = torch.sgn(known[..., -1:] * angles[..., join - 1:join].conj())
                angles = angles * rotation
            angles = torch.cat([known / (known.abs() + 1e-16), angles[..., join:]], dim=-1)
        length = (last - first - 1) * hop if not final else None
        if final:
            length = max(total - first * hop, 0) if total is not None else None
        mel = self._buffer("mel", first, last).to(compute.dtype) if self.needs_mel else None
        if self.method == "mcgl":
            op = self.inverse.operator(compute.dtype)
            audio = mel_consistent_griffin_lim(mel, compute, angles.reshape(compute.shape), window,
                                               p.n_fft, hop, p.window_length, power, op.tap_index, op.tap_weight,
                                               self.mcgl_iter, self.momentum, length, fixed_iterations=self.n_iter)
        else:
            audio = phase_iterations(compute, angles, window, p.n_fft, hop, p.window_length, power, self.n_iter,
                                     self.momentum, length)
        audio = audio.reshape(-1, audio.shape[-1])  # global samples from first * hop on
        core_frames = (core - first, (stop if not final else last) - first)
        if self.method == "auto":
            audio = self._auto(audio, compute, mel, window, core_frames)
        elif self.track_misfit:
            error_sq, norm_sq = mel_misfit_terms(mel, self._aligned(audio), p, *core_frames)
            self.misfits.add(norm_sq, returned=error_sq)
        self.misfits.pieces += 1
        half = self.fade // 2 * hop
        boundary = core * hop
        end = (stop * hop - half) if not final else first * hop + audio.shape[-1]
        out = audio[:, max(self._returned, boundary - half) - first * hop:end - first * hop]
        if self._tail is not None:  # crossfade [boundary - half, boundary + half) with the previous piece
            n = min(2 * half, out.shape[-1], self._tail.shape[-1])
            ramp = (torch.arange(n, dtype=out.dtype, device=out.device) + 0.5) / (2 * half)
            out = out.clone()
            out[:, :n] = self._tail[:, :n] * (1 - ramp) + out[:, :n] * ramp
        if not final:
            self._tail = audio[:, end - first * hop:end - first * hop + 2 * half].clone()
            # The phase of this piece's audio on the next piece's leading frames [stop - overlap, stop + overlap / 2).
            spectrum = torch.stft(audio, p.n_fft, hop_length=hop, win_length=p.window_length, window=window,
                                  center=True, return_complex=True)
            self._angles_start = stop - self.overlap
            self._angles = spectrum[..., self._angles_start - first:stop + self.overlap // 2 - first].clone()
            self._drop_before(max(0, stop - self.overlap))
        self._returned = max(self._returned, boundary - half) + out.shape[-1]
        self._core = stop
        self._pieces += 1
        return out


    def _aligned(self, audio: Tensor) -> Tensor:
        """Centred audio as the preset's frames see it (uncentred presets: delayed, as mel_to_audio's)."""
        p = self.preset
        shift = p.uncentred_shift
        return torch.nn.functional.pad(audio, (shift, 0)) if shift else audio

    def _auto(self, pghi: Tensor, compute: Tensor, mel: Tensor, window: Tensor, core_frames) -> Tensor:
        """One piece of "auto": ``pghi`` ``(batch, samples)`` or the mel-consistent iterations from
        its phase, per item, by the misfit on the core frames; both candidates' terms summed."""
        p, hop = self.preset, self.hop
        frames = compute.shape[-1]
        angles = audio_angles(pghi, window, p.n_fft, hop, p.window_length, frames)
        op = self.inverse.operator(compute.dtype)
        mcgl = mel_consistent_griffin_lim(mel, compute, angles.reshape(compute.shape), window,
                                          p.n_fft, hop, p.window_length, float(p.power), op.tap_index, op.tap_weight,
                                          self.mcgl_iter, self.momentum, pghi.shape[-1])
        mcgl = mcgl.reshape(pghi.shape)
        error_pghi, norm_sq = mel_misfit_terms(mel, self._aligned(pghi), p, *core_frames)
        error_mcgl, _ = mel_misfit_terms(mel, self._aligned(mcgl), p, *core_frames)
        keep = error_mcgl <= self.keep_ratio ** 2 * error_pghi  # (batch,)
        kept = keep.to(torch.int64)
        self.misfits.kept = kept if self.misfits.kept is None else self.misfits.kept + kept
        self.misfits.add(norm_sq, returned=torch.where(keep, error_mcgl, error_pghi), pghi=error_pghi, mcgl=error_mcgl)
        return torch.where(keep[:, None], mcgl, pghi)


class BlockSpectrogram:
    """``Preset.spectrogram`` of audio pushed in blocks of any size: ``push(block)`` with
    ``(batch, samples)`` returns the frames now complete, ``(batch, n_freqs, k)``;
    ``flush()`` the rest. The frames equal those of the whole audio (reflect padding at both ends)."""

    def __init__(self, preset: Preset):
        self.preset = preset
        self.pad = preset.n_fft // 2 if preset.center else (preset.n_fft - preset.hop_length) // 2
        self._buffer: Optional[Tensor] = None
        self._started = False
        self._skip = 0  # samples of the buffer before the next frame's start
        self._pending_last: Optional[Tensor] = None  # the newest frame, held back for drop_last_frame

    def _frames(self, x: Tensor) -> Tensor:
        """The complete frames of ``x`` from sample ``self._skip`` on; keeps the rest (and the last
        pad + 1 samples, which the end's reflect padding needs)."""
        p = self.preset
        usable = x.shape[-1] - self._skip
        n = (usable - p.n_fft) // p.hop_length + 1 if usable >= p.n_fft else 0
        if n > 0:
            spec = torch.stft(x[:, self._skip:self._skip + (n - 1) * p.hop_length + p.n_fft], p.n_fft,
                              hop_length=p.hop_length, win_length=p.window_length, window=p.window(x.device, x.dtype),
                              center=False, return_complex=True)
            frames = p.spectrogram_of_stft(spec)
        else:
            frames = x.new_zeros(x.shape[0], p.n_freqs, 0)
        following = self._skip + n * p.hop_length  # the next frame's first sample
        keep = min(following, max(0, x.shape[-1] - (self.pad + 1)))
        self._buffer = x[:, keep:]
        self._skip = following - keep
        return frames

    def push(self, block: Tensor) -> Tensor:
        if not self._started:
            if block.shape[-1] <= self.pad:
                raise ValueError(f"the first block must hold more than {self.pad} samples")
            head = torch.nn.functional.pad(block[:, None], (self.pad, 0), mode="reflect")[:, 0]
            self._buffer, self._started = head, True
        else:
            self._buffer = torch.cat([self._buffer, block], dim=-1)
        return self._hold_last(self._frames(self._buffer))

    def flush(self) -> Tensor:
        p = self.preset
        # The end's reflect padding needs the last pad + 1 samples, all still in the buffer.
        x = torch.nn.functional.pad(self._buffer[:, None], (0, self.pad), mode="reflect")[:, 0]
        frames = self._frames(x)
        held = self._pending_last
        out = frames if held is None else torch.cat([held, frames], dim=-1)
        if p.drop_last_frame and out.shape[-1]:
            out = out[..., :-1]
        self._pending_last = None
        return out

    def _hold_last(self, frames: Tensor) -> Tensor:
        """With drop_last_frame the final frame is only known at the end: keep the newest back."""
        if not self.preset.drop_last_frame:
            return frames
        if self._pending_last is not None:
            frames = torch.cat([self._pending_last, frames], dim=-1)
        if frames.shape[-1] == 0:
            return frames
        self._pending_last = frames[..., -1:]
        return frames[..., :-1]


def mel_to_audio_in_pieces(mel: Tensor, preset: Preset, inverse, method: str, n_iter: int, momentum: float,
                           length: Optional[int], rand_init: bool, seed: int, mcgl_iter: int,
                           piece_frames: Optional[int] = None, overlap_frames: Optional[int] = None,
                           keep_ratio: float = 0.85, track_misfit: bool = False):
    """``mel_to_audio``'s inverse and phase reconstruction of a linear mel ``(..., n_mels, frames)``
    piece by piece: the memory of the mel inverse and of the phase iterations is a few pieces', not
    the input's. Returns ``(audio, misfits)``: ``(..., samples)`` as ``reconstruct_waveform``
    (uncentred presets delayed, ``length`` or the frames' length), and the :class:`PieceMisfits`."""
    lead = list(mel.shape[:-2])
    flat = mel.reshape(-1, mel.shape[-2], mel.shape[-1])
    frames = flat.shape[-1]
    total = preset.frames_to_samples(frames) if length is None else length
    shift = preset.uncentred_shift
    pieces = PieceWiseReconstruction(preset, method, n_iter, momentum, rand_init, seed, inverse, mcgl_iter,
                                     piece_frames, overlap_frames, keep_ratio=keep_ratio, track_misfit=track_misfit)
    out = []
    for start in range(0, frames, pieces.piece):
        block = flat[..., start:start + pieces.piece]
        out.append(pieces.push(inverse(block), block if pieces.needs_mel else None))
    out.append(pieces.flush(max(total - shift, 0)))
    audio = torch.cat(out, dim=-1)
    if shift:
        audio = torch.nn.functional.pad(audio, (shift, 0))[..., :total]
    return audio.reshape(lead + [audio.shape[-1]]), pieces.misfits
