"""Every capture of the shared corpus opens, reads to the end and has the expected packets."""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest

from tests.conftest import CORPUS, corpus_path
from wiresift.capture import PcapngReader, open_source

pytestmark = pytest.mark.corpus

# MANIFEST.tsv link type names (tshark's) to LINKTYPE_* numbers; "per-packet" means several.
LINKTYPE_BY_NAME = {
    "ether": 1,
    "null": 0,
    "rawip": 12,  # the one rawip capture was written with OpenBSD's DLT_RAW value
    "linux-sll": 113,
    "linux-sll2": 276,
    "nflog": 239,
    "ieee-802-11-radiotap": 127,
}


def manifest_rows() -> list[dict[str, str]]:
    """Rows of MANIFEST.tsv, or none when the corpus is absent (the test then skips)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return [{"file": "MANIFEST.tsv", "packets": "0", "linktype": "ether"}]
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("row", manifest_rows(), ids=lambda row: row["file"])
def test_corpus_capture_reads_cleanly(row: dict[str, str]) -> None:
    """The packet count and link types match MANIFEST.tsv, with no damage reported."""
    path = corpus_path(row["file"])
    with open_source(path) as source:
        linktypes = Counter(packet[1] for packet in source)
        assert source.error is None
        assert source.bytes_read() == source.total_bytes() == path.stat().st_size
    assert sum(linktypes.values()) == int(row["packets"])
    if row["linktype"] == "per-packet":
        assert len(linktypes) > 1
    else:
        assert set(linktypes) == {LINKTYPE_BY_NAME[row["linktype"]]}


def test_pcpp_example_mixes_nanosecond_ethernet_and_microsecond_sll() -> None:
    """IDB 0 is Ethernet in nanoseconds, IDB 1 Linux SLL in microseconds (tshark agrees)."""
    with open_source(corpus_path("pcaps", "pcapng", "pcpp-pcapng-example.pcapng")) as source:
        packets = list(source)
        assert isinstance(source, PcapngReader)
        assert source.interface_linktypes == [1, 113]
    assert [
        (ts, linktype, len(data), wirelen, iface)
        for ts, linktype, data, wirelen, iface in (
            packets[0],
            packets[59],
            packets[60],
        )
    ] == [
        (1_422_527_998_578_402_281, 1, 74, 74, 0),
        (18_446_744_073_204_126_329_000, 113, 68, 68, 1),
        (18_446_744_073_204_126_338_000, 113, 128, 1444, 1),
    ]


def test_zeek_multi_interface_timestamps() -> None:
    """Two Ethernet interfaces with nanosecond and microsecond clocks, as tshark shows them."""
    with open_source(corpus_path("pcaps", "pcapng", "zeek-pcapng-multi-interface.pcapng")) as src:
        stamps = [(ts, iface, len(data)) for ts, _, data, _, iface in src]
    assert stamps == [
        (1_767_663_089_500_330_493, 0, 96),
        (1_767_663_089_514_291_940, 0, 214),
        (1_767_663_437_111_897_000, 1, 70),
        (1_767_663_437_126_460_000, 1, 166),
        (1_767_663_437_128_303_000, 1, 70),
        (1_767_663_437_140_942_000, 1, 182),
    ]


@pytest.mark.parametrize("name", ["pngtg-le-test101", "pngtg-be-test102", "pngtg-le-test202"])
def test_pcapng_generator_files_match_their_block_lists(name: str) -> None:
    """Packets = EPB + SPB of the generator's own block list; interfaces = IDB count."""
    expected = corpus_path("expected", f"{name}__pcapng-test-generator__{name[-7:]}.txt")
    counts = {
        block: int(count)
        for block, count in re.findall(r"^\s+(\w+): (\d+)$", expected.read_text(), re.MULTILINE)
    }
    with open_source(corpus_path("pcaps", "pcapng", f"{name}.pcapng")) as source:
        packets = list(source)
        assert source.error is None
        assert isinstance(source, PcapngReader)
        assert len(source.interface_linktypes) == counts["IDB"]
    assert len(packets) == counts["EPB"] + counts["SPB"]
