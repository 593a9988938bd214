"""Shared fixtures: where the shared real-media corpus lives."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-media corpus at ../shared/data (beside the checkout, in CI too)."""
    assert SHARED_DATA.is_dir(), f"expected the shared corpus at {SHARED_DATA}"
    return SHARED_DATA
