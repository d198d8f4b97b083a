"""Configuration: every cap has a name here, with the precedent it was drawn from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every buffer cap of the pipeline. Past a cap a stage stops storing, keeps tracking,
    records an anomaly and marks the affected object truncated."""

    # Bytes buffered per direction while a stream's protocol is undecided. Zeek's
    # dpd_buffer_size is 1024; HTTP request heads with cookies often pass that, so 4096.
    detect_buffer_bytes: int = 4096
    # Packets with payload looked at before giving up on detection (Zeek dpd_max_packets).
    detect_max_packets: int = 100
    # Longest line of a line-based protocol (aiosmtpd caps at 1001; Zeek ContentLine caps).
    max_line: int = 8192
    # Largest HTTP/ICAP/MIME header block (h11 uses 16 KiB; real cookies pass that).
    max_header_block: int = 64 * 1024
    # Requests waiting for their response on one connection (Suricata max-tx 256).
    max_pending_tx: int = 256
    # Largest content stored per object; past it the object is truncated
    # (aiosmtpd DATA_SIZE_DEFAULT = 2**25). Decoded content counts, not wire bytes.
    max_stored_body: int = 32 * 1024 * 1024
    # Out-of-order bytes held per TCP direction before a hole is declared a gap
    # (Zeek/Suricata reassembly depth knobs).
    max_reassembly_ooo_bytes: int = 1024 * 1024
    # Out-of-order segments held per TCP direction.
    max_reassembly_ooo_segments: int = 2048
    # Deepest nesting of multipart bodies (Zeek weird exceeded_mime_max_depth).
    max_mime_depth: int = 10
    # Largest decompression ratio tolerated before a body is treated as a bomb.
    max_decompression_ratio: int = 1000
    # Content-Encoding layers decoded at most (real traffic has seen 6, suricata-verify).
    max_content_encodings: int = 8
    # Parts of one multipart body extracted at most.
    max_multipart_parts: int = 1024
    # Body segments a parser takes whole (Parser.body_run) are joined before they are fed:
    # at most this many bytes per flow (1: every segment on its own) ...
    join_body_bytes: int = 64 * 1024
    # ... and this many for all the flows of an engine together.
    join_body_total: int = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputConfig:
    """What is written for each object."""

    # Store content files (off: passports only, with sizes and hashes).
    store_content: bool = True
    # Also store the still-encoded wire form of a body that had a Content-Encoding.
    keep_encoded_body: bool = True
    # Also store the whole multipart request body beside its parts.
    keep_multipart_body: bool = True
    # Record passwords seen in clear text (mail and FTP logins); account names always.
    keep_secrets: bool = False
    # 0: one usage object per connection; N: per client, server and protocol (BitTorrent:
    # client and swarm) per N-second window (extract/usage_window.py).
    usage_window: int = 0
    # One websocket object per connection (its messages in order) instead of per message.
    websocket_per_connection: bool = False
    # Chat text that is not UTF-8 is read in this charset (IRC, NMDC hubs; raw bytes kept).
    fallback_charset: str = "cp1251"
    # Store FTP directory listings as content (their entries are in the metadata anyway).
    ftp_store_listings: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Everything a run needs; built by ``load_config`` or directly in tests."""

    limits: Limits = Limits()
    output: OutputConfig = OutputConfig()
    # Protocols switched off by name (see ``wiresift protocols``).
    disabled_protocols: frozenset[str] = frozenset()
    # Turn every anomaly into an exception (tests), like email's raise_on_defect.
    strict: bool = False
    # An open TCP connection silent this long is ended (chat and mail sessions idle for
    # many minutes; Suricata's established-flow timeout is 3600 s too).
    tcp_idle_timeout: int = 3600
    # A TCP connection that has carried no payload yet (a SYN with no answer, a handshake
    # and nothing after it) ends after this long without a packet (Suricata's "new" flows).
    tcp_new_timeout: int = 60
    udp_idle_timeout: int = 60
    # Flows held at once per input; past it the least recently active ones are evicted,
    # connections without payload first (flow/table.py).
    max_flows: int = 100_000
    # What the flow key includes besides the 5-tuple (see flow/table.py FlowConfig).
    key_vlan: bool = True
    key_tunnel: bool = True
    # Out-of-order stream data buffered across all flows, in bytes (flow/budget.py).
    memory_budget: int = 256 * 1024 * 1024
