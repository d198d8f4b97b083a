"""I/O layer 2: where objects and their content go.

A ``Sink`` receives finished objects (passports); a ``ContentStore`` (extract/files.py)
receives the bytes of their content while they stream. The file store writes each content
file under a temporary name, flushes it and renames it to its sha256, so a passport never
points at a partial file and running the same capture twice stores nothing twice.
"""

from __future__ import annotations

from typing import Protocol

from wiresift.model import ObjectRecord


class Sink(Protocol):
    """Takes finished objects."""

    def emit(self, record: ObjectRecord, encoded: bytes) -> None:
        """Take a finished object and its passport as compact UTF-8 JSON."""
        ...

    def close(self) -> None: ...


__all__ = ["Sink"]
