"""FTP events -> one "file" object per data transfer (RFC 959 s3.2, s4.1.3).

The same builder class serves the control connection ("ftp") and the data connection
("ftp-data"); they meet in the shared ``FtpTransfer``. The data side streams the bytes into
a content item as they arrive. The object is built when both halves are known: the data
connection has ended *and* the control connection has answered the transfer command (or
has closed), whichever comes last in the capture. A directory listing (LIST, NLST, MLSD) is
an object like a file, its content item having the role ``listing`` (stored unless
``OutputConfig.ftp_store_listings`` is off) and its entries read into ``file.entries``.

The object's ``flow`` is the data connection as seen on the wire: its client is the side
that opened it, which in active mode is the FTP *server*. The FTP roles are in the
metadata: ``server`` (the control connection's server), ``client_addr`` and ``mode``.
"""

from __future__ import annotations

from typing import Final

from wiresift.extract.builder import Builder
from wiresift.extract.files import ContentTracker, NullStore
from wiresift.extract.names import safe_filename
from wiresift.model import JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Event
from wiresift.protocols.expect_events import ExpectConnection
from wiresift.protocols.ftp.events import (
    DataChunk,
    DataGap,
    DataStart,
    FtpTransfer,
    TransferEnd,
)
from wiresift.protocols.ftp.parser import LISTINGS

_NOTHING: Final[list[ObjectRecord]] = []  # shared empty result, never mutated
# Final replies that say a transfer went through (RFC 959 s4.2.2: 226 closing the data
# connection, 250 requested file action completed).
SUCCESS_CODES: Final = frozenset({226, 250})
# Transfers of one control connection followed until their object is out.
MAX_OPEN_TRANSFERS: Final = 256
MAX_OBJECT_ANOMALIES: Final = 32
# Bytes of a data connection kept to read a directory listing's entries, and entries kept.
MAX_LISTING_BYTES: Final = 256 * 1024
MAX_LISTING_ENTRIES: Final = 10_000


def text(value: bytes | None) -> str | None:
    """Wire bytes as text: UTF-8 when valid (RFC 2640), else Latin-1."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class FtpBuilder(Builder):
    """Turns one flow's FTP control or data events into file objects."""

    def _start(self) -> None:
        # Control side: transfers announced and not yet turned into objects.
        self._transfers: list[FtpTransfer] = []
        # Data side.
        self._started = False
        self._transfer: FtpTransfer | None = None
        self._tracker: ContentTracker | None = None
        self._data_direction: int | None = None
        self._ts_first = self._ts_last = 0
        self._first_frame = self._last_frame = 0
        self._anomalies: list[str] = []
        self._listing_head = bytearray()  # the start of the data, for listing entries

    # -- events -----------------------------------------------------------------------

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if type(event) is DataChunk:  # the common case first
            tracker = self._tracker
            if tracker is None:
                tracker = self._open(event.ts, frame)
            if self._data_direction is None:
                self._data_direction = event.direction
            elif event.direction != self._data_direction:
                self._note("ftp_data_both_directions")
                return _NOTHING
            tracker.write(event.data)
            if len(self._listing_head) < MAX_LISTING_BYTES:
                self._listing_head += event.data[: MAX_LISTING_BYTES - len(self._listing_head)]
            self._ts_last = event.ts
            self._last_frame = frame
            return _NOTHING
        if isinstance(event, DataStart):
            self._started = True
            self._transfer = event.transfer
            self._ts_first = self._ts_last = event.ts
            self._first_frame = self._last_frame = frame
            return _NOTHING
        if isinstance(event, DataGap):
            tracker = self._tracker or self._open(event.ts, frame)
            tracker.gap(event.size)
            return _NOTHING
        if isinstance(event, ExpectConnection):
            if isinstance(event.context, FtpTransfer):
                if len(self._transfers) >= MAX_OPEN_TRANSFERS:
                    self._transfers.pop(0)
                self._transfers.append(event.context)
            return _NOTHING
        if isinstance(event, TransferEnd):
            return self._control_done(event.transfer)
        if isinstance(event, Anomaly):
            self._note(event.name)
        return _NOTHING

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended (or changed protocol)."""
        if self._started:
            return self._data_done(ts)
        records: list[ObjectRecord] = []
        for transfer in self._transfers:
            transfer.control_closed = True
            records.extend(self._control_done(transfer, keep=True))
        self._transfers.clear()
        return records

    # -- internals ----------------------------------------------------------------------

    def _note(self, name: str) -> None:
        if len(self._anomalies) < MAX_OBJECT_ANOMALIES:
            self._anomalies.append(name)

    def _open(self, ts: int, frame: int) -> ContentTracker:
        # The role becomes "listing" at the end if the command turns out to be one (the
        # data may be captured before the command that asked for it).
        transfer = self._transfer
        listing = transfer is not None and transfer.command in LISTINGS
        store_it = not listing or self.config.output.ftp_store_listings
        self._tracker = ContentTracker(
            self.store.open() if store_it else NullStore().open(),
            role="file",
            name=None,
            declared_type=None,
            limit=self.config.limits.max_stored_body,
        )
        if not self._started:
            self._started = True
            self._ts_first = ts
            self._first_frame = frame
        return self._tracker

    def _control_done(self, transfer: FtpTransfer, *, keep: bool = False) -> list[ObjectRecord]:
        if not keep:
            self._transfers = [t for t in self._transfers if t is not transfer]
        finisher = transfer.finisher
        if finisher is None:
            return _NOTHING
        transfer.finisher = None
        record: ObjectRecord = finisher()
        return [record]

    def _data_done(self, ts: int) -> list[ObjectRecord]:
        self._started = False
        tracker = self._tracker or self._open(ts, self._last_frame)
        self._tracker = None
        transfer = self._transfer
        if transfer is None or transfer.reply_done:
            return [self._record(tracker, transfer)]
        transfer.finisher = lambda: self._record(tracker, transfer)
        return _NOTHING

    def _record(self, tracker: ContentTracker, transfer: FtpTransfer | None) -> ObjectRecord:
        name = None
        if transfer is not None and transfer.argument and transfer.command not in LISTINGS:
            name = safe_filename(transfer.argument)
        tracker.name = name
        if transfer is not None and transfer.command in LISTINGS:
            tracker.role = "listing"
        expected = None
        if transfer is not None and transfer.announced_size is not None:
            expected = transfer.announced_size
            # With REST the server sends what follows the offset; some servers announce the
            # whole size, others the remainder: accept either.
            if transfer.offset and tracker.offset == expected - transfer.offset:
                expected = tracker.offset
        item = tracker.finish(
            complete=transfer is not None
            and transfer.reply_code in SUCCESS_CODES
            and not transfer.aborted,
            expected_size=expected,
        )
        meta = self._meta(transfer, tracker, name)
        if transfer is not None and transfer.command in LISTINGS:
            meta["entries"] = listing_entries(bytes(self._listing_head))
        self._listing_head = bytearray()
        return ObjectRecord(
            id=self._next_id(),
            kind="file",
            protocol="ftp",
            ts_first=self._ts_first,
            ts_last=max(self._ts_last, self._ts_first),
            source=self._source(self._first_frame, self._last_frame),
            flow=self.flow,
            direction=(transfer.direction or "none") if transfer is not None else "none",
            complete=item.complete,
            meta=meta,
            contents=(item,),
            parties={"account": text(transfer.user)} if transfer is not None else {},
            anomalies=tuple(self._anomalies),
        )

    def _meta(
        self, transfer: FtpTransfer | None, tracker: ContentTracker, name: str | None
    ) -> dict[str, JsonValue]:
        if transfer is None:
            return {"command": None, "mode": None, "size": tracker.offset, "control_flow": None}
        return {
            "command": text(transfer.command),
            "argument": text(transfer.argument),
            "name": name,
            "path": text(transfer.path),
            "cwd": text(transfer.cwd),
            "mode": transfer.mode,
            "type": text(transfer.type),
            "offset": transfer.offset,
            "size": tracker.offset,
            "announced_size": transfer.announced_size,
            "reply_code": transfer.reply_code,
            "reply": text(transfer.reply_text),
            "aborted": transfer.aborted,
            "user": text(transfer.user),
            "server": {"addr": transfer.server_addr, "port": transfer.server_port},
            "client_addr": transfer.client_addr,
            "data_endpoint": {"addr": transfer.data_addr, "port": transfer.data_port},
            "control_flow": transfer.control_uid,
        }


def listing_entries(data: bytes) -> list[JsonValue]:
    """The names (and sizes and kinds where the format says) of a directory listing.

    NLST is one name a line (RFC 959 s4.1.3); MLSD is ``facts; name`` (RFC 3659 s7);
    LIST has no standard format: the Unix ``ls -l`` form (9+ fields, size in the fifth)
    and the DOS form (``date time <DIR>|size name``) are read, anything else is kept
    as the whole line.
    """
    entries: list[JsonValue] = []
    for raw in data.split(b"\n")[:MAX_LISTING_ENTRIES]:
        line = text(raw.rstrip(b"\r")) or ""
        if not line or line.startswith("total "):
            continue
        if "; " in line and "=" in line.split("; ", 1)[0]:  # MLSD
            facts, name = line.split("; ", 1)
            fact = dict(f.split("=", 1) for f in facts.split(";") if "=" in f)
            size = fact.get("size") or fact.get("Size")
            kind = (fact.get("type") or fact.get("Type") or "").lower()
            entries.append(
                {
                    "name": name,
                    "size": int(size) if size and size.isdigit() else None,
                    "dir": kind in ("dir", "cdir", "pdir"),
                }
            )
            continue
        fields = line.split(None, 8)
        if len(fields) == 9 and fields[0][:1] in "-dlbcps" and fields[4].isdigit():  # ls -l
            entries.append(
                {"name": fields[8], "size": int(fields[4]), "dir": fields[0].startswith("d")}
            )
            continue
        dos = line.split(None, 3)
        if len(dos) == 4 and (dos[2] == "<DIR>" or dos[2].isdigit()):
            entries.append(
                {
                    "name": dos[3],
                    "size": None if dos[2] == "<DIR>" else int(dos[2]),
                    "dir": dos[2] == "<DIR>",
                }
            )
            continue
        entries.append({"name": line, "size": None, "dir": None})
    return entries
