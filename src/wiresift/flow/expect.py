"""Expected connections: flows announced by another flow (FTP data, RFC 959 s3.2).

A control connection tells which address and port a coming connection will use (FTP
PASV/EPSV/PORT/EPRT). The engine registers each announcement here; when a new flow shows
its first bytes, one dict lookup by (transport, server address, server port) says whether
it was announced, and the flow gets its protocol without content detection (Zeek's
``Analyzer::schedule_analyzer``, Suricata's app-layer expectations).

Two things real captures add:

- **Races.** The data connection's first packets can be captured before the packet that
  announces it (PASV reply and SYN nearly simultaneous, or reordered by the capture). Flows
  that started without a match are remembered for ``recent_window_ns`` of packet time (at
  most ``max_recent``); an expectation added later claims such a flow, and the engine hands
  it over if detection has not decided yet (the detector still holds its bytes).
- **NAT.** A server behind NAT announces its private address (RFC 959 knows one address
  per host). When the exact lookup fails, an expectation also matches a connection to the
  same port that involves the announcing flow's client address (``peer_addr``): the client
  itself connects in passive mode, and is connected to in active mode.

Expectations expire by packet time and are used once. The table is bounded: past
``max_expectations`` the oldest is dropped. Sans-IO: no clock, the caller passes packet time.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final, Generic, TypeVar

NS: Final = 1_000_000_000
# Announcements waiting at once. An FTP session has one at a time; Suricata bounds its
# expectation list per flow, Zeek's expected-connection table by timeout only. 4096 covers
# thousands of concurrent FTP sessions.
MAX_EXPECTATIONS: Final = 4096
# Flows remembered for a late announcement, and for how long (packet time). The reordering
# seen in captures is a few milliseconds; two seconds leaves room for slow capture paths.
MAX_RECENT_FLOWS: Final = 512
RECENT_WINDOW_NS: Final = 2 * NS

Endpoint = tuple[bytes, int]  # packed address, port
H = TypeVar("H")


class Expectation:
    """One announced connection (plain slots: one per announcement, not per packet)."""

    __slots__ = (
        "client_addr",
        "context",
        "deadline",
        "peer_addr",
        "protocol",
        "serial",
        "server_addr",
        "server_port",
        "source_uid",
        "transport",
    )

    def __init__(
        self,
        *,
        protocol: str,
        transport: int,
        server_addr: bytes,
        server_port: int,
        deadline: int,
        client_addr: bytes | None = None,
        peer_addr: bytes | None = None,
        context: object | None = None,
        source_uid: str = "",
    ) -> None:
        self.protocol = protocol
        self.transport = transport  # IP protocol number (6 TCP, 17 UDP)
        self.server_addr = server_addr
        self.server_port = server_port
        self.client_addr = client_addr  # None: any client
        self.peer_addr = peer_addr  # the announcing flow's client: the NAT fallback
        self.deadline = deadline  # packet time (ns) after which it is dropped
        self.context = context
        self.source_uid = source_uid  # uid of the announcing flow
        self.serial = 0

    def accepts(self, client: Endpoint, server: Endpoint) -> bool:
        """Whether a connection from ``client`` to ``server`` is this one (exact match)."""
        return (
            server[0] == self.server_addr
            and server[1] == self.server_port
            and (self.client_addr is None or self.client_addr == client[0])
        )

    def accepts_nat(self, client: Endpoint, server: Endpoint) -> bool:
        """Fallback: same port, and the announcing flow's client is one of the two ends."""
        return (
            server[1] == self.server_port
            and self.peer_addr is not None
            and self.peer_addr in (client[0], server[0])
        )


class ExpectationTable(Generic[H]):
    """Pending expectations plus recently started unmatched flows (handles of type H).

    ``endpoints`` tells the (transport, client, server) of a remembered flow handle at the
    time a late expectation looks at it (its roles may have been settled meanwhile).
    """

    def __init__(
        self,
        endpoints: Callable[[H], tuple[int, Endpoint, Endpoint]],
        *,
        max_expectations: int = MAX_EXPECTATIONS,
        max_recent: int = MAX_RECENT_FLOWS,
        recent_window_ns: int = RECENT_WINDOW_NS,
    ) -> None:
        self._endpoints = endpoints
        self.max_expectations = max_expectations
        self.recent_window_ns = recent_window_ns
        self._serial = 0
        self._pending: OrderedDict[int, Expectation] = OrderedDict()  # by serial, oldest first
        self._exact: dict[tuple[int, bytes, int], Expectation] = {}
        self._by_port: dict[tuple[int, int], Expectation] = {}
        self._recent: deque[tuple[int, H]] = deque(maxlen=max_recent)
        self.dropped = 0  # expectations pushed out by the bound
        self.expired = 0

    def __len__(self) -> int:
        return len(self._pending)

    def __bool__(self) -> bool:
        return bool(self._pending)

    # -- expectations ---------------------------------------------------------------------

    def add(self, expectation: Expectation, now: int) -> list[H]:
        """Register ``expectation``; return remembered flows it matches (newest first).

        When a flow is returned the expectation is consumed by the first one the caller
        accepts (``consume``); otherwise it stays pending.
        """
        self.expire(now)
        self._serial += 1
        expectation.serial = self._serial
        exact_key = (expectation.transport, expectation.server_addr, expectation.server_port)
        port_key = (expectation.transport, expectation.server_port)
        older = self._exact.get(exact_key)
        if older is not None:
            self._remove(older)  # the same address and port announced again: the newer wins
        while len(self._pending) >= self.max_expectations:
            self._remove(next(iter(self._pending.values())))
            self.dropped += 1
        self._pending[expectation.serial] = expectation
        self._exact[exact_key] = expectation
        self._by_port[port_key] = expectation
        return self._claimable(expectation, now)

    def match(
        self, transport: int, client: Endpoint, server: Endpoint, now: int
    ) -> Expectation | None:
        """The expectation for a new flow from ``client`` to ``server``, consumed; or None."""
        found = self._exact.get((transport, server[0], server[1]))
        if found is None or not found.accepts(client, server):
            found = self._by_port.get((transport, server[1]))
            if found is None or not found.accepts_nat(client, server):
                return None
        self._remove(found)
        if found.deadline < now:
            self.expired += 1
            return None
        return found

    def consume(self, expectation: Expectation) -> None:
        """The caller gave ``expectation`` to a remembered flow."""
        self._remove(expectation)

    def expire(self, now: int) -> None:
        """Drop expectations whose deadline has passed, and flows too old to be claimed."""
        pending = self._pending
        while pending:
            first = next(iter(pending.values()))
            if first.deadline >= now:
                break
            self._remove(first)
            self.expired += 1
        recent = self._recent
        limit = now - self.recent_window_ns
        while recent and recent[0][0] < limit:
            recent.popleft()

    def _remove(self, expectation: Expectation) -> None:
        self._pending.pop(expectation.serial, None)
        exact_key = (expectation.transport, expectation.server_addr, expectation.server_port)
        if self._exact.get(exact_key) is expectation:
            del self._exact[exact_key]
        port_key = (expectation.transport, expectation.server_port)
        if self._by_port.get(port_key) is expectation:
            del self._by_port[port_key]

    # -- flows that started before their announcement --------------------------------------

    def remember(self, handle: H, ts: int) -> None:
        """A flow began (showed its first bytes) without a match; keep it for a while."""
        self._recent.append((ts, handle))

    def forget(self, handle: H) -> None:
        """The flow was claimed or decided otherwise (linear in ``max_recent``)."""
        for index, (_, held) in enumerate(self._recent):
            if held is handle:
                del self._recent[index]
                return

    def _claimable(self, expectation: Expectation, now: int) -> list[H]:
        limit = now - self.recent_window_ns
        found: list[H] = []
        for ts, handle in reversed(self._recent):
            if ts < limit:
                break
            transport, client, server = self._endpoints(handle)
            if transport != expectation.transport:
                continue
            if (
                expectation.accepts(client, server)
                or expectation.accepts(server, client)
                or expectation.accepts_nat(client, server)
                or expectation.accepts_nat(server, client)
            ):
                found.append(handle)
        return found
