"""Shared fixtures: where the shared corpus lives, and how its absence is handled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = (REPO.parent / "shared" / "corpus").resolve()


def corpus_path(*parts: str) -> Path:
    """Path of a file in ../shared/corpus; skip (fail under CI=true) when the corpus is absent."""
    path = CORPUS.joinpath(*parts)
    if not CORPUS.is_dir():
        reason = f"the shared corpus is not at {CORPUS}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (required under CI)")
        pytest.skip(reason)
    return path


@pytest.fixture
def corpus() -> Path:
    """The corpus root (skips outside CI when it is absent)."""
    return corpus_path()


def corpus_captures(*directories: str) -> list[str]:
    """``<dir>/<file>`` of every capture in these corpus folders, for parametrizing; a
    placeholder (which ``corpus_path`` then skips, or fails under CI) when the corpus is
    absent."""
    found: list[str] = []
    for directory in directories:
        folder = CORPUS / "pcaps" / directory
        if folder.is_dir():
            found.extend(f"{directory}/{path.name}" for path in sorted(folder.iterdir()))
    return found or [f"{directories[0]}/absent"]
