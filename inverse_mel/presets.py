"""Presets: the full analysis settings of the mel front ends people invert, with their scaling.

A :class:`Preset` holds everything needed to go from audio to a model's log-mel features and
back: STFT settings, mel filterbank settings, magnitude or power, and the log compression and
normalisation the model applies. ``preset.features(audio)`` computes the features as the model's
own front end does; ``preset.to_linear_mel(features)`` undoes the scaling; the result goes into
:class:`inverse_mel.InverseMelScale` and :class:`inverse_mel.GriffinLim`.

Built in (see ``PRESETS``):

* ``whisper``: OpenAI Whisper's ``log_mel_spectrogram`` (``whisper/audio.py``): 16 kHz, n_fft 400,
  hop 160, Hann window, 80 slaney mels, power spectrogram, last frame dropped,
  ``log10(clamp(mel, 1e-10))``, floor at ``max - 8``, then ``(x + 4) / 4``.
* ``hifigan``: HiFi-GAN / Tacotron 2 (``meldataset.py`` of jik876/hifi-gan): 22.05 kHz, n_fft 1024,
  hop 256, win 1024, reflect padding of ``(n_fft - hop) / 2`` without centering, 80 slaney mels,
  0-8000 Hz, magnitude ``sqrt(re^2 + im^2 + 1e-9)``, ``log(clamp(mel, 1e-5))``.
* ``vocos``: Vocos' ``MelSpectrogramFeatures`` (``vocos/feature_extractors.py``): 24 kHz, n_fft 1024,
  hop 256, centered, 100 HTK mels without norm (torchaudio's ``MelSpectrogram`` defaults), magnitude,
  ``log(clamp(mel, 1e-7))``.

Those projects build their filterbanks with ``librosa.filters.mel`` (Whisper, HiFi-GAN) or
torchaudio (Vocos); the presets use :func:`inverse_mel.functional.melscale_fbanks` with the same
settings, which equals torchaudio's and is within a few percent of librosa's per weight. Whisper's
``max - 8`` floor is not invertible: floored values come back as the floor.

A custom front end is a ``Preset(...)`` with your own values; ``register_preset`` makes it
available by name (and to the command line tool within the same process).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Dict, Optional

import torch
from torch import Tensor

from . import _validation as V
from .functional.filterbank import mel_scale, melscale_fbanks
from .transforms import GriffinLim, InverseMelScale

__all__ = ["Preset", "PRESETS", "get_preset", "register_preset"]

_LOGS = ("none", "ln", "log10")
_NORMALIZATIONS = ("none", "whisper")


@dataclass(frozen=True)
class Preset:
    """Analysis settings and feature scaling of one mel front end.

    Fields:
        name: identifier.
        sample_rate: Hz.
        n_fft, hop_length, win_length: STFT sizes in samples (``win_length`` ``None`` = ``n_fft``).
        center: ``True``: frames centred with ``n_fft // 2`` reflect padding (``torch.stft``'s
            default). ``False``: ``(n_fft - hop_length) // 2`` reflect padding, uncentred (HiFi-GAN).
        n_mels, f_min, f_max, norm, mel_scale: the filterbank (``f_max`` ``None`` = Nyquist).
        power: 1 for a magnitude, 2 for a power spectrogram.
        log: ``"none"``, ``"ln"`` or ``"log10"`` compression of the mel spectrogram.
        clamp_min: the floor applied before the log.
        normalization: ``"none"`` or ``"whisper"`` (floor at ``max - 8``, then ``(x + 4) / 4``).
        drop_last_frame: Whisper drops the STFT's last frame.
        magnitude_eps: a magnitude is ``sqrt(re^2 + im^2 + magnitude_eps)`` (HiFi-GAN: 1e-9).
        description, source: documentation.
    """

    name: str
    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    win_length: Optional[int] = None
    center: bool = True
    f_min: float = 0.0
    f_max: Optional[float] = None
    norm: Optional[str] = None
    mel_scale: str = "htk"
    power: float = 2.0
    log: str = "ln"
    clamp_min: float = 1e-5
    normalization: str = "none"
    drop_last_frame: bool = False
    magnitude_eps: float = 0.0
    description: str = ""
    source: str = ""

    def __post_init__(self):
        if self.log not in _LOGS:
            raise ValueError(f"Preset {self.name!r}: log must be one of {list(_LOGS)}, found {self.log!r}")
        if self.normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"Preset {self.name!r}: normalization must be one of {list(_NORMALIZATIONS)}, found {self.normalization!r}"
            )
        if self.power not in (1, 2, 1.0, 2.0):
            raise ValueError(f"Preset {self.name!r}: power must be 1 (magnitude) or 2 (power), found {self.power!r}")
        for field in ("n_fft", "hop_length", "n_mels", "sample_rate"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Preset {self.name!r}: {field} must be a positive int, found {value!r}")
        if self.win_length is not None and not 1 <= self.win_length <= self.n_fft:
            raise ValueError(f"Preset {self.name!r}: win_length must be in [1, n_fft={self.n_fft}], found {self.win_length}")
        if not self.clamp_min > 0:
            raise ValueError(f"Preset {self.name!r}: clamp_min must be > 0, found {self.clamp_min!r}")
        V.check_mel_config(self.n_freqs, self.f_min, self.f_max, self.n_mels, self.sample_rate, f"Preset {self.name!r}",
                            n_freqs_name="n_fft // 2 + 1")

    # -- derived settings ---------------------------------------------------------------------
    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def window_length(self) -> int:
        return self.win_length or self.n_fft

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (``dataclasses.replace``), validated again."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    def window(self, device=None, dtype=torch.float32) -> Tensor:
        return torch.hann_window(self.window_length, device=device, dtype=dtype)

    def fbanks(self) -> Tensor:
        """``(n_freqs, n_mels)`` float32 filterbank."""
        return melscale_fbanks(self.n_freqs, self.f_min, self.f_max or float(self.sample_rate // 2), self.n_mels,
                                 self.sample_rate, self.norm, self.mel_scale)

    # -- audio -> features ----------------------------------------------------------------------
    def spectrogram(self, audio: Tensor) -> Tensor:
        """Linear spectrogram as the front end computes it: ``(..., samples)`` audio ->
        ``(..., n_freqs, frames)``, magnitude (``power=1``) or power (``power=2``)."""
        if not isinstance(audio, Tensor) or audio.dim() < 1 or not audio.is_floating_point():
            raise ValueError(f"Preset {self.name!r}: audio must be a floating-point tensor (..., samples)")
        lead = audio.shape[:-1]
        x = audio.reshape(-1, audio.shape[-1])
        if self.center:
            pad = self.n_fft // 2
        else:
            pad = (self.n_fft - self.hop_length) // 2
        if x.shape[-1] <= pad:
            raise ValueError(
                f"Preset {self.name!r}: audio of {x.shape[-1]} samples is too short for n_fft={self.n_fft}; "
                f"it needs more than {pad} samples"
            )
        x = torch.nn.functional.pad(x.unsqueeze(1), (pad, pad), mode="reflect").squeeze(1)
        spec = torch.stft(x, self.n_fft, hop_length=self.hop_length, win_length=self.window_length,
                          window=self.window(x.device, x.dtype), center=False, return_complex=True)
        out = spec.real.square() + spec.imag.square()
        if self.power == 1:
            out = torch.sqrt(out + self.magnitude_eps)
        if self.drop_last_frame:
            out = out[..., :-1]
        return out.reshape(*lead, *out.shape[-2:])

    def mel_spectrogram(self, audio: Tensor) -> Tensor:
        """Linear-amplitude mel spectrogram ``(..., n_mels, frames)``: ``fb.T @ spectrogram``."""
        return mel_scale(self.spectrogram(audio), self.fbanks().to(audio.dtype))

    def compress(self, mel: Tensor) -> Tensor:
        """Linear mel -> the model's features (log, clamp, normalisation)."""
        x = mel.clamp_min(self.clamp_min)
        if self.log == "ln":
            x = x.log()
        elif self.log == "log10":
            x = x.log10()
        if self.normalization == "whisper":
            floor = x.amax(dim=(-2, -1), keepdim=True) - 8.0
            x = (torch.maximum(x, floor) + 4.0) / 4.0
        return x

    def features(self, audio: Tensor) -> Tensor:
        """The model's input features from audio: ``(..., samples)`` -> ``(..., n_mels, frames)``."""
        return self.compress(self.mel_spectrogram(audio))

    def to_linear_mel(self, features: Tensor) -> Tensor:
        """Undo the scaling: the model's features -> linear mel ``(..., n_mels, frames)``."""
        x = features
        if self.normalization == "whisper":
            x = x * 4.0 - 4.0
        if self.log == "ln":
            x = x.exp()
        elif self.log == "log10":
            x = torch.pow(10.0, x)
        return x

    def frames_to_samples(self, frames: int) -> int:
        """The audio length that gives ``frames`` frames (for ``length=`` in Griffin-Lim)."""
        frames = frames + (1 if self.drop_last_frame else 0)
        if self.center:
            return (frames - 1) * self.hop_length
        return (frames - 1) * self.hop_length + self.n_fft - 2 * ((self.n_fft - self.hop_length) // 2)

    # -- the inverse ------------------------------------------------------------------------
    def inverse_mel_scale(self, **kwargs):
        """An :class:`inverse_mel.InverseMelScale` for this preset's filterbank (kwargs: ``solver``,
        ``rcond``, ``max_iter``, ``tol``)."""
        return InverseMelScale(self.n_freqs, self.n_mels, self.sample_rate, self.f_min,
                               self.f_max or float(self.sample_rate // 2), self.norm, self.mel_scale, **kwargs)

    def griffin_lim(self, **kwargs):
        """An :class:`inverse_mel.GriffinLim` with this preset's STFT settings and power, starting from
        PGHI's phase (``phase_init="pghi"``; pass ``phase_init=None`` for torchaudio's random start)."""
        kwargs.setdefault("phase_init", "pghi")
        return GriffinLim(n_fft=self.n_fft, win_length=self.window_length, hop_length=self.hop_length,
                          power=float(self.power), **kwargs)


PRESETS: Dict[str, Preset] = {}


def register_preset(preset: Preset, overwrite: bool = False) -> Preset:
    """Make ``preset`` available by name to :func:`get_preset`, ``mel_to_audio`` and the CLI."""
    if not isinstance(preset, Preset):
        raise TypeError(f"register_preset: expected a Preset, found {type(preset).__name__}")
    if preset.name in PRESETS and not overwrite:
        raise ValueError(f"register_preset: a preset named {preset.name!r} exists; pass overwrite=True to replace it")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name) -> Preset:
    """The preset called ``name`` (or ``name`` itself when it is a :class:`Preset`)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)} or define a Preset(...)") from None


register_preset(Preset(
    name="whisper", sample_rate=16000, n_fft=400, hop_length=160, n_mels=80, center=True, norm="slaney",
    mel_scale="slaney", power=2.0, log="log10", clamp_min=1e-10, normalization="whisper", drop_last_frame=True,
    description="OpenAI Whisper log-mel (80 mels; large-v3 uses 128: preset.replace(n_mels=128))",
    source="openai/whisper, whisper/audio.py: log_mel_spectrogram",
))
register_preset(Preset(
    name="hifigan", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, center=False,
    f_min=0.0, f_max=8000.0, norm="slaney", mel_scale="slaney", power=1.0, log="ln", clamp_min=1e-5, magnitude_eps=1e-9,
    description="HiFi-GAN / Tacotron 2 log-mel (LJSpeech V1 config)",
    source="jik876/hifi-gan, meldataset.py: mel_spectrogram + dynamic_range_compression_torch; config_v1.json",
))
register_preset(Preset(
    name="vocos", sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, center=True, norm=None,
    mel_scale="htk", power=1.0, log="ln", clamp_min=1e-7,
    description="Vocos mel features (charactr/vocos-mel-24khz)",
    source="gemelo-ai/vocos, vocos/feature_extractors.py: MelSpectrogramFeatures (torchaudio MelSpectrogram, safe_log)",
))
