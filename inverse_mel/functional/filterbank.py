"""Mel filterbanks: Hz/mel conversions, ``melscale_fbanks`` (torchaudio's, bit for bit), the
projection ``mel_scale`` and the band-edge bins of a filterbank.

A filterbank ``fb`` is ``(n_freqs, n_mels)``, a linear spectrogram ``(..., n_freqs, time)`` and a
mel spectrogram ``(..., n_mels, time)``, with ``melspec = fb.T @ specgram`` (torchaudio's layout).
"""
import math
import warnings
from typing import Optional, Union

import torch
from torch import Tensor

from .. import _validation as V
from ._core import project_to_mel

__all__ = ["hz_to_mel", "mel_to_hz", "melscale_fbanks", "melscale_fbanks_on_device", "mel_scale", "band_edge_fill"]

# Slaney's scale is linear below 1 kHz and logarithmic above. Its constants (torchaudio's and
# librosa's) are written out in each function: TorchScript code cannot read module globals.


def _hz_to_mel_float(freq: float, mel_scale: str) -> float:
    if mel_scale == "htk":
        return 2595.0 * math.log10(1.0 + (freq / 700.0))
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    if freq >= min_log_hz:
        return min_log_hz / f_sp + math.log(freq / min_log_hz) / logstep
    return freq / f_sp


def _mel_to_hz_tensor(mels: Tensor, mel_scale: str) -> Tensor:
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    # Same arithmetic as torchaudio (linear part, then the log part written over it).
    freqs = f_sp * mels
    log_t = mels >= min_log_hz / f_sp
    freqs[log_t] = min_log_hz * torch.exp(logstep * (mels[log_t] - min_log_hz / f_sp))
    return freqs


def hz_to_mel(freq: Union[float, Tensor], mel_scale: str = "htk") -> Union[float, Tensor]:
    """Frequencies in Hz to mels.

    Parameters
    ----------
    freq
        a float or a tensor of any shape, in Hz.
    mel_scale
        ``"htk"`` (2595 log10(1 + f/700)) or ``"slaney"`` (linear below 1 kHz,
        logarithmic above), as in torchaudio and librosa.

    Returns
    -------
    float or Tensor
        the same type and shape as ``freq``.

    Examples
    --------
    >>> from inverse_mel.functional import hz_to_mel
    >>> round(hz_to_mel(1000.0, "htk")), round(hz_to_mel(1000.0, "slaney"), 6)
    (1000, 15.0)
    """
    V.check_mel_scale(mel_scale)
    if not isinstance(freq, Tensor):
        return _hz_to_mel_float(freq, mel_scale)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    linear = freq / f_sp
    log_part = min_log_hz / f_sp + torch.log(freq / min_log_hz) / logstep
    return torch.where(freq >= min_log_hz, log_part, linear)


def mel_to_hz(mels: Union[float, Tensor], mel_scale: str = "htk") -> Union[float, Tensor]:
    """Mels to frequencies in Hz; the inverse of :func:`hz_to_mel`.

    Parameters
    ----------
    mels
        a float or a tensor of any shape.
    mel_scale
        ``"htk"`` or ``"slaney"``.

    Returns
    -------
    float or Tensor
        the same type and shape as ``mels``, in Hz.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import hz_to_mel, mel_to_hz
    >>> f = torch.tensor([0.0, 440.0, 4000.0], dtype=torch.float64)
    >>> torch.allclose(mel_to_hz(hz_to_mel(f, "slaney"), "slaney"), f)
    True
    """
    V.check_mel_scale(mel_scale)
    if not isinstance(mels, Tensor):
        return float(_mel_to_hz_tensor(torch.tensor(mels, dtype=torch.float64), mel_scale))
    return _mel_to_hz_tensor(mels, mel_scale)


def melscale_fbanks(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: int,
    norm: Optional[str] = None,
    mel_scale: str = "htk",
) -> Tensor:
    """Triangular mel filterbank, identical to ``torchaudio.functional.melscale_fbanks``: the same
    signature (so a scripted copy saved with ``torch.jit.save``, which keeps no default values,
    is called with the same seven arguments), the same bits. On CPU; for a filterbank built on a
    GPU see :func:`melscale_fbanks_on_device`.

    It accepts what torchaudio's accepts and returns the same bits, including ``f_min > f_max``
    and ``f_max`` above Nyquist (filters that cover no bin come out all zero, with torchaudio's
    empty-filter warning). Settings for which torchaudio's formula gives NaN or Inf
    (``f_min == f_max``, non-finite frequencies) raise ``ValueError`` instead. The modules
    (:class:`inverse_mel.InverseMelScale`, :class:`inverse_mel.MelScale`) validate more strictly.

    Parameters
    ----------
    n_freqs
        number of STFT frequency bins (``n_fft // 2 + 1``).
    f_min, f_max
        frequency range of the filters, in Hz.
    n_mels
        number of mel filters (0 gives an ``(n_freqs, 0)`` bank).
    sample_rate
        sample rate of the audio, in Hz.
    norm
        ``None`` or ``"slaney"`` (divide each triangle by its width: constant energy).
    mel_scale
        ``"htk"`` or ``"slaney"``.

    Returns
    -------
    Tensor
        ``fb`` of shape ``(n_freqs, n_mels)``, float32, so that ``melspec = fb.T @ specgram``.
        (librosa's ``librosa.filters.mel`` returns the transpose, ``(n_mels, n_freqs)``.)

    Examples
    --------
    >>> import inverse_mel
    >>> fb = inverse_mel.melscale_fbanks(n_freqs=513, f_min=0.0, f_max=8000.0, n_mels=80,
    ...                                  sample_rate=22050, norm="slaney", mel_scale="slaney")
    >>> fb.shape, fb.dtype, bool((fb >= 0).all())
    (torch.Size([513, 80]), torch.float32, True)
    """
    return melscale_fbanks_on_device(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale, None)


def melscale_fbanks_on_device(
    n_freqs: int,
    f_min: float,
    f_max: float,
    n_mels: int,
    sample_rate: int,
    norm: Optional[str],
    mel_scale: str,
    device: Optional[torch.device],
) -> Tensor:
    """:func:`melscale_fbanks` built on ``device``.

    On CUDA the weights come from a kernel (``torch.ops.inverse_mel.melscale_fbanks_triangles``)
    with the same float32 arithmetic: the same bits as on CPU. Every argument is required, so a
    saved scripted copy is called as written.

    Parameters
    ----------
    n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale
        As in :func:`melscale_fbanks`.
    device
        A ``torch.device`` or, in eager mode, a string; ``None``: CPU.

    Returns
    -------
    Tensor
        ``(n_freqs, n_mels)`` float32 on ``device``.

    Examples
    --------
    >>> import torch
    >>> from inverse_mel.functional import melscale_fbanks, melscale_fbanks_on_device
    >>> fb = melscale_fbanks_on_device(201, 0.0, 8000.0, 40, 16000, None, "htk", "cpu")
    >>> torch.equal(fb, melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk"))
    True
    """
    V.check_norm(norm)
    V.check_mel_scale(mel_scale)
    slaney_norm = norm is not None and norm == "slaney"
    if not torch.jit.is_scripting():
        _check_fbanks_arguments(n_freqs, f_min, f_max, n_mels, sample_rate)
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_min = _hz_to_mel_float(f_min, mel_scale)
    m_max = _hz_to_mel_float(f_max, mel_scale)
    f_pts = _mel_to_hz_tensor(torch.linspace(m_min, m_max, n_mels + 2), mel_scale)

    target = torch.device("cpu")
    if device is not None:
        target = device
    if not torch.jit.is_scripting():
        target = torch.device(target)  # eager callers may pass a string such as "cuda"
    if target.type != "cpu":
        fb = torch.ops.inverse_mel.melscale_fbanks_triangles(f_pts.to(target), all_freqs.to(target), slaney_norm)
    else:
        # Overlapping triangles (the formula librosa and torchaudio share).
        f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
        slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
        down_slopes = (-1.0 * slopes[:, :-2]) / f_diff[:-1]  # (n_freqs, n_mels)
        up_slopes = slopes[:, 2:] / f_diff[1:]  # (n_freqs, n_mels)
        fb = torch.max(torch.zeros(1), torch.min(down_slopes, up_slopes))
        if slaney_norm:
            enorm = 2.0 / (f_pts[2 : n_mels + 2] - f_pts[:n_mels])
            fb *= enorm.unsqueeze(0)
    if fb.numel() > 0 and not bool(torch.isfinite(fb).all()):
        raise ValueError(
            "melscale_fbanks: these settings give a filterbank with NaN or Inf (f_min=" + str(f_min) + " Hz, f_max="
            + str(f_max) + " Hz, " + str(n_mels) + " mels): the filters' corner "
            "frequencies coincide; use f_max > f_min"
        )
    if fb.numel() > 0 and bool((fb.max(dim=0).values == 0.0).any()):
        warnings.warn(
            "At least one mel filterbank has all zero values. "
            f"The value for `n_mels` ({n_mels}) may be set too high. "
            f"Or, the value for `n_freqs` ({n_freqs}) may be set too low."
        )
    return fb


def _check_fbanks_arguments(n_freqs, f_min, f_max, n_mels, sample_rate) -> None:
    """What torchaudio's formula cannot take (it raises a torch error or returns NaN there)."""
    fn = "melscale_fbanks"
    if isinstance(n_freqs, bool) or not isinstance(n_freqs, int) or n_freqs < 1:
        raise ValueError(f"{fn}: n_freqs must be an int >= 1 (n_fft // 2 + 1), found {n_freqs!r}")
    if isinstance(n_mels, bool) or not isinstance(n_mels, int) or n_mels < 0:
        raise ValueError(f"{fn}: n_mels must be an int >= 0, found {n_mels!r}")
    for name, value in (("f_min", f_min), ("f_max", f_max), ("sample_rate", sample_rate)):
        if not V.is_number(value) or not math.isfinite(value):
            raise ValueError(f"{fn}: {name} must be a finite number of Hz, found {value!r}")
    for name, value in (("f_min", f_min), ("f_max", f_max)):
        if value <= -700.0:  # HTK's log10(1 + f / 700) is undefined there
            raise ValueError(f"{fn}: {name} must be above -700 Hz, found {value!r}")


def mel_scale(specgram: Tensor, fb: Tensor) -> Tensor:
    """Project a linear spectrogram onto mel bands: ``fb.T @ specgram``, as
    ``torchaudio.transforms.MelScale`` computes it.

    Parameters
    ----------
    specgram
        ``(..., n_freqs, time)``; any zero-size batch or time dimension is fine.
    fb
        ``(n_freqs, n_mels)``.

    Returns
    -------
    Tensor
        ``(..., n_mels, time)`` in ``specgram``'s dtype.

    Examples
    --------
    >>> import torch, inverse_mel
    >>> from inverse_mel.functional import mel_scale
    >>> fb = inverse_mel.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk")
    >>> mel_scale(torch.rand(3, 201, 10), fb).shape
    torch.Size([3, 40, 10])
    """
    V.check_fb(fb, "mel_scale")
    return project_to_mel(specgram, fb, "mel_scale")


def band_edge_fill(fb: Tensor, sample_rate: int, f_min: float = 0.0, f_max: Optional[float] = None) -> Tensor:
    """The band-edge bins for ``band_edge_fill=`` of the NNLS inverse.

    A triangular filterbank gives zero weight to the outer feet of its outermost filters: with
    ``f_min = 0`` the DC bin, with ``f_max`` at Nyquist the last bin. These bins lie in the band
    the mel spectrogram describes, but the mel spectrogram says nothing about them, so every value
    there fits it equally (the NNLS objective does not change). Left at 0 they are the largest
    error of the estimate in log-spectral terms. Filling them with their nearest weighed bin
    continues the spectrum over the edge, which is what the STFT's window guarantees: a Hann
    window's main lobe spans four bins, so adjacent bins always share energy.

    Parameters
    ----------
    fb
        ``(n_freqs, n_mels)`` filterbank of ``n_freqs = n_fft // 2 + 1`` bins from 0 Hz to
        ``sample_rate / 2``.
    sample_rate, f_min, f_max
        the band of ``fb`` (``f_max=None``: ``sample_rate // 2``, as
        in :func:`melscale_fbanks`).

    Returns
    -------
    Tensor
        ``(n_freqs,)`` int64 on the CPU: for every bin in ``[f_min, f_max]`` that no filter
        weighs, the index of the nearest bin that some filter weighs; ``-1`` elsewhere.

    Examples
    --------
    >>> import inverse_mel
    >>> from inverse_mel.functional import band_edge_fill
    >>> fb = inverse_mel.melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk")
    >>> fill = band_edge_fill(fb, 16000, 0.0, 8000.0)
    >>> fill[0].item(), fill[-1].item(), int((fill >= 0).sum())   # DC and Nyquist copy their neighbours
    (1, 199, 2)
    """
    V.check_fb(fb, "band_edge_fill")
    n_freqs = fb.shape[0]
    top = float(sample_rate // 2) if f_max is None else float(f_max)
    freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)  # melscale_fbanks' bins
    weighed = (fb != 0).any(dim=1).cpu()
    fill = torch.full((n_freqs,), -1, dtype=torch.int64)
    sources = weighed.nonzero().flatten()
    if sources.numel() == 0:
        return fill
    slack = 1e-6 * max(1.0, float(sample_rate))  # float32 bin frequencies
    in_band = (freqs >= float(f_min) - slack) & (freqs <= top + slack) & ~weighed
    for f in in_band.nonzero().flatten().tolist():
        fill[f] = sources[(sources - f).abs().argmin()]
    return fill
