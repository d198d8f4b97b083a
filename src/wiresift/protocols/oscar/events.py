"""What an OSCAR control connection hands to the peer connection it announces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class OftOffer:
    """A rendezvous proposal (ICBM channel 2, protocols.md s1.3): ``FlowInfo.context`` of
    the OFT2 or Direct IM connection it announced."""

    kind: str  # "file" (send-file capability) or "direct_im"
    cookie: bytes  # the ICBM cookie; OFT2 headers repeat it
    sender: str | None  # who proposed (the file's sender)
    recipient: str | None
    name: str | None = None  # file (or directory) name as announced
    size: int | None = None  # total size as announced
    count: int = 1  # number of files
    control_uid: str = ""  # the flow that carried the proposal
