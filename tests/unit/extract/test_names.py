"""safe_filename and filename_from_uri."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wiresift.extract.names import filename_from_uri, safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/etc/shadow", "shadow"),
        ("C:\\Users\\me\\Desktop\\invoice.docx", "invoice.docx"),
        ("\\\\server\\share\\file.txt", "file.txt"),
        ("C:file.txt", "C_file.txt"),
        ("dir/", "dir"),
        ("a/..", "_"),
        ("..", "_"),
        (".", "_"),
        ("/", "unnamed"),
        ("", "unnamed"),
        ("   ", "unnamed"),
        ("...", "unnamed"),
        (".bashrc", "_bashrc"),
        ("..hidden", "_.hidden"),
        ("name. . ", "name"),
        ("  spaced  ", "spaced"),
        ("a\x00b.txt", "ab.txt"),
        ("tab\there\nnew\rline\x7f.txt", "tab_here_new_line_.txt"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("invoice\u202efdp.exe", "invoice_fdp.exe"),
        ("zero\u200bwidth.txt", "zero_width.txt"),
        ("bad\udce9.txt", "bad_.txt"),
        ("caf\u00e9 \u65e5\u672c.txt", "caf\u00e9 \u65e5\u672c.txt"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Nul.tar.gz", "_Nul.tar.gz"),
        ("COM1", "_COM1"),
        ("lpt9.log", "_lpt9.log"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("COM10", "COM10"),
        (b"caf\xc3\xa9.txt", "caf\u00e9.txt"),
        (b"caf\xe9.txt", "caf\u00e9.txt"),
        (b"../x\x00y", "xy"),
    ],
)
def test_safe_filename(name: str | bytes, expected: str) -> None:
    """Traversal, absolute and Windows paths, controls, reserved names, encodings."""
    assert safe_filename(name) == expected


def test_long_name_keeps_its_extension_and_whole_characters() -> None:
    """A name over max_len bytes is cut on a character boundary, extension kept."""
    name = "\u65e5" * 100 + ".pdf"  # 3 bytes per character
    result = safe_filename(name, max_len=50)
    assert result == "\u65e5" * 15 + ".pdf"
    assert len(result.encode()) == 49


def test_long_name_with_a_long_extension_is_cut_whole() -> None:
    """An 'extension' longer than 16 bytes is not kept apart."""
    result = safe_filename("a" * 30 + "." + "b" * 40, max_len=20)
    assert result == "a" * 20


def test_cut_never_leaves_a_trailing_dot_or_space() -> None:
    """What the cut exposes at the end is stripped again."""
    assert safe_filename("abc. def" + "x" * 50, max_len=4) == "abc"


def test_reserved_name_prefix_stays_within_max_len() -> None:
    """The '_' prefix of a reserved name does not push past max_len."""
    assert safe_filename("CON.txt", max_len=7) == "_CO.txt"


def test_tiny_max_len_never_empty() -> None:
    """Even a one-byte limit gives a non-empty name."""
    assert safe_filename("\u65e5\u672c", max_len=1) == "u"


def test_max_len_must_be_positive() -> None:
    """A zero limit is a programming error."""
    with pytest.raises(ValueError, match="max_len"):
        safe_filename("x", max_len=0)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/download/report.pdf", "report.pdf"),
        (b"/a/b/file.txt?x=1&y=/z.exe#frag", "file.txt"),
        (b"/file.txt#x/y", "file.txt"),
        (b"http://example.com/dl/r%C3%A9sum%C3%A9.pdf", "r\u00e9sum\u00e9.pdf"),
        (b"HTTPS://example.com:8443/x/y.zip?dl=1", "y.zip"),
        (b"/x/caf%E9.txt", "caf\u00e9.txt"),
        (b"/x/a+b%20c.txt", "a+b c.txt"),
        (b"/dl/file.pdf;jsessionid=ABC123", "file.pdf"),
        (b"/dl/semi;colon.txt", "semi;colon.txt"),
        (b"/a%2F..%2Fb", "a/../b"),
        (b"/", None),
        (b"", None),
        (b"/dir/", None),
        (b"/a/..", None),
        (b"/a/.", None),
        (b"/?q=1", None),
        (b"http://example.com", None),
        (b"http://example.com/", None),
        (b"http://example.com?x=/y.txt", None),
        (b"*", None),
        (b"example.com:443", None),
    ],
)
def test_filename_from_uri(target: bytes, expected: str | None) -> None:
    """The last path segment, decoded, of origin-form and absolute-form targets."""
    assert filename_from_uri(target) == expected


def test_uri_name_is_made_safe_by_safe_filename() -> None:
    """A decoded segment holding separators is reduced by safe_filename."""
    name = filename_from_uri(b"/get/..%5C..%5Cboot.ini")
    assert name == "..\\..\\boot.ini"
    assert safe_filename(name) == "boot.ini"


@settings(max_examples=150, deadline=None)
@given(name=st.one_of(st.text(max_size=80), st.binary(max_size=80)), max_len=st.integers(1, 64))
def test_safe_filename_invariants(name: str | bytes, max_len: int) -> None:
    """Any name gives a non-empty basename within max_len bytes, with no separator or NUL."""
    result = safe_filename(name, max_len=max_len)
    assert 0 < len(result.encode()) <= max_len
    assert not set(result) & set('/\\\x00<>:"|?*')
    assert result not in (".", "..")
    assert not result.startswith(".")
    assert result == result.rstrip(". ")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_filename_from_uri_never_raises(target: bytes) -> None:
    """Any request target gives a name or None."""
    name = filename_from_uri(target)
    assert name is None or (name and name not in (".", ".."))
