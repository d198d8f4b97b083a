"""IP fragment reassembly (RFC 791 s3.2, RFC 815; IPv6: RFC 8200 s4.5, RFC 5722, RFC 6946).

Theory of operation: ``Walk.fragment`` hands every IPv4 or IPv6 fragment to
``FragmentReassembler.add``. A datagram is keyed by source, destination, protocol (IPv4
only: RFC 8200 s4.5 identifies an IPv6 datagram by addresses and identification, and takes
the next header from the offset-0 fragment), identification and the encapsulation the walk
has reached, so fragments inside a tunnel reassemble within that tunnel and two VLANs never
mix. The address length tells IPv4 from IPv6.

A datagram holds its data as sorted, non-overlapping pieces (RFC 815 keeps a hole list; the
pieces are its complement) and the number of bytes they cover, so "complete" is one
comparison: the last fragment (MF/M clear) gave the length and the pieces cover all of it.
The whole datagram then continues the walk from the header after the IP header (TCP, UDP, a
tunnel, or for IPv6 the extension headers of the fragmentable part), exactly as an
unfragmented packet would; the packet that completed it returns its ``Decoded``.

Overlaps. IPv4: first wins, as in the TCP reassembler: bytes already held are kept and the
overlapping part of a later fragment is dropped, so what was accepted never changes under
an attacker's retransmission (RFC 1858 s4, RFC 3128 overlap attacks); differing bytes are
an anomaly. IPv6: an overlap drops the whole datagram and every later fragment of it until
its timeout (RFC 5722 s4); exact duplicates are dropped silently (RFC 8200 s4.5). A
datagram whose fragments disagree about its length is dropped too (as Linux does). A
non-last fragment whose length is not a multiple of 8 is kept as it is (RFC 8200 s4.5 has
the receiver discard it; as a sensor we keep it and let the overlap rules decide).

Time comes from the packets. A datagram expires ``ipfrag_timeout_ns`` after its first
fragment (Linux ``ipfrag_time``). Datagrams live in an insertion-ordered dict, oldest
first, so expiry looks only at the head when a fragment arrives: no scan per packet.
Memory: fragment bytes plus a fixed overhead per fragment are charged against
``ipfrag_max_bytes``; past it, or past ``ipfrag_max_datagrams``, the oldest datagrams are
dropped; past ``ipfrag_max_fragments`` fragments one datagram is dropped. A flood therefore
churns the table without growing it.

Anomaly names: ipfrag_fragment_truncated, ipfrag_too_big,
ipfrag_tcp_offset_one, ipfrag_tiny_first, ipfrag_overlap_conflict, ipfrag_ipv6_overlap,
ipfrag_overrun, ipfrag_nested_fragment, ipfrag_timeout, ipfrag_memory_limit,
ipfrag_too_many, ipfrag_too_many_fragments. Counters: "fragment" (seen),
"ipfrag_reassembled", "ipfrag_dropped" (given up before completion), "ipfrag_timed_out".
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from typing import Final, TypeAlias

from wiresift.decode.ipv6 import EXTENSION_HEADERS, decode_ipv6_extensions
from wiresift.decode.packet import IPPROTO_TCP, IPPROTO_UDP
from wiresift.decode.walk import STOP, DecodeLimits, Layer, Walk

__all__ = ["FRAGMENT_OVERHEAD", "FragmentReassembler"]

# Bytes charged per held fragment on top of its data: a bytes object header (33), its list
# slots and start int, rounded up. Like Linux's truesize, it keeps a flood of tiny
# fragments from costing more than the byte limit says.
FRAGMENT_OVERHEAD: Final = 80

# Largest IPv6 payload (RFC 8200 s4.5: a fragment whose offset and length pass 65,535 is
# discarded). IPv4: the total length is 16 bits and the header takes at least 20 of them.
_IPV6_MAX_PAYLOAD: Final = 65535
_IPV4_MAX_PAYLOAD: Final = 65535 - 20
_TCP_MIN_HEADER: Final = 20
_TCP_DATA_OFFSET_AT: Final = 12
_UDP_HEADER: Final = 8
# RFC 1858 s4: a TCP fragment at offset 1 (8 bytes) can only rewrite the TCP header.
_TCP_OFFSET_ONE: Final = 8
_NO_PROTO: Final = -1
_IPV6_ADDRESS_LEN: Final = 16

# Results of _Datagram insertion.
_STORED: Final = 0  # new bytes held
_DUPLICATE: Final = 1  # nothing new, no difference: dropped silently
_CONFLICT: Final = 2  # IPv4: overlapping bytes differ; the first ones were kept
_OVERLAP: Final = 3  # IPv6: any overlap other than an exact duplicate


# (src, dst, IPv4 protocol or -1, identification, encapsulation)
FragmentKey: TypeAlias = tuple[bytes, bytes, int, int, tuple[str, ...]]


class _Datagram:
    """One datagram being reassembled: pieces sorted by start, never overlapping."""

    __slots__ = (
        "charged",
        "chunks",
        "covered",
        "dead",
        "deadline",
        "fragments",
        "proto",
        "starts",
        "total",
    )

    def __init__(self, deadline: int, proto: int) -> None:
        self.deadline = deadline
        self.proto = proto  # IPv6: set by the offset-0 fragment
        self.starts: list[int] = []
        self.chunks: list[bytes] = []
        self.covered = 0  # bytes the pieces cover
        self.total = -1  # datagram length once the last fragment was seen
        self.charged = 0  # bytes charged against ipfrag_max_bytes
        self.fragments = 0
        self.dead = False  # dropped: later fragments are discarded until the deadline


class FragmentReassembler:
    """Reassembles IPv4 and IPv6 fragments for one ``PacketDecoder`` (sans-IO; time is the
    packet time in ``Walk.ts``)."""

    __slots__ = ("_continuing", "_datagrams", "_limits", "held_bytes")

    def __init__(self, limits: DecodeLimits) -> None:
        self._limits = limits
        self._datagrams: OrderedDict[FragmentKey, _Datagram] = OrderedDict()
        self.held_bytes = 0
        # True while a reassembled IPv6 datagram's extension headers are walked: a fragment
        # header in there would nest reassembly (RFC 8200 s4.5 allows one per packet).
        self._continuing = False

    @property
    def in_progress(self) -> int:
        """Datagrams held (incomplete ones and dropped ones waiting for their deadline)."""
        return len(self._datagrams)

    def add(
        self, walk: Walk, proto: int, ident: int, offset: int, more: bool, payload_at: int
    ) -> int:
        """Hold one fragment (``walk.data[payload_at:walk.ip_end]`` at byte ``offset``).

        Returns STOP while the datagram is incomplete; once complete, puts the datagram in
        ``walk.data`` and returns the offset of its next header (the walk goes on).
        """
        datagrams = self._datagrams
        now = walk.ts
        if datagrams:
            self.expire(walk, now)
        if self._continuing:
            return walk.anomaly("ipfrag_nested_fragment", f"id {ident}")
        if walk.truncated:
            # The capture cut the fragment (snaplen): its bytes past the cut can never come.
            return walk.anomaly("ipfrag_fragment_truncated", f"id {ident} offset {offset}")
        is_ipv6 = len(walk.src) == _IPV6_ADDRESS_LEN
        data = walk.data
        length = walk.ip_end - payload_at
        end = offset + length
        if is_ipv6:
            if end > _IPV6_MAX_PAYLOAD:
                return walk.anomaly("ipfrag_too_big", f"id {ident} ends at {end}")
            key: FragmentKey = (walk.src, walk.dst, _NO_PROTO, ident, walk.node.encap)
        else:
            if end > _IPV4_MAX_PAYLOAD:
                return walk.anomaly("ipfrag_too_big", f"id {ident} ends at {end}")
            if proto == IPPROTO_TCP and offset == _TCP_OFFSET_ONE:
                # RFC 1858 s4 / RFC 3128 s3: such a fragment is dropped, not reassembled.
                return walk.anomaly("ipfrag_tcp_offset_one", f"id {ident}")
            key = (walk.src, walk.dst, proto, ident, walk.node.encap)

        limits = self._limits
        datagram = datagrams.get(key)
        if datagram is None:
            if len(datagrams) >= limits.ipfrag_max_datagrams:
                self._drop_oldest(walk, "ipfrag_too_many")
            datagram = _Datagram(now + limits.ipfrag_timeout_ns, _NO_PROTO if is_ipv6 else proto)
            datagrams[key] = datagram
        elif datagram.dead:
            return STOP
        if datagram.fragments >= limits.ipfrag_max_fragments:
            walk.anomaly("ipfrag_too_many_fragments", f"id {ident}: {datagram.fragments}")
            return self._kill(walk, datagram)
        cost = length + FRAGMENT_OVERHEAD
        while self.held_bytes + cost > limits.ipfrag_max_bytes and not datagram.dead:
            self._drop_oldest(walk, "ipfrag_memory_limit")
        if datagram.dead:  # it was the oldest, and is gone
            return STOP
        datagram.fragments += 1

        # Length: the last fragment fixes it; every fragment must agree with it.
        pieces_end = datagram.starts[-1] + len(datagram.chunks[-1]) if datagram.starts else 0
        if (datagram.total >= 0 and end > datagram.total) or (
            not more and (pieces_end > end or datagram.total not in (-1, end))
        ):
            walk.anomaly("ipfrag_overrun", f"id {ident}: {offset}+{length}")
            return self._kill(walk, datagram)
        if not more:
            datagram.total = end

        if length:
            chunk = data[payload_at : walk.ip_end]
            held_before = datagram.covered
            status = self._insert(datagram, offset, chunk, is_ipv6)
            if status == _OVERLAP:
                walk.anomaly("ipfrag_ipv6_overlap", f"id {ident} at {offset}")
                return self._kill(walk, datagram)
            if status == _CONFLICT:
                walk.anomaly("ipfrag_overlap_conflict", f"id {ident} at {offset}, first kept")
            if offset == 0 and status != _DUPLICATE:
                if datagram.proto == _NO_PROTO:
                    datagram.proto = proto
                _check_first(walk, datagram.proto, chunk, ident)
            if datagram.covered > held_before:
                charge = datagram.covered - held_before + FRAGMENT_OVERHEAD
                datagram.charged += charge
                self.held_bytes += charge
        if datagram.covered != datagram.total:
            return STOP
        return self._complete(walk, key, datagram, is_ipv6)

    def expire(self, walk: Walk, now: int | None = None) -> None:
        """Drop datagrams whose deadline is at or before ``now`` (all when None): an
        ``ipfrag_timeout`` anomaly for each incomplete one."""
        datagrams = self._datagrams
        while datagrams:
            datagram = datagrams[next(iter(datagrams))]
            if now is not None and datagram.deadline > now:
                return
            datagrams.popitem(last=False)
            if not datagram.dead:
                self.held_bytes -= datagram.charged
                _bump(walk, "ipfrag_timed_out")
                walk.anomaly(
                    "ipfrag_timeout",
                    f"{datagram.fragments} fragments, {datagram.covered} bytes held",
                )

    def _drop_oldest(self, walk: Walk, anomaly: str) -> None:
        """Make room: forget the oldest datagram (an anomaly if it was still live)."""
        _, datagram = self._datagrams.popitem(last=False)
        if not datagram.dead:
            walk.anomaly(anomaly, f"{datagram.fragments} fragments dropped")
            self._release(walk, datagram)
        datagram.dead = True

    def _kill(self, walk: Walk, datagram: _Datagram) -> int:
        """Drop a datagram but keep its key until the deadline, so that its later fragments
        are discarded too (RFC 5722 s4); returns STOP."""
        self._release(walk, datagram)
        datagram.dead = True
        return STOP

    def _release(self, walk: Walk, datagram: _Datagram) -> None:
        """Free a datagram's pieces and count it as dropped."""
        self.held_bytes -= datagram.charged
        datagram.charged = 0
        datagram.starts = []
        datagram.chunks = []
        _bump(walk, "ipfrag_dropped")

    def _insert(self, datagram: _Datagram, start: int, chunk: bytes, is_ipv6: bool) -> int:
        """Add ``chunk`` at ``start``: the parts no piece covers yet become pieces."""
        starts = datagram.starts
        chunks = datagram.chunks
        end = start + len(chunk)
        first = bisect_right(starts, start) - 1
        if first < 0 or starts[first] + len(chunks[first]) <= start:
            first += 1
        last = first
        while last < len(starts) and starts[last] < end:
            last += 1
        if first == last:  # no overlap: the common case
            starts.insert(first, start)
            chunks.insert(first, chunk)
            datagram.covered += len(chunk)
            return _STORED
        if is_ipv6:
            exact = last == first + 1 and starts[first] == start and chunks[first] == chunk
            return _DUPLICATE if exact else _OVERLAP
        new_starts: list[int] = []
        new_chunks: list[bytes] = []
        position = start
        conflict = False
        added = 0
        for index in range(first, last):
            piece_start = starts[index]
            piece = chunks[index]
            if piece_start > position:
                new_starts.append(position)
                new_chunks.append(chunk[position - start : piece_start - start])
                added += piece_start - position
            low = max(piece_start, start)
            high = min(piece_start + len(piece), end)
            if piece[low - piece_start : high - piece_start] != chunk[low - start : high - start]:
                conflict = True
            new_starts.append(piece_start)
            new_chunks.append(piece)
            position = max(position, piece_start + len(piece))
        if position < end:
            new_starts.append(position)
            new_chunks.append(chunk[position - start :])
            added += end - position
        if added:
            starts[first:last] = new_starts
            chunks[first:last] = new_chunks
            datagram.covered += added
        if conflict:
            return _CONFLICT
        return _STORED if added else _DUPLICATE

    def _complete(self, walk: Walk, key: FragmentKey, datagram: _Datagram, is_ipv6: bool) -> int:
        """The datagram is whole: walk on with it as the packet's data."""
        del self._datagrams[key]
        self.held_bytes -= datagram.charged
        _bump(walk, "ipfrag_reassembled")
        chunks = datagram.chunks
        payload = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        walk.data = payload
        walk.ip_end = walk.ip_wire_end = len(payload)
        walk.truncated = False
        proto = datagram.proto
        if is_ipv6 and proto in EXTENSION_HEADERS:
            # Destination options and the like in the fragmentable part (RFC 8200 s4.5);
            # the fragment header itself counts as the first extension header.
            self._continuing = True
            try:
                return decode_ipv6_extensions(walk, payload, 0, proto, 1)
            finally:
                self._continuing = False
        walk.ns = Layer.IPPROTO
        walk.key = proto
        return 0


def _check_first(walk: Walk, proto: int, chunk: bytes, ident: int) -> None:
    """Tiny first fragment (RFC 1858 s3.1, RFC 3128): the transport header does not fit in
    it. Recorded, and the datagram is still reassembled, since its receiver may accept it."""
    size = len(chunk)
    if proto == IPPROTO_TCP:
        header = _TCP_MIN_HEADER
        if size > _TCP_DATA_OFFSET_AT:
            header = max(header, (chunk[_TCP_DATA_OFFSET_AT] >> 4) * 4)
    elif proto == IPPROTO_UDP:
        header = _UDP_HEADER
    else:
        return
    if size < header:
        walk.anomaly("ipfrag_tiny_first", f"id {ident}: {size} of {header} header bytes")


def _bump(walk: Walk, name: str) -> None:
    """Add one to a reassembly counter (they appear in PacketDecoder.counters)."""
    counts = walk.counts
    counts[name] = counts.get(name, 0) + 1
