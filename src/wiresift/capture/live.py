"""Live capture on network interfaces through libpcap (the cypcap binding), and BPF filters.

libpcap documents the calls used here in pcap(3PCAP): a handle is made with pcap_create,
configured (snapshot length, promiscuous mode, buffer size, packet buffer timeout, immediate
mode, time stamp precision), activated, then switched to non-blocking mode so that
``read_batch`` never waits: the caller waits on ``fileno()`` with select/poll instead.
Filters are BPF programs compiled by pcap_compile (pcap-filter(7)).

Timestamps: cypcap 0.6.3 hands each packet header's time over as a float built as
``tv_sec + tv_usec / 1e6``. At nanosecond precision libpcap stores nanoseconds in ``tv_usec``,
which that float cannot carry without ambiguity, so the handle is opened at microsecond
precision and the exact microseconds are recovered from the float (its rounding error,
below 0.12 us until the year 2038 and below 0.24 us until 2242, is far under half a
microsecond). Live timestamps are therefore integer nanoseconds in steps of 1000.

Interface loss: libpcap reports a deleted interface as an error from pcap_dispatch, but an
interface taken down only stops delivering packets. ``read_batch`` therefore checks the
interface's IFF_UP flag in /sys whenever a read returns nothing, so both cases raise
``InterfaceGone`` instead of leaving the caller waiting forever.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import cypcap  # type: ignore[import-untyped]

from wiresift.capture.base import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IEEE802_11_RADIOTAP,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    LINKTYPE_RAW_BSD14,
    CaptureError,
    RawPacket,
)

__all__ = [
    "CaptureStats",
    "InterfaceGone",
    "InterfaceInfo",
    "LiveCapture",
    "OfflineFilter",
    "check_filter",
    "default_capture_interfaces",
    "list_interfaces",
]

DEFAULT_SNAPLEN: Final = 262144
DEFAULT_BUFFER_SIZE: Final = 16 * 1024 * 1024
DEFAULT_TIMEOUT_MS: Final = 100
DEFAULT_BATCH: Final = 512
NS_PER_S: Final = 1_000_000_000
NS_PER_US: Final = 1000
US_PER_S: Final = 1_000_000
# Spacing of live timestamps in nanoseconds (microsecond precision, see the module docstring).
TIMESTAMP_STEP_NS: Final = NS_PER_US

SYS_CLASS_NET: Final = "/sys/class/net"
# Bits of /sys/class/net/<name>/flags (linux/if.h, net_device_flags).
IFF_UP: Final = 0x1
IFF_LOOPBACK: Final = 0x8
IFF_RUNNING: Final = 0x40
# pcap_findalldevs flags (pcap/pcap.h PCAP_IF_*).
PCAP_IF_LOOPBACK: Final = 0x1
PCAP_IF_UP: Final = 0x2
PCAP_IF_RUNNING: Final = 0x4

# Names libpcap lists that are not network devices (pcap_findalldevs on Linux: the "any"
# pseudo-device, Bluetooth and D-Bus monitors, netfilter log/queue, USB monitors).
PSEUDO_DEVICE_NAMES: Final = frozenset({"any", "nflog", "nfqueue"})
PSEUDO_DEVICE_PREFIXES: Final = ("bluetooth", "dbus", "usbmon")

# ARPHRD_* (linux/if_arp.h) to LINKTYPE_*, as libpcap's pcap-linux.c maps them for the
# device types a sensor meets; anything else is left unknown until the handle is open.
ARPHRD_ETHER: Final = 1
ARPHRD_PPP: Final = 512
ARPHRD_TUNNEL: Final = 768
ARPHRD_LOOPBACK: Final = 772
ARPHRD_SIT: Final = 776
ARPHRD_IEEE80211_RADIOTAP: Final = 803
ARPHRD_NONE: Final = 0xFFFE
LINKTYPE_BY_ARPHRD: Final[dict[int, int]] = {
    ARPHRD_ETHER: LINKTYPE_ETHERNET,
    ARPHRD_LOOPBACK: LINKTYPE_ETHERNET,
    ARPHRD_PPP: LINKTYPE_LINUX_SLL,
    ARPHRD_TUNNEL: LINKTYPE_RAW,
    ARPHRD_SIT: LINKTYPE_RAW,
    ARPHRD_NONE: LINKTYPE_RAW,
    ARPHRD_IEEE80211_RADIOTAP: LINKTYPE_IEEE802_11_RADIOTAP,
}

# Where libpcap's DLT_* number differs from the LINKTYPE_* number written in files
# (tcpdump.org/linktypes.html; on Linux DLT_RAW is 12). Every other value is the same.
DLT_TO_LINKTYPE: Final[dict[int, int]] = {11: 100, 12: LINKTYPE_RAW, 15: 102, 16: 103, 19: 106}
LINKTYPE_TO_DLT: Final[dict[int, int]] = {
    **{linktype: dlt for dlt, linktype in DLT_TO_LINKTYPE.items()},
    LINKTYPE_RAW_BSD14: 12,  # OpenBSD writes raw IP as 14
}

# pcap_dispatch/pcap_activate status codes meaning the device is absent or down.
_GONE_CODES: Final = frozenset({-5, -9})  # PCAP_ERROR_NO_SUCH_DEVICE, PCAP_ERROR_IFACE_NOT_UP
_GONE_WORDS: Final = ("disappeared", "went down", "no such device", "not up")


class InterfaceGone(CaptureError):  # noqa: N818 - the service API names it so
    """The interface being captured was deleted or taken down."""


@dataclass(frozen=True, slots=True)
class InterfaceInfo:
    """One capture device as pcap_findalldevs lists it, with its state."""

    name: str
    description: str
    up: bool
    running: bool
    loopback: bool
    addresses: tuple[str, ...]
    linktype: int | None


@dataclass(frozen=True, slots=True)
class CaptureStats:
    """pcap_stats counters since the handle was activated (pcap_stats(3PCAP))."""

    received: int
    kernel_dropped: int
    interface_dropped: int


# --------------------------------------------------------------------------------------------
# /sys/class/net helpers (Linux; absent elsewhere, where they answer None)


def _read_sys(name: str, leaf: str) -> str | None:
    try:
        with open(os.path.join(SYS_CLASS_NET, name, leaf), encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, ValueError):
        return None


def _sys_int(name: str, leaf: str) -> int | None:
    text = _read_sys(name, leaf)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _is_net_device(name: str) -> bool:
    return os.path.isdir(os.path.join(SYS_CLASS_NET, name))


# --------------------------------------------------------------------------------------------
# Interfaces


def _address_text(address: object) -> str | None:
    """Format a socket-style address tuple from cypcap as text (IPv4/IPv6 only)."""
    if not isinstance(address, tuple) or len(address) != 2:
        return None
    family, sockaddr = address
    if int(family) not in (2, 10) or not isinstance(sockaddr, tuple) or not sockaddr:
        return None  # AF_INET = 2, AF_INET6 = 10; AF_PACKET carries the MAC, not shown
    host = sockaddr[0]
    return host if isinstance(host, str) else None


def _hardware_type(name: str, addresses: Iterable[object]) -> int | None:
    for entry in addresses:
        address = getattr(entry, "addr", None)
        if isinstance(address, tuple) and len(address) == 2:
            family, sockaddr = address
            # AF_PACKET = 17: (ifname, proto, pkttype, hatype, hwaddr), see packet(7).
            if int(family) == 17 and isinstance(sockaddr, tuple) and len(sockaddr) >= 4:
                return int(sockaddr[3])
    return _sys_int(name, "type")


def list_interfaces() -> list[InterfaceInfo]:
    """List capture devices (pcap_findalldevs), with up/running/loopback state.

    State comes from libpcap's PCAP_IF_* flags, and from /sys/class/net/<name>/flags and
    operstate when libpcap does not say.
    """
    try:
        devices = cypcap.findalldevs()
    except cypcap.Error as exc:
        raise CaptureError(f"cannot list interfaces: {_message(exc)}") from None
    infos: list[InterfaceInfo] = []
    for device in devices:
        name = str(device.name)
        pcap_flags = int(device.flags)
        sys_flags = _sys_int(name, "flags") or 0
        addresses = tuple(
            text
            for entry in device.addresses
            if (text := _address_text(getattr(entry, "addr", None))) is not None
        )
        hatype = _hardware_type(name, device.addresses)
        infos.append(
            InterfaceInfo(
                name=name,
                description=str(device.description or ""),
                up=bool(pcap_flags & PCAP_IF_UP or sys_flags & IFF_UP),
                running=bool(
                    pcap_flags & PCAP_IF_RUNNING
                    or sys_flags & IFF_RUNNING
                    or _read_sys(name, "operstate") == "up"
                ),
                loopback=bool(pcap_flags & PCAP_IF_LOOPBACK or sys_flags & IFF_LOOPBACK),
                addresses=addresses,
                linktype=None if hatype is None else LINKTYPE_BY_ARPHRD.get(hatype),
            )
        )
    return infos


def _is_pseudo_device(name: str) -> bool:
    return name in PSEUDO_DEVICE_NAMES or name.startswith(PSEUDO_DEVICE_PREFIXES)


def default_capture_interfaces(infos: Iterable[InterfaceInfo]) -> list[str]:
    """Names of every up, non-loopback, real network device, in the order given."""
    have_sysfs = os.path.isdir(SYS_CLASS_NET)
    return [
        info.name
        for info in infos
        if info.up
        and not info.loopback
        and not _is_pseudo_device(info.name)
        and (not have_sysfs or _is_net_device(info.name))
    ]


# --------------------------------------------------------------------------------------------
# Filters


def _message(exc: BaseException) -> str:
    """libpcap's error text from a cypcap.Error, on one line."""
    text = getattr(exc, "msg", None)
    if not isinstance(text, str) or not text:
        text = str(exc)
    return " ".join(text.split())


def _compile(expr: str, linktype: int, snaplen: int) -> Any:  # a cypcap.BpfProgram
    dead = cypcap.open_dead(LINKTYPE_TO_DLT.get(linktype, linktype), snaplen)
    try:
        return dead.compile(expr, True, cypcap.NETMASK_UNKNOWN)
    finally:
        dead.close()


def check_filter(
    expr: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN
) -> str | None:
    """Compile ``expr`` for ``linktype`` without an interface; None if valid, else the error."""
    try:
        _compile(expr, linktype, snaplen)
    except cypcap.Error as exc:
        return _message(exc)
    except ValueError as exc:  # an unknown linktype number
        return str(exc)
    return None


class OfflineFilter:
    """A BPF program compiled once, applied to packets read from files (pcap_offline_filter)."""

    def __init__(
        self, expr: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = DEFAULT_SNAPLEN
    ) -> None:
        self.expr: Final = expr
        self.linktype: Final = linktype
        try:
            self._program = _compile(expr, linktype, snaplen)
        except (cypcap.Error, ValueError) as exc:
            raise CaptureError(f"bad filter {expr!r}: {_message(exc)}") from None
        self._offline_filter: Callable[[object, bytes], object] = self._program.offline_filter
        self._header_type: Callable[[float, int, int], object] = cypcap.Pkthdr

    def matches(self, data: bytes, wirelen: int) -> bool:
        """True if the packet passes the filter (the BPF program returns a non-zero length)."""
        header = self._header_type(0.0, len(data), wirelen)
        return bool(self._offline_filter(header, data))


# --------------------------------------------------------------------------------------------
# Live capture


class LiveCapture:
    """A non-blocking libpcap handle on one interface, read in batches.

    Use: ``open()``, then wait for ``fileno()`` to be readable and call ``read_batch()``
    until it returns ``[]``. ``iface_id`` is the number written into each RawPacket's
    ``iface`` field (the interface index within the source, as pcapng numbers them).
    """

    def __init__(
        self,
        name: str,
        *,
        snaplen: int = DEFAULT_SNAPLEN,
        promiscuous: bool = True,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        bpf_filter: str = "",
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        nanosecond: bool = True,
        iface_id: int = 0,
    ) -> None:
        self.name: Final = name
        self.snaplen: Final = snaplen
        self.promiscuous: Final = promiscuous
        self.buffer_size: Final = buffer_size
        self.timeout_ms: Final = timeout_ms
        # Asked for, but see the module docstring: cypcap delivers microseconds.
        self.nanosecond: Final = nanosecond
        self.iface_id: Final = iface_id
        self.bpf_filter = bpf_filter
        self.linktype = LINKTYPE_ETHERNET
        self._pcap: object | None = None
        self._dispatch: Callable[[int, Callable[[object, bytes], None]], object] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> None:
        """Create, configure and activate the handle; raise CaptureError (one line) on failure."""
        if self._pcap is not None:
            return
        try:
            pcap = cypcap.create(self.name)
        except cypcap.Error as exc:
            raise self._error("cannot open interface", exc) from None
        try:
            pcap.set_snaplen(self.snaplen)
            pcap.set_promisc(self.promiscuous)
            pcap.set_buffer_size(self.buffer_size)
            pcap.set_timeout(self.timeout_ms / 1000)
            pcap.set_immediate_mode(False)
            pcap.set_tstamp_precision(cypcap.TstampPrecision.MICRO)
            pcap.activate()
            pcap.setnonblock(True)
            dlt = int(pcap.datalink())
            self.linktype = DLT_TO_LINKTYPE.get(dlt, dlt)
            if self.bpf_filter:
                pcap.setfilter(self.bpf_filter)
        except (cypcap.Error, ValueError, OverflowError) as exc:
            pcap.close()
            raise self._error("cannot open interface", exc) from None
        self._pcap = pcap
        self._dispatch = pcap.dispatch

    def close(self) -> None:
        """Release the handle; safe to call twice."""
        pcap, self._pcap, self._dispatch = self._pcap, None, None
        if pcap is not None:
            pcap.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def fileno(self) -> int:
        """A descriptor that select/poll reports readable when packets (or an error) wait."""
        return int(self._handle().get_selectable_fd())  # type: ignore[attr-defined]

    def read_batch(self, max_packets: int = DEFAULT_BATCH) -> list[RawPacket]:
        """Up to ``max_packets`` packets ready now; [] if none. Never blocks.

        Raises InterfaceGone when the interface was deleted or is down, CaptureError on
        any other libpcap failure.
        """
        dispatch = self._dispatch
        if dispatch is None:
            raise CaptureError(f"capture on {self.name} is not open")
        batch: list[RawPacket] = []
        append = batch.append
        linktype = self.linktype
        iface = self.iface_id

        # pcap_dispatch callback: the per-packet hot path (see docs/performance.md).
        def on_packet(header: object, data: bytes) -> None:
            stamp = header.ts  # type: ignore[attr-defined]
            seconds = int(stamp)
            micros = round((stamp - seconds) * US_PER_S)
            append(
                (
                    seconds * NS_PER_S + micros * NS_PER_US,
                    linktype,
                    data,
                    header.len,  # type: ignore[attr-defined]
                    iface,
                )
            )

        try:
            dispatch(max_packets, on_packet)
        except cypcap.Error as exc:
            raise self._error("capture failed on interface", exc) from None
        if not batch and not self._interface_up():
            raise InterfaceGone(f"interface {self.name} is down or gone")
        return batch

    def set_filter(self, expr: str) -> None:
        """Replace the BPF program; a bad expression raises CaptureError and keeps the old one."""
        pcap = self._handle()
        try:
            # pcap_compile runs before pcap_setfilter, so a syntax error leaves the old program.
            pcap.setfilter(expr)  # type: ignore[attr-defined]
        except cypcap.Error as exc:
            raise CaptureError(f"bad filter {expr!r} on {self.name}: {_message(exc)}") from None
        self.bpf_filter = expr

    def stats(self) -> CaptureStats:
        """pcap_stats: packets received, dropped by the kernel, dropped by the interface."""
        try:
            stat = self._handle().stats()  # type: ignore[attr-defined]
        except cypcap.Error as exc:
            raise self._error("cannot read statistics of interface", exc) from None
        return CaptureStats(
            received=int(stat.recv),
            kernel_dropped=int(stat.drop),
            interface_dropped=int(stat.ifdrop),
        )

    # -- internals ---------------------------------------------------------------------------

    def _handle(self) -> object:
        if self._pcap is None:
            raise CaptureError(f"capture on {self.name} is not open")
        return self._pcap

    def _interface_up(self) -> bool:
        """False only when /sys says the interface is absent or lacks IFF_UP."""
        if not os.path.isdir(SYS_CLASS_NET):
            return True
        flags = _sys_int(self.name, "flags")
        return flags is not None and bool(flags & IFF_UP)

    def _error(self, action: str, exc: BaseException) -> CaptureError:
        message = _message(exc)
        code = getattr(exc, "code", None)
        gone = (isinstance(code, int) and code in _GONE_CODES) or any(
            word in message.lower() for word in _GONE_WORDS
        )
        if gone and self._pcap is not None:
            return InterfaceGone(f"interface {self.name} is gone: {message}")
        if self._pcap is not None and not self._interface_up():
            return InterfaceGone(f"interface {self.name} is down or gone: {message}")
        return CaptureError(f"{action} {self.name}: {message}")
