"""Protocol parsers: one package per protocol, each registering a ``SPEC``.

``REGISTRY`` is the static list of every protocol wiresift knows, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wiresift.protocols.base import ProtocolSpec

if TYPE_CHECKING:
    REGISTRY: tuple[ProtocolSpec, ...]


def __getattr__(name: str) -> tuple[ProtocolSpec, ...]:
    """Build ``REGISTRY`` on first use (PEP 562).

    ``wiresift.detect.signatures`` imports ``wiresift.protocols.base``, which runs this
    package; importing the protocol packages here at once would import ``signatures`` back
    while it is half initialised. Deferring the import keeps every import order working.
    """
    if name != "REGISTRY":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from wiresift.protocols import http1  # noqa: PLC0415 (see the docstring)

    registry = (http1.SPEC,)
    globals()["REGISTRY"] = registry
    return registry
