"""Accept/reject rules of an input: an ordered list, first match wins (docs/service.md).

A rule names any of: ``addr`` (either end in a CIDR), ``src``/``dst`` (CIDRs),
``port`` (either end), ``src_port``/``dst_port``, ``transport``. ``src``/``dst`` and
``src_port``/``dst_port`` describe one direction of a conversation, and a rule matches a
packet travelling either way, so both directions of a connection always get the same
verdict (a half-accepted TCP connection would only make gaps). When no rule matches, the
input's ``default_action`` decides.

Rules are applied after decoding, to the innermost IP header, before flow tracking: a
rejected packet costs its decoding and nothing more. Verdicts are cached per 5-tuple.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP, Decoded

# Verdicts remembered per 5-tuple before the cache starts again.
MAX_CACHED_VERDICTS: Final = 65_536

_TRANSPORTS: Final = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP, "any": None, None: None}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PortSpec = int | str | tuple[int, int] | None


class RuleLike(Protocol):
    """What a rule from the settings provides (service/settings.py ``RuleSpec``)."""

    @property
    def action(self) -> str: ...
    @property
    def addr(self) -> object: ...
    @property
    def src(self) -> object: ...
    @property
    def dst(self) -> object: ...
    @property
    def port(self) -> object: ...
    @property
    def src_port(self) -> object: ...
    @property
    def dst_port(self) -> object: ...
    @property
    def transport(self) -> object: ...


@dataclass(frozen=True, slots=True)
class _Net:
    """A CIDR as integers: ``(address & mask) == network`` for addresses of ``size`` bytes."""

    size: int
    network: int
    mask: int

    def contains(self, packed: bytes) -> bool:
        return len(packed) == self.size and int.from_bytes(packed) & self.mask == self.network


def _net(value: object) -> _Net | None:
    if value is None or value == "":
        return None
    net = value if isinstance(value, ipaddress._BaseNetwork) else None
    if net is None:
        net = ipaddress.ip_network(str(value), strict=False)
    size = 4 if net.version == 4 else 16
    return _Net(size, int(net.network_address), int(net.netmask))


def _ports(value: object) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, range):
        return value.start, value.stop - 1
    text = str(value)
    low, _, high = text.partition("-")
    return int(low), int(high or low)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule, ready to match."""

    accept: bool
    proto: int | None
    addr: _Net | None
    src: _Net | None
    dst: _Net | None
    port: tuple[int, int] | None
    src_port: tuple[int, int] | None
    dst_port: tuple[int, int] | None

    def matches(self, src: bytes, dst: bytes, proto: int, sport: int, dport: int) -> bool:
        if self.proto is not None and proto != self.proto:
            return False
        addr = self.addr
        if addr is not None and not (addr.contains(src) or addr.contains(dst)):
            return False
        port = self.port
        if port is not None and not (port[0] <= sport <= port[1] or port[0] <= dport <= port[1]):
            return False
        return self._oriented(src, dst, sport, dport) or self._oriented(dst, src, dport, sport)

    def _oriented(self, src: bytes, dst: bytes, sport: int, dport: int) -> bool:
        if self.src is not None and not self.src.contains(src):
            return False
        if self.dst is not None and not self.dst.contains(dst):
            return False
        if self.src_port is not None and not self.src_port[0] <= sport <= self.src_port[1]:
            return False
        return self.dst_port is None or self.dst_port[0] <= dport <= self.dst_port[1]


def compile_rule(rule: RuleLike) -> CompiledRule:
    """Turn a settings rule into integers (addresses and masks, port ranges)."""
    transport = rule.transport
    return CompiledRule(
        accept=rule.action == "accept",
        proto=_TRANSPORTS[transport if isinstance(transport, str) else None],
        addr=_net(rule.addr),
        src=_net(rule.src),
        dst=_net(rule.dst),
        port=_ports(rule.port),
        src_port=_ports(rule.src_port),
        dst_port=_ports(rule.dst_port),
    )


class RuleFilter:
    """The packet filter of one input: ``filter(decoded) -> accept?``."""

    def __init__(self, rules: Sequence[CompiledRule], default_accept: bool) -> None:
        self.rules = tuple(rules)
        self.default_accept = default_accept
        self._cache: dict[tuple[bytes, bytes, int, int, int], bool] = {}

    def verdict(self, src: bytes, dst: bytes, proto: int, sport: int, dport: int) -> bool:
        """First matching rule wins; no match: the default action."""
        for rule in self.rules:
            if rule.matches(src, dst, proto, sport, dport):
                return rule.accept
        return self.default_accept

    def __call__(self, d: Decoded) -> bool:
        key = (d.src, d.dst, d.proto, d.sport, d.dport)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        verdict = self.verdict(*key)
        if len(self._cache) >= MAX_CACHED_VERDICTS:
            self._cache.clear()
        self._cache[key] = verdict
        return verdict


def compile_rules(
    rules: Sequence[RuleLike], default_action: str = "accept"
) -> Callable[[Decoded], bool] | None:
    """The packet filter for an input, or None when it accepts everything anyway."""
    default_accept = default_action != "reject"
    if not rules and default_accept:
        return None
    return RuleFilter([compile_rule(r) for r in rules], default_accept)
