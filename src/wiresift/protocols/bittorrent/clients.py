"""Client software named by a BitTorrent peer id (BEP 20 conventions) or a DHT ``v`` key.

Three public conventions cover nearly every client:

- Azureus style ``-XX1234-`` (BEP 20): a dash, a two-letter client code, four version
  characters, a dash. Version characters are digits or letters (``A``=10, ``B``=11...).
- Shadow style ``S58B-----`` (BEP 20): one client letter, up to five version characters
  from ``0-9A-Za-z.-`` (0-63), then dashes.
- Mainline style ``M4-3-6--``: a letter, then numbers separated by dashes.

The DHT ``v`` key (BEP 5) is two client letters (the Azureus code) and two version bytes.
"""

from __future__ import annotations

import re
from typing import Final

# Two-letter codes of Azureus-style ids (BEP 20 and the clients' own documentation).
AZUREUS_CODES: Final[dict[bytes, str]] = {
    b"7T": "aTorrent",
    b"AB": "AnyEvent::BitTorrent",
    b"AG": "Ares",
    b"A~": "Ares",
    b"AR": "Arctic",
    b"AT": "Artemis",
    b"AV": "Avicora",
    b"AX": "BitPump",
    b"AZ": "Vuze",
    b"BB": "BitBuddy",
    b"BC": "BitComet",
    b"BE": "Baretorrent",
    b"BF": "Bitflu",
    b"BG": "BTG",
    b"BI": "BiglyBT",
    b"BL": "BitCometLite",
    b"BN": "Baidu Netdisk",
    b"BP": "BitTorrent Pro",
    b"BR": "BitRocket",
    b"BS": "BTSlave",
    b"BT": "BitTorrent",
    b"BW": "BitWombat",
    b"BX": "BittorrentX",
    b"CD": "Enhanced CTorrent",
    b"CT": "CTorrent",
    b"DE": "Deluge",
    b"DP": "Propagate Data Client",
    b"EB": "EBit",
    b"ES": "electric sheep",
    b"FC": "FileCroc",
    b"FD": "Free Download Manager",
    b"FG": "FlashGet",
    b"FT": "FoxTorrent",
    b"FW": "FrostWire",
    b"FX": "Freebox BitTorrent",
    b"GS": "GSTorrent",
    b"HK": "Hekate",
    b"HL": "Halite",
    b"HM": "hMule",
    b"HN": "Hydranode",
    b"IL": "iLivid",
    b"JS": "Justseed.it",
    b"JT": "JavaTorrent",
    b"KG": "KGet",
    b"KT": "KTorrent",
    b"LC": "LeechCraft",
    b"LH": "LH-ABC",
    b"LP": "Lphant",
    b"LT": "libtorrent",
    b"lt": "rTorrent",
    b"LW": "LimeWire",
    b"MK": "Meerkat",
    b"MO": "MonoTorrent",
    b"MP": "MooPolice",
    b"MR": "Miro",
    b"MT": "MoonlightTorrent",
    b"NB": "Net::BitTorrent",
    b"NX": "Net Transport",
    b"OS": "OneSwarm",
    b"OT": "OmegaTorrent",
    b"PB": "Protocol::BitTorrent",
    b"PD": "Pando",
    b"PI": "PicoTorrent",
    b"qB": "qBittorrent",
    b"QD": "QQDownload",
    b"QT": "Qt 4 Torrent example",
    b"RT": "Retriever",
    b"RZ": "RezTorrent",
    b"S~": "Shareaza alpha/beta",
    b"SB": "Swiftbit",
    b"SD": "Thunder",
    b"SM": "SoMud",
    b"SP": "BitSpirit",
    b"SS": "SwarmScope",
    b"ST": "SymTorrent",
    b"st": "sharktorrent",
    b"SZ": "Shareaza",
    b"TB": "Torch",
    b"TE": "terasaur Seed Bank",
    b"TL": "Tribler",
    b"TN": "TorrentDotNET",
    b"TR": "Transmission",
    b"TS": "Torrentstorm",
    b"TT": "TuoTu",
    b"UL": "uLeecher!",
    b"UM": "µTorrent for Mac",
    b"UT": "µTorrent",
    b"UW": "µTorrent Web",
    b"VG": "Vagaa",
    b"WD": "WebTorrent Desktop",
    b"WT": "BitLet",
    b"WW": "WebTorrent",
    b"WY": "FireTorrent",
    b"XF": "Xfplay",
    b"XL": "Xunlei",
    b"XS": "XSwifter",
    b"XT": "XanTorrent",
    b"XX": "Xtorrent",
    b"ZT": "ZipTorrent",
}

# First letters of Shadow-style ids (BEP 20).
SHADOW_CODES: Final[dict[int, str]] = {
    ord("A"): "ABC",
    ord("O"): "Osprey Permaseed",
    ord("Q"): "BTQueue",
    ord("R"): "Tribler",
    ord("S"): "Shadow's client",
    ord("T"): "BitTornado",
    ord("U"): "UPnP NAT Bit Torrent",
}

# Mainline-style prefixes (a letter or two, then dash-separated numbers).
MAINLINE_CODES: Final[dict[bytes, str]] = {
    b"M": "Mainline",
    b"Q": "Queen Bee",
    b"A2-": "aria2",
}

_AZUREUS: Final = re.compile(rb"-([A-Za-z0-9~]{2})([0-9A-Za-z]{4})-", re.DOTALL)
_MAINLINE: Final = re.compile(rb"(A2-|[MQ])(\d{1,3})-(\d{1,3})-(\d{1,3})-", re.DOTALL)
_SHADOW_ALPHABET: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-"


def _alnum_value(char: int) -> int:
    """A version character: ``0-9`` as is, ``A-Z`` and ``a-z`` from 10 (``C`` = 12)."""
    if 0x30 <= char <= 0x39:
        return char - 0x30
    if 0x41 <= char <= 0x5A:
        return char - 0x41 + 10
    return char - 0x61 + 10


def _azureus_version(code: bytes, chars: bytes) -> str:
    numbers = [_alnum_value(c) for c in chars]
    if code == b"TR":
        # Transmission: "2940" is 2.94, "3000" 3.00; from 4.0 on "4050" is 4.0.5.
        if numbers[0] >= 4:
            return f"{numbers[0]}.{numbers[1]}.{numbers[2]}"
        suffix = "+" if chars[3:4] in (b"Z", b"X") else ""
        return f"{numbers[0]}.{chars[1:3].decode()}{suffix}"
    if code in (b"UT", b"UM", b"UW"):
        # µTorrent: three version digits, then a build type letter (B beta...).
        return ".".join(str(n) for n in numbers[:3])
    parts = [str(n) for n in numbers[:3]]
    if numbers[3]:
        parts.append(str(numbers[3]))
    return ".".join(parts)


def peer_id_client(peer_id: bytes) -> str | None:
    """The client name and version a 20-byte peer id announces, or None if unknown."""
    match = _AZUREUS.match(peer_id)
    if match is not None:
        code, chars = match.groups()
        name = AZUREUS_CODES.get(code)
        if name is None:
            return f"unknown client {code.decode('ascii', 'backslashreplace')}"
        return f"{name} {_azureus_version(code, chars)}"
    match = _MAINLINE.match(peer_id)
    if match is not None:
        prefix, major, minor, patch = match.groups()
        return f"{MAINLINE_CODES[prefix]} {int(major)}.{int(minor)}.{int(patch)}"
    shadow = SHADOW_CODES.get(peer_id[0]) if peer_id else None
    if shadow is not None:
        head = peer_id[1:9]
        version = head.split(b"-", 1)[0][:5]
        dashes = head[len(version) :]
        if version and dashes.startswith(b"---") and all(c in _SHADOW_ALPHABET for c in version):
            numbers = ".".join(str(_SHADOW_ALPHABET.index(c)) for c in version)
            return f"{shadow} {numbers}"
    return None


def dht_version_client(version: bytes) -> str | None:
    """The client a DHT ``v`` key names (two code letters, two version bytes; BEP 5)."""
    if len(version) != 4:
        return None
    name = AZUREUS_CODES.get(version[:2])
    if name is None:
        return None
    if version[:2] == b"LT":
        return f"{name} {version[2]}.{version[3]}"  # libtorrent: major and minor bytes
    return f"{name} 0x{version[2:].hex()}"  # others use their own build numbering
