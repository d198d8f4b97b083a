"""MultipartParser and the header parameter helpers (RFC 2046 s5.1, RFC 7578, RFC 2231)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.extract.multipart import (
    MultipartParser,
    PartData,
    PartEnd,
    PartEvent,
    PartStart,
    boundary_from_content_type,
    content_disposition_filename,
    parse_header_params,
)

BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
FORM = (
    b"--" + BOUNDARY + b"\r\n"
    b'Content-Disposition: form-data; name="title"\r\n'
    b"\r\n"
    b"Q3 report\r\n"
    b"--" + BOUNDARY + b"\r\n"
    b'Content-Disposition: form-data; name="upload"; filename="report.pdf"\r\n'
    b"Content-Type: application/pdf\r\n"
    b"\r\n"
    b"%PDF-1.4\r\n--not a delimiter\r\n--" + BOUNDARY + b"X\r\nend\r\n"
    b"--" + BOUNDARY + b"--\r\n"
)
FORM_EVENTS: list[PartEvent] = [
    PartStart(
        index=0,
        path=(0,),
        headers=((b"Content-Disposition", b'form-data; name="title"'),),
        name="title",
        filename=None,
        content_type=None,
    ),
    PartData(index=0, data=b"Q3 report"),
    PartEnd(index=0, complete=True),
    PartStart(
        index=1,
        path=(1,),
        headers=(
            (b"Content-Disposition", b'form-data; name="upload"; filename="report.pdf"'),
            (b"Content-Type", b"application/pdf"),
        ),
        name="upload",
        filename="report.pdf",
        content_type="application/pdf",
    ),
    PartData(index=1, data=b"%PDF-1.4\r\n--not a delimiter\r\n--" + BOUNDARY + b"X\r\nend"),
    PartEnd(index=1, complete=True),
]


def normalize(events: Iterable[PartEvent]) -> list[PartEvent]:
    """Join the PartData runs of one part, so any cut of the input compares equal."""
    out: list[PartEvent] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, PartData) and isinstance(last, PartData) and last.index == event.index:
            out[-1] = PartData(index=event.index, data=last.data + event.data)
            continue
        out.append(event)
    return out


def parser(
    boundary: bytes = BOUNDARY,
    *,
    max_depth: int = 10,
    max_parts: int = 100,
    max_header_block: int = 4096,
) -> MultipartParser:
    return MultipartParser(
        boundary, max_depth=max_depth, max_parts=max_parts, max_header_block=max_header_block
    )


def run(
    body: bytes, pieces: Iterable[bytes] | None = None
) -> tuple[list[PartEvent], list[tuple[str, str]]]:
    """Parse ``body`` (bounded by BOUNDARY), fed as ``pieces`` when given."""
    return run_with(parser(), [body] if pieces is None else pieces)


def run_with(
    p: MultipartParser, pieces: Iterable[bytes]
) -> tuple[list[PartEvent], list[tuple[str, str]]]:
    events: list[PartEvent] = []
    for piece in pieces:
        events += p.feed(piece)
    events += p.finish()
    return normalize(events), p.anomalies


def random_pieces(body: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces: list[bytes] = []
    i = 0
    while i < len(body):
        step = rng.randint(1, 23)
        pieces.append(body[i : i + step])
        i += step
    return pieces


def test_form_data_parts() -> None:
    """Two form-data parts: names, filename, type, data without the delimiter's CRLF."""
    assert run(FORM) == (FORM_EVENTS, [])


def test_form_data_split_at_every_offset() -> None:
    """Cut in two at any byte, the body gives the same parts (delimiter split anywhere)."""
    for cut in range(len(FORM) + 1):
        assert run(FORM, [FORM[:cut], FORM[cut:]]) == (FORM_EVENTS, []), cut


def test_form_data_byte_by_byte_and_random_cuts() -> None:
    """Fed one byte at a time, or in random cuts, the body gives the same parts."""
    assert run(FORM, [FORM[i : i + 1] for i in range(len(FORM))]) == (FORM_EVENTS, [])
    for seed in range(20):
        assert run(FORM, random_pieces(FORM, seed)) == (FORM_EVENTS, []), seed


def test_data_flows_out_holding_back_only_a_possible_delimiter() -> None:
    """Part data is passed on with each feed; only what may start a delimiter waits."""
    p = parser(b"xyz")
    assert p.feed(b"--xyz\r\n\r\n") == [
        PartStart(index=0, path=(0,), headers=(), name=None, filename=None, content_type=None)
    ]
    assert p.feed(b"a" * 5000) == [PartData(index=0, data=b"a" * 5000)]
    assert p.feed(b"bc\r\n--x") == [PartData(index=0, data=b"bc")]
    assert p.buffered_bytes == len(b"\r\n--x")
    assert p.feed(b"y") == []
    assert p.feed(b"q") == [PartData(index=0, data=b"\r\n--xyq")]
    assert p.feed(b"\r") == []
    assert p.buffered_bytes == 1
    assert p.feed(b"\n--xyz--") == []  # padding or CRLF may follow
    assert p.finish() == [PartEnd(index=0, complete=True)]
    assert p.anomalies == []


def test_crlf_before_the_delimiter_belongs_to_the_delimiter() -> None:
    """Only the last CRLF before a delimiter is taken; earlier blank lines are data."""
    body = b"--b\r\n\r\nline\r\n\r\n\r\n--b--\r\n"
    events, anomalies = run_with(parser(b"b"), [body])
    assert events[1] == PartData(index=0, data=b"line\r\n\r\n")
    assert anomalies == []


def test_preamble_epilogue_and_transport_padding() -> None:
    """Preamble and epilogue are ignored; blanks after a delimiter are transport padding."""
    body = (
        b"This is the preamble.\r\n--b\r\n\r\n--b  \t\r\n"
        b"Content-Type: text/plain\r\n\r\nbody\r\n--b--\t \r\n"
        b"epilogue\r\n--b\r\nnot a part\r\n"
    )
    events, anomalies = run_with(parser(b"b"), [body])
    assert events == [
        PartStart(index=0, path=(0,), headers=(), name=None, filename=None, content_type=None),
        PartEnd(index=0, complete=True),
        PartStart(
            index=1,
            path=(1,),
            headers=((b"Content-Type", b"text/plain"),),
            name=None,
            filename=None,
            content_type="text/plain",
        ),
        PartData(index=1, data=b"body"),
        PartEnd(index=1, complete=True),
    ]
    assert anomalies == []


def test_close_delimiter_at_end_of_body_without_crlf() -> None:
    """ "--b--" as the last bytes, with no CRLF after it, closes the body."""
    events, anomalies = run_with(parser(b"b"), [b"--b\r\n\r\nx\r\n--b-", b"-"])
    assert events[-2:] == [PartData(index=0, data=b"x"), PartEnd(index=0, complete=True)]
    assert anomalies == []


def test_lf_only_line_endings_are_tolerated() -> None:
    """A body with LF alone as line end is split the same, with one anomaly."""
    lf_events = run(FORM)[0]
    lf_body = FORM.replace(b"\r\n", b"\n")
    for pieces in ([lf_body], [lf_body[i : i + 1] for i in range(len(lf_body))]):
        events, anomalies = run(lf_body, pieces)
        assert [type(e) for e in events] == [type(e) for e in lf_events]
        assert events[1] == PartData(index=0, data=b"Q3 report")
        assert events[4] == PartData(
            index=1, data=b"%PDF-1.4\n--not a delimiter\n--" + BOUNDARY + b"X\nend"
        )
        assert anomalies == [("mime_bare_lf", "line ends with LF alone")]


def test_missing_close_delimiter() -> None:
    """A body that ends inside a part ends that part incomplete, with its data."""
    events, anomalies = run_with(parser(b"b"), [b"--b\r\n\r\npartial data\r\n--"])
    assert events == [
        PartStart(index=0, path=(0,), headers=(), name=None, filename=None, content_type=None),
        PartData(index=0, data=b"partial data\r\n--"),
        PartEnd(index=0, complete=False),
    ]
    assert anomalies == [("mime_missing_close_delimiter", "level 0")]


def test_body_without_any_delimiter() -> None:
    """A body with no delimiter line has no parts."""
    assert run_with(parser(b"b"), [b"just text\r\n--bb\r\n"]) == (
        [],
        [("mime_no_parts", "no delimiter line in the body")],
    )


def test_headers_ended_by_a_delimiter() -> None:
    """A part whose header block runs into the next delimiter is reported, empty."""
    body = b"--b\r\nContent-Type: text/plain\r\n--b\r\n\r\nx\r\n--b--"
    events, anomalies = run_with(parser(b"b"), [body])
    assert events == [
        PartStart(
            index=0,
            path=(0,),
            headers=((b"Content-Type", b"text/plain"),),
            name=None,
            filename=None,
            content_type="text/plain",
        ),
        PartEnd(index=0, complete=True),
        PartStart(index=1, path=(1,), headers=(), name=None, filename=None, content_type=None),
        PartData(index=1, data=b"x"),
        PartEnd(index=1, complete=True),
    ]
    assert anomalies == [("mime_unterminated_headers", "part 0")]


def test_folded_and_bad_header_lines() -> None:
    """Folded lines join their field (RFC 5322 s2.2.3); a line without a colon is noted."""
    body = b"--b\r\nContent-Type: text/plain;\r\n charset=utf-8\r\nno colon here\r\n\r\nx\r\n--b--"
    events, anomalies = run_with(parser(b"b"), [body])
    assert events[0] == PartStart(
        index=0,
        path=(0,),
        headers=((b"Content-Type", b"text/plain; charset=utf-8"),),
        name=None,
        filename=None,
        content_type="text/plain",
    )
    assert anomalies == [("mime_bad_header_line", "b'no colon here'")]


def test_header_block_too_long_is_skipped_but_the_part_kept() -> None:
    """Header lines past max_header_block are dropped; the part and its data stay in sync."""
    long_line = b"X-Filler: " + b"f" * 300 + b"\r\n"
    body = (
        b"--b\r\nContent-Type: text/plain\r\n"
        + long_line * 3
        + b"\r\ndata\r\n--b\r\n\r\ntwo\r\n--b--"
    )
    for pieces in ([body], [body[i : i + 7] for i in range(0, len(body), 7)]):
        events, anomalies = run_with(parser(b"b", max_header_block=500), pieces)
        assert events == [
            PartStart(
                index=0,
                path=(0,),
                headers=((b"Content-Type", b"text/plain"), (b"X-Filler", b"f" * 300)),
                name=None,
                filename=None,
                content_type="text/plain",
            ),
            PartData(index=0, data=b"data"),
            PartEnd(index=0, complete=True),
            PartStart(index=1, path=(1,), headers=(), name=None, filename=None, content_type=None),
            PartData(index=1, data=b"two"),
            PartEnd(index=1, complete=True),
        ]
        assert anomalies == [("mime_header_block_too_long", "over 500 bytes")]


def test_one_endless_header_line_is_skipped_without_buffering() -> None:
    """A header line longer than the cap is dropped as it arrives, not held."""
    p = parser(b"b", max_header_block=100)
    p.feed(b"--b\r\nX-Long: ")
    for _ in range(100):
        assert p.feed(b"z" * 1000) == []
        assert p.buffered_bytes <= 100
    events, anomalies = run_with(p, [b"\r\n\r\nbody\r\n--b--"])
    assert events == [
        PartStart(index=0, path=(0,), headers=(), name=None, filename=None, content_type=None),
        PartData(index=0, data=b"body"),
        PartEnd(index=0, complete=True),
    ]
    assert anomalies == [("mime_header_block_too_long", "over 100 bytes")]


def test_too_many_parts_are_delimited_but_not_reported() -> None:
    """Past max_parts, parts are still cut (the close is found) but not reported."""
    body = b"".join(b"--b\r\n\r\npart %d\r\n" % i for i in range(5)) + b"--b--\r\n"
    events, anomalies = run_with(parser(b"b", max_parts=2), [body])
    assert [e.index for e in events if isinstance(e, PartEnd)] == [0, 1]
    assert [e.data for e in events if isinstance(e, PartData)] == [b"part 0", b"part 1"]
    assert anomalies == [("mime_too_many_parts", "over 2 parts")]


NESTED = (
    b"--outer\r\n"
    b'Content-Disposition: form-data; name="files"\r\n'
    b"Content-Type: multipart/mixed; boundary=inner\r\n"
    b"\r\n"
    b"inner preamble\r\n"
    b"--inner\r\n"
    b'Content-Disposition: file; filename="a.txt"\r\n'
    b"\r\n"
    b"AAA\r\n"
    b"--inner\r\n"
    b'Content-Disposition: file; filename="b.txt"\r\n'
    b"\r\n"
    b"BBB\r\n"
    b"--inner--\r\n"
    b"inner epilogue\r\n"
    b"--outer\r\n"
    b'Content-Disposition: form-data; name="note"\r\n'
    b"\r\n"
    b"hi\r\n"
    b"--outer--\r\n"
)
NESTED_EVENTS: list[PartEvent] = [
    PartStart(
        index=0,
        path=(0,),
        headers=(
            (b"Content-Disposition", b'form-data; name="files"'),
            (b"Content-Type", b"multipart/mixed; boundary=inner"),
        ),
        name="files",
        filename=None,
        content_type="multipart/mixed",
        container=True,
    ),
    PartStart(
        index=1,
        path=(0, 0),
        headers=((b"Content-Disposition", b'file; filename="a.txt"'),),
        name=None,
        filename="a.txt",
        content_type=None,
    ),
    PartData(index=1, data=b"AAA"),
    PartEnd(index=1, complete=True),
    PartStart(
        index=2,
        path=(0, 1),
        headers=((b"Content-Disposition", b'file; filename="b.txt"'),),
        name=None,
        filename="b.txt",
        content_type=None,
    ),
    PartData(index=2, data=b"BBB"),
    PartEnd(index=2, complete=True),
    PartEnd(index=0, complete=True),
    PartStart(
        index=3,
        path=(1,),
        headers=((b"Content-Disposition", b'form-data; name="note"'),),
        name="note",
        filename=None,
        content_type=None,
    ),
    PartData(index=3, data=b"hi"),
    PartEnd(index=3, complete=True),
]


def test_nested_multipart_is_split() -> None:
    """A multipart/mixed part inside form-data (RFC 7578 s4.3 legacy) gives its children."""
    assert run_with(parser(b"outer"), [NESTED]) == (NESTED_EVENTS, [])


def test_nested_multipart_split_at_every_offset() -> None:
    """Any cut of a nested body gives the same tree."""
    for cut in range(len(NESTED) + 1):
        result = run_with(parser(b"outer"), [NESTED[:cut], NESTED[cut:]])
        assert result == (NESTED_EVENTS, []), cut
    pieces = [NESTED[i : i + 1] for i in range(len(NESTED))]
    assert run_with(parser(b"outer"), pieces) == (NESTED_EVENTS, [])


def test_outer_delimiter_closes_an_unclosed_inner_body() -> None:
    """An outer delimiter ends an inner body that never closed, and notes it."""
    body = NESTED.replace(b"--inner--\r\n", b"")
    events, anomalies = run_with(parser(b"outer"), [body])
    assert events[5] == PartData(index=2, data=b"BBB\r\ninner epilogue")
    assert events[6:8] == [PartEnd(index=2, complete=False), PartEnd(index=0, complete=False)]
    assert events[8:] == NESTED_EVENTS[8:]
    assert anomalies == [("mime_missing_close_delimiter", "level 1")]


def test_nesting_past_max_depth_stays_one_part() -> None:
    """A body nested deeper than max_depth is one opaque part with its raw bytes."""
    events, anomalies = run_with(parser(b"outer", max_depth=0), [NESTED])
    container = NESTED_EVENTS[0]
    assert isinstance(container, PartStart)
    assert events[0] == PartStart(
        index=0,
        path=(0,),
        headers=container.headers,
        name="files",
        filename=None,
        content_type="multipart/mixed",
        container=False,
    )
    start = NESTED.index(b"inner preamble")
    end = NESTED.index(b"\r\n--outer\r\n")
    assert events[1] == PartData(index=0, data=NESTED[start:end])
    assert events[2] == PartEnd(index=0, complete=True)
    assert anomalies == [("mime_max_depth", "level 1 over 0")]


def test_nested_multipart_without_boundary_stays_one_part() -> None:
    """A multipart part without a boundary parameter is kept whole."""
    body = b"--b\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n\r\nin\r\n--x--\r\n--b--"
    events, anomalies = run_with(parser(b"b"), [body])
    assert events[1] == PartData(index=0, data=b"--x\r\n\r\nin\r\n--x--")
    assert anomalies == [("mime_missing_boundary", "part 0")]


def _deep_body(levels: int) -> bytes:
    opening = b"".join(
        b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
        for i in range(levels)
    )
    leaf = b"--b%d\r\nContent-Type: text/plain\r\n\r\nleaf\r\n--b%d--\r\n" % (levels, levels)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))
    return opening + leaf + closing


def test_deep_nesting_is_capped_fast() -> None:
    """5000 nested levels: split to max_depth, the rest one part; linear time, no recursion."""
    body = _deep_body(5000)
    started = time.process_time()
    p = MultipartParser(b"b0", max_depth=10, max_parts=1024, max_header_block=65536)
    events, anomalies = run_with(p, [body[i : i + 1448] for i in range(0, len(body), 1448)])
    elapsed = time.process_time() - started
    starts = [e for e in events if isinstance(e, PartStart)]
    assert len(starts) == 11
    assert starts[-1].path == (0,) * 11
    assert starts[-1].container is False
    opaque = b"".join(e.data for e in events if isinstance(e, PartData))
    assert opaque.startswith(b"--b11\r\n")
    assert opaque.endswith(b"--b11--")
    assert [e.complete for e in events if isinstance(e, PartEnd)] == [True] * 11
    assert anomalies == [("mime_max_depth", "level 11 over 10")]
    assert elapsed < 3.0  # CPU seconds: a quadratic split would take minutes


def test_deep_nesting_fully_split_without_recursion() -> None:
    """With a high max_depth, all 5000 levels are split without Python recursion."""
    body = _deep_body(5000)
    started = time.process_time()
    p = MultipartParser(b"b0", max_depth=10_000, max_parts=10_000, max_header_block=65536)
    events, anomalies = run_with(p, [body[i : i + 1448] for i in range(0, len(body), 1448)])
    elapsed = time.process_time() - started
    starts = [e for e in events if isinstance(e, PartStart)]
    assert len(starts) == 5001
    assert sum(s.container for s in starts) == 5000
    assert [e for e in events if isinstance(e, PartData)] == [PartData(index=5000, data=b"leaf")]
    assert anomalies == []
    assert elapsed < 6.0  # CPU seconds: a quadratic split would take minutes


def test_reused_boundary_stays_one_part() -> None:
    """A nested body that reuses an enclosing boundary is not split (it could not close)."""
    body = b"--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nx\r\n--b--"
    events, anomalies = run_with(parser(b"b"), [body])
    assert [type(e) for e in events] == [PartStart, PartData, PartEnd]
    assert anomalies == [("mime_boundary_reused", "part 0")]


def test_feed_after_finish_is_ignored() -> None:
    """After finish() nothing more is parsed."""
    p = parser(b"b")
    p.feed(b"--b\r\n\r\nx\r\n--b--")
    p.finish()
    assert p.feed(b"--b\r\n\r\ny") == []
    assert p.finish() == []


def test_filename_from_content_type_name() -> None:
    """Without a Content-Disposition filename, the Content-Type name parameter names the part."""
    body = b'--b\r\nContent-Type: application/pdf; name="scan.pdf"\r\n\r\n%PDF\r\n--b--'
    events, _ = run_with(parser(b"b"), [body])
    assert isinstance(events[0], PartStart)
    assert events[0].filename == "scan.pdf"


# -- header parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"multipart/form-data; boundary=abc", b"abc"),
        (b'Multipart/Mixed; BOUNDARY="a b:c"', b"a b:c"),
        (b'multipart/mixed; charset=x; boundary="==abc=="; x=y', b"==abc=="),
        (b"multipart/mixed", None),
        (b"text/plain; boundary=abc", None),
        (b'multipart/mixed; boundary=""', None),
        (b"multipart/mixed; boundary=" + b"x" * 300, None),
        (b"", None),
    ],
)
def test_boundary_from_content_type(value: bytes, expected: bytes | None) -> None:
    """The boundary of multipart/* only, quoted or not, within the length cap."""
    assert boundary_from_content_type(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'attachment; filename="report.pdf"', "report.pdf"),
        (b"attachment; filename=report.pdf", "report.pdf"),
        (b"attachment; filename=my report.pdf", "my report.pdf"),
        (b'attachment; filename="quo\\"te\\\\d.txt"', 'quo"te\\d.txt'),
        (b'form-data; name="f"; filename="C:\\Users\\me\\a.txt"', "C:\\Users\\me\\a.txt"),
        (b"attachment; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt", "na\u00efve caf\u00e9.txt"),
        (b"attachment; filename*=iso-8859-1'en'%A3%20rates.txt", "\u00a3 rates.txt"),
        (
            b"attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt",
            "\u20ac.txt",
        ),
        (
            b"attachment; filename*0*=UTF-8''%E6%97%A5%E6%9C%AC; filename*1=-long;"
            b' filename*2*=%E8%AA%9E.txt; filename="short.txt"',
            "\u65e5\u672c-long\u8a9e.txt",
        ),
        (b'attachment; filename*1="b.txt"; filename*0="a-"', "a-b.txt"),
        (b'attachment; filename="=?UTF-8?B?0JTQvtC60YPQvNC10L3Rgi5wZGY=?="', "Документ.pdf"),
        (b'attachment; filename="=?iso-8859-1?Q?caf=E9_menu.txt?="', "café menu.txt"),
        (b'attachment; filename="=?utf-8?q?a?= =?utf-8?q?b?=.txt"', "ab.txt"),
        (b'attachment; filename="caf\xc3\xa9.txt"', "café.txt"),
        (b'attachment; filename="caf\xe9.txt"', "café.txt"),
        (b"attachment; filename*=x-unknown''caf%C3%A9.txt", "café.txt"),
        (b"attachment; filename*=zlib''%78%9c", "x\u009c"),
        (b'attachment; filename="=?x-nope?B?w6k=?="', "é"),
        (b'attachment; filename="=?utf-8?B?!!!?="', ""),
        (b'attachment; filename="unterminated.txt', "unterminated.txt"),
        (b'attachment; filename=""', ""),
        (b"attachment", None),
        (b"attachment; size=10", None),
    ],
)
def test_content_disposition_filename(value: bytes, expected: str | None) -> None:
    """Quoted, token, escaped, RFC 2231/5987 (charset, continuations), RFC 2047, raw bytes."""
    assert content_disposition_filename(value) == expected


def test_parse_header_params_main_value_and_names() -> None:
    """The main value and parameter names are lower-cased; valueless parameters are dropped."""
    assert parse_header_params(b'Form-Data; NAME="Field"; flag; Filename=a.txt ;x = "y"') == (
        "form-data",
        {"name": "Field", "filename": "a.txt", "x": "y"},
    )


def test_parse_header_params_first_duplicate_wins() -> None:
    """A repeated parameter keeps its first value."""
    assert parse_header_params(b"attachment; filename=a; filename=b") == (
        "attachment",
        {"filename": "a"},
    )


def test_parse_header_params_continuation_with_a_gap_stops_at_it() -> None:
    """Continuations stop at the first missing number (RFC 2231 s3)."""
    assert parse_header_params(b"a; n*0=x; n*2=z; n*1=y; m*1=q") == ("a", {"n": "xyz"})
    assert parse_header_params(b"a; n*0=x; n*2=z") == ("a", {"n": "x"})


_FRAGMENTS = (
    b"--b",
    b"--b--",
    b"--in",
    b"--in--",
    b"\r\n",
    b"\n",
    b"\r",
    b"-",
    b"--",
    b" ",
    b"x",
    b"data",
    b"Content-Type: multipart/mixed; boundary=in\r\n",
    b"Content-Type: text/plain\r\n",
    b"Content-Disposition: form-data; name=a; filename*=UTF-8''%C3%A9\r\n",
)


def test_random_bodies_parse_the_same_however_cut() -> None:
    """Bodies made of delimiter-like fragments give the same events and anomalies whole,
    byte by byte and in random cuts, and never hold more than a line back."""
    rng = random.Random(2046)
    for _ in range(150):
        body = b"".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 60)))
        expected = run_with(parser(b"b", max_header_block=200), [body])
        pieces = [body[i : i + 1] for i in range(len(body))]
        assert run_with(parser(b"b", max_header_block=200), pieces) == expected, body
        p = parser(b"b", max_header_block=200)
        events: list[PartEvent] = []
        for piece in random_pieces(body, rng.randint(0, 1 << 30)):
            events += p.feed(piece)
            assert p.buffered_bytes <= 200 + len(b"\r\n--in--") + 2
        events += p.finish()
        assert (normalize(events), p.anomalies) == expected, body


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_header_helpers_never_raise(value: bytes) -> None:
    """Any header value parses to a lower-cased main value and string parameters."""
    main, params = parse_header_params(value)
    assert main == main.lower()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    content_disposition_filename(value)
    boundary = boundary_from_content_type(value)
    assert boundary is None or 0 < len(boundary) <= 256
