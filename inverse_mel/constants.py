"""The accepted values of the string settings, in one public place (the checks in ``_validation``
and the command line read them from here)."""

__all__ = ["DRIVERS", "MEL_SCALES", "METHODS", "PHASE_INITS", "SOLVERS"]

MEL_SCALES = ("htk", "slaney")
"""``mel_scale=`` of the filterbanks and modules."""
DRIVERS = ("gels", "gelsy", "gelsd", "gelss")
"""``driver=`` of :class:`inverse_mel.InverseMelScale`, validated as torchaudio does (all give the same result)."""
SOLVERS = ("lstsq", "nnls")
"""``solver=``: torchaudio's least squares, or non-negative least squares."""
PHASE_INITS = ("pghi",)
"""``phase_init=`` of Griffin-Lim besides ``None`` (``rand_init`` decides)."""
METHODS = ("griffin_lim", "pghi", "mcgl", "auto")
"""``method=`` of :func:`inverse_mel.mel_to_audio` and the command line: the phase reconstruction."""
