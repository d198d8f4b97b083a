"""The flow table: packets in, per-direction stream events out (sans-IO).

Flows are keyed by the 5-tuple plus the encapsulation context (VLAN tags, tunnels), so
equal addresses in different VLANs stay apart. The key is canonical (lower endpoint first)
so both directions find the same entry with one dict lookup. Each flow remembers which of
its two endpoints ("side 0" and "side 1", in order of first appearance) is the initiator:
a SYN decides, a SYN-ACK decides the other way, and a flow whose start was not captured is
marked ``mid_stream`` and may have its roles flipped later by protocol detection.

Time comes only from packets: idle flows expire when packet time passes their deadline.
Three queues, each in rough order of activity, hold the flows by timeout class (Suricata's
flow states): TCP connections that have carried no payload yet (a lone SYN, a handshake,
stray ACKs) expire after ``tcp_new_timeout``, the others after ``tcp_idle_timeout``, UDP
flows after ``udp_idle_timeout``. A connection that has carried nothing keeps no
reassembly state, only its initial sequence numbers and last acknowledgements.

The table holds at most ``max_flows`` flows. A new flow past that evicts an old one, the
least recently active connection without payload first, then UDP, then established TCP
(Suricata's emergency eviction, in this order so that a scan or a flood does not end the
real connections): it ends with reason ``evicted``, its objects so far are delivered, and
it is counted in ``flows_evicted``. The table's size is bounded whatever the traffic.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol

from wiresift.config import Limits
from wiresift.decode.packet import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    Decoded,
)
from wiresift.flow.budget import BufferBudget
from wiresift.flow.tcp import SEQ_MASK, TcpReassembler

NS: Final = 1_000_000_000
# Packet-time interval between two sweeps for idle flows.
SWEEP_INTERVAL_NS: Final = NS
# Distinct encapsulation chains whose key context is remembered (each VLAN/tunnel is one).
MAX_KEY_CONTEXTS: Final = 4096
# End reasons after which a connection's key is remembered for ``closed_linger``.
_LINGER_REASONS: Final = frozenset({"fin", "rst"})
# Ports below this are taken as the server's side of a flow whose start was not captured.
EPHEMERAL_FLOOR: Final = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowConfig:
    """Timeouts, in seconds of packet time, and what the flow key includes."""

    tcp_idle_timeout: int = 3600
    # A TCP connection that has carried no payload yet (a SYN with no answer, a handshake
    # and nothing after it) is dropped after this long without a packet (Suricata's "new"
    # flow timeout). A connection used later is then picked up mid-stream.
    tcp_new_timeout: int = 60
    udp_idle_timeout: int = 60
    # Flows held at once (the rest of the flow table's memory bound; see the module text).
    max_flows: int = 100_000
    # A closed connection's key is remembered this long, so that its last ACKs and
    # retransmissions do not open a new, mid-stream flow.
    closed_linger: int = 5
    # VLAN ids in the key: equal addresses in two VLANs are two flows (Zeek's default too).
    # Off for a SPAN port that sees the two directions of a connection in different VLANs.
    key_vlan: bool = True
    # Tunnel context in the key: two customers' equal private addresses inside different
    # tunnels are different flows. Off when the same flow is seen both inside and outside a
    # tunnel and should be one.
    key_tunnel: bool = True
    # Mixed into flow uids: two tables that see the same packets (two interfaces on one
    # SPAN session, two files of one capture) never hand out the same uid.
    uid_salt: str = ""


# Encapsulation items that are VLAN tags; everything else that is not plain link framing
# is tunnel context (outer IP endpoints, GRE keys, VXLAN/Geneve ids, MPLS, PPPoE sessions).
_VLAN_PREFIX: Final = "vlan:"
# MPLS is framing too: its labels change hop by hop, and a router's capture shows one
# connection with and without them.
_LINK_ITEMS: Final = frozenset(
    {"eth", "sll", "sll2", "raw", "null", "nflog", "wlan", "ppp", "mpls"}
)


def key_context(encap: tuple[str, ...], *, vlan: bool, tunnel: bool) -> tuple[str, ...]:
    """The part of an encapsulation chain that goes into the flow key."""
    return tuple(
        item
        for item in encap
        if item not in _LINK_ITEMS and (vlan if item.startswith(_VLAN_PREFIX) else tunnel)
    )


class Flow:
    """One connection or UDP conversation. Plain slots: one per flow, never per packet."""

    __slots__ = (
        "_uid",
        "ack0",
        "ack1",
        "addr0",
        "addr1",
        "app",
        "bytes0",
        "bytes1",
        "closed",
        "encap",
        "fin_mask",
        "first_frame",
        "first_ts",
        "flipped",
        "isn0",
        "isn1",
        "key",
        "last_frame",
        "last_ts",
        "mid_stream",
        "moved_ts",
        "pkts0",
        "pkts1",
        "port0",
        "port1",
        "proto",
        "reasm",
        "salt",
        "serial",
        "syn_seq",
    )

    def __init__(
        self, key: tuple[object, ...], serial: int, salt: str, d: Decoded, ts: int, frame: int
    ) -> None:
        self.key = key
        self.serial = serial  # the table's count of flows when this one began
        self.salt = salt
        self._uid: str | None = None
        self.proto = d.proto
        self.addr0 = d.src
        self.port0 = d.sport
        self.addr1 = d.dst
        self.port1 = d.dport
        self.encap = d.encap
        self.first_ts = self.last_ts = self.moved_ts = ts
        self.first_frame = self.last_frame = frame
        self.pkts0 = self.pkts1 = self.bytes0 = self.bytes1 = 0
        self.flipped = 0  # 1 when side 1 is the initiator
        self.mid_stream = False
        self.closed = False
        self.fin_mask = 0  # bit per side: FIN seen
        self.syn_seq: int | None = None
        # Before the first payload (no reassembler yet): each side's initial sequence number
        # and the last acknowledgement each side sent, replayed into the reassemblers when
        # they are made.
        self.isn0: int | None = None
        self.isn1: int | None = None
        self.ack0: int | None = None
        self.ack1: int | None = None
        self.reasm: list[TcpReassembler] | None = None
        # Owned by the handler (detection/parser state); Any so that the handler reads it
        # as its own type without a cast call per packet.
        self.app: Any = None

    @property
    def uid(self) -> str:
        """The flow's id in objects and logs, made when first asked for: most flows of a
        scan or a flood never need one. A hash of the key, the first packet's time and the
        serial (with the table's salt), then the serial: unique, and the same every run."""
        uid = self._uid
        if uid is None:
            text = repr((self.key, self.first_ts, self.serial)) + self.salt
            digest = hashlib.blake2b(text.encode(), digest_size=5).hexdigest()
            uid = self._uid = f"W{digest}{self.serial:x}"
        return uid

    @property
    def orig(self) -> tuple[bytes, int]:
        return (self.addr1, self.port1) if self.flipped else (self.addr0, self.port0)

    @property
    def resp(self) -> tuple[bytes, int]:
        return (self.addr0, self.port0) if self.flipped else (self.addr1, self.port1)


class FlowHandler(Protocol):
    """Receives stream events. ``side`` is 0 or 1; direction is ``side ^ flow.flipped``."""

    def flow_start(self, flow: Flow) -> None: ...

    def stream_data(self, flow: Flow, side: int, data: bytes, ts: int) -> None: ...

    def stream_gap(self, flow: Flow, side: int, size: int, ts: int) -> None: ...

    def flow_end(self, flow: Flow, ts: int, reason: str) -> None: ...

    def datagram(self, flow: Flow, side: int, data: bytes, ts: int) -> None: ...

    def flow_anomaly(self, flow: Flow, name: str, detail: str, ts: int) -> None: ...


class FlowTable:
    """Finds the flow of each packet, runs TCP reassembly, expires and evicts flows."""

    def __init__(
        self,
        handler: FlowHandler,
        limits: Limits,
        config: FlowConfig,
        budget: BufferBudget | None = None,
    ) -> None:
        self.handler = handler
        self.budget = budget  # shared memory budget of reassembly buffers (flow/budget.py)
        self.limits = limits
        self.config = config
        # The three timeout classes, each an activity-ordered queue (see the module text).
        self._new: OrderedDict[tuple[object, ...], Flow] = OrderedDict()  # TCP, no payload
        self._live: OrderedDict[tuple[object, ...], Flow] = OrderedDict()  # TCP with payload
        self._udp: OrderedDict[tuple[object, ...], Flow] = OrderedDict()
        self._closed: OrderedDict[tuple[object, ...], int] = OrderedDict()
        self._next_sweep = 0
        self._count = 0
        self.flows_total = 0
        self.flows_evicted = 0
        self.current_frame = 0
        self._tcp_timeout = config.tcp_idle_timeout * NS
        self._new_timeout = config.tcp_new_timeout * NS
        self._udp_timeout = config.udp_idle_timeout * NS
        self._linger = config.closed_linger * NS
        self._max_flows = max(1, config.max_flows)
        self._contexts: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _context_of(self, encap: tuple[str, ...]) -> tuple[str, ...]:
        context = key_context(encap, vlan=self.config.key_vlan, tunnel=self.config.key_tunnel)
        if len(self._contexts) < MAX_KEY_CONTEXTS:
            self._contexts[encap] = context
        return context

    def __len__(self) -> int:
        return len(self._new) + len(self._live) + len(self._udp)

    def open_flows(self) -> list[Flow]:
        """The flows held now, least recently active first."""
        flows = [*self._new.values(), *self._live.values(), *self._udp.values()]
        flows.sort(key=_activity)
        return flows

    # -- packets --------------------------------------------------------------------

    def packet(self, d: Decoded, ts: int, frame: int) -> None:
        """One decoded packet."""
        # One unpacking instead of a field load per use (the hot path).
        src, dst, proto, sport, dport, flags, seq, ack, payload, encap, _truncated = d
        if proto != IPPROTO_TCP and proto != IPPROTO_UDP:  # noqa: PLR1714 (hot path)
            return
        self.current_frame = frame
        if ts >= self._next_sweep:
            self.expire(ts)
        context = self._contexts.get(encap)
        if context is None:
            context = self._context_of(encap)
        if src < dst or (src == dst and sport < dport):
            key = (src, sport, dst, dport, proto, context)
        else:
            key = (dst, dport, src, sport, proto, context)
        if proto == IPPROTO_UDP:
            udp = self._udp
            flow = udp.get(key)
            if flow is None:
                flow = self._new_flow(udp, key, d, ts, frame)
            side = 0 if (sport == flow.port0 and src == flow.addr0) else 1
            self._touch(flow, udp, key, side, len(payload), ts, frame)
            self.handler.datagram(flow, side, payload, ts)
            return
        flow = self._live.get(key)
        if flow is None:
            flow = self._new.get(key)
            if flow is None:
                if key in self._closed and not (flags & TCP_SYN and not flags & TCP_ACK):
                    return  # trailing packets of a connection already closed
                flow = self._new_tcp(key, d, ts, frame)
        side = 0 if (sport == flow.port0 and src == flow.addr0) else 1
        if flags & TCP_SYN:
            if not flags & TCP_ACK and flow.syn_seq is not None and seq != flow.syn_seq:
                # A new connection on the same ports (RFC 9293 s3.5: a SYN with a new ISN).
                self._close(flow, ts, "port_reuse")
                flow = self._new_tcp(key, d, ts, frame)
                side = 0
            if flow.reasm is not None:
                flow.reasm[side].syn(seq, ts)
            elif side:
                flow.isn1 = seq
            else:
                flow.isn0 = seq
            if not flags & TCP_ACK:
                flow.syn_seq = seq
        # _touch, inlined: this runs for every TCP packet.
        if side:
            flow.pkts1 += 1
            flow.bytes1 += len(payload)
        else:
            flow.pkts0 += 1
            flow.bytes0 += len(payload)
        flow.last_ts = ts
        flow.last_frame = frame
        reasm = flow.reasm
        if ts - flow.moved_ts > NS:
            (self._new if reasm is None else self._live).move_to_end(key)
            flow.moved_ts = ts
        if reasm is None:
            if flags & TCP_RST and not payload:
                # A refused connection (a scan of a closed port): nothing to reassemble.
                self._close(flow, ts, "rst")
                return
            if not payload and not flags & TCP_FIN:
                if flags & TCP_ACK:
                    # Remember the last pure ACK of each side: in a capture that starts
                    # mid-connection it tells where the other side's stream stands (see
                    # TcpReassembler.ack).
                    if side:
                        flow.ack1 = ack
                    else:
                        flow.ack0 = ack
                return
            reasm = self._establish(flow, ts)
        if flags & TCP_ACK:
            acked = reasm[1 - side]
            expected = acked.next_seq
            # An ack of exactly the next expected byte changes nothing (TcpReassembler.ack):
            # the common case, decided here without the call.
            if expected is None or ack != expected & SEQ_MASK:
                acked.ack(ack, ts)
        if payload:
            reasm[side].segment(seq, payload, ts)
        if flags & TCP_FIN:
            reasm[side].fin(seq + len(payload), ts)
            flow.fin_mask |= 1 << side
            if flow.fin_mask == 3:
                self._close(flow, ts, "fin")
        elif flags & TCP_RST:
            self._close(flow, ts, "rst")

    def _touch(
        self,
        flow: Flow,
        queue: OrderedDict[tuple[object, ...], Flow],
        key: tuple[object, ...],
        side: int,
        size: int,
        ts: int,
        frame: int,
    ) -> None:
        if side:
            flow.pkts1 += 1
            flow.bytes1 += size
        else:
            flow.pkts0 += 1
            flow.bytes0 += size
        flow.last_ts = ts
        flow.last_frame = frame
        if ts - flow.moved_ts > NS:
            # Keep the queue in rough order of activity (one-second granularity) so that
            # the sweep only looks at the front.
            queue.move_to_end(key)
            flow.moved_ts = ts

    def _new_flow(
        self,
        queue: OrderedDict[tuple[object, ...], Flow],
        key: tuple[object, ...],
        d: Decoded,
        ts: int,
        frame: int,
    ) -> Flow:
        if len(self) >= self._max_flows:
            self._evict(ts)
        self._count += 1
        self.flows_total += 1
        flow = Flow(key, self._count, self.config.uid_salt, d, ts, frame)
        queue[key] = flow
        self._closed.pop(key, None)
        self.handler.flow_start(flow)
        return flow

    def _new_tcp(self, key: tuple[object, ...], d: Decoded, ts: int, frame: int) -> Flow:
        flow = self._new_flow(self._new, key, d, ts, frame)
        flags = d.flags
        if flags & TCP_SYN:
            flow.flipped = 1 if flags & TCP_ACK else 0
        else:
            flow.mid_stream = True
            # Without the handshake, guess the server by its port; detection may correct it.
            if d.sport < EPHEMERAL_FLOOR <= d.dport:
                flow.flipped = 1
        return flow

    def _establish(self, flow: Flow, ts: int) -> list[TcpReassembler]:
        """The connection's first payload (or a FIN): make its reassemblers from what the
        packets before told, and move it to the established queue."""
        reasm = flow.reasm = [self._make_reassembler(flow, 0), self._make_reassembler(flow, 1)]
        if flow.isn0 is not None:
            reasm[0].syn(flow.isn0, ts)
        if flow.isn1 is not None:
            reasm[1].syn(flow.isn1, ts)
        if flow.ack0 is not None:
            reasm[1].ack(flow.ack0, ts)
        if flow.ack1 is not None:
            reasm[0].ack(flow.ack1, ts)
        flow.isn0 = flow.isn1 = flow.ack0 = flow.ack1 = None  # the reassemblers know now
        key = flow.key
        if self._new.pop(key, None) is flow:
            self._live[key] = flow
            flow.moved_ts = ts
        return reasm

    def _make_reassembler(self, flow: Flow, side: int) -> TcpReassembler:
        # partial objects are about half the size of closures, and there are six per flow.
        handler = self.handler
        return TcpReassembler(
            partial(handler.stream_data, flow, side),
            partial(handler.stream_gap, flow, side),
            partial(handler.flow_anomaly, flow),
            max_ooo_bytes=self.limits.max_reassembly_ooo_bytes,
            max_ooo_segments=self.limits.max_reassembly_ooo_segments,
            budget=self.budget,
        )

    # -- ending ---------------------------------------------------------------------

    def _close(self, flow: Flow, ts: int, reason: str) -> None:
        if flow.closed:
            return
        flow.closed = True
        if flow.reasm is not None:
            flow.reasm[0].finish(ts)
            flow.reasm[1].finish(ts)
        self.handler.flow_end(flow, ts, reason)
        flow.reasm = None
        key = flow.key
        if flow.proto == IPPROTO_TCP:
            if self._live.get(key) is flow:
                del self._live[key]
            elif self._new.get(key) is flow:
                del self._new[key]
            if reason not in _LINGER_REASONS:
                return  # an expired or evicted connection may go on: it is picked up again
            closed = self._closed
            closed[key] = ts
            closed.move_to_end(key)
            if len(closed) > self._max_flows:
                closed.popitem(last=False)
        elif self._udp.get(key) is flow:
            del self._udp[key]

    def _evict(self, ts: int) -> None:
        """Make room for one flow: end the least recently active connection that carried no
        payload, else the least recently active UDP flow, else established connection."""
        for queue in (self._new, self._udp, self._live):
            if queue:
                flow = next(iter(queue.values()))
                self.flows_evicted += 1
                if flow.proto == IPPROTO_TCP and (flow.bytes0 or flow.bytes1):
                    # A stream cut short: its objects end here, incomplete; say why. (A UDP
                    # flow's objects are per datagram, and busy DNS alone can reach the
                    # limit: those are only counted.)
                    self.handler.flow_anomaly(
                        flow, "flow_evicted", f"the flow table was full ({self._max_flows})", ts
                    )
                self._close(flow, ts, "evicted")
                return

    def expire(self, now: int) -> None:
        """End flows idle past their timeout, by packet time."""
        self._next_sweep = now + SWEEP_INTERVAL_NS
        for queue, timeout in (
            (self._new, self._new_timeout),
            (self._live, self._tcp_timeout),
            (self._udp, self._udp_timeout),
        ):
            while queue:
                flow = next(iter(queue.values()))
                if flow.last_ts + timeout > now:
                    break
                self._close(flow, now, "timeout")
        closed = self._closed
        limit = now - self._linger
        while closed:
            key, when = next(iter(closed.items()))
            if when > limit:
                break
            del closed[key]

    def flush(self, ts: int) -> None:
        """End every flow (end of input), least recently active first."""
        for flow in self.open_flows():
            self._close(flow, max(ts, flow.last_ts), "end_of_input")
        self._closed.clear()


def _activity(flow: Flow) -> int:
    """Sort key of the activity order (a flow's place in its queue)."""
    return flow.moved_ts
