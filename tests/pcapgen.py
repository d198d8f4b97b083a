"""Tiny deterministic writer for test captures (pcap, pcapng) and packet builders.

Everything here is test tooling: no randomness, no clock. Formats:

- pcap: https://www.tcpdump.org/manpages/pcap-savefile.5.html (magic a1b2c3d4 for
  microseconds, a1b23c4d for nanoseconds).
- pcapng: draft-ietf-opsawg-pcapng s4 (SHB 4.1, IDB 4.2, EPB 4.3, SPB 4.4, obsolete
  Packet Block in appendix A).
- Ethernet II with 802.1Q / 802.1ad tags, IPv4 (RFC 791), IPv6 (RFC 8200), TCP (RFC 9293),
  UDP (RFC 768).

Typical use::

    session = TcpSession()
    session.handshake()
    session.send(True, b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    session.send(False, b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
    session.fin(True)
    session.fin(False)
    session.write_pcap(tmp_path / "input.pcap")
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterable, Sequence
from typing import BinaryIO, Final

# --------------------------------------------------------------------------------------------
# pcap

PCAP_MAGIC_US: Final = 0xA1B2C3D4
PCAP_MAGIC_NS: Final = 0xA1B23C4D
NS_PER_S: Final = 1_000_000_000


def _endian(big_endian: bool) -> str:
    return ">" if big_endian else "<"


class PcapWriter:
    """Write a classic pcap file: a 24-byte global header, then one record per packet."""

    def __init__(
        self,
        fileobj: BinaryIO,
        linktype: int = 1,
        nanosecond: bool = False,
        big_endian: bool = False,
        snaplen: int = 262144,
    ) -> None:
        self._file = fileobj
        self._nanosecond = nanosecond
        self._record = struct.Struct(_endian(big_endian) + "IIII")
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        header = struct.pack(_endian(big_endian) + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
        fileobj.write(header)

    def write(self, ts_ns: int, data: bytes, wirelen: int | None = None) -> None:
        """Append one record; ``wirelen`` defaults to ``len(data)``. Sub-unit time is dropped."""
        seconds, rest = divmod(ts_ns, NS_PER_S)
        fraction = rest if self._nanosecond else rest // 1000
        length = len(data) if wirelen is None else wirelen
        self._file.write(self._record.pack(seconds, fraction, len(data), length))
        self._file.write(data)

    def write_raw(self, data: bytes) -> None:
        """Append raw bytes (for building damaged files)."""
        self._file.write(data)


# --------------------------------------------------------------------------------------------
# pcapng

BLOCK_SHB: Final = 0x0A0D0D0A
BLOCK_IDB: Final = 0x00000001
BLOCK_OBSOLETE_PB: Final = 0x00000002
BLOCK_SPB: Final = 0x00000003
BLOCK_NRB: Final = 0x00000004
BLOCK_ISB: Final = 0x00000005
BLOCK_EPB: Final = 0x00000006
BYTE_ORDER_MAGIC: Final = 0x1A2B3C4D
OPT_ENDOFOPT: Final = 0
OPT_IF_TSRESOL: Final = 9
OPT_IF_TSOFFSET: Final = 14


def _pad4(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)


def ticks_per_second(tsresol: int) -> int:
    """Timestamp units per second for a raw if_tsresol byte (pcapng s4.2)."""
    if tsresol & 0x80:
        return 1 << (tsresol & 0x7F)
    return int(10 ** (tsresol & 0x7F))


class PcapngWriter:
    """Write a pcapng file; the first Section Header Block is written on construction.

    Interfaces are numbered per section, as the format does; ``new_section`` starts a new
    section (optionally in the other byte order) and forgets the interfaces.
    """

    def __init__(self, fileobj: BinaryIO, big_endian: bool = False) -> None:
        self._file = fileobj
        self._order = "<"
        # Per interface of the current section: (ticks per second, tsoffset seconds).
        self._interfaces: list[tuple[int, int]] = []
        self.new_section(big_endian)

    def _block(self, block_type: int, body: bytes) -> None:
        body = _pad4(body)
        total = len(body) + 12
        self._file.write(struct.pack(self._order + "II", block_type, total))
        self._file.write(body)
        self._file.write(struct.pack(self._order + "I", total))

    def _option(self, code: int, value: bytes) -> bytes:
        return struct.pack(self._order + "HH", code, len(value)) + _pad4(value)

    def new_section(self, big_endian: bool = False) -> None:
        """Write a Section Header Block (version 1.0, unknown section length)."""
        self._order = _endian(big_endian)
        self._interfaces = []
        body = struct.pack(self._order + "IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)
        self._block(BLOCK_SHB, body)

    def add_interface(
        self, linktype: int = 1, tsresol: int = 6, tsoffset: int = 0, snaplen: int = 262144
    ) -> int:
        """Write an IDB; return its interface id within the section.

        ``tsresol`` is the raw if_tsresol byte: 0..127 is a power of ten (6 = microseconds,
        the default, written as no option), 0x80 | n is 2**-n seconds. ``tsoffset`` is
        whole seconds added to every timestamp (if_tsoffset).
        """
        options = b""
        if tsresol != 6:
            options += self._option(OPT_IF_TSRESOL, bytes([tsresol]))
        if tsoffset:
            options += self._option(OPT_IF_TSOFFSET, struct.pack(self._order + "q", tsoffset))
        if options:
            options += self._option(OPT_ENDOFOPT, b"")
        body = struct.pack(self._order + "HHI", linktype, 0, snaplen) + options
        self._block(BLOCK_IDB, body)
        self._interfaces.append((ticks_per_second(tsresol), tsoffset))
        return len(self._interfaces) - 1

    def ticks(self, iface: int, ts_ns: int) -> int:
        """Timestamp units that interface ``iface`` would write for ``ts_ns`` (rounded down)."""
        per_second, offset = self._interfaces[iface]
        return (ts_ns - offset * NS_PER_S) * per_second // NS_PER_S

    def write_epb(
        self,
        iface: int,
        ts_ns: int,
        data: bytes,
        wirelen: int | None = None,
        *,
        ticks: int | None = None,
    ) -> None:
        """Write an Enhanced Packet Block; ``ticks`` overrides the raw timestamp."""
        units = self.ticks(iface, ts_ns) if ticks is None else ticks
        length = len(data) if wirelen is None else wirelen
        head = struct.pack(
            self._order + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), length
        )
        self._block(BLOCK_EPB, head + _pad4(data))

    def write_spb(self, data: bytes, wirelen: int | None = None) -> None:
        """Write a Simple Packet Block (interface 0, no timestamp)."""
        length = len(data) if wirelen is None else wirelen
        self._block(BLOCK_SPB, struct.pack(self._order + "I", length) + _pad4(data))

    def write_obsolete_pb(
        self, iface: int, ts_ns: int, data: bytes, wirelen: int | None = None
    ) -> None:
        """Write an obsolete Packet Block (type 2): 16-bit interface id and drops count."""
        units = self.ticks(iface, ts_ns)
        length = len(data) if wirelen is None else wirelen
        head = struct.pack(
            self._order + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(data), length
        )
        self._block(BLOCK_OBSOLETE_PB, head + _pad4(data))

    def write_unknown_block(self, block_type: int, body: bytes) -> None:
        """Write any block (NRB, ISB, custom, unknown) with the given body, padded to 4."""
        self._block(block_type, body)

    def write_raw(self, data: bytes) -> None:
        """Append raw bytes (for building damaged files)."""
        self._file.write(data)


# --------------------------------------------------------------------------------------------
# packet builders

ETHERTYPE_IPV4: Final = 0x0800
ETHERTYPE_IPV6: Final = 0x86DD
TPID_8021Q: Final = 0x8100
TPID_8021AD: Final = 0x88A8
PROTO_TCP: Final = 6
PROTO_UDP: Final = 17
CLIENT_MAC: Final = bytes.fromhex("020000000001")
SERVER_MAC: Final = bytes.fromhex("020000000002")

FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20


def checksum16(data: bytes) -> int:
    """Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def vlan(tag: int, ethertype: int, pcp: int = 0) -> bytes:
    """The 4 bytes after a VLAN TPID (IEEE 802.1Q): TCI, then the next EtherType.

    ``ether(vlan(100, 0x0800) + ip, ethertype=0x8100)`` is the same frame as
    ``ether(ip, vlans=[100])``.
    """
    return struct.pack("!HH", (pcp << 13) | (tag & 0x0FFF), ethertype)


def ether(
    payload: bytes,
    ethertype: int = ETHERTYPE_IPV4,
    src: bytes = CLIENT_MAC,
    dst: bytes = SERVER_MAC,
    *,
    vlans: Sequence[int] = (),
    outer_tpid: int = TPID_8021Q,
) -> bytes:
    """Ethernet II frame (no FCS). ``vlans`` lists VLAN ids outermost first; the outermost
    tag uses ``outer_tpid`` (0x88a8 for 802.1ad QinQ), inner tags 0x8100."""
    tags = b""
    for index, tag in enumerate(vlans):
        tpid = outer_tpid if index == 0 else TPID_8021Q
        tags += struct.pack("!HH", tpid, tag & 0x0FFF)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    payload: bytes,
    ttl: int = 64,
    *,
    ident: int = 0,
    flags: int = 0,
    frag_offset: int = 0,
    options: bytes = b"",
) -> bytes:
    """IPv4 packet with a correct header checksum (RFC 791 s3.1).

    ``flags`` is the 3-bit field (2 = DF, 1 = MF); ``frag_offset`` is in BYTES and must be a
    multiple of 8. ``options`` is padded with zeros (EOL) to a multiple of 4.
    """
    if frag_offset % 8:
        raise ValueError("frag_offset is in bytes and must be a multiple of 8")
    options = _pad4(options)
    ihl = 5 + len(options) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + len(payload),
        ident,
        (flags << 13) | (frag_offset // 8),
        ttl,
        proto,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    header += options
    checksum = checksum16(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + payload


def ipv6(
    src: str,
    dst: str,
    next_header: int,
    payload: bytes,
    ext_headers: bytes = b"",
    *,
    hop_limit: int = 64,
    flow_label: int = 0,
) -> bytes:
    """IPv6 packet (RFC 8200 s3). With ``ext_headers``, ``next_header`` is the type of the
    first extension header (build them with ``ipv6_ext`` / ``ipv6_fragment``)."""
    header = struct.pack(
        "!IHBB16s16s",
        (6 << 28) | (flow_label & 0xFFFFF),
        len(ext_headers) + len(payload),
        next_header,
        hop_limit,
        ipaddress.IPv6Address(src).packed,
        ipaddress.IPv6Address(dst).packed,
    )
    return header + ext_headers + payload


def ipv6_ext(next_header: int, body: bytes = b"") -> bytes:
    """Hop-by-hop / routing / destination-options header (RFC 8200 s4.3): ``body`` follows
    the two fixed bytes and is padded with zeros (Pad1/PadN-compatible) to a multiple of 8."""
    data = bytes([next_header, 0]) + body
    data += b"\x00" * (-len(data) % 8)
    return bytes([next_header, len(data) // 8 - 1]) + data[2:]


def ipv6_fragment(next_header: int, offset: int, more: bool, ident: int) -> bytes:
    """Fragment header (RFC 8200 s4.5); ``offset`` in bytes, a multiple of 8."""
    if offset % 8:
        raise ValueError("offset is in bytes and must be a multiple of 8")
    return struct.pack("!BBHI", next_header, 0, offset | int(more), ident)


def _pseudo_header(ip_pair: tuple[str, str], proto: int, length: int) -> bytes:
    src = ipaddress.ip_address(ip_pair[0]).packed
    dst = ipaddress.ip_address(ip_pair[1]).packed
    if len(src) == 4:
        return src + dst + struct.pack("!BBH", 0, proto, length)
    return src + dst + struct.pack("!IxxxB", length, proto)


_FLAG_LETTERS: Final = {"F": FIN, "S": SYN, "R": RST, "P": PSH, "A": ACK, "U": URG}


def tcp(
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int | str,
    payload: bytes = b"",
    window: int = 65535,
    options: bytes = b"",
    *,
    ip_pair: tuple[str, str] | None = None,
) -> bytes:
    """TCP segment (RFC 9293 s3.1). ``flags`` is an int or letters such as ``"SA"``, ``"PA"``.

    The checksum is 0 unless ``ip_pair`` (source, destination address) is given.
    """
    if isinstance(flags, str):
        flags = sum(_FLAG_LETTERS[letter] for letter in set(flags))
    options = _pad4(options)
    offset = (20 + len(options)) // 4
    header = struct.pack(
        "!HHIIBBHHH",
        sport,
        dport,
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        offset << 4,
        flags,
        window,
        0,
        0,
    )
    segment = header + options + payload
    if ip_pair is not None:
        checksum = checksum16(_pseudo_header(ip_pair, PROTO_TCP, len(segment)) + segment)
        segment = segment[:16] + struct.pack("!H", checksum) + segment[18:]
    return segment


def udp(sport: int, dport: int, payload: bytes, ip_pair: tuple[str, str] | None = None) -> bytes:
    """UDP datagram (RFC 768); checksum 0 (none) unless ``ip_pair`` is given."""
    datagram = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if ip_pair is not None:
        checksum = checksum16(_pseudo_header(ip_pair, PROTO_UDP, len(datagram)) + datagram)
        datagram = datagram[:6] + struct.pack("!H", checksum or 0xFFFF) + datagram[8:]
    return datagram


def _is_ipv6(address: str) -> bool:
    return ":" in address


def ip_packet(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    """IPv4 or IPv6 packet, chosen by the address family."""
    if _is_ipv6(src):
        return ipv6(src, dst, proto, payload)
    return ipv4(src, dst, proto, payload, ident=ident)


def udp_datagram(
    src: tuple[str, int],
    dst: tuple[str, int],
    payload: bytes,
    vlans: Sequence[int] = (),
    outer_tpid: int = TPID_8021Q,
) -> bytes:
    """Ethernet frame carrying one UDP datagram over IPv4 or IPv6 (by address family)."""
    segment = udp(src[1], dst[1], payload, ip_pair=(src[0], dst[0]))
    packet = ip_packet(src[0], dst[0], PROTO_UDP, segment)
    ethertype = ETHERTYPE_IPV6 if _is_ipv6(src[0]) else ETHERTYPE_IPV4
    return ether(packet, ethertype, vlans=vlans, outer_tpid=outer_tpid)


# --------------------------------------------------------------------------------------------
# files

Frame = tuple[int, bytes]


def write_pcap(
    target: str | os.PathLike[str] | BinaryIO,
    frames: Iterable[Frame],
    linktype: int = 1,
    nanosecond: bool = False,
) -> None:
    """Write ``(ts_ns, frame)`` pairs to a pcap file (a path or an open binary file)."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as fileobj:
            write_pcap(fileobj, frames, linktype, nanosecond)
        return
    writer = PcapWriter(target, linktype=linktype, nanosecond=nanosecond)
    for ts_ns, data in frames:
        writer.write(ts_ns, data)


# --------------------------------------------------------------------------------------------
# TCP sessions

DEFAULT_START_NS: Final = 1_700_000_000 * NS_PER_S


class TcpSession:
    """Build one TCP connection as Ethernet frames in ``frames`` (a list of (ts_ns, bytes)).

    Offsets are relative data offsets per direction: offset 0 is the first payload byte
    (sequence number ISN + 1). Each emitted frame gets the next timestamp
    (``start_ns + n * step_ns``). To test retransmits, overlaps and out-of-order delivery,
    emit with ``segment`` (which does not advance the stream), reorder ``frames`` by hand,
    then call ``retime()`` if timestamps should follow the new order.
    """

    def __init__(
        self,
        client: tuple[str, int] | None = None,
        server: tuple[str, int] | None = None,
        *,
        ipv6: bool = False,
        vlans: Sequence[int] = (),
        isn_client: int = 1000,
        isn_server: int = 5000,
        start_ns: int = DEFAULT_START_NS,
        step_ns: int = 1000,
        outer_tpid: int = TPID_8021Q,
    ) -> None:
        if client is None:
            client = ("fd00::1", 40000) if ipv6 else ("10.0.0.1", 40000)
        if server is None:
            server = ("fd00::2", 80) if ipv6 else ("10.0.0.2", 80)
        self.client = client
        self.server = server
        self.ipv6 = _is_ipv6(client[0])
        self.vlans = tuple(vlans)
        self.outer_tpid = outer_tpid
        self.isn = {True: isn_client, False: isn_server}
        self.start_ns = start_ns
        self.step_ns = step_ns
        self.frames: list[Frame] = []
        # Relative data offset already sent, per direction (True = client to server).
        self.offset = {True: 0, False: 0}
        self.fin_sent = {True: False, False: False}
        self._ident = 0

    # -- sequence arithmetic ---------------------------------------------------------------

    def seq_at(self, from_client: bool, offset: int) -> int:
        """Sequence number of relative data ``offset`` in that direction."""
        return (self.isn[from_client] + 1 + offset) & 0xFFFFFFFF

    def next_seq(self, from_client: bool) -> int:
        """Sequence number the next new byte (or FIN) in that direction would carry."""
        return self.seq_at(from_client, self.offset[from_client] + int(self.fin_sent[from_client]))

    def _ack_for(self, from_client: bool) -> int:
        return self.next_seq(not from_client)

    # -- emission -----------------------------------------------------------------------------

    def emit(
        self, from_client: bool, seq: int, ack: int, flags: int, payload: bytes = b""
    ) -> Frame:
        """Append one segment with explicit sequence numbers; return the (ts_ns, frame) pair."""
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        segment = tcp(src[1], dst[1], seq, ack, flags, payload, ip_pair=(src[0], dst[0]))
        self._ident = (self._ident + 1) & 0xFFFF
        packet = ip_packet(src[0], dst[0], PROTO_TCP, segment, ident=self._ident)
        ethertype = ETHERTYPE_IPV6 if self.ipv6 else ETHERTYPE_IPV4
        macs = (CLIENT_MAC, SERVER_MAC) if from_client else (SERVER_MAC, CLIENT_MAC)
        frame = ether(
            packet,
            ethertype,
            src=macs[0],
            dst=macs[1],
            vlans=self.vlans,
            outer_tpid=self.outer_tpid,
        )
        item = (self.start_ns + len(self.frames) * self.step_ns, frame)
        self.frames.append(item)
        return item

    def handshake(self) -> None:
        """SYN, SYN/ACK, ACK."""
        self.emit(True, self.isn[True], 0, SYN)
        self.emit(False, self.isn[False], self.seq_at(True, 0), SYN | ACK)
        self.emit(True, self.seq_at(True, 0), self.seq_at(False, 0), ACK)

    def send(self, from_client: bool, data: bytes, segment_size: int | None = None) -> None:
        """Send ``data`` in order (PSH|ACK segments of at most ``segment_size`` bytes)."""
        size = segment_size or max(len(data), 1)
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            self.segment(from_client, self.offset[from_client], chunk)
            self.offset[from_client] += len(chunk)

    def segment(self, from_client: bool, offset: int, data: bytes, flags: int = PSH | ACK) -> Frame:
        """Emit ``data`` at relative ``offset`` without advancing the stream."""
        return self.emit(
            from_client, self.seq_at(from_client, offset), self._ack_for(from_client), flags, data
        )

    def ack(self, from_client: bool) -> Frame:
        """Emit a pure ACK of everything the peer has sent so far."""
        return self.emit(from_client, self.next_seq(from_client), self._ack_for(from_client), ACK)

    def skip(self, from_client: bool, n: int) -> None:
        """Advance the stream by ``n`` bytes without emitting them (a capture hole)."""
        self.offset[from_client] += n

    def fin(self, from_client: bool) -> Frame:
        """Emit FIN|ACK; the FIN consumes one sequence number."""
        item = self.emit(
            from_client, self.next_seq(from_client), self._ack_for(from_client), FIN | ACK
        )
        self.fin_sent[from_client] = True
        return item

    def rst(self, from_client: bool) -> Frame:
        """Emit RST|ACK."""
        return self.emit(
            from_client, self.next_seq(from_client), self._ack_for(from_client), RST | ACK
        )

    def retime(self) -> None:
        """Reassign timestamps in list order (after reordering ``frames``)."""
        self.frames = [
            (self.start_ns + index * self.step_ns, frame)
            for index, (_, frame) in enumerate(self.frames)
        ]

    def write_pcap(
        self, target: str | os.PathLike[str] | BinaryIO, nanosecond: bool = False
    ) -> None:
        """Write ``frames`` as an Ethernet pcap."""
        write_pcap(target, self.frames, nanosecond=nanosecond)
