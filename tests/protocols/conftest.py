"""Fixtures of the protocol parser tests."""

from __future__ import annotations

import pytest

from tests.protocols.helpers import SplitFeed
from tests.protocols.helpers import split_feed as _split_feed


@pytest.fixture
def split_feed() -> SplitFeed:
    """Feed a scenario whole, byte by byte and at random cuts; return the agreed events."""
    return _split_feed
