"""Accept/reject rules: first match wins, both directions of a conversation alike."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest

from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, Decoded
from wiresift.service.rules import RuleFilter, compile_rule, compile_rules

A = ipaddress.ip_address("10.1.2.3").packed
B = ipaddress.ip_address("192.168.7.9").packed
C = ipaddress.ip_address("172.16.0.1").packed
V6 = ipaddress.ip_address("2001:db8::1").packed


def rule(action: str, **fields: object) -> SimpleNamespace:
    base: dict[str, object] = dict.fromkeys(
        ("addr", "src", "dst", "port", "src_port", "dst_port", "transport")
    )
    base.update(fields)
    return SimpleNamespace(action=action, **base)


def packet(src: bytes, dst: bytes, sport: int, dport: int, proto: int = IPPROTO_TCP) -> Decoded:
    return Decoded(src, dst, proto, sport, dport, 0, 0, 0, b"", ("eth",), False)


def test_no_rules_and_accept_default_compile_to_nothing() -> None:
    """An input without rules gets no filter at all (no per-packet cost)."""
    assert compile_rules([], "accept") is None


def test_reject_default_rejects_everything_unmatched() -> None:
    """default_action reject with one accept rule lets only that traffic through."""
    accept = compile_rules([rule("accept", port=80)], "reject")
    assert accept is not None
    assert accept(packet(A, B, 40000, 80)) is True
    assert accept(packet(B, A, 80, 40000)) is True
    assert accept(packet(A, B, 40000, 443)) is False


def test_first_match_wins() -> None:
    """An earlier accept beats a later reject of the same traffic, and the reverse."""
    rules = [rule("accept", addr="10.1.2.3/32"), rule("reject", src="10.0.0.0/8")]
    accept = compile_rules(rules)
    assert accept is not None
    assert accept(packet(A, B, 1, 2)) is True
    other = ipaddress.ip_address("10.9.9.9").packed
    assert accept(packet(other, B, 1, 2)) is False
    reordered = compile_rules(list(reversed(rules)))
    assert reordered is not None
    assert reordered(packet(A, B, 1, 2)) is False


def test_src_dst_pair_matches_both_directions() -> None:
    """A src/dst rule gives the reply packets the same verdict as the requests."""
    accept = compile_rules([rule("reject", src="10.0.0.0/8", dst="192.168.0.0/16")])
    assert accept is not None
    assert accept(packet(A, B, 5555, 80)) is False
    assert accept(packet(B, A, 80, 5555)) is False
    assert accept(packet(A, C, 5555, 80)) is True


def test_ports_transport_and_ranges() -> None:
    """Port ranges, src_port/dst_port pairs and the transport all narrow a rule."""
    accept = compile_rules(
        [
            rule("reject", transport="udp", port="5000-5010"),
            rule("reject", src="10.0.0.0/8", dst_port=443, transport="tcp"),
        ]
    )
    assert accept is not None
    assert accept(packet(A, B, 40000, 5005, IPPROTO_UDP)) is False
    assert accept(packet(A, B, 40000, 5005, IPPROTO_TCP)) is True
    assert accept(packet(A, B, 40000, 443)) is False
    assert accept(packet(B, A, 443, 40000)) is False  # the server's answers
    assert accept(packet(C, B, 40000, 443)) is True
    assert accept(packet(A, B, 40000, 5011, IPPROTO_UDP)) is True


def test_ipv6_networks_never_match_ipv4_addresses() -> None:
    """A v6 CIDR matches v6 packets only."""
    accept = compile_rules([rule("reject", addr=ipaddress.ip_network("2001:db8::/32"))])
    assert accept is not None
    assert accept(packet(V6, V6, 1, 2)) is False
    assert accept(packet(A, B, 1, 2)) is True


def test_verdict_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-5-tuple cache starts over past its cap instead of growing."""
    monkeypatch.setattr("wiresift.service.rules.MAX_CACHED_VERDICTS", 8)
    accept = RuleFilter([compile_rule(rule("reject", port=22))], True)
    for port in range(100):
        assert accept(packet(A, B, 1000 + port, 22)) is False
    assert len(accept._cache) <= 8
