"""inverse_mel: fast, robust mel-to-linear spectrogram inversion for PyTorch.

``inverse_mel.InverseMelScale`` is a drop-in replacement for
``torchaudio.transforms.InverseMelScale``; ``inverse_mel.functional`` has the functional
forms. ``GriffinLim``, the ``presets`` (Whisper, HiFi-GAN, Vocos) and ``mel_to_audio`` go from a
model's log-mel features to audio; ``inverse-mel`` (``python -m inverse_mel``) is the command-line
tool. The compiled kernels are exposed as ``torch.ops.inverse_mel.*``.
"""
import torch

try:
    # Loading the shared library runs its TORCH_LIBRARY registrations (torch.ops.inverse_mel.*).
    from . import _C  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        f"inverse_mel's compiled op library (inverse_mel._C) could not be loaded: {exc}. "
        f"It must be built against the installed torch ({torch.__version__}): from the source "
        "checkout run `pip install --no-build-isolation -e .` (or `pip install --no-build-isolation .`)."
    ) from exc

from . import _registrations  # noqa: F401,E402  (fake kernels and autograd; needs _C loaded)
from . import functional  # noqa: E402
from .functional import DEFAULT_RCOND, griffin_lim, inverse_mel_scale, mel_to_audio, melscale_fbanks  # noqa: E402
from .transforms import GriffinLim, InverseMelScale, MelScale  # noqa: E402
from . import presets  # noqa: E402
from .presets import PRESETS, Preset, get_preset, register_preset  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_RCOND",
    "GriffinLim",
    "InverseMelScale",
    "MelScale",
    "PRESETS",
    "Preset",
    "functional",
    "get_preset",
    "griffin_lim",
    "inverse_mel_scale",
    "mel_to_audio",
    "melscale_fbanks",
    "presets",
    "register_preset",
]
