"""The expectation table: announced connections matched by packet time (flow/expect.py)."""

from __future__ import annotations

from wiresift.flow.expect import NS, Endpoint, Expectation, ExpectationTable

TCP = 6
UDP = 17
CLIENT = bytes([10, 0, 0, 1])
SERVER = bytes([10, 0, 0, 2])
PRIVATE = bytes([192, 168, 1, 2])
PUBLIC = bytes([203, 0, 113, 9])
T0 = 1_700_000_000 * NS


class FakeFlow:
    """A remembered flow handle: transport and endpoints."""

    def __init__(self, client: Endpoint, server: Endpoint, transport: int = TCP) -> None:
        self.client = client
        self.server = server
        self.transport = transport


def endpoints(flow: FakeFlow) -> tuple[int, Endpoint, Endpoint]:
    return flow.transport, flow.client, flow.server


def table(**kwargs: int) -> ExpectationTable[FakeFlow]:
    return ExpectationTable(endpoints, **kwargs)


def expectation(
    server: bytes = SERVER,
    port: int = 50000,
    *,
    client: bytes | None = CLIENT,
    peer: bytes | None = CLIENT,
    deadline: int = T0 + 60 * NS,
    transport: int = TCP,
) -> Expectation:
    return Expectation(
        protocol="ftp-data",
        transport=transport,
        server_addr=server,
        server_port=port,
        deadline=deadline,
        client_addr=client,
        peer_addr=peer,
        context="ctx",
        source_uid="Wcontrol",
    )


def test_exact_match_is_consumed_once() -> None:
    """A flow to the announced address and port gets the expectation, a second one not."""
    exp_table = table()
    exp = expectation()
    assert exp_table.add(exp, T0) == []
    assert len(exp_table) == 1
    assert exp_table.match(TCP, (CLIENT, 40001), (SERVER, 50000), T0 + NS) is exp
    assert len(exp_table) == 0
    assert exp_table.match(TCP, (CLIENT, 40002), (SERVER, 50000), T0 + NS) is None


def test_wrong_client_port_or_transport_does_not_match() -> None:
    """Another client address, another port or UDP instead of TCP are different flows."""
    exp_table = table()
    exp_table.add(expectation(peer=None), T0)
    other = bytes([10, 0, 0, 99])
    assert exp_table.match(TCP, (other, 40001), (SERVER, 50000), T0) is None
    assert exp_table.match(TCP, (CLIENT, 40001), (SERVER, 50001), T0) is None
    assert exp_table.match(UDP, (CLIENT, 40001), (SERVER, 50000), T0) is None
    assert len(exp_table) == 1


def test_any_client_matches_when_client_is_unknown() -> None:
    """client_addr None (active FTP: the server connects from any address) matches all."""
    exp_table = table()
    exp = expectation(server=CLIENT, port=40100, client=None, peer=CLIENT)
    exp_table.add(exp, T0)
    assert exp_table.match(TCP, (SERVER, 20), (CLIENT, 40100), T0) is exp


def test_expired_expectation_does_not_match() -> None:
    """Past its deadline (packet time) an expectation is gone."""
    exp_table = table()
    exp_table.add(expectation(deadline=T0 + NS), T0)
    assert exp_table.match(TCP, (CLIENT, 40001), (SERVER, 50000), T0 + 2 * NS) is None
    assert exp_table.expired == 1
    exp_table.add(expectation(deadline=T0 + NS), T0)
    exp_table.expire(T0 + 3 * NS)
    assert len(exp_table) == 0
    assert exp_table.expired == 2


def test_bound_drops_the_oldest() -> None:
    """Past max_expectations the oldest announcement is dropped and counted."""
    exp_table = table(max_expectations=3)
    for port in range(50000, 50005):
        exp_table.add(expectation(port=port), T0)
    assert len(exp_table) == 3
    assert exp_table.dropped == 2
    assert exp_table.match(TCP, (CLIENT, 1), (SERVER, 50000), T0) is None
    assert exp_table.match(TCP, (CLIENT, 1), (SERVER, 50004), T0) is not None


def test_same_endpoint_announced_twice_keeps_the_newer() -> None:
    """A second announcement of the same address and port replaces the first."""
    exp_table = table()
    first = expectation()
    second = expectation()
    exp_table.add(first, T0)
    exp_table.add(second, T0 + NS)
    assert len(exp_table) == 1
    assert exp_table.match(TCP, (CLIENT, 40001), (SERVER, 50000), T0 + NS) is second


def test_late_expectation_claims_a_recent_flow() -> None:
    """A flow that started just before its announcement is returned by add()."""
    exp_table = table()
    early = FakeFlow((CLIENT, 40001), (SERVER, 50000))
    unrelated = FakeFlow((CLIENT, 40002), (SERVER, 443))
    exp_table.remember(early, T0)
    exp_table.remember(unrelated, T0)
    exp = expectation()
    assert exp_table.add(exp, T0 + NS // 100) == [early]
    exp_table.consume(exp)
    exp_table.forget(early)
    assert len(exp_table) == 0
    assert exp_table.add(expectation(), T0 + NS // 50) == []


def test_late_expectation_claims_a_flow_with_reversed_roles() -> None:
    """A mid-stream flow whose roles were guessed the wrong way round is still found."""
    exp_table = table()
    early = FakeFlow((SERVER, 50000), (CLIENT, 40001))
    exp_table.remember(early, T0)
    assert exp_table.add(expectation(), T0) == [early]


def test_recent_flows_are_forgotten_after_the_window() -> None:
    """Flows older than recent_window_ns are no longer claimed."""
    exp_table = table(recent_window_ns=NS)
    exp_table.remember(FakeFlow((CLIENT, 40001), (SERVER, 50000)), T0)
    assert exp_table.add(expectation(), T0 + 2 * NS) == []


def test_recent_flows_are_bounded() -> None:
    """Only the last max_recent flows are remembered."""
    exp_table = table(max_recent=2)
    target = FakeFlow((CLIENT, 40001), (SERVER, 50000))
    exp_table.remember(target, T0)
    exp_table.remember(FakeFlow((CLIENT, 40002), (SERVER, 1)), T0)
    exp_table.remember(FakeFlow((CLIENT, 40003), (SERVER, 2)), T0)
    assert exp_table.add(expectation(), T0) == []


def test_nat_fallback_passive() -> None:
    """A server announcing its private address is matched by port and the control client."""
    exp_table = table()
    exp = expectation(server=PRIVATE, port=50000, client=CLIENT, peer=CLIENT)
    exp_table.add(exp, T0)
    assert exp_table.match(TCP, (CLIENT, 40001), (PUBLIC, 50000), T0) is exp


def test_nat_fallback_active() -> None:
    """A client announcing its private address is matched when the server connects to it."""
    exp_table = table()
    exp = expectation(server=PRIVATE, port=40100, client=None, peer=PUBLIC)
    exp_table.add(exp, T0)
    assert exp_table.match(TCP, (SERVER, 20), (PUBLIC, 40100), T0) is exp


def test_nat_fallback_needs_the_control_client() -> None:
    """The port alone is not enough: a stranger on that port is not the data flow."""
    exp_table = table()
    exp_table.add(expectation(server=PRIVATE, port=50000, peer=CLIENT), T0)
    stranger = bytes([198, 51, 100, 1])
    assert exp_table.match(TCP, (stranger, 40001), (PUBLIC, 50000), T0) is None
