"""Presets: the full analysis settings of the mel front ends people invert, with their scaling.

A :class:`Preset` holds everything needed to go from audio to a model's log-mel features and
back: STFT settings, mel filterbank settings, magnitude or power, and the log compression and
normalisation the model applies. ``preset.features(audio)`` computes the features as the model's
own front end does; ``preset.to_linear_mel(features)`` undoes the scaling; the result goes into
:class:`inverse_mel.InverseMelScale` and :class:`inverse_mel.GriffinLim`.

Built in (see ``PRESETS``), among others:

* ``whisper``: OpenAI Whisper's ``log_mel_spectrogram`` (``whisper/audio.py``): 16 kHz, n_fft 400,
  hop 160, Hann window, 80 slaney mels, power spectrogram, last frame dropped,
  ``log10(clamp(mel, 1e-10))``, floor at ``max - 8``, then ``(x + 4) / 4``.
* ``hifigan``: HiFi-GAN / Tacotron 2 (``meldataset.py`` of jik876/hifi-gan): 22.05 kHz, n_fft 1024,
  hop 256, win 1024, reflect padding of ``(n_fft - hop) / 2`` without centering, 80 slaney mels,
  0-8000 Hz, magnitude ``sqrt(re^2 + im^2 + 1e-9)``, ``log(clamp(mel, 1e-5))``.
* ``vocos``: Vocos' ``MelSpectrogramFeatures`` (``vocos/feature_extractors.py``): 24 kHz, n_fft 1024,
  hop 256, centered, 100 HTK mels without norm (torchaudio's ``MelSpectrogram`` defaults), magnitude,
  ``log(clamp(mel, 1e-7))``.

The others reproduce BigVGAN v2, SpeechT5, NVIDIA Tacotron 2 / WaveGlow, ESPnet2, Coqui TTS,
StyleTTS 2, Matcha-TTS, CosyVoice 2, F5-TTS and Whisper large-v3; ``preset.description`` and
``preset.source`` name the code each one transcribes, ``ALIASES`` the models that share a preset's
convention exactly. Where those projects build their filterbanks with ``librosa.filters.mel``, the
presets use :func:`inverse_mel.functional.melscale_fbanks` with the same settings (torchaudio's
filterbank, within a few percent of librosa's per weight). Whisper's ``max - 8`` floor is not
invertible: floored values come back as the floor. A custom front end is a ``Preset(...)`` with
your own values; ``register_preset`` makes it available by name (and to the CLI in that process).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Dict, Optional

import torch
from torch import Tensor

from . import _validation as V
from .functional.filterbank import mel_scale, melscale_fbanks
from .transforms import GriffinLim, InverseMelScale

__all__ = ["ALIASES", "Detection", "Preset", "PRESETS", "detect", "get_preset", "register_preset"]

_LOGS = ("none", "ln", "log10")
_NORMALIZATIONS = ("none", "whisper", "mean_std", "coqui")


@dataclass(frozen=True)
class Preset:
    """Analysis settings and feature scaling of one mel front end.

    A frozen dataclass: ``preset.replace(**changes)`` makes a modified copy,
    :meth:`from_file`/:meth:`to_file` read and write it as JSON or TOML.

    Attributes
    ----------
    name : str
        Identifier, the key of :data:`PRESETS`.
    sample_rate : int
        Hz.
    n_fft, hop_length, win_length : int
        STFT sizes in samples (``win_length`` ``None`` = ``n_fft``).
    center : bool
        ``True``: frames centred with ``n_fft // 2`` reflect padding (``torch.stft``'s default).
        ``False``: ``(n_fft - hop_length) // 2`` reflect padding, uncentred (HiFi-GAN).
    n_mels, f_min, f_max, norm, mel_scale
        The filterbank (``f_max`` ``None`` = Nyquist), as in :func:`inverse_mel.melscale_fbanks`.
    filterbank_sample_rate : int or None
        The rate the filterbank is built for, when the model builds it for another rate than its
        audio's (StyleTTS 2: torchaudio's default 16000 on 24 kHz audio); ``None`` = ``sample_rate``.
    power : float
        1 for a magnitude, 2 for a power spectrogram.
    magnitude_eps : float
        A magnitude is ``sqrt(re^2 + im^2 + magnitude_eps)`` (HiFi-GAN: 1e-9).
    power_floor : float
        A magnitude is ``sqrt(max(re^2 + im^2, power_floor))`` (ESPnet2: 1e-10).
    log : str
        ``"none"``, ``"ln"`` or ``"log10"`` compression of the mel spectrogram.
    log_offset : float
        Added to the mel before the log (StyleTTS 2: ``log(1e-5 + mel)``).
    clamp_min : float
        The floor applied before the log (0 only with a ``log_offset``).
    log_gain : float
        The log is multiplied by this (Coqui's ``spec_gain``: 20 for amplitude dB).
    normalization : str
        ``"none"``; ``"whisper"`` (floor at ``max - 8``, then ``(x + 4) / 4``); ``"mean_std"``
        (``(x - norm_mean) / norm_std``); ``"coqui"`` (Coqui TTS's ``AudioProcessor.normalize``
        with ``ref_level_db``, ``min_level_db``, ``max_norm``, ``symmetric_norm``, ``clip_norm``,
        named as in Coqui's config).
    drop_last_frame : bool
        Whisper drops the STFT's last frame.
    description, source : str
        Documentation: what the preset is, and the code and config it transcribes.

    Shapes
    ------
    audio ``(..., samples)``; :meth:`spectrogram` ``(..., n_freqs, frames)`` with
    ``n_freqs = n_fft // 2 + 1``; :meth:`mel_spectrogram`, :meth:`features` and
    :meth:`to_linear_mel` ``(..., n_mels, frames)``.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> p = inverse_mel.get_preset("hifigan")
    >>> (p.sample_rate, p.n_fft, p.hop_length, p.n_mels)
    (22050, 1024, 256, 80)
    >>> features = p.features(torch.zeros(2, 22050))     # two clips of 1 s
    >>> features.shape                                   # (..., n_mels, frames)
    torch.Size([2, 80, 86])
    >>> mine = p.replace(name="hifigan-16k", sample_rate=16000)
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
    power_floor: float = 0.0
    filterbank_sample_rate: Optional[int] = None
    log_offset: float = 0.0
    log_gain: float = 1.0
    norm_mean: float = 0.0
    norm_std: float = 1.0
    ref_level_db: float = 20.0
    min_level_db: float = -100.0
    max_norm: float = 4.0
    symmetric_norm: bool = True
    clip_norm: bool = True
    description: str = ""
    source: str = ""

    def __post_init__(self):
        where = f"Preset {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Preset: name must be a non-empty string, found {self.name!r}")
        if self.log not in _LOGS:
            raise ValueError(f"{where}: log must be one of {list(_LOGS)}, found {self.log!r}")
        if self.normalization not in _NORMALIZATIONS:
            raise ValueError(
                f"{where}: normalization must be one of {list(_NORMALIZATIONS)}, found {self.normalization!r}"
            )
        if self.power not in (1, 2, 1.0, 2.0) or isinstance(self.power, bool):
            raise ValueError(f"{where}: power must be 1 (magnitude) or 2 (power), found {self.power!r}")
        for field in ("n_fft", "hop_length", "n_mels", "sample_rate"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {field} must be a positive int, found {value!r}")
        for field in ("win_length", "filterbank_sample_rate"):
            value = getattr(self, field)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{where}: {field} must be a positive int or None, found {value!r}")
        if self.win_length is not None and not 1 <= self.win_length <= self.n_fft:
            raise ValueError(f"{where}: win_length must be in [1, n_fft={self.n_fft}], found {self.win_length}")
        for field in ("center", "drop_last_frame", "symmetric_norm", "clip_norm"):
            if not isinstance(getattr(self, field), bool):
                raise ValueError(f"{where}: {field} must be true or false, found {getattr(self, field)!r}")
        for field in ("clamp_min", "magnitude_eps", "power_floor", "log_offset", "log_gain", "norm_mean",
                      "norm_std", "ref_level_db", "min_level_db", "max_norm", "f_min"):
            value = getattr(self, field)
            if not V.is_number(value) or not math.isfinite(value):
                raise ValueError(f"{where}: {field} must be a finite number, found {value!r}")
        for field in ("clamp_min", "magnitude_eps", "power_floor", "log_offset"):
            if getattr(self, field) < 0:
                raise ValueError(f"{where}: {field} must be >= 0, found {getattr(self, field)!r}")
        if self.log != "none" and not self.clamp_min + self.log_offset > 0:
            raise ValueError(
                f"{where}: the log needs a floor: clamp_min must be > 0 (or log_offset > 0), found "
                f"clamp_min={self.clamp_min!r}, log_offset={self.log_offset!r}"
            )
        if self.log == "none" and self.log_gain != 1.0:
            raise ValueError(f"{where}: log_gain scales a log; with log='none' it must be 1, found {self.log_gain!r}")
        if self.log_gain <= 0:
            raise ValueError(f"{where}: log_gain must be > 0 (it multiplies the log), found {self.log_gain!r}")
        if self.norm_std <= 0:
            raise ValueError(f"{where}: norm_std must be > 0 (features are divided by it), found {self.norm_std!r}")
        if self.min_level_db >= 0:
            raise ValueError(f"{where}: min_level_db must be < 0 dB (Coqui: -100), found {self.min_level_db!r}")
        if self.max_norm <= 0:
            raise ValueError(f"{where}: max_norm must be > 0 (Coqui: 4), found {self.max_norm!r}")
        if self.normalization in ("whisper", "coqui") and self.log == "none":
            raise ValueError(f"{where}: normalization {self.normalization!r} works on log values; set log")
        V.check_mel_config(self.n_freqs, self.f_min, self.f_max, self.n_mels, self.mel_sample_rate, where,
                           n_freqs_name="n_fft // 2 + 1")
        if self.norm not in (None, "slaney"):
            raise ValueError(f'{where}: norm must be None or "slaney", found {self.norm!r}')
        if self.mel_scale not in V.MEL_SCALES:
            raise ValueError(f"{where}: mel_scale must be one of {list(V.MEL_SCALES)}, found {self.mel_scale!r}")

    # -- derived settings ---------------------------------------------------------------------
    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def window_length(self) -> int:
        return self.win_length or self.n_fft

    @property
    def mel_sample_rate(self) -> int:
        """The rate the filterbank is built for (``filterbank_sample_rate`` or ``sample_rate``)."""
        return self.filterbank_sample_rate or self.sample_rate

    @property
    def mel_f_max(self) -> float:
        return float(self.f_max) if self.f_max is not None else float(self.mel_sample_rate // 2)

    def replace(self, **changes) -> "Preset":
        """A copy with some fields changed (``dataclasses.replace``), validated again."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_file(cls, path: str) -> "Preset":
        """A preset from a flat ``.json`` object or ``.toml`` table of these fields (``None``
        fields may be left out). Raises ``ValueError`` naming the file and the key for an unknown
        key, a wrong type, a missing required key or an impossible value."""
        from . import _preset_files

        return _preset_files.read(cls, path)

    def to_file(self, path: str) -> None:
        """Write this preset as ``.json`` or ``.toml`` (``from_file`` reads it back equal)."""
        from . import _preset_files

        _preset_files.write(self, path)

    def window(self, device=None, dtype=torch.float32) -> Tensor:
        return torch.hann_window(self.window_length, device=device, dtype=dtype)

    def fbanks(self) -> Tensor:
        """``(n_freqs, n_mels)`` float32 filterbank."""
        return melscale_fbanks(self.n_freqs, self.f_min, self.mel_f_max, self.n_mels, self.mel_sample_rate,
                               self.norm, self.mel_scale)

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
        out = self.spectrogram_of_stft(spec)
        if self.drop_last_frame:
            out = out[..., :-1]
        return out.reshape(*lead, *out.shape[-2:])

    def spectrogram_of_stft(self, spec: Tensor) -> Tensor:
        """The front end's magnitude or power of complex STFT frames ``(..., n_freqs, frames)``
        (shared with the block-wise spectrogram of long audio)."""
        out = spec.real.square() + spec.imag.square()
        if self.power == 1:
            if self.power_floor > 0:
                out = out.clamp_min(self.power_floor)
            out = torch.sqrt(out + self.magnitude_eps)
        return out

    def mel_spectrogram(self, audio: Tensor) -> Tensor:
        """Linear-amplitude mel spectrogram ``(..., n_mels, frames)``: ``fb.T @ spectrogram``."""
        return mel_scale(self.spectrogram(audio), self.fbanks().to(audio.dtype))

    def compress(self, mel: Tensor) -> Tensor:
        """Linear mel -> the model's features (offset, clamp, log, gain, normalisation):
        ``(..., n_mels, frames)`` -> ``(..., n_mels, frames)``."""
        x = mel + self.log_offset if self.log_offset else mel
        if self.clamp_min > 0:
            x = x.clamp_min(self.clamp_min)
        if self.log == "ln":
            x = x.log()
        elif self.log == "log10":
            x = x.log10()
        if self.log_gain != 1.0:
            x = x * self.log_gain
        if self.normalization == "whisper":
            floor = x.amax(dim=(-2, -1), keepdim=True) - 8.0
            x = (torch.maximum(x, floor) + 4.0) / 4.0
        elif self.normalization == "mean_std":
            x = (x - self.norm_mean) / self.norm_std
        elif self.normalization == "coqui":
            x = (x - self.ref_level_db - self.min_level_db) / -self.min_level_db
            low = -self.max_norm if self.symmetric_norm else 0.0
            x = x * (self.max_norm - low) + low
            if self.clip_norm:
                x = x.clamp(low, self.max_norm)
        return x

    def features(self, audio: Tensor) -> Tensor:
        """The model's input features from audio: ``(..., samples)`` -> ``(..., n_mels, frames)``."""
        return self.compress(self.mel_spectrogram(audio))

    def to_linear_mel(self, features: Tensor) -> Tensor:
        """Undo the scaling: the model's features -> linear mel ``(..., n_mels, frames)``.

        Exact inverse of :meth:`compress` where no clamp, floor or clip acted. Raises
        ``ValueError`` when finite features overflow once the log is undone (such values are not
        this preset's features)."""
        x = features
        if self.normalization == "whisper":
            x = x * 4.0 - 4.0
        elif self.normalization == "mean_std":
            x = x * self.norm_std + self.norm_mean
        elif self.normalization == "coqui":
            low = -self.max_norm if self.symmetric_norm else 0.0
            if self.clip_norm:  # Coqui's denormalize clips too
                x = x.clamp(low, self.max_norm)
            x = (x - low) / (self.max_norm - low) * -self.min_level_db + self.min_level_db + self.ref_level_db
        if self.log_gain != 1.0:
            x = x / self.log_gain
        if self.log == "ln":
            x = x.exp()
        elif self.log == "log10":
            x = torch.pow(10.0, x)
        if self.log_offset:
            x = (x - self.log_offset).clamp_min(0.0)  # below the offset: the floor, not a negative mel
        overflowed = self.log != "none" and x.numel() and not bool(torch.isfinite(x).all())
        if overflowed and bool(torch.isfinite(features).all()):
            raise ValueError(self.overflow_message(features))
        return x

    def overflow_message(self, features: Tensor) -> str:
        """Why finite ``features`` overflow once this preset's scaling is undone."""
        base = {"ln": "exp", "log10": "10 **"}[self.log]
        largest = float(features.detach().max())
        return (f"features up to {largest:.4g} overflow when preset {self.name!r} undoes its {self.log} log "
                f"({base} of them is beyond the {features.dtype} range); these are not {self.name}'s "
                f"{self.describe_scale()} features: choose the preset that made them (inverse_mel.presets.detect "
                "ranks them), or pass a linear mel")

    def describe_scale(self) -> str:
        """A few words on the feature scale, e.g. ``"ln-mel, floor 1e-05"``."""
        words = {"none": "linear mel", "ln": "ln-mel", "log10": "log10-mel"}[self.log]
        if self.log_gain != 1.0:
            words = f"{self.log_gain:g}*{words}"
        if self.log != "none":
            words += f" (floor {self.clamp_min:g})" if not self.log_offset else f" (offset {self.log_offset:g})"
        if self.normalization == "whisper":
            words += ", floor at max - 8, (x + 4) / 4"
        elif self.normalization == "mean_std":
            words += f", (x - {self.norm_mean:g}) / {self.norm_std:g}"
        elif self.normalization == "coqui":
            low = -self.max_norm if self.symmetric_norm else 0.0
            words += f", dB normalised to [{low:g}, {self.max_norm:g}]"
        return words

    @property
    def uncentred_shift(self) -> int:
        """Samples by which frame ``t``'s centre lies after ``t * hop_length``: 0 for centred frames;
        for uncentred ones (HiFi-GAN's padding) ``n_fft // 2 - (n_fft - hop_length) // 2``, the
        delay that audio reconstructed with centred frames needs to line up with the original."""
        return 0 if self.center else self.n_fft // 2 - (self.n_fft - self.hop_length) // 2

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
        return InverseMelScale(self.n_freqs, self.n_mels, self.mel_sample_rate, self.f_min, self.mel_f_max, self.norm,
                               self.mel_scale, **kwargs)

    def griffin_lim(self, **kwargs):
        """An :class:`inverse_mel.GriffinLim` with this preset's STFT settings and power, starting from
        PGHI's phase (``phase_init="pghi"``; pass ``phase_init=None`` for torchaudio's random start)."""
        kwargs.setdefault("phase_init", "pghi")
        return GriffinLim(n_fft=self.n_fft, win_length=self.window_length, hop_length=self.hop_length,
                          power=float(self.power), **kwargs)


PRESETS: Dict[str, Preset] = {}
"""Every registered preset by name (the built-in ones below, and those added with
:func:`register_preset`); :func:`get_preset` also takes the names of :data:`ALIASES`."""


def register_preset(preset: Preset, overwrite: bool = False) -> Preset:
    """Make ``preset`` available by name to :func:`get_preset`, ``mel_to_audio`` and the CLI.

    Parameters
    ----------
    preset : Preset
        The preset; its ``name`` is the key.
    overwrite : bool, default False
        Replace a registered preset of the same name instead of raising ``ValueError``.

    Returns
    -------
    Preset
        ``preset``.

    Examples
    --------
    >>> import inverse_mel
    >>> mine = inverse_mel.Preset(name="doc-example", sample_rate=16000, n_fft=512, hop_length=128, n_mels=64,
    ...                           f_max=7600.0, norm="slaney", mel_scale="slaney", power=1.0, log="log10")
    >>> _ = inverse_mel.register_preset(mine, overwrite=True)
    >>> inverse_mel.get_preset("doc-example") is mine
    True
    >>> del inverse_mel.PRESETS["doc-example"]                # unregister it again
    """
    if not isinstance(preset, Preset):
        raise TypeError(f"register_preset: expected a Preset, found {type(preset).__name__}")
    if preset.name in PRESETS and not overwrite:
        raise ValueError(f"register_preset: a preset named {preset.name!r} exists; pass overwrite=True to replace it")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name) -> Preset:
    """The preset called ``name``.

    Parameters
    ----------
    name : str or Preset
        A key of :data:`PRESETS`, an alias of :data:`ALIASES`, or a :class:`Preset` (returned as it
        is).

    Returns
    -------
    Preset

    Raises
    ------
    ValueError
        An unknown name; the message lists the known ones.

    Examples
    --------
    >>> import inverse_mel
    >>> inverse_mel.get_preset("whisper").n_mels
    80
    >>> inverse_mel.get_preset("whisper-large-v3").name                  # an alias
    'whisper-128'
    """
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[ALIASES.get(name, name)]
    except (KeyError, TypeError):
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)} (or an alias: "
                         f"{sorted(ALIASES)}) or define a Preset(...)") from None


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


# -- the models' front ends, each transcribed from the cited code --------------------------------
_BIGVGAN_SOURCE = ("NVIDIA/BigVGAN, meldataset.py: mel_spectrogram (HiFi-GAN's: reflect padding of (n_fft - hop) / 2, "
                   "uncentred, sqrt(re^2 + im^2 + 1e-9), librosa slaney mels, log(clamp(mel, 1e-5))); "
                   "configs/{config}.json (README model table: fmax = Nyquist)")
for _name, _rate, _mels, _config in (("bigvgan-22k-80", 22050, 80, "bigvgan_v2_22khz_80band_256x"),
                                     ("bigvgan-24k-100", 24000, 100, "bigvgan_v2_24khz_100band_256x"),
                                     ("bigvgan-44k-128", 44100, 128, "bigvgan_v2_44khz_128band_256x")):
    register_preset(Preset(
        name=_name, sample_rate=_rate, n_fft=1024, hop_length=256, win_length=1024, n_mels=_mels, center=False,
        f_min=0.0, f_max=None, norm="slaney", mel_scale="slaney", power=1.0, log="ln", clamp_min=1e-5,
        magnitude_eps=1e-9,
        description=f"BigVGAN v2 {_config} ({_rate} Hz, {_mels} mels to Nyquist); bigvgan_v2_44khz_128band_512x "
                    "is .replace(n_fft=2048, hop_length=512, win_length=2048)",
        source=_BIGVGAN_SOURCE.format(config=_config),
    ))
register_preset(Preset(
    name="whisper-128", sample_rate=16000, n_fft=400, hop_length=160, n_mels=128, center=True, norm="slaney",
    mel_scale="slaney", power=2.0, log="log10", clamp_min=1e-10, normalization="whisper", drop_last_frame=True,
    description="OpenAI Whisper large-v3 / large-v3-turbo log-mel: whisper's convention with 128 mels",
    source="openai/whisper, whisper/audio.py: log_mel_spectrogram(n_mels=128); whisper/__init__.py: dims.n_mels",
))
register_preset(Preset(
    name="speecht5", sample_rate=16000, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, center=True,
    f_min=80.0, f_max=7600.0, norm="slaney", mel_scale="slaney", power=1.0, log="log10", clamp_min=1e-10,
    description="SpeechT5 TTS targets / its HiFi-GAN vocoder's input (microsoft/speecht5_hifigan): 64 ms window, "
                "16 ms hop, magnitude, log10(max(1e-10, mel)); the model stores them as (frames, 80): transpose",
    source="huggingface/transformers, models/speecht5/feature_extraction_speecht5.py: SpeechT5FeatureExtractor"
           "._extract_mel_features and _stft (defaults: win_length=64, hop_length=16, fmin=80, fmax=7600, "
           "mel_floor=1e-10)",
))
register_preset(Preset(
    name="tacotron2", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, center=True,
    f_min=0.0, f_max=8000.0, norm="slaney", mel_scale="slaney", power=1.0, log="ln", clamp_min=1e-5,
    description="NVIDIA Tacotron 2 and WaveGlow: centred frames, sqrt(re^2 + im^2), log(clamp(mel, 1e-5)); "
                "HiFi-GAN's convention but centred and without its 1e-9",
    source="NVIDIA/tacotron2, layers.py: TacotronSTFT.mel_spectrogram; stft.py: STFT.transform (reflect padding "
           "of filter_length / 2); audio_processing.py: dynamic_range_compression; hparams.py (filter_length 1024, "
           "hop 256, win 1024, mel_fmax 8000)",
))
register_preset(Preset(
    name="espnet2", sample_rate=16000, n_fft=1024, hop_length=256, n_mels=80, center=True, f_min=80.0,
    f_max=7600.0, norm="slaney", mel_scale="slaney", power=1.0, power_floor=1e-10, log="log10", clamp_min=1e-10,
    description="ESPnet2 TTS front end LogMelFbank with its defaults (fs 16000; LJSpeech recipes: "
                ".replace(sample_rate=22050)); recipes that add global_mvn divide by their feats_stats.npz, "
                "which is dataset-specific and not part of this preset",
    source="espnet/espnet, espnet2/tts/feats_extract/log_mel_fbank.py: LogMelFbank.forward "
           "(sqrt(clamp(power, 1e-10))); espnet2/layers/log_mel.py: LogMel (librosa mels, clamp 1e-10, log_base 10)",
))
register_preset(Preset(
    name="coqui", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, center=True,
    f_min=0.0, f_max=None, norm="slaney", mel_scale="slaney", power=1.0, log="log10", clamp_min=1e-8,
    log_gain=20.0, normalization="coqui", ref_level_db=20.0, min_level_db=-100.0, max_norm=4.0,
    symmetric_norm=True, clip_norm=True,
    description="Coqui TTS AudioProcessor.melspectrogram with BaseAudioConfig's defaults: 20*log10 dB, minus "
                "ref_level_db 20, min_level_db -100, symmetric [-4, 4], clipped (so mels below 1e-4 and above 10 "
                "saturate); configs with signal_norm=False or a stats_path are not this preset",
    source="coqui-ai/TTS, TTS/utils/audio/processor.py: AudioProcessor.melspectrogram and normalize; "
           "TTS/utils/audio/numpy_transforms.py: stft, amp_to_db (max(1e-8, x)), build_mel_basis; "
           "TTS/config/shared_configs.py: BaseAudioConfig",
))
register_preset(Preset(
    name="styletts2", sample_rate=24000, n_fft=2048, hop_length=300, win_length=1200, n_mels=80, center=True,
    f_min=0.0, f_max=None, filterbank_sample_rate=16000, norm=None, mel_scale="htk", power=2.0, log="ln",
    clamp_min=0.0, log_offset=1e-5, normalization="mean_std", norm_mean=-4.0, norm_std=4.0,
    description="StyleTTS 2 (24 kHz audio): torchaudio MelSpectrogram(n_mels=80, n_fft=2048, win_length=1200, "
                "hop_length=300) whose sample_rate is left at 16000, power 2, (log(1e-5 + mel) + 4) / 4",
    source="yl4579/StyleTTS2, meldataset.py: to_mel and preprocess (mean, std = -4, 4)",
))
register_preset(Preset(
    name="matcha", sample_rate=22050, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, center=False,
    f_min=0.0, f_max=8000.0, norm="slaney", mel_scale="slaney", power=1.0, log="ln", clamp_min=1e-5,
    magnitude_eps=1e-9, normalization="mean_std", norm_mean=-5.536622, norm_std=2.116101,
    description="Matcha-TTS decoder output (LJSpeech): HiFi-GAN's ln-mel, then (x - mel_mean) / mel_std with the "
                "LJSpeech statistics; other datasets: .replace(norm_mean=..., norm_std=...) from their data config",
    source="shivammehta25/Matcha-TTS, matcha/utils/audio.py: mel_spectrogram; matcha/data/text_mel_datamodule.py: "
           "get_mel + matcha/utils/model.py: normalize; configs/data/ljspeech.yaml: data_statistics",
))
register_preset(Preset(
    name="cosyvoice2", sample_rate=24000, n_fft=1920, hop_length=480, win_length=1920, n_mels=80, center=False,
    f_min=0.0, f_max=8000.0, norm="slaney", mel_scale="slaney", power=1.0, log="ln", clamp_min=1e-5,
    magnitude_eps=1e-9,
    description="CosyVoice 2 flow-matching mels / HiFT input: Matcha's (HiFi-GAN's) mel_spectrogram at 24 kHz, "
                "n_fft 1920, hop 480; CosyVoice 1 (22.05 kHz, 1024/256) is exactly the hifigan preset",
    source="FunAudioLLM/CosyVoice, examples/libritts/cosyvoice2/conf/cosyvoice2.yaml: feat_extractor "
           "(matcha.utils.audio.mel_spectrogram, n_fft 1920, hop_size 480, win_size 1920, fmax 8000, center False)",
))
register_preset(Preset(
    name="f5-tts", sample_rate=24000, n_fft=1024, hop_length=256, win_length=1024, n_mels=100, center=True,
    norm=None, mel_scale="htk", power=1.0, log="ln", clamp_min=1e-5,
    description="F5-TTS mels for its Vocos vocoder (mel_spec_type='vocos'): Vocos' settings with a 1e-5 clamp "
                "instead of Vocos' 1e-7; with mel_spec_type='bigvgan' F5-TTS uses bigvgan-24k-100",
    source="SWivid/F5-TTS, src/f5_tts/model/modules.py: get_vocos_mel_spectrogram (torchaudio MelSpectrogram, "
           "power=1, norm=None, mel.clamp(min=1e-5).log())",
))

ALIASES: Dict[str, str] = {
    "waveglow": "tacotron2",
    "cosyvoice": "hifigan",
    "bigvgan-22k-80-fmax8k": "hifigan",
    "whisper-large-v3": "whisper-128",
    "f5-tts-bigvgan": "bigvgan-24k-100",
}
"""Models whose feature code is exactly another preset's (same settings, same formula): the name on
the left gets the preset on the right. CosyVoice 1 uses Matcha's copy of HiFi-GAN's
``mel_spectrogram`` with HiFi-GAN's settings; BigVGAN v2's fmax8k model is HiFi-GAN's settings."""

from ._detect import Detection, detect  # noqa: E402  (ranks the presets registered above)
