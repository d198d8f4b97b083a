"""ContentDecoder: every coding alone and stacked, every way of cutting the input, bombs."""

from __future__ import annotations

import gzip
import random
import re
import tracemalloc
import zlib
from collections.abc import Callable, Sequence

import brotli
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.extract.content import (
    RATIO_FLOOR,
    ContentDecoder,
    parse_content_encoding,
)

MIB = 1024 * 1024
PAYLOAD = b"".join(
    b"line %05d: the quick brown fox jumps over the lazy dog\n" % i for i in range(800)
)


def _cuts_whole(body: bytes) -> list[bytes]:
    return [body]


def _cuts_bytes(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def _cuts_random(body: bytes) -> list[bytes]:
    rng = random.Random(1952)
    pieces: list[bytes] = []
    i = 0
    while i < len(body):
        step = rng.randint(1, 97)
        pieces.append(body[i : i + step])
        i += step
    return pieces


def _cuts_segments(body: bytes) -> list[bytes]:
    return [body[i : i + 1448] for i in range(0, len(body), 1448)]


CUTS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": _cuts_whole,
    "bytes": _cuts_bytes,
    "random": _cuts_random,
    "segments": _cuts_segments,
}


def decode(
    encodings: Sequence[str],
    body: bytes,
    cut: str = "whole",
    *,
    max_output: int = 64 * MIB,
    max_ratio: int = 1000,
    max_layers: int = 8,
) -> tuple[bytes, ContentDecoder]:
    decoder = ContentDecoder(
        encodings, max_output=max_output, max_ratio=max_ratio, max_layers=max_layers
    )
    out = [decoder.feed(piece) for piece in CUTS[cut](body)]
    out.append(decoder.finish())
    return b"".join(out), decoder


def zlib_deflate(data: bytes) -> bytes:
    return zlib.compress(data, 6)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def br(data: bytes) -> bytes:
    compressed: bytes = brotli.compress(data, quality=5)
    return compressed


def zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


SINGLE_CODINGS: dict[str, tuple[list[str], Callable[[bytes], bytes]]] = {
    "gzip": (["gzip"], gzip.compress),
    "x-gzip": (["x-gzip"], gzip.compress),
    "deflate-zlib": (["deflate"], zlib_deflate),
    "deflate-raw": (["deflate"], raw_deflate),
    "br": (["br"], br),
    "zstd": (["zstd"], zstd),
    "identity": (["identity"], bytes),
    "empty-token": ([""], bytes),
    "none": ([], bytes),
    "upper-case": (["GZip"], gzip.compress),
}


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("case", sorted(SINGLE_CODINGS))
def test_single_coding_decodes_the_same_however_cut(case: str, cut: str) -> None:
    """Each coding alone gives the payload back, fed whole, byte by byte or in random cuts."""
    encodings, encode = SINGLE_CODINGS[case]
    out, decoder = decode(encodings, encode(PAYLOAD), cut)
    assert out == PAYLOAD
    assert decoder.anomalies == []
    assert (decoder.failed, decoder.truncated) == (False, False)
    assert decoder.output_size == len(PAYLOAD)


def _stack(data: bytes, codings: Sequence[str]) -> bytes:
    encoders: dict[str, Callable[[bytes], bytes]] = {
        "gzip": gzip.compress,
        "deflate": raw_deflate,
        "br": br,
        "zstd": zstd,
        "identity": bytes,
    }
    for coding in codings:  # in the order applied (RFC 9110 s8.4)
        data = encoders[coding](data)
    return data


STACKS = [
    ["identity", "identity", "gzip", "identity", "gzip", "gzip"],
    ["gzip", "br"],
    ["br", "gzip"],
    ["deflate", "zstd", "gzip"],
    ["zstd", "deflate"],
]


@pytest.mark.parametrize("cut", sorted(CUTS))
@pytest.mark.parametrize("stack", STACKS, ids="+".join)
def test_stacked_codings_decode_in_reverse_order(stack: list[str], cut: str) -> None:
    """A stack is undone last-applied first, with the same output however it is cut."""
    out, decoder = decode(stack, _stack(PAYLOAD, stack), cut)
    assert out == PAYLOAD
    assert decoder.anomalies == []


def test_wrong_order_is_a_decode_error() -> None:
    """Codings listed in the wrong order do not decode: the list order is the applied order."""
    out, decoder = decode(["br", "gzip"], _stack(PAYLOAD, ["gzip", "br"]))
    assert out == b""
    assert decoder.failed is True
    assert [name for name, _ in decoder.anomalies] == [
        "content_encoding_mismatch",
        "content_decode_error",
    ]


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_multi_member_gzip_is_concatenated(cut: str) -> None:
    """Several gzip members decode to the concatenation of their contents (RFC 1952 s2.2)."""
    body = gzip.compress(b"first member\n") + gzip.compress(b"") + gzip.compress(b"third\n")
    out, decoder = decode(["gzip"], body, cut)
    assert out == b"first member\nthird\n"
    assert decoder.anomalies == []


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_zstd_frames_and_skippable_frames(cut: str) -> None:
    """zstd frames follow one another; a skippable frame is passed over (RFC 8878 s3.1.2)."""
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    body = zstd(b"one ") + skippable + zstd(b"two")
    out, decoder = decode(["zstd"], body, cut)
    assert out == b"one two"
    assert decoder.anomalies == []


@pytest.mark.parametrize("encodings", [["gzip"], ["deflate"], ["br"], ["zstd"], ["gzip", "br"]])
def test_empty_body_is_empty_output_not_an_error(encodings: list[str]) -> None:
    """A zero-length body with a coding (HEAD-like, 204) decodes to nothing, silently."""
    out, decoder = decode(encodings, b"")
    assert out == b""
    assert decoder.anomalies == []
    assert decoder.failed is False


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_trailing_garbage_after_gzip_keeps_the_output(cut: str) -> None:
    """Bytes after the last gzip member are noted; the decoded output stays."""
    out, decoder = decode(["gzip"], gzip.compress(PAYLOAD) + b"\x00\x00\r\n", cut)
    assert out == PAYLOAD
    assert decoder.anomalies == [("content_trailing_garbage", "gzip: bytes after the stream end")]
    assert decoder.failed is False


@pytest.mark.parametrize(
    ("encodings", "encode"),
    [(["deflate"], zlib_deflate), (["deflate"], raw_deflate), (["zstd"], zstd)],
    ids=["zlib", "raw", "zstd"],
)
def test_trailing_garbage_after_other_streams(
    encodings: list[str], encode: Callable[[bytes], bytes]
) -> None:
    """Bytes after a zlib, raw deflate or zstd stream are noted too."""
    out, decoder = decode(encodings, encode(PAYLOAD) + b"garbage")
    assert out == PAYLOAD
    assert [name for name, _ in decoder.anomalies] == ["content_trailing_garbage"]


def test_trailing_garbage_after_brotli_in_a_later_feed() -> None:
    """Bytes fed after a finished brotli stream are noted, the output kept."""
    decoder = ContentDecoder(["br"], max_output=MIB, max_ratio=1000, max_layers=8)
    out = decoder.feed(br(PAYLOAD)) + decoder.feed(b"junk") + decoder.finish()
    assert out == PAYLOAD
    assert decoder.anomalies == [("content_trailing_garbage", "br: bytes after the stream end")]


def test_raw_deflate_is_detected_from_the_first_bytes() -> None:
    """'deflate' without the zlib header (what IIS sends) decodes as raw deflate."""
    raw = raw_deflate(PAYLOAD)
    assert raw[:2] != zlib_deflate(PAYLOAD)[:2]
    out, decoder = decode(["deflate"], raw, "bytes")
    assert out == PAYLOAD
    assert decoder.anomalies == []


def test_gzip_data_labelled_deflate_decodes_with_an_anomaly() -> None:
    """A gzip member sent as 'deflate' decodes, and the mislabel is noted."""
    out, decoder = decode(["deflate"], gzip.compress(PAYLOAD))
    assert out == PAYLOAD
    assert decoder.anomalies == [
        ("content_encoding_mismatch", "deflate: gzip data, zlib or raw deflate expected")
    ]


def test_zlib_data_labelled_gzip_decodes_with_an_anomaly() -> None:
    """A zlib stream sent as 'gzip' decodes, and the mislabel is noted."""
    out, decoder = decode(["gzip"], zlib_deflate(PAYLOAD))
    assert out == PAYLOAD
    assert decoder.anomalies == [("content_encoding_mismatch", "gzip: zlib data, gzip expected")]


@pytest.mark.parametrize("cut", sorted(CUTS))
def test_corrupt_gzip_fails(cut: str) -> None:
    """A corrupt stream is a decode error and fails the body, however it is cut."""
    body = bytearray(gzip.compress(PAYLOAD))
    body[len(body) // 2] ^= 0xFF
    _, decoder = decode(["gzip"], bytes(body), cut)
    assert decoder.failed is True
    assert [name for name, _ in decoder.anomalies] == ["content_decode_error"]
    assert decoder.anomalies[0][1].startswith("gzip: Error -3 while decompressing data")
    assert decoder.input_size == len(body)


def test_corrupt_gzip_keeps_the_output_of_earlier_feeds() -> None:
    """Output returned before the corruption stays returned; later feeds return nothing."""
    body = bytearray(gzip.compress(PAYLOAD))
    body[len(body) // 2] ^= 0xFF
    decoder = ContentDecoder(["gzip"], max_output=MIB, max_ratio=1000, max_layers=8)
    first = decoder.feed(bytes(body[:100]))
    assert decoder.feed(bytes(body[100:])) == b""
    assert decoder.feed(b"more") == b""
    assert decoder.finish() == b""
    assert first == zlib.decompressobj(31).decompress(bytes(body[:100]))
    assert first == PAYLOAD[:53]
    assert decoder.output_size == len(first)
    assert decoder.failed is True


def test_bad_gzip_crc_is_a_decode_error() -> None:
    """A wrong CRC-32 in the gzip trailer (RFC 1952 s2.3.1) fails the body; the output of
    the feeds before the trailer stays."""
    body = bytearray(gzip.compress(PAYLOAD))
    body[-8] ^= 0x01
    out, decoder = decode(["gzip"], bytes(body), "bytes")
    assert decoder.failed is True
    assert decoder.anomalies == [
        ("content_decode_error", "gzip: Error -3 while decompressing data: incorrect data check")
    ]
    assert out == PAYLOAD


@pytest.mark.parametrize("encodings", [["br"], ["zstd"], ["deflate"]])
def test_garbage_is_a_decode_error(encodings: list[str]) -> None:
    """Bytes that are not the declared coding at all fail the body, with no output."""
    out, decoder = decode(encodings, b"\xffnot compressed at all, just text\n" * 4)
    assert out == b""
    assert decoder.failed is True
    assert [name for name, _ in decoder.anomalies] == ["content_decode_error"]


@pytest.mark.parametrize(
    ("encodings", "encode"),
    [(["gzip"], gzip.compress), (["br"], br), (["zstd"], zstd)],
    ids=["gzip", "br", "zstd"],
)
def test_stream_cut_short_keeps_output_and_notes_it(
    encodings: list[str], encode: Callable[[bytes], bytes]
) -> None:
    """A body that ends inside the stream keeps its output and is noted, not failed."""
    body = encode(PAYLOAD)
    out, decoder = decode(encodings, body[: len(body) - 12])
    assert PAYLOAD.startswith(out)
    assert decoder.anomalies == [
        ("content_decode_incomplete", f"{encodings[0]}: stream ended early")
    ]
    assert decoder.failed is False


def test_unknown_coding_fails_without_output() -> None:
    """An unknown coding is noted once; nothing is decoded and the caller keeps the raw body."""
    decoder = ContentDecoder(
        ["gzip", "compress", "x-custom"], max_output=MIB, max_ratio=1000, max_layers=8
    )
    assert decoder.feed(b"\x1f\x9d\x90abc") == b""
    assert decoder.finish() == b""
    assert decoder.failed is True
    assert decoder.anomalies == [("http_unknown_content_encoding", "compress, x-custom")]
    assert decoder.input_size == 6


def test_too_many_layers_fails() -> None:
    """More codings than max_layers (identity not counted) fail the body."""
    stack = ["identity", "gzip", "gzip", "gzip"]
    out, decoder = decode(stack, _stack(PAYLOAD, stack), max_layers=2)
    assert out == b""
    assert decoder.failed is True
    assert decoder.anomalies == [("content_too_many_encodings", "3 codings, at most 2")]


def test_zstd_window_over_the_http_cap_is_refused() -> None:
    """A zstd frame asking for a 16 MiB window fails (RFC 9659 s3 caps it at 8 MB)."""
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=24, write_content_size=False
    )
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = compressor.compress(PAYLOAD) + compressor.flush()
    out, decoder = decode(["zstd"], body)
    assert out == b""
    assert decoder.failed is True
    assert decoder.anomalies == [
        (
            "content_decode_error",
            "zstd: zstd decompressor error: Frame requires too much memory for decoding",
        )
    ]


def _zeros_gzip(size: int) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """50 MB of zeros, gzip'd (about 220 KiB)."""
    return _zeros_gzip(50 * MIB)


def _peak_while(run: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_stops_at_max_output_without_holding_it(gzip_bomb: bytes) -> None:
    """50 MB of zeros stop at max_output; memory stays near the cap, input is still counted."""
    result: list[tuple[bytes, ContentDecoder]] = []
    peak = _peak_while(
        lambda: result.append(decode(["gzip"], gzip_bomb, "segments", max_output=MIB))
    )
    out, decoder = result[0]
    assert out == bytes(MIB)
    assert decoder.truncated is True
    assert decoder.failed is False
    assert decoder.anomalies == [("content_decoded_too_long", f"over {MIB} bytes")]
    assert decoder.input_size == len(gzip_bomb)
    assert decoder.output_size == MIB
    assert peak < 6 * MIB


def test_gzip_bomb_trips_the_ratio(gzip_bomb: bytes) -> None:
    """Past the 1 MiB floor, output over max_ratio times the input stops the body."""
    decoder = ContentDecoder(["gzip"], max_output=64 * MIB, max_ratio=100, max_layers=8)
    out = b"".join(decoder.feed(gzip_bomb[i : i + 1448]) for i in range(0, len(gzip_bomb), 1448))
    out += decoder.finish()
    assert len(out) == RATIO_FLOOR
    assert decoder.truncated is True
    [(name, detail)] = decoder.anomalies
    assert name == "content_decompression_ratio"
    assert re.fullmatch(r"gzip: over 100:1 from \d+ input bytes", detail)
    assert decoder.input_size == len(gzip_bomb)


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("br", br),
        ("zstd", lambda data: zstandard.ZstdCompressor(level=19).compress(data)),
    ],
    ids=["br", "zstd"],
)
def test_brotli_and_zstd_bombs_stay_bounded(coding: str, encode: Callable[[bytes], bytes]) -> None:
    """br and zstd ratios are far above gzip's; output and memory still stop at the cap."""
    body = encode(bytes(64 * MIB))
    assert len(body) < 4096
    result: list[tuple[bytes, ContentDecoder]] = []
    peak = _peak_while(lambda: result.append(decode([coding], body, max_output=MIB)))
    out, decoder = result[0]
    assert out == bytes(MIB)
    assert decoder.truncated is True
    assert decoder.anomalies == [("content_decoded_too_long", f"over {MIB} bytes")]
    assert peak < 6 * MIB


def test_bomb_inside_a_stack_stops_at_the_inner_layer() -> None:
    """gzip(gzip(zeros)) stops on the ratio of the inner layer too."""
    inner = _zeros_gzip(16 * MIB)
    body = gzip.compress(inner)
    out, decoder = decode(["gzip", "gzip"], body, max_ratio=10)
    assert len(out) == RATIO_FLOOR
    assert decoder.truncated is True
    assert [name for name, _ in decoder.anomalies] == ["content_decompression_ratio"]


def test_identity_is_capped_by_max_output() -> None:
    """Without codings the bytes pass through, cut at max_output."""
    decoder = ContentDecoder(["identity"], max_output=10, max_ratio=1000, max_layers=8)
    assert decoder.feed(b"0123456") == b"0123456"
    assert decoder.feed(b"789abc") == b"789"
    assert decoder.feed(b"more") == b""
    assert decoder.truncated is True
    assert decoder.anomalies == [("content_decoded_too_long", "over 10 bytes")]
    assert decoder.input_size == 17


def test_output_exactly_at_the_cap_is_not_truncated() -> None:
    """A body whose decoded size equals max_output is whole."""
    out, decoder = decode(["gzip"], gzip.compress(PAYLOAD), max_output=len(PAYLOAD))
    assert out == PAYLOAD
    assert decoder.truncated is False
    assert decoder.anomalies == []


def test_output_is_produced_per_feed() -> None:
    """Each feed returns what its input decoded to; nothing waits for finish()."""
    body = gzip.compress(PAYLOAD)
    decoder = ContentDecoder(["gzip"], max_output=MIB, max_ratio=1000, max_layers=8)
    first = decoder.feed(body[: len(body) // 2])
    assert len(first) > len(PAYLOAD) // 4
    rest = decoder.feed(body[len(body) // 2 :])
    assert first + rest == PAYLOAD
    assert decoder.finish() == b""


def test_feed_after_finish_is_ignored() -> None:
    """After finish() the decoder returns nothing more."""
    decoder = ContentDecoder(["gzip"], max_output=MIB, max_ratio=1000, max_layers=8)
    assert decoder.feed(gzip.compress(b"x")) == b"x"
    assert decoder.finish() == b""
    assert decoder.feed(gzip.compress(b"y")) == b""
    assert decoder.finish() == b""


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([b"gzip"], ["gzip"]),
        ([b"GZIP"], ["gzip"]),
        (
            [b"identity, identity, gzip, identity, gzip, gzip"],
            ["identity", "identity", "gzip", "identity", "gzip", "gzip"],
        ),
        ([b"deflate", b"br"], ["deflate", "br"]),
        ([b" gzip ,, \tbr ,"], ["gzip", "br"]),
        ([b""], []),
        ([], []),
        ([b"x-gzip\xe9"], ["x-gzip\xe9"]),
    ],
)
def test_parse_content_encoding(values: list[bytes], expected: list[str]) -> None:
    """Field lines join in order; tokens are trimmed, lower-cased, empty ones dropped."""
    assert parse_content_encoding(values) == expected


@settings(max_examples=200, deadline=None)
@given(
    coding=st.sampled_from(["gzip", "deflate", "br", "zstd"]),
    prefix=st.sampled_from([b"", b"\x1f\x8b\x08\x00", b"\x78\x9c", b"\x28\xb5\x2f\xfd"]),
    data=st.binary(max_size=400),
    cut=st.integers(min_value=1, max_value=64),
)
def test_arbitrary_bytes_never_raise(coding: str, prefix: bytes, data: bytes, cut: int) -> None:
    """Whatever arrives, decoding records anomalies and returns bytes; it never raises."""
    body = prefix + data
    decoder = ContentDecoder([coding], max_output=MIB, max_ratio=1000, max_layers=8)
    out = b"".join(decoder.feed(body[i : i + cut]) for i in range(0, len(body), cut))
    out += decoder.finish()
    assert decoder.output_size == len(out)
    assert decoder.input_size == len(body)
    assert decoder.failed or not any(n == "content_decode_error" for n, _ in decoder.anomalies)
