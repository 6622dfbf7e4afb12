"""inverse_mel: fast, robust mel-to-linear spectrogram inversion for PyTorch.

``inverse_mel.InverseMelScale``, ``MelScale`` and ``GriffinLim`` are drop-in replacements for
torchaudio's transforms; ``inverse_mel.functional`` has the functional forms
(``melscale_fbanks``, ``inverse_mel_scale``, ``griffinlim``, ...). The ``presets`` (Whisper,
HiFi-GAN, Vocos, BigVGAN, SpeechT5, Tacotron 2, ESPnet2, Coqui, StyleTTS 2, Matcha, CosyVoice 2, F5-TTS;
``presets.detect`` recognises them) and ``mel_to_audio`` go from a model's log-mel features to audio; ``inverse-mel``
(``python -m inverse_mel``) is the command-line tool. The compiled kernels are
``torch.ops.inverse_mel.*``.
"""
from . import _extension  # noqa: F401  (loads the compiled op library first)
from . import _meta_registrations  # noqa: F401  (fake kernels and autograd of the ops)
from . import constants, functional, presets
from ._version import __version__
from .functional import DEFAULT_RCOND, griffin_lim, griffinlim, inverse_mel_scale, melscale_fbanks
from .pipeline import mel_to_audio
from .stream import MelToAudioStream
from .presets import PRESETS, Preset, get_preset, register_preset
from .transforms import GriffinLim, InverseMelScale, MelScale

__all__ = [
    "DEFAULT_RCOND",
    "GriffinLim",
    "InverseMelScale",
    "MelScale",
    "MelToAudioStream",
    "PRESETS",
    "Preset",
    "constants",
    "functional",
    "get_preset",
    "griffin_lim",
    "griffinlim",
    "inverse_mel_scale",
    "mel_to_audio",
    "melscale_fbanks",
    "presets",
    "register_preset",
]
