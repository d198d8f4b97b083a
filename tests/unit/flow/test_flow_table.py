"""FlowTable: keys, roles, port reuse, timeouts by packet time, UDP."""

from __future__ import annotations

from tests.pcapgen import TcpSession, udp_datagram
from wiresift.config import Limits
from wiresift.decode import PacketDecoder
from wiresift.decode.packet import TCP_ACK, TCP_RST, TCP_SYN, Decoded
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
    assert table.open_flows()[0].mid_stream is True


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
    """Packets within the timeout keep a flow alive (the handshake's 100 s steps within the
    timeout of connections without payload too)."""
    s = TcpSession(step_ns=100 * NS)
    s.handshake()
    for _ in range(10):
        s.send(True, b"tick")
    rec, table = feed(s.frames, FlowConfig(tcp_idle_timeout=300, tcp_new_timeout=150))
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
    assert sorted(f.encap for f in table.open_flows()) == [
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


# -- timeout classes and the flow limit ------------------------------------------------------


def lone_syn(client: tuple[str, int], start_ns: int) -> TcpSession:
    """A connection attempt nobody answers (a scan, a SYN flood)."""
    s = TcpSession(client=client, start_ns=start_ns)
    s.emit(True, s.isn[True], 0, TCP_SYN)
    return s


def ends(rec: Recorder) -> dict[str, str]:
    """Flow uid -> end reason."""
    return {str(c[1]): str(c[2]) for c in rec.calls if c[0] == "end"}


def test_connection_without_payload_keeps_no_reassembler_until_its_first_byte() -> None:
    """A handshake holds only sequence numbers; the first payload builds the reassemblers
    from them, so the stream still starts exactly after the SYN."""
    s = TcpSession()
    s.handshake()
    _, table = feed(s.frames)
    assert [f.reasm for f in table.open_flows()] == [None]
    s.send(True, b"hello")
    s.send(False, b"world")
    rec, table = feed(s.frames)
    assert table.open_flows()[0].reasm is not None
    assert [(c[2], c[3]) for c in rec.calls if c[0] == "data"] == [(0, b"hello"), (1, b"world")]


def test_unanswered_syn_ends_after_the_new_timeout_while_a_quiet_connection_stays() -> None:
    """A SYN nobody answered is dropped after tcp_new_timeout; a connection that carried
    data and is quiet as long stays (tcp_idle_timeout)."""
    quiet = TcpSession(client=("10.0.0.5", 5000))
    quiet.handshake()
    quiet.send(True, b"data")
    probe = lone_syn(("10.0.0.6", 6000), quiet.frames[-1][0] + 1)
    later = udp_datagram(("10.0.0.7", 7000), ("10.0.0.8", 53), b"q")
    frames = [*quiet.frames, *probe.frames, (probe.frames[-1][0] + 61 * NS, later)]
    rec, table = feed(frames, FlowConfig(tcp_new_timeout=60, tcp_idle_timeout=3600))
    assert list(ends(rec).values()) == ["timeout"]
    assert sorted(f.port0 for f in table.open_flows()) == [5000, 7000]


def test_udp_flows_expire_behind_an_older_idle_tcp_connection() -> None:
    """Each timeout class expires on its own: an idle TCP connection at the front of the
    activity order does not keep later UDP flows past their timeout."""
    tcp = TcpSession(client=("10.0.0.5", 5000))
    tcp.handshake()
    tcp.send(True, b"data")
    t0 = tcp.frames[-1][0]
    frames = list(tcp.frames)
    for index in range(20):
        query = udp_datagram(("10.0.1.1", 1024 + index), ("10.0.0.53", 53), b"q")
        frames.append((t0 + (index + 1) * NS, query))
    frames.append((t0 + 200 * NS, udp_datagram(("10.0.2.2", 999), ("10.0.0.53", 53), b"q")))
    rec, table = feed(frames, FlowConfig(udp_idle_timeout=60, tcp_idle_timeout=3600))
    assert list(ends(rec).values()) == ["timeout"] * 20
    assert sorted(f.port0 for f in table.open_flows()) == [999, 5000]


def test_flow_limit_evicts_connections_without_payload_first() -> None:
    """At max_flows, new SYNs push out the oldest unanswered SYNs; the established
    connection and the UDP flow stay, and only the count tells (no anomaly: nothing was
    carried)."""
    tcp = TcpSession(client=("10.0.0.5", 5000))
    tcp.handshake()
    tcp.send(True, b"data")
    t0 = tcp.frames[-1][0]
    frames = [*tcp.frames, (t0 + 1, udp_datagram(("10.0.0.7", 7000), ("10.0.0.8", 53), b"q"))]
    for index in range(5):
        frames += lone_syn(("10.9.0.1", 20000 + index), t0 + 10 + index).frames
    rec, table = feed(frames, FlowConfig(max_flows=3))
    assert len(table) == 3
    assert table.flows_evicted == 4
    assert sorted(f.port0 for f in table.open_flows()) == [5000, 7000, 20004]
    assert list(ends(rec).values()) == ["evicted"] * 4
    assert [c for c in rec.calls if c[0] == "anomaly"] == []


def test_flow_limit_then_evicts_udp_then_the_least_recent_connection_with_an_anomaly() -> None:
    """With no connection without payload left, a UDP flow goes first (counted only), then
    the least recently active established connection, which says why its objects end."""
    a = TcpSession(client=("10.0.0.1", 1001))
    a.handshake()
    a.send(True, b"first")
    b = TcpSession(client=("10.0.0.2", 1002), start_ns=a.frames[-1][0] + NS)
    b.handshake()
    b.send(True, b"second")
    dns = (b.frames[-1][0] + NS, udp_datagram(("10.0.0.7", 7000), ("10.0.0.8", 53), b"q"))
    c = TcpSession(client=("10.0.0.3", 1003), start_ns=dns[0] + NS)
    c.handshake()
    c.send(True, b"third")
    d = TcpSession(client=("10.0.0.4", 1004), start_ns=c.frames[-1][0] + NS)
    d.handshake()
    d.send(True, b"fourth")
    rec, table = feed([*a.frames, *b.frames, dns, *c.frames, *d.frames], FlowConfig(max_flows=3))
    assert sorted(f.port0 for f in table.open_flows()) == [1002, 1003, 1004]
    assert table.flows_evicted == 2
    evicted = [c for c in rec.calls if c[0] == "end"]
    assert [c[2] for c in evicted] == ["evicted", "evicted"]
    anomalies = [c for c in rec.calls if c[0] == "anomaly"]
    assert [(c[1], c[2]) for c in anomalies] == [(evicted[1][1], "flow_evicted")]  # a only


def test_evicted_or_expired_connection_is_picked_up_again_mid_stream() -> None:
    """A connection ended by the limit or by its idle timeout is not 'closed': its next
    bytes open a mid-stream flow at once, none are dropped as trailing packets."""
    s = TcpSession(client=("10.0.0.1", 1001), step_ns=NS)
    s.handshake()
    s.send(True, b"before")
    first = len(s.frames)
    s.send(True, b"after")
    t_after = s.frames[-1][0] + 400 * NS
    resumed = [(t_after, s.frames[first][1])]
    rec, table = feed(s.frames[:first] + resumed, FlowConfig(tcp_idle_timeout=300))
    assert list(ends(rec).values()) == ["timeout"]
    assert [c[3] for c in rec.calls if c[0] == "data"] == [b"before", b"after"]
    assert table.open_flows()[0].mid_stream is True


def test_closed_connection_keys_stay_bounded_by_the_flow_limit() -> None:
    """Keys of closed connections, remembered for their trailing ACKs, are capped too."""
    frames: list[tuple[int, bytes]] = []
    for index in range(10):
        s = TcpSession(client=("10.0.0.1", 2000 + index), start_ns=index * 10_000)
        s.handshake()
        s.emit(False, s.next_seq(False), s.next_seq(True), TCP_RST)
        frames += s.frames
    _, table = feed(frames, FlowConfig(max_flows=4))
    assert len(table._closed) == 4


def test_refused_connection_ends_at_its_reset() -> None:
    """A SYN answered by RST (a closed port, as a scan finds thousands) ends at once with
    reason rst, and a retransmitted RST after it opens nothing."""
    s = lone_syn(("10.0.0.9", 9999), 0)
    s.emit(False, 0, s.isn[True] + 1, TCP_RST | TCP_ACK)
    s.emit(False, 0, s.isn[True] + 1, TCP_RST | TCP_ACK)
    rec, table = feed(s.frames)
    assert kinds(rec) == ["start", "end"]
    assert list(ends(rec).values()) == ["rst"]
    assert len(table) == 0
