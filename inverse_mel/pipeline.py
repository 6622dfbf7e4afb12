"""From a model's mel features to audio in one call: undo the preset's scaling, invert the mel
filterbank, reconstruct the phase."""
import functools
from typing import Optional

import torch
from torch import Tensor

from .functional.phase import griffin_lim
from .presets import Preset, get_preset

__all__ = ["mel_to_audio", "preset_griffin_lim"]


def preset_griffin_lim(specgram: Tensor, preset: Preset, n_iter: int, momentum: float, length: Optional[int],
                       rand_init: bool, seed: int) -> Tensor:
    """Griffin-Lim with a preset's STFT settings, aligned in time with the audio the frames came
    from (``length`` ``None``: that audio's length). ``(..., n_freqs, frames)`` -> ``(..., samples)``."""
    compute = specgram if specgram.dtype in (torch.float32, torch.float64) else specgram.float()
    if length is None:
        length = preset.frames_to_samples(compute.shape[-1])
    generator = torch.Generator().manual_seed(seed)
    waveform = griffin_lim(compute, None, preset.n_fft, preset.hop_length, preset.window_length, float(preset.power),
                           n_iter, momentum, length, rand_init, generator=generator)
    if not preset.center:
        # Uncentred frames (HiFi-GAN) sit (n_fft - hop) // 2 samples into the padded audio, so
        # frame t is centred at t * hop + shift: Griffin-Lim's centred frames give the audio
        # advanced by shift samples. Delay it back.
        shift = preset.n_fft // 2 - (preset.n_fft - preset.hop_length) // 2
        waveform = torch.nn.functional.pad(waveform, (shift, 0))[..., :length]
    return waveform


@functools.lru_cache(maxsize=16)
def _cached_inverse(preset: Preset, solver: str, device: torch.device):
    # Presets are frozen dataclasses: the factored module is reused across mel_to_audio calls.
    return preset.inverse_mel_scale(solver=solver).to(device)


def mel_to_audio(
    melspec: Tensor,
    preset=None,
    *,
    features: bool = True,
    solver: str = "nnls",
    n_iter: int = 32,
    momentum: float = 0.99,
    length: Optional[int] = None,
    rand_init: bool = True,
    seed: int = 0,
    return_specgram: bool = False,
):
    """Mel spectrogram to waveform in one call: undo the preset's scaling, invert the mel
    filterbank (:class:`inverse_mel.InverseMelScale`), then (fast) Griffin-Lim.

    Args:
        melspec: ``(..., n_mels, frames)``. With ``features=True`` (default) the preset's model
            features (e.g. Whisper's normalised log10-mel, HiFi-GAN's ln-mel); with
            ``features=False`` a linear mel spectrogram in the preset's power.
        preset: a name from :data:`inverse_mel.presets.PRESETS` (``"whisper"``, ``"hifigan"``,
            ``"vocos"``) or a :class:`inverse_mel.presets.Preset`; default ``"hifigan"``.
        solver: ``"nnls"`` (default: the best spectra) or ``"lstsq"`` (torchaudio's method).
        n_iter, momentum, rand_init: Griffin-Lim settings (``seed`` seeds the random phase).
        length: output length in samples; default: the length the frames came from.
        return_specgram: also return the linear spectrogram ``(..., n_freqs, frames)``.
    Returns:
        ``(..., samples)`` waveform at ``preset.sample_rate``, or ``(waveform, specgram)``.

    ``librosa.feature.inverse.mel_to_audio`` does the same chain with an NNLS that often stops at
    its start, on CPU only; this runs on ``melspec``'s device.
    """
    p = get_preset("hifigan" if preset is None else preset)
    mel = p.to_linear_mel(melspec) if features else melspec
    inverse = _cached_inverse(p, solver, mel.device)
    specgram = inverse(mel)
    waveform = preset_griffin_lim(specgram, p, n_iter, momentum, length, rand_init, seed)
    if return_specgram:
        return waveform, specgram
    return waveform
