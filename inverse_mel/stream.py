"""Streaming mel to audio: frames in as they arrive, final audio samples out, in bounded memory.

:class:`MelToAudioStream` inverts each frame's mel (the preset's :class:`inverse_mel.InverseMelScale`),
takes its phase by real-time PGHI (:func:`inverse_mel.functional.pghi.real_time_frame_phase`: Prusa
and Sondergaard, DAFx 2016), optionally refines it against the audio already final (RTISI,
Zhu et al. 2006, with PGHI's phase as the start), and overlap-adds it as ``torch.istft`` does.
"""
import math
from typing import List, Optional

import torch
from torch import Tensor

from .functional.pghi import (PGHI_LOG_FLOOR, PGHI_RELATIVE_TOL, gaussian_lambda, phase_freq_step, phase_time_step,
                              real_time_frame_phase)
from .presets import Preset, get_preset

__all__ = ["DEFAULT_REFINE", "DEFAULT_REFINE_FRAMES", "MelToAudioStream"]

DEFAULT_REFINE = 3
DEFAULT_REFINE_FRAMES = 4
"""The default refinement, RTISI-LA with PGHI's phase as the start: 3 Griffin-Lim steps per new
frame over it and the 4 before it (each frame refined 15 times in all; 4 hops of added latency).
Chosen by measurement on the benchmark recordings (benchmarks/results/stream.md): against 2 steps
over 3 frames it lowers vocos' audio SC from 1.20x to 1.11x offline ``pghi``'s and whisper's from
1.09x to 1.06x, at 7-13% more time (the per-frame overhead dominates the stream's time); RTISI
alone (``refine_frames=0``) stays 10-40% worse."""
_GROWTH_HOPS = 16
_ENVELOPE_TOL = 1e-11  # torch.istft's smallest window overlap-add (below it: no frame covers the sample)


class MelToAudioStream:
    """Mel frames to audio as they arrive (streaming TTS, live previews), with a fixed latency.

    Parameters
    ----------
    preset : str or Preset, optional
        A preset name, alias or :class:`inverse_mel.presets.Preset` (default ``"hifigan"``).
    features : bool, default True
        ``True``: chunks hold the preset's model features (e.g. HiFi-GAN's ln-mel); ``False``: a
        linear mel in the preset's power.
    lookahead : int, default 1
        ``1`` or ``0`` frames. With 1 the phase's frequency step uses the centred time difference
        of the log-magnitude (as offline PGHI); with 0 a backward one, ``hop_length`` samples sooner.
    refine : int, default :data:`DEFAULT_REFINE`
        Griffin-Lim steps per new frame (0: PGHI's phase alone), each over the ``refine_frames``
        newest frames with the audio before them fixed.
    refine_frames : int, default :data:`DEFAULT_REFINE_FRAMES`
        Frames kept open while they are refined (RTISI-LA's look-ahead; 0: RTISI, each frame
        refined on arrival only). Each adds ``hop_length`` samples of latency.
    solver : str, default "nnls"
        The mel inverse, ``"nnls"`` or ``"lstsq"``.
    seed : int
        Seeds the random phase of coefficients that PGHI does not reach (e.g. after silence).
    relative_tol : float, optional
        Coefficients below this fraction of the larger of the new and the previous frame's largest
        magnitude keep a random phase (default: offline PGHI's, 1e-5).

    Attributes
    ----------
    latency : int
        The delay of the output in samples (see below).

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.demo import synthesize
    >>> p = inverse_mel.get_preset("hifigan")
    >>> features = p.features(synthesize(p.sample_rate, seconds=0.5))     # (n_mels, frames)
    >>> stream = inverse_mel.MelToAudioStream("hifigan")
    >>> stream.latency                                                     # samples
    1664
    >>> chunks = [stream.push(features[..., i:i + 7]) for i in range(0, features.shape[-1], 7)]
    >>> audio = torch.cat(chunks + [stream.flush()], dim=-1)               # (samples,)
    >>> audio.shape[-1] == p.frames_to_samples(features.shape[-1])
    True

    Notes
    -----
    ``push(chunk)`` takes ``(..., n_mels, k)`` with ``k >= 0`` (float32 or float64, on any device;
    the batch shape, dtype and device stay those of the first chunk) and returns ``(..., samples)``,
    the samples that became final (possibly none). ``flush()`` returns the rest (the output then
    has :meth:`Preset.frames_to_samples` samples in all, as ``mel_to_audio`` gives for the same
    frames) and resets the stream; a ``push`` after it starts a new stream. ``reset()`` drops the
    state without output.

    Latency: after ``T`` frames pushed in all, exactly ``max(0, T * hop_length - latency)``
    samples have been returned; ``latency`` is ``(lookahead + refine_frames) * hop_length +
    n_fft // 2``, less the delay of uncentred frames ``n_fft // 2 - (n_fft - hop_length) // 2``
    (HiFi-GAN by default: 5 * 256 + 512 - 128 = 1664 samples, 75 ms). The output does not depend on how the frames are cut into
    chunks (to float round-off).

    Memory: the state is a few frames (the previous frame, the look-ahead frame, an ``n_fft``
    overlap-add buffer per batch item), whatever the number of frames pushed.

    Bad input (wrong ``n_mels``, another batch shape, dtype or device mid-stream, NaN/Inf, negative
    linear mels) raises ``ValueError`` before the state changes: the stream stays usable.
    """

    def __init__(self, preset=None, *, features: bool = True, lookahead: int = 1, refine: int = DEFAULT_REFINE,
                 refine_frames: int = DEFAULT_REFINE_FRAMES, solver: str = "nnls", seed: int = 0, relative_tol: float = PGHI_RELATIVE_TOL):
        p = get_preset("hifigan" if preset is None else preset)
        if lookahead not in (0, 1) or isinstance(lookahead, bool):
            raise ValueError(f"MelToAudioStream: lookahead must be 0 or 1 frames, found {lookahead!r}")
        if isinstance(refine, bool) or not isinstance(refine, int) or refine < 0:
            raise ValueError(f"MelToAudioStream: refine must be an int >= 0 (RTISI iterations per frame), found {refine!r}")
        if isinstance(refine_frames, bool) or not isinstance(refine_frames, int) or refine_frames < 0:
            raise ValueError("MelToAudioStream: refine_frames must be an int >= 0 (frames kept open for refinement, "
                             f"each adding hop_length samples of latency), found {refine_frames!r}")
        if not isinstance(relative_tol, (int, float)) or not 0 <= relative_tol < 1:
            raise ValueError(f"MelToAudioStream: relative_tol must lie in [0, 1), found {relative_tol!r}")

        self.preset: Preset = p
        self.features, self.lookahead, self.refine = bool(features), int(lookahead), refine
        self.refine_frames = refine_frames if refine else 0
        # PGHI integrates each new frame from the refined phase of the one before (measured: as good
        # or better than from PGHI's own).
        self._refine_feedback = True
        self.solver, self.seed, self.relative_tol = solver, int(seed), float(relative_tol)
        self._inverses = {}  # device -> the preset's InverseMelScale, built on first use
        self.n_fft, self.hop_length = p.n_fft, p.hop_length
        # Uncentred frames (HiFi-GAN) sit this many samples later than centred ones: delayed as in
        # inverse_mel.pipeline.reconstruct_waveform.
        self.shift = p.uncentred_shift
        self.latency = (self.lookahead + self.refine_frames) * self.hop_length + self.n_fft // 2 - self.shift
        """Samples of delay: after ``T`` frames, ``max(0, T * hop_length - latency)`` have been returned."""
        window = p.window(dtype=torch.float64)
        left = (p.n_fft - p.window_length) // 2
        self._window64 = torch.nn.functional.pad(window, (left, p.n_fft - p.window_length - left))
        self._lam = gaussian_lambda(self._window64, p.n_fft)
        self.reset()

    def __repr__(self) -> str:
        return (f"MelToAudioStream(preset={self.preset.name!r}, lookahead={self.lookahead}, refine={self.refine}, "
                f"refine_frames={self.refine_frames}, solver={self.solver!r}, latency={self.latency} samples)")

    # -- state ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Drop the state: the next ``push`` starts a new stream."""
        self._batch_shape: Optional[List[int]] = None
        self._dtype: Optional[torch.dtype] = None
        self._device: Optional[torch.device] = None
        self._generator = torch.Generator().manual_seed(self.seed)
        self._pending: List[Tensor] = []  # (B, F) magnitudes received, not yet phased (<= lookahead + 1)
        self._pending_log: List[Tensor] = []
        self._previous = None  # (magnitude, log magnitude, phase, time step) of the last phased frame
        self._peak_log = None  # (B,) the largest log-magnitude so far (the log floor)
        self._ola = None  # (B, span) overlap-add from the first unreturned padded sample
        self._envelope = None  # (span,)
        self._origin = 0  # padded sample index of _ola[..., 0]
        self._frames_pushed = 0
        self._frames_committed = 0  # frames overlap-added into _ola (their audio before the next one is final)
        self._open: List = []  # (magnitude, windowed frame) phased, still refined (<= refine_frames)
        self._returned = 0  # output samples returned so far

    def _start(self, chunk: Tensor) -> None:
        self._batch_shape = list(chunk.shape[:-2])
        self._dtype, self._device = chunk.dtype, chunk.device
        batch = 1
        for size in self._batch_shape:
            batch *= size
        self._ola = torch.zeros(batch, 0, dtype=chunk.dtype, device=chunk.device)
        self._envelope = torch.zeros(0, dtype=chunk.dtype, device=chunk.device)
        self._window = self._window64.to(chunk.device, chunk.dtype)
        self._open_envelopes = {}

    # -- input checks ---------------------------------------------------------------------------
    def _check(self, chunk) -> None:
        p = self.preset
        if not isinstance(chunk, Tensor):
            raise ValueError(f"MelToAudioStream.push: features must be a tensor (..., {p.n_mels}, frames), found "
                             f"{type(chunk).__name__}")
        if chunk.dim() < 2 or chunk.shape[-2] != p.n_mels:
            raise ValueError(f"MelToAudioStream.push: features must have shape (..., {p.n_mels}, frames) for preset "
                             f"{p.name!r}, found {tuple(chunk.shape)} (a transposed chunk? use chunk.transpose(-1, -2))")
        if chunk.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"MelToAudioStream.push: features must be float32 or float64, found {chunk.dtype} "
                             "(convert with chunk.float())")
        if self._batch_shape is not None:
            if list(chunk.shape[:-2]) != self._batch_shape:
                raise ValueError(f"MelToAudioStream.push: this stream's batch shape is {tuple(self._batch_shape)}, "
                                 f"found {tuple(chunk.shape[:-2])}; call flush() or reset() to start a stream with "
                                 "another batch")
            if chunk.dtype != self._dtype or chunk.device != self._device:
                raise ValueError(f"MelToAudioStream.push: this stream runs in {self._dtype} on {self._device}, found "
                                 f"{chunk.dtype} on {chunk.device}; convert the chunk, or flush()/reset() first")
        if chunk.numel() and not bool(torch.isfinite(chunk).all()):
            raise ValueError("MelToAudioStream.push: features contain NaN or Inf; pass finite frames (the stream is "
                             "unchanged)")
        if not self.features and chunk.numel() and bool((chunk < 0).any()):
            raise ValueError("MelToAudioStream.push: a linear mel (features=False) must be non-negative; log-scaled "
                             "features need features=True")

    # -- the public calls -------------------------------------------------------------------------
    def push(self, features: Tensor) -> Tensor:
        """Add ``(..., n_mels, k)`` frames; returns ``(..., samples)``, the audio now final."""
        self._check(features)
        if self._batch_shape is None:
            self._start(features)
        if features.shape[-1] == 0:
            return self._empty()
        mel = self.preset.to_linear_mel(features) if self.features else features
        if not bool(torch.isfinite(mel).all()):
            raise ValueError(self.preset.overflow_message(features))
        self._receive(mel)
        return self._take(self._final_samples())

    def flush(self) -> Tensor:
        """The rest of the audio (the last frames without look-ahead); then the stream is reset."""
        if self._batch_shape is None:
            self.reset()
            return torch.zeros(0)
        while self._pending:
            self._phase_next(final=True)
        while self._open:
            self._commit()
        total = self.preset.frames_to_samples(self._frames_pushed) if self._frames_pushed else 0
        out = self._take(total)
        self.reset()
        return out

    # -- internals ------------------------------------------------------------------------------
    def _inverse_for(self, device: torch.device):
        inverse = self._inverses.get(device)
        if inverse is None:
            inverse = self._inverses[device] = self.preset.inverse_mel_scale(solver=self.solver).to(device)
        return inverse

    def _empty(self) -> Tensor:
        return torch.zeros(self._batch_shape + [0], dtype=self._dtype, device=self._device)

    def _receive(self, mel: Tensor) -> None:
        p = self.preset
        frames = mel.shape[-1]
        flat = mel.reshape(-1, p.n_mels, frames)
        specgram = self._inverse_for(mel.device)(flat)  # (B, F, k); frames are independent
        magnitude = specgram if p.power == 1 else specgram.clamp_min(0).sqrt()
        log_magnitude = torch.log(magnitude + torch.finfo(magnitude.dtype).tiny)
        # The floor and the threshold follow the largest magnitude so far (offline: the signal's).
        peaks = log_magnitude.amax(dim=-2)  # (B, k)
        if self._peak_log is not None:
            peaks = torch.cat([self._peak_log[:, None], peaks], dim=-1)
        running = torch.cummax(peaks, dim=-1).values[:, -frames:]
        self._peak_log = running[:, -1]
        floored = torch.maximum(log_magnitude, running[:, None, :] - PGHI_LOG_FLOOR)
        time_step = phase_time_step(floored, self._lam, self.n_fft, self.hop_length)  # each frame's own
        for t in range(frames):
            self._pending.append((magnitude[..., t], time_step[..., t]))
            self._pending_log.append(floored[..., t])
            self._frames_pushed += 1
            if len(self._pending) > self.lookahead:
                self._phase_next(final=False)

    def _phase_next(self, final: bool) -> None:
        """Phase the oldest pending frame and overlap-add it."""
        magnitude, time_step = self._pending.pop(0)
        log_magnitude = self._pending_log.pop(0)
        following = self._pending_log[0] if self._pending_log and self.lookahead else None
        previous = self._previous
        if previous is None:  # the first frame: a one-sided difference forward, as offline PGHI
            per_frame = following - log_magnitude if following is not None else torch.zeros_like(log_magnitude)
        elif following is not None:
            per_frame = 0.5 * (following - previous[1])
        else:
            per_frame = log_magnitude - previous[1]
        freq_step = phase_freq_step(per_frame, self._lam, self.n_fft, self.hop_length)
        init = ((torch.rand(magnitude.shape, dtype=magnitude.dtype, generator=self._generator) * 2 - 1)
                * math.pi).to(magnitude.device)
        # As in the paper: relative to the larger of this frame's and the previous frame's peak.
        largest = magnitude.amax(dim=-1) if previous is None else torch.maximum(magnitude.amax(dim=-1),
                                                                                previous[0].amax(dim=-1))
        threshold = largest * self.relative_tol
        if previous is None:
            zeros = torch.zeros_like(magnitude)
            phase = real_time_frame_phase(zeros, zeros, zeros, magnitude, time_step, freq_step, init, threshold)
        else:
            phase = real_time_frame_phase(previous[2], previous[0], previous[3], magnitude, time_step, freq_step, init,
                                          threshold)
        frame = torch.fft.irfft(torch.polar(magnitude, phase), n=self.n_fft) * self._window
        self._open.append((magnitude, frame))
        if self.refine:
            phase = self._refine_open(phase)
        self._previous = (magnitude, log_magnitude, phase, time_step)
        while len(self._open) > self.refine_frames:
            self._commit()

    def _region(self, frames: int):
        """The overlap-add from the first open frame's start over ``frames`` frames (grown as needed):
        (start in _ola, length)."""
        start = self._frames_committed * self.hop_length - self._origin
        length = (frames - 1) * self.hop_length + self.n_fft
        need = start + length - self._ola.shape[-1]
        if need > 0:  # grown 16 hops ahead: one allocation per 16 frames, not per frame
            need += _GROWTH_HOPS * self.hop_length
            self._ola = torch.nn.functional.pad(self._ola, (0, need))
            self._envelope = torch.nn.functional.pad(self._envelope, (0, need))
        return start, length

    def _open_envelope(self, count: int) -> Tensor:
        """sum of w^2 over ``count`` frames a hop apart, ``((count - 1) * hop + n_fft,)`` (cached)."""
        cached = self._open_envelopes.get(count)
        if cached is None:
            square = self._window.square()[None, :, None].expand(1, self.n_fft, count)
            length = (count - 1) * self.hop_length + self.n_fft
            cached = torch.nn.functional.fold(square, (1, length), (1, self.n_fft),
                                              stride=(1, self.hop_length)).reshape(length)
            self._open_envelopes[count] = cached
        return cached

    def _commit(self) -> None:
        """Overlap-add the oldest open frame: the audio before the next frame's start is final."""
        _, frame = self._open.pop(0)
        start, _ = self._region(1)
        self._ola[:, start:start + self.n_fft] += frame
        self._envelope[start:start + self.n_fft] += self._window.square()
        self._frames_committed += 1

    def _refine_open(self, phase: Tensor) -> Tensor:
        """RTISI-LA (plain RTISI when ``refine_frames`` is 0): ``refine`` Griffin-Lim steps on the open
        frames (not yet final), with the committed audio fixed. Each step takes every open frame's
        phase from the overlap-add of the committed audio and all open frames, normalised by the
        envelope of the frames present (where a frame is alone the estimate is the frame itself).
        Returns the newest frame's phase."""
        count = len(self._open)
        start, length = self._region(count)
        fixed = self._ola[:, start:start + length]
        present = self._envelope[start:start + length] + self._open_envelope(count)
        present = torch.where(present > _ENVELOPE_TOL, present, torch.ones_like(present))
        magnitudes = torch.stack([m for m, _ in self._open], dim=1)  # (B, count, F)
        frames = torch.stack([f for _, f in self._open], dim=1)  # (B, count, n_fft)
        batch = frames.shape[0]
        unit = None
        for _ in range(self.refine):
            added = torch.nn.functional.fold(frames.transpose(1, 2), (1, length), (1, self.n_fft),
                                             stride=(1, self.hop_length)).reshape(batch, length)
            estimate = ((fixed + added) / present).unfold(-1, self.n_fft, self.hop_length)  # (B, count, n_fft)
            unit = torch.sgn(torch.fft.rfft(estimate * self._window))  # z / |z|, 0 for 0
            frames = torch.fft.irfft(magnitudes * unit, n=self.n_fft) * self._window
        self._open = [(magnitudes[:, j], frames[:, j]) for j in range(count)]
        return torch.angle(unit[:, -1]) if self._refine_feedback else phase

    def _final_samples(self) -> int:
        """Output samples final now: padded samples before the next frame's start, shifted."""
        final_padded = self._frames_committed * self.hop_length
        return max(0, final_padded - self.n_fft // 2 + self.shift)

    def _take(self, upto: int) -> Tensor:
        """Return the output samples [_returned, upto) and drop what is no longer needed."""
        count = upto - self._returned
        if count <= 0:
            return self._empty()
        first = self._returned
        index = torch.arange(first, upto, device=self._device)
        padded = index - self.shift + self.n_fft // 2 - self._origin  # positions in _ola
        valid = (index >= self.shift) & (padded >= 0) & (padded < self._ola.shape[-1])
        where = padded.clamp(0, max(self._ola.shape[-1] - 1, 0))
        if self._ola.shape[-1] == 0:
            out = torch.zeros(self._ola.shape[0], count, dtype=self._dtype, device=self._device)
        else:
            envelope = self._envelope[where]
            covered = valid & (envelope > _ENVELOPE_TOL)
            out = torch.where(covered, self._ola[:, where] / torch.where(covered, envelope, torch.ones_like(envelope)),
                              torch.zeros((), dtype=self._dtype, device=self._device))
        self._returned = upto
        # Keep only from the next unreturned padded sample on (bounded state).
        keep_from = max(0, min(upto - self.shift + self.n_fft // 2 - self._origin, self._ola.shape[-1]))
        keep_from = min(keep_from, max(0, self._frames_committed * self.hop_length - self._origin))
        if keep_from > 0:
            self._ola = self._ola[:, keep_from:].clone()
            self._envelope = self._envelope[keep_from:].clone()
            self._origin += keep_from
        return out.reshape(self._batch_shape + [count])
