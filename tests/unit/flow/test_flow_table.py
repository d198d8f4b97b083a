"""FlowTable: keys, roles, port reuse, timeouts by packet time, UDP."""

from __future__ import annotations

from tests.pcapgen import TcpSession, udp_datagram
from wiresift.config import Limits
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import Decoded
from wiresift.flow.table import NS, Flow, FlowConfig, FlowTable, key_context


class Recorder:
    """Records the handler calls as tuples."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def flow_start(self, flow: Flow) -> None:
        self.calls.append(("start", flow.uid))

    def stream_data(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        self.calls.append(("data", flow.uid, side ^ flow.flipped, data))

    def stream_gap(self, flow: Flow, side: int, size: int, ts: int) -> None:
        self.calls.append(("gap", flow.uid, side ^ flow.flipped, size))

    def flow_end(self, flow: Flow, ts: int, reason: str) -> None:
        self.calls.append(("end", flow.uid, reason, ts))

    def datagram(self, flow: Flow, side: int, data: bytes, ts: int) -> None:
        self.calls.append(("datagram", flow.uid, side, data))

    def flow_anomaly(self, flow: Flow, name: str, detail: str, ts: int) -> None:
        self.calls.append(("anomaly", flow.uid, name))


def feed(
    frames: list[tuple[int, bytes]], config: FlowConfig | None = None
) -> tuple[Recorder, FlowTable]:
    rec = Recorder()
    table = FlowTable(rec, Limits(), config or FlowConfig())
    decoder = PacketDecoder()
    for frame_no, (ts, frame) in enumerate(frames, 1):
        decoded = decoder.decode(1, frame)
        assert isinstance(decoded, Decoded)
        table.packet(decoded, ts, frame_no)
    return rec, table


def kinds(rec: Recorder) -> list[str]:
    return [str(call[0]) for call in rec.calls]


def test_handshake_sets_roles_and_fins_close_the_flow() -> None:
    """Client bytes are direction 0, server bytes 1; two FINs end the flow at once."""
    s = TcpSession()
    s.handshake()
    s.send(True, b"hello")
    s.send(False, b"world")
    s.fin(True)
    s.fin(False)
    rec, table = feed(s.frames)
    data = [(c[2], c[3]) for c in rec.calls if c[0] == "data"]
    assert data == [(0, b"hello"), (1, b"world")]
    assert kinds(rec)[-1] == "end"
    assert rec.calls[-1][2] == "fin"
    assert len(table) == 0


def test_syn_ack_seen_first_makes_its_sender_the_server() -> None:
    """When the SYN was not captured, the SYN-ACK's sender is the responder."""
    s = TcpSession()
    s.handshake()
    s.send(True, b"req")
    s.send(False, b"resp")
    rec, _ = feed(s.frames[1:])
    data = [(c[2], c[3]) for c in rec.calls if c[0] == "data"]
    assert data == [(0, b"req"), (1, b"resp")]


def test_mid_stream_flow_guesses_the_server_by_its_port() -> None:
    """Without a handshake, the side on the well-known port is taken as the server."""
    s = TcpSession()
    s.handshake()
    s.send(False, b"from server")
    s.send(True, b"from client")
    rec, table = feed(s.frames[3:])
    data = [(c[2], c[3]) for c in rec.calls if c[0] == "data"]
    assert data == [(1, b"from server"), (0, b"from client")]
    assert next(iter(table.flows.values())).mid_stream is True


def test_idle_flow_expires_by_packet_time() -> None:
    """A flow idle past its timeout is ended when later packets move time on."""
    s = TcpSession()
    s.handshake()
    s.send(True, b"x")
    other = TcpSession(client=("10.9.9.9", 5555), start_ns=s.frames[-1][0] + 301 * NS)
    other.handshake()
    rec, table = feed(s.frames + other.frames, FlowConfig(tcp_idle_timeout=300))
    ends = [c for c in rec.calls if c[0] == "end"]
    assert len(ends) == 1
    assert ends[0][2] == "timeout"
    assert len(table) == 1


def test_active_flow_does_not_expire() -> None:
    """Packets within the timeout keep a flow alive."""
    s = TcpSession(step_ns=100 * NS)
    s.handshake()
    for _ in range(10):
        s.send(True, b"tick")
    rec, table = feed(s.frames, FlowConfig(tcp_idle_timeout=300))
    assert [c for c in rec.calls if c[0] == "end"] == []
    assert len(table) == 1


def test_closed_flow_ignores_its_trailing_ack_but_a_new_syn_reopens() -> None:
    """A last ACK after the FINs opens no flow; a new SYN on the same ports does."""
    s = TcpSession()
    s.handshake()
    s.send(True, b"a")
    s.fin(True)
    s.fin(False)
    s.ack(True)
    rec, table = feed(s.frames)
    assert kinds(rec).count("start") == 1
    assert len(table) == 0
    again = TcpSession(isn_client=77_777, start_ns=s.frames[-1][0] + 1000)
    again.handshake()
    rec2, _ = feed(s.frames + again.frames)
    assert kinds(rec2).count("start") == 2


def test_same_tuple_in_different_vlans_are_different_flows() -> None:
    """Equal addresses and ports in two VLANs make two flows."""
    a = TcpSession(vlans=(10,))
    a.handshake()
    b = TcpSession(vlans=(20,), start_ns=a.frames[-1][0] + 1)
    b.handshake()
    _, table = feed(a.frames + b.frames)
    assert sorted(f.encap for f in table.flows.values()) == [
        ("eth", "vlan:10"),
        ("eth", "vlan:20"),
    ]


def test_udp_datagrams_reach_the_handler_with_their_side() -> None:
    """Both directions of a UDP conversation map to one flow, sides told apart."""
    frames = [
        (1, udp_datagram(("10.0.0.1", 5353), ("10.0.0.2", 53), b"query")),
        (2, udp_datagram(("10.0.0.2", 53), ("10.0.0.1", 5353), b"answer")),
    ]
    rec, table = feed(frames)
    assert [(c[2], c[3]) for c in rec.calls if c[0] == "datagram"] == [
        (0, b"query"),
        (1, b"answer"),
    ]
    assert len(table) == 1


def test_hole_in_a_stream_reaches_the_handler_as_a_gap() -> None:
    """A missing segment is a gap of its size at flow end, between the data around it."""
    s = TcpSession()
    s.handshake()
    s.send(True, b"abc")
    s.skip(True, 10)
    s.send(True, b"xyz")
    s.fin(True)
    s.fin(False)
    rec, _ = feed(s.frames)
    stream = [(c[0], c[3]) for c in rec.calls if c[0] in ("data", "gap")]
    assert stream == [("data", b"abc"), ("gap", 10), ("data", b"xyz")]


def test_vlan_ids_can_be_left_out_of_the_key() -> None:
    """With key_vlan off, the two directions seen in different VLANs are one flow."""
    a = TcpSession(vlans=(10,))
    a.handshake()
    b = TcpSession(vlans=(20,), start_ns=a.frames[-1][0] + 1)
    b.handshake()
    _, table = feed(a.frames + b.frames, FlowConfig(key_vlan=False))
    assert len(table) == 1


def test_key_context_keeps_only_what_is_configured() -> None:
    """Link framing never counts; VLAN tags and tunnel items count when switched on."""
    chain = ("eth", "vlan:7", "ipv4:10.0.0.1-10.0.0.2", "gre", "eth")
    assert key_context(chain, vlan=True, tunnel=True) == (
        "vlan:7",
        "ipv4:10.0.0.1-10.0.0.2",
        "gre",
    )
    assert key_context(chain, vlan=False, tunnel=True) == ("ipv4:10.0.0.1-10.0.0.2", "gre")
    assert key_context(chain, vlan=True, tunnel=False) == ("vlan:7",)
    assert key_context(chain, vlan=False, tunnel=False) == ()


def test_pure_ack_before_data_sets_the_start_of_a_mid_stream_flow() -> None:
    """A capture that starts with the client's ACK, then shows server data out of order,
    still delivers the server's bytes in order (the ACK marks where the stream stands)."""
    s = TcpSession()
    s.handshake()
    first = len(s.frames)
    s.ack(True)
    s.send(False, b"A" * 100)
    s.send(False, b"B" * 100)
    frames = s.frames[first:]
    frames = [frames[0], frames[2], frames[1]]  # the second segment is captured first
    rec, _ = feed(frames)
    data = b"".join(c[3] for c in rec.calls if c[0] == "data")
    assert data == b"A" * 100 + b"B" * 100
