"""wiresift: a passive network sensor that turns traffic into application-level objects."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
