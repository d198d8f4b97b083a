"""The content store on disk: atomic, deduplicated by hash, bounded in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from wiresift.outputs import filestore
from wiresift.outputs.filestore import FileContentStore


def _commit(store: FileContentStore, *chunks: bytes) -> str:
    writer = store.open()
    for chunk in chunks:
        writer.write(chunk)
    return writer.commit(hashlib.sha256(b"".join(chunks)).hexdigest())


def test_content_lands_under_its_hash(tmp_path: Path) -> None:
    """A committed content is a file named by its sha256, with the exact bytes."""
    store = FileContentStore(tmp_path)
    rel = _commit(store, b"abc", b"def")
    digest = hashlib.sha256(b"abcdef").hexdigest()
    assert rel == f"content/{digest[:2]}/{digest}"
    assert (tmp_path / rel).read_bytes() == b"abcdef"
    store.close()
    assert not (tmp_path / ".tmp").exists()


def test_equal_content_is_stored_once_even_across_runs(tmp_path: Path) -> None:
    """The second equal content writes no file, also from a new store on the same folder."""
    first = FileContentStore(tmp_path)
    rel = _commit(first, b"same")
    mtime = (tmp_path / rel).stat().st_mtime_ns
    second = FileContentStore(tmp_path)
    assert _commit(second, b"same") == rel
    assert (tmp_path / rel).stat().st_mtime_ns == mtime
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_remembered_hashes_are_bounded_and_the_disk_answers_past_them(tmp_path: Path) -> None:
    """Past ``max_known`` hashes the store forgets them (memory stays bounded over months)
    and still stores each content once: the file on disk tells."""
    store = FileContentStore(tmp_path, max_known=4)
    rels = [_commit(store, b"item %d" % index) for index in range(10)]
    assert len(store.known) <= 4
    mtimes = [(tmp_path / rel).stat().st_mtime_ns for rel in rels]
    assert [_commit(store, b"item %d" % index) for index in range(10)] == rels
    assert [(tmp_path / rel).stat().st_mtime_ns for rel in rels] == mtimes
    assert len(store.known) <= 4
    assert sorted(p.name for p in (tmp_path / "content").rglob("*") if p.is_file()) == sorted(
        rel.rsplit("/", 1)[1] for rel in rels
    )
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_large_content_spills_to_a_temporary_file(tmp_path: Path) -> None:
    """Past the spill threshold the bytes go to disk, and the result is the same."""
    store = FileContentStore(tmp_path)
    big = b"x" * (filestore.SPILL_THRESHOLD + 10)
    writer = store.open()
    writer.write(big[:100])
    assert store.held == 100
    writer.write(big[100:])
    assert store.held == 0
    assert len(list((tmp_path / ".tmp").iterdir())) == 1
    rel = writer.commit(hashlib.sha256(big).hexdigest())
    assert (tmp_path / rel).read_bytes() == big
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_memory_budget_bounds_what_open_writers_hold(tmp_path: Path) -> None:
    """Many small open contents together never hold more than the memory budget."""
    store = FileContentStore(tmp_path)
    chunk = b"y" * 100_000
    writers = [store.open() for _ in range(filestore.MEMORY_BUDGET // len(chunk) + 20)]
    for writer in writers:
        writer.write(chunk)
    assert store.held < filestore.MEMORY_BUDGET
    for writer in writers:
        writer.discard()
    assert store.held == 0
    assert list((tmp_path / ".tmp").iterdir()) == []
