"""FlowTable properties under random traffic: many interleaved connections and datagrams,
random time gaps, small flow limits and short timeouts."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from tests.pcapgen import TcpSession, udp_datagram
from wiresift.config import Limits
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import Decoded
from wiresift.flow.table import NS, Flow, FlowConfig, FlowTable


class Checker:
    """A handler that checks the life cycle of every flow as it goes."""

    def __init__(self) -> None:
        self.open: dict[str, Flow] = {}
        self.ended: set[str] = set()
        self.data: defaultdict[tuple[tuple[str, int], int], list[bytes]] = defaultdict(list)
        self.evicted = 0

    def flow_start(self, flow: Flow) -> None:
        assert flow.uid not in self.open
        assert flow.uid not in self.ended
        self.open[flow.uid] = flow

    def _client(self, flow: Flow, side: int) -> tuple[tuple[str, int], int]:
        # The session a flow belongs to, by the client's port; the direction it sent.
        ports = (flow.port0, flow.port1)
        client_side = 0 if ports[0] != 80 else 1
        return (("c", ports[client_side]), int(side != client_side))

    def stream_data(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        assert flow.uid in self.open
        self.data[self._client(flow, side)].append(data)

    def stream_gap(self, flow: Flow, side: int, size: int, ts: int) -> None:
        assert flow.uid in self.open

    def flow_end(self, flow: Flow, ts: int, reason: str) -> None:
        assert self.open.pop(flow.uid) is flow
        self.ended.add(flow.uid)
        self.evicted += reason == "evicted"

    def datagram(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        assert flow.uid in self.open

    def flow_anomaly(self, flow: Flow, name: str, detail: str, ts: int) -> None:
        assert flow.uid in self.open


def traffic(rng: random.Random) -> tuple[list[tuple[int, bytes]], dict[int, tuple[bytes, bytes]]]:
    """Interleaved TCP sessions (handshake or not, data both ways, FIN, RST or nothing),
    lone SYNs and DNS-like datagrams, with random gaps of time."""
    streams: list[list[tuple[int, bytes]]] = []
    sent: dict[int, tuple[bytes, bytes]] = {}
    for index in range(rng.randrange(5, 40)):
        port = 20000 + index
        kind = rng.random()
        if kind < 0.2:
            s = TcpSession(client=("10.0.0.1", port))
            s.emit(True, s.isn[True], 0, 0x02)
        elif kind < 0.35:
            streams.append([(0, udp_datagram(("10.0.0.1", port), ("10.0.0.53", 53), b"q"))])
            continue
        else:
            s = TcpSession(client=("10.0.0.1", port))
            s.handshake()
            up, down = rng.randbytes(rng.randrange(1, 3000)), rng.randbytes(rng.randrange(0, 9000))
            s.send(True, up, rng.choice([536, 1448, 4000]))
            if down:
                s.send(False, down, 1448)
            end = rng.random()
            if end < 0.5:
                s.fin(True)
                s.fin(False)
            elif end < 0.7:
                s.rst(True)
            sent[port] = (up, down)
        streams.append(list(s.frames))
    frames: list[tuple[int, bytes]] = []
    ts = 1_700_000_000 * NS
    while any(streams):
        stream = rng.choice([s for s in streams if s])
        ts += rng.choice([1_000, 1_000_000, NS, 5 * NS, 40 * NS])
        frames.append((ts, stream.pop(0)[1]))
    return frames, sent


@pytest.mark.parametrize("seed", range(60))
def test_random_traffic_keeps_every_invariant(seed: int) -> None:
    """Whatever the interleaving, limit and timeouts: the table never holds more than
    max_flows, every flow starts once and ends once, each queue holds its own class, and
    with room for everything every session's bytes arrive exactly as sent."""
    rng = random.Random(seed)
    frames, sent = traffic(rng)
    roomy = seed % 3 == 0
    config = FlowConfig(
        max_flows=1000 if roomy else rng.randrange(1, 8),
        tcp_new_timeout=10_000 if roomy else rng.choice([1, 10, 30]),
        tcp_idle_timeout=10_000 if roomy else rng.choice([10, 60]),
        udp_idle_timeout=rng.choice([1, 60]),
    )
    checker = Checker()
    table = FlowTable(checker, Limits(), config)
    decoder = PacketDecoder()
    for frame_no, (ts, frame) in enumerate(frames, 1):
        decoded = decoder.decode(1, frame)
        assert isinstance(decoded, Decoded)
        table.packet(decoded, ts, frame_no)
        assert len(table) <= config.max_flows
        assert len(table) == len(checker.open)
        assert all(f.reasm is None and f.proto == 6 for f in table._new.values())
        assert all(f.reasm is not None for f in table._live.values())
        assert all(f.proto == 17 for f in table._udp.values())
        assert len(table._closed) <= config.max_flows
    table.flush(frames[-1][0])
    assert checker.open == {}
    assert table.flows_evicted == checker.evicted
    for port, streams in sent.items():
        for direction, stream in enumerate(streams):
            chunks = checker.data[(("c", port), direction)]
            if roomy:
                assert b"".join(chunks) == stream
                continue
            # Pieces may be lost to eviction or timeouts; what arrives is the session's own
            # bytes, in order, never repeated.
            cursor = 0
            for chunk in chunks:
                found = stream.find(chunk, cursor)
                assert found >= 0, (port, direction, cursor)
                cursor = found + len(chunk)
