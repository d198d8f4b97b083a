"""Capture files for the service tests: HTTP downloads with distinct, known bodies."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.pcapgen import NS_PER_S, TcpSession, write_pcap


def body_for(tag: str, index: int, size: int) -> bytes:
    """A body nobody else has: its tag and index repeated to ``size`` bytes."""
    unit = f"{tag}:{index:06d};".encode()
    return (unit * (size // len(unit) + 1))[:size]


def http_capture(
    path: Path, tag: str, connections: int, body_size: int, *, start_s: int = 1_700_000_000
) -> list[str]:
    """Write ``connections`` GET downloads to ``path``; return the bodies' sha256, in order."""
    frames = []
    digests = []
    for index in range(connections):
        session = TcpSession(
            ("10.0.0.1", 20000 + index % 40000),
            ("10.0.0.2", 80),
            start_ns=(start_s + index) * NS_PER_S,
        )
        session.handshake()
        session.send(True, f"GET /{tag}/{index} HTTP/1.1\r\nHost: example\r\n\r\n".encode())
        body = body_for(tag, index, body_size)
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        session.send(False, head + body, segment_size=1448)
        session.fin(True)
        session.fin(False)
        session.ack(True)
        frames.extend(session.frames)
        digests.append(hashlib.sha256(body).hexdigest())
    write_pcap(path, frames)
    return digests
