"""What an MRIM session hands to the file-transfer connection it announces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class MrimTransfer:
    """A FILE_TRANSFER request (0x1026, protocols.md s4.2/s4.5): ``FlowInfo.context`` of the
    ``MRA_FT_*`` connection to one of its addresses."""

    session_id: int
    sender: str | None  # who offers the files
    recipient: str | None
    files: tuple[tuple[str, int], ...]  # (name, size) in announced order
    control_uid: str = ""
