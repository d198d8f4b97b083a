"""Linux netfilter log captures: LINKTYPE_NFLOG (239).

Layout from tcpdump.org/linktypes/LINKTYPE_NFLOG.html and libpcap's pcap/nflog.h: a 4-byte
header (address family, version 0, resource id in big-endian), then TLVs, each a 2-byte
length (including the 4-byte TLV header), a 2-byte type (the high bit flags nesting) and
the value, padded to a multiple of 4 bytes. The TLV of type NFULA_PAYLOAD (9) holds the
packet as the network layer saw it, so the family (AF_INET 2, AF_INET6 10) says which IP
version it is; other families carry no IP for the flow table.

Byte order: length and type are in the byte order of the capturing host (libpcap swaps
them only when it hands packets to a program, not in the file). Linux hosts are almost all
little-endian, so little-endian is read first; when the first TLV's length cannot be right
that way (below 4 or past the packet) and is right big-endian, the packet is read
big-endian.

Lengths: a TLV length below 4 cannot be right whatever was captured (anomaly). A payload
TLV whose length passes the captured bytes is read as a capture cut short (snaplen): the
walk goes on with what was captured and the IP layer marks the packet truncated. Any other
TLV that passes the captured bytes is an anomaly.

Anomaly names: nflog_truncated, nflog_bad_tlv_length, nflog_too_many_tlvs.
"""

from __future__ import annotations

import struct
from typing import Final

from wiresift.decode.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from wiresift.decode.walk import Layer, Walk

NFLOG_HEADER_LEN: Final = 4
NFLOG_TLV_HEADER_LEN: Final = 4
NFULA_PAYLOAD: Final = 9
NFLOG_TYPE_MASK: Final = 0x7FFF  # the high bit marks a nested attribute
AF_INET: Final = 2
AF_INET6: Final = 10
# TLVs read per packet before giving up. The kernel defines about twenty NFULA_* attribute
# types (linux/netfilter/nfnetlink_log.h) and sends each at most once.
NFLOG_MAX_TLVS: Final = 32

_TLV_LITTLE: Final = struct.Struct("<HH")
_TLV_BIG: Final = struct.Struct(">HH")
_FAMILY_TO_ETHERTYPE: Final = {AF_INET: ETHERTYPE_IPV4, AF_INET6: ETHERTYPE_IPV6}


def decode_nflog(walk: Walk, data: bytes, offset: int) -> int:
    """NFLOG header and TLVs -> the IP packet in the NFULA_PAYLOAD TLV."""
    captured = len(data)
    if captured < offset + NFLOG_HEADER_LEN:
        return walk.anomaly("nflog_truncated", f"{captured - offset} bytes of header")
    ethertype = _FAMILY_TO_ETHERTYPE.get(data[offset])
    if ethertype is None:
        return walk.count("non_ip")
    offset += NFLOG_HEADER_LEN
    tlv = _TLV_LITTLE
    if captured >= offset + NFLOG_TLV_HEADER_LEN:
        length = tlv.unpack_from(data, offset)[0]
        if not NFLOG_TLV_HEADER_LEN <= length <= captured - offset:
            swapped = _TLV_BIG.unpack_from(data, offset)[0]
            if NFLOG_TLV_HEADER_LEN <= swapped <= captured - offset:
                tlv = _TLV_BIG
    for _ in range(NFLOG_MAX_TLVS):
        if captured <= offset:
            return walk.count("non_ip")  # no payload TLV: nothing to decode
        if captured < offset + NFLOG_TLV_HEADER_LEN:
            return walk.anomaly("nflog_truncated", f"{captured - offset} bytes of TLV header")
        length, tlv_type = tlv.unpack_from(data, offset)
        if length < NFLOG_TLV_HEADER_LEN:
            return walk.anomaly("nflog_bad_tlv_length", f"length {length}")
        if tlv_type & NFLOG_TYPE_MASK == NFULA_PAYLOAD:
            walk.push("nflog")
            if offset + length < captured:  # TLVs after the payload are not IP data
                walk.data = data[: offset + length]
            walk.ns = Layer.ETHERTYPE
            walk.key = ethertype
            return offset + NFLOG_TLV_HEADER_LEN
        if length > captured - offset:
            return walk.anomaly(
                "nflog_truncated", f"TLV of {length} bytes, {captured - offset} captured"
            )
        offset += (length + 3) & ~3  # NFA_ALIGN: values are padded to 4 bytes
    return walk.anomaly("nflog_too_many_tlvs", f"more than {NFLOG_MAX_TLVS}")
