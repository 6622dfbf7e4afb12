"""pytest fixtures and hooks only; the shared helpers are in helpers.py (``from helpers import ...``)."""
import pytest

from helpers import REFERENCE


@pytest.fixture
def reference():
    """The torchaudio 2.11 reference fixtures (helpers.REFERENCE)."""
    return REFERENCE
