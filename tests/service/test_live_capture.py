"""Live capture through libpcap on a veth pair whose far end sits in a network namespace.

A real HTTP server (python -m http.server) runs in the namespace; the test fetches a file
from this side while capturing on the near veth end. Needs root and ``ip netns``: skipped
without them, except under CI=true, where their absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Final

import pytest

from tests.pcapgen import checksum16, ether, ipv4, tcp, udp
from tests.service.netns import VethNamespace, netns_unavailable
from wiresift.capture.base import LINKTYPE_ETHERNET, CaptureError, RawPacket
from wiresift.capture.live import (
    CaptureStats,
    InterfaceGone,
    InterfaceInfo,
    LiveCapture,
    OfflineFilter,
    check_filter,
    default_capture_interfaces,
    list_interfaces,
)

HTTP_PORT: Final = 8000
FILE_NAME: Final = "payload.bin"
# 20 000 bytes: several segments, one connection, not a multiple of any MSS.
FILE_BODY: Final = bytes(range(256)) * 78 + b"wiresift-end"
DEADLINE_S: Final = 3.0
ETHERTYPE_IPV4: Final = 0x0800
PROTO_ICMP: Final = 1
PROTO_TCP: Final = 6
TCP_FIN: Final = 0x01
ICMP_ECHO_REQUEST: Final = 8
ICMP_ECHO_REPLY: Final = 0
IPV4_HEADER: Final = struct.Struct("!BBHHHBBH4s4s")
TCP_HEADER: Final = struct.Struct("!HHIIBB")


def _require_netns() -> None:
    reason = netns_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"live capture tests cannot run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VethNamespace]:
    """A namespace serving FILE_NAME over HTTP on inner_addr:HTTP_PORT."""
    _require_netns()
    root = tmp_path_factory.mktemp("www")
    (root / FILE_NAME).write_bytes(FILE_BODY)
    pair = VethNamespace()
    try:
        pair.spawn(
            [sys.executable, "-m", "http.server", str(HTTP_PORT), "--bind", pair.inner_addr],
            cwd=str(root),
        )
        _wait_for_port(pair.inner_addr, HTTP_PORT)
        yield pair
    finally:
        pair.close()


@pytest.fixture
def pair() -> Iterator[VethNamespace]:
    """A fresh namespace + veth pair for tests that break it."""
    _require_netns()
    made = VethNamespace()
    try:
        yield made
    finally:
        made.close()


def _wait_for_port(host: str, port: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _fetch(web: VethNamespace) -> bytes:
    url = f"http://{web.inner_addr}:{HTTP_PORT}/{FILE_NAME}"
    with urllib.request.urlopen(url, timeout=DEADLINE_S) as response:
        body: bytes = response.read()
    return body


def _ping(address: str, count: int = 3) -> None:
    """Send ICMP echo requests (RFC 792) from a raw socket and wait briefly for replies."""
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(0.5)
        for sequence in range(count):
            header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, 0x7773, sequence)
            body = b"wiresift-ping"
            checksum = checksum16(header + body)
            sock.sendto(header[:2] + struct.pack("!H", checksum) + header[4:] + body, (address, 0))
            with contextlib.suppress(TimeoutError):
                sock.recv(2048)


def _drain(
    capture: LiveCapture,
    done: Callable[[list[RawPacket]], bool],
    deadline_s: float = DEADLINE_S,
) -> list[RawPacket]:
    """Read batches until ``done(packets)`` or the deadline; never blocks longer than 50 ms."""
    packets: list[RawPacket] = []
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop:
        select.select([capture.fileno()], [], [], 0.05)
        packets.extend(capture.read_batch())
        if done(packets):
            break
    return packets


def _ipv4(frame: bytes) -> tuple[int, bytes, bytes, bytes] | None:
    """(protocol, source, destination, IP payload) of an Ethernet/IPv4 frame, else None."""
    if len(frame) < 34 or int.from_bytes(frame[12:14], "big") != ETHERTYPE_IPV4:
        return None
    version_ihl, _, total, _, _, _, proto, _, src, dst = IPV4_HEADER.unpack_from(frame, 14)
    header_len = (version_ihl & 0x0F) * 4
    return proto, src, dst, frame[14 + header_len : 14 + total]


def _tcp(frame: bytes) -> tuple[int, int, int, int, bytes] | None:
    """(sport, dport, seq, flags, payload) of an Ethernet/IPv4/TCP frame, else None."""
    parsed = _ipv4(frame)
    if parsed is None or parsed[0] != PROTO_TCP:
        return None
    segment = parsed[3]
    sport, dport, seq, _, offset, flags = TCP_HEADER.unpack_from(segment)
    return sport, dport, seq, flags, segment[(offset >> 4) * 4 :]


def _server_fin(packets: list[RawPacket]) -> bool:
    return any(
        (seg := _tcp(packet[2])) is not None and seg[0] == HTTP_PORT and seg[3] & TCP_FIN
        for packet in packets
    )


def _has_port(packets: list[RawPacket], port: int) -> bool:
    return any(
        (seg := _tcp(packet[2])) is not None and port in (seg[0], seg[1]) for packet in packets
    )


def _icmp_types(packets: list[RawPacket]) -> set[int]:
    return {
        parsed[3][0]
        for packet in packets
        if (parsed := _ipv4(packet[2])) is not None and parsed[0] == PROTO_ICMP and parsed[3]
    }


def test_http_download_is_captured_whole(web: VethNamespace) -> None:
    """Server-to-client TCP payload, concatenated in sequence order, is the HTTP response."""
    with LiveCapture(web.host_if, timeout_ms=20, iface_id=3) as capture:
        before_ns = time.time_ns()
        assert _fetch(web) == FILE_BODY
        packets = _drain(capture, _server_fin)
        after_ns = time.time_ns()
    assert _server_fin(packets)
    segments: dict[int, bytes] = {}
    for _ts, _linktype, data, _wirelen, _iface in packets:
        seg = _tcp(data)
        if seg is not None and seg[0] == HTTP_PORT and seg[4]:
            segments[seg[2]] = seg[4]
    response = b"".join(segments[seq] for seq in sorted(segments))
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200 OK\r\n")
    assert f"Content-Length: {len(FILE_BODY)}".encode() in head.split(b"\r\n")
    assert body == FILE_BODY
    first = packets[0]
    assert (first[1], first[4], type(first[2])) == (LINKTYPE_ETHERNET, 3, bytes)
    assert all(len(p[2]) == p[3] for p in packets)
    assert all(before_ns - 1_000_000 <= p[0] <= after_ns and p[0] % 1000 == 0 for p in packets)


def test_filter_excludes_http_but_keeps_ping(web: VethNamespace) -> None:
    """With 'not tcp port 8000' the download is invisible while echo request/reply pass."""
    with LiveCapture(web.host_if, timeout_ms=20, bpf_filter=f"not tcp port {HTTP_PORT}") as cap:
        assert _fetch(web) == FILE_BODY
        _ping(web.inner_addr)
        packets = _drain(cap, lambda got: {0, 8} <= _icmp_types(got))
    assert _icmp_types(packets) == {ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY}
    assert not _has_port(packets, HTTP_PORT)


def test_set_filter_swaps_program_and_rejects_bad_expression(web: VethNamespace) -> None:
    """set_filter takes effect on the running handle; a bad expression keeps the old one."""
    with LiveCapture(web.host_if, timeout_ms=20, bpf_filter="icmp") as capture:
        assert _fetch(web) == FILE_BODY
        assert not _has_port(_drain(capture, lambda _got: False, 0.15), HTTP_PORT)
        capture.set_filter(f"tcp port {HTTP_PORT}")
        with pytest.raises(CaptureError, match=r"^bad filter 'tcp port' on wsh\d+: can't parse"):
            capture.set_filter("tcp port")
        assert capture.bpf_filter == f"tcp port {HTTP_PORT}"
        _ping(web.inner_addr, count=1)
        assert _fetch(web) == FILE_BODY
        packets = _drain(capture, _server_fin)
    assert _server_fin(packets)
    assert _icmp_types(packets) == set()


def test_stats_count_received_packets(web: VethNamespace) -> None:
    """pcap_stats 'received' grows by at least the packets read; nothing is dropped."""
    with LiveCapture(web.host_if, timeout_ms=20) as capture:
        assert capture.stats() == CaptureStats(0, 0, 0)
        assert _fetch(web) == FILE_BODY
        packets = _drain(capture, _server_fin)
        stats = capture.stats()
    assert stats.received >= len(packets) > 0
    assert (stats.kernel_dropped, stats.interface_dropped) == (0, 0)


def test_read_batch_is_empty_when_idle_and_respects_max(web: VethNamespace) -> None:
    """read_batch returns [] at once when nothing waits, and at most max_packets."""
    with LiveCapture(web.host_if, timeout_ms=20, bpf_filter="tcp") as capture:
        started = time.monotonic()
        assert capture.read_batch() == []
        assert time.monotonic() - started < 0.05
        assert _fetch(web) == FILE_BODY
        time.sleep(0.1)
        assert len(capture.read_batch(max_packets=2)) == 2


def test_list_interfaces_shows_the_veth_up(web: VethNamespace) -> None:
    """The host veth is listed up, not loopback, Ethernet, with its address; lo is loopback."""
    infos = {info.name: info for info in list_interfaces()}
    veth = infos[web.host_if]
    assert (veth.up, veth.loopback, veth.linktype) == (True, False, LINKTYPE_ETHERNET)
    assert web.host_addr in veth.addresses
    assert infos["lo"].loopback is True
    assert web.host_if in default_capture_interfaces(list(infos.values()))


def test_default_capture_interfaces_skips_pseudo_down_and_loopback() -> None:
    """Only up, non-loopback, real devices are captured by default."""
    infos = [
        InterfaceInfo("lo", "", True, True, True, ("127.0.0.1",), 1),
        InterfaceInfo("any", "Pseudo-device", True, True, False, (), None),
        InterfaceInfo("nflog", "", True, True, False, (), None),
        InterfaceInfo("bluetooth-monitor", "", True, True, False, (), None),
        InterfaceInfo("dbus-system", "", True, True, False, (), None),
        InterfaceInfo("usbmon0", "", True, True, False, (), None),
        InterfaceInfo("nosuchdev9", "", True, True, False, (), 1),
    ]
    real = [info for info in list_interfaces() if info.name == "lo"]
    assert default_capture_interfaces(infos + real) == []


def test_deleted_interface_raises_interface_gone(pair: VethNamespace) -> None:
    """Deleting the veth mid-capture makes read_batch raise InterfaceGone, without hanging."""
    with LiveCapture(pair.host_if, timeout_ms=20) as capture:
        assert capture.read_batch() == []
        pair.delete_host_if()
        started = time.monotonic()
        with pytest.raises(InterfaceGone, match=rf"^interface {pair.host_if} is "):
            _drain(capture, lambda _got: False, 1.0)
        assert time.monotonic() - started < 1.0


def test_interface_down_raises_interface_gone(pair: VethNamespace) -> None:
    """Taking the interface down mid-capture makes read_batch raise InterfaceGone."""
    with LiveCapture(pair.host_if, timeout_ms=20) as capture:
        assert capture.read_batch() == []
        pair.set_host_if_down()
        with pytest.raises(InterfaceGone, match=rf"^interface {pair.host_if} is down or gone"):
            _drain(capture, lambda _got: False, 1.0)


def test_open_unknown_interface_raises_one_line_error() -> None:
    """Opening a missing interface is a CaptureError naming it."""
    _require_netns()
    with pytest.raises(CaptureError, match=r"^cannot open interface nosuchdev9: No such device"):
        LiveCapture("nosuchdev9").open()


def test_open_with_bad_filter_raises() -> None:
    """A bad filter at open time is a CaptureError naming the interface."""
    _require_netns()
    with pytest.raises(CaptureError, match=r"^cannot open interface lo: can't parse filter"):
        LiveCapture("lo", bpf_filter="tcp port").open()


def test_check_filter_reports_libpcap_error() -> None:
    """check_filter returns None for a good expression and libpcap's text for a bad one."""
    assert check_filter("tcp port") == "can't parse filter expression: syntax error"
    assert check_filter("tcp port 80 and host 192.0.2.1") is None
    assert check_filter("ip", linktype=101) is None
    assert check_filter("ip", linktype=99999) == "unknown data link type 99999"


def test_offline_filter_matches_handmade_frames() -> None:
    """OfflineFilter applies a compiled program to Ethernet frames built by hand."""
    pair = ("192.0.2.1", "192.0.2.9")
    http = ether(ipv4(*pair, PROTO_TCP, tcp(40000, 80, 1, 0, "S", ip_pair=pair)))
    dns = ether(ipv4(*pair, 17, udp(40000, 53, b"\x00" * 12, ip_pair=pair)))
    only_http = OfflineFilter("tcp dst port 80", LINKTYPE_ETHERNET, 262144)
    assert (only_http.matches(http, len(http)), only_http.matches(dns, len(dns))) == (True, False)
    raw_ip = OfflineFilter("udp port 53", 101, 262144)
    assert raw_ip.matches(dns[14:], len(dns) - 14) is True
    assert raw_ip.matches(http[14:], len(http) - 14) is False
    with pytest.raises(CaptureError, match=r"^bad filter 'port': can't parse"):
        OfflineFilter("port", LINKTYPE_ETHERNET, 262144)


def test_closed_capture_refuses_reads() -> None:
    """read_batch and stats on a capture that is not open raise CaptureError."""
    capture = LiveCapture("lo")
    with pytest.raises(CaptureError, match="is not open"):
        capture.read_batch()
    with pytest.raises(CaptureError, match="is not open"):
        capture.stats()
    capture.close()
