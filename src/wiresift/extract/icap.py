"""ICAP events -> "http" objects for the HTTP messages ICAP carried (RFC 3507).

One object per encapsulated exchange: the original (tx ``2n`` of ICAP transaction ``n``:
the HTTP request of a REQMOD, or the request headers and response of a RESPMOD) and, when
the ICAP server returned something other than what it was sent, the adapted one (tx
``2n + 1``: a modified request, or a modified response paired with its request). A REQMOD
answered by an HTTP response (a block page) puts that response in the original object.
Objects are finished when the ICAP response ends, so each names the ICAP outcome.

The proxy's client headers (draft-stecher-icap-subid-00: X-Client-IP, X-Server-IP,
X-Subscriber-ID, X-Authenticated-User, X-Authenticated-Groups; X-Client-Username as Squid
sends it) say whose traffic it was: when given, ``flow.client`` and ``flow.server`` become
those addresses, ``flow.via`` the ICAP server, and the ICAP connection's ends are kept under
``http.icap``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
from typing import Final

from wiresift.extract.web import HttpBuilder, _Exchange, header, text
from wiresift.model import FlowRef, JsonValue, ObjectRecord
from wiresift.protocols.base import Direction, Event
from wiresift.protocols.http1.events import Headers, MessageEnd
from wiresift.protocols.icap.events import IcapMessageEnd, IcapRequestHead, IcapResponseHead

_NO_RECORDS: Final[list[ObjectRecord]] = []
# ICAP transactions remembered for their objects at most (Limits.max_pending_tx's default).
MAX_OPEN_TRANSACTIONS: Final = 256
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ftp": 21}


class _Transaction:
    """What the ICAP messages of one transaction said."""

    __slots__ = ("request", "response")

    def __init__(self) -> None:
        self.request: IcapRequestHead | None = None
        self.response: IcapResponseHead | None = None


def authenticated_user(value: bytes) -> str | None:
    """The account of an X-Authenticated-User value (base64 of ``Local://name`` or
    ``LDAP://host/dn``, draft-stecher-icap-subid-00 s4): the name for Local, else the
    decoded URL; None when it is not base64 of text."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if not decoded.isprintable():
        return None
    scheme, separator, rest = decoded.partition("://")
    if separator and scheme.lower() == "local":
        return rest
    return decoded


def _address(value: bytes | None) -> str | None:
    """A valid IP address from a header value, in its canonical text form."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(text(value.strip())))
    except ValueError:
        return None


def http_server(target: bytes, host: bytes | None) -> tuple[str | None, int]:
    """The HTTP server's name and port: from an absolute target (RFC 9112 s3.2.2), else
    the Host header; the port defaults to the scheme's (80 for http)."""
    scheme = "http"
    authority = host or b""
    if b"://" in target:
        scheme_bytes, _, rest = target.partition(b"://")
        scheme = text(scheme_bytes).lower()
        authority = rest.split(b"/", 1)[0].rpartition(b"@")[2]
    name, port_text = authority, b""
    if authority.startswith(b"["):
        name, _, after = authority[1:].partition(b"]")
        port_text = after.removeprefix(b":")
    elif authority.count(b":") == 1:
        name, _, port_text = authority.partition(b":")
    port = _DEFAULT_PORTS.get(scheme, 80)
    if port_text.isdigit() and len(port_text) <= 5 and 0 < int(port_text) < 65536:
        port = int(port_text)
    return (text(name).lower() if name else None), port


class IcapBuilder(HttpBuilder):
    """The HTTP exchanges ICAP carried into "http" objects with ``protocol: "icap"``."""

    protocol = "icap"

    def _start(self) -> None:
        super()._start()
        self._transactions: dict[int, _Transaction] = {}

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; return the objects it completed."""
        if isinstance(event, IcapRequestHead):
            self._transaction(event.tx).request = event
            return _NO_RECORDS
        if isinstance(event, IcapResponseHead):
            if not event.interim:
                self._transaction(event.tx).response = event
            return _NO_RECORDS
        if isinstance(event, IcapMessageEnd):
            if event.direction is Direction.RESP:
                return self._transaction_end(event.tx)
            return _NO_RECORDS
        return super().on_event(event, frame)

    def _transaction(self, tx: int) -> _Transaction:
        found = self._transactions.get(tx)
        if found is None:
            if len(self._transactions) >= MAX_OPEN_TRANSACTIONS:
                del self._transactions[next(iter(self._transactions))]
            found = self._transactions[tx] = _Transaction()
        return found

    def _transaction_end(self, tx: int) -> list[ObjectRecord]:
        """The ICAP response is over: the transaction's exchanges become objects."""
        records: list[ObjectRecord] = []
        for http_tx in (2 * tx, 2 * tx + 1):
            ex = self._open.pop(http_tx, None)
            if ex is not None:
                records.extend(self._finish(ex))
        self._transactions.pop(tx, None)
        return records

    def _message_end(self, event: MessageEnd, frame: int) -> list[ObjectRecord]:
        """Note the end of an HTTP message; the ICAP transaction's end emits the object."""
        ex = self._open.get(event.tx)
        if ex is None:
            return _NO_RECORDS
        ex.ts_last = max(ex.ts_last, event.ts)
        ex.last_frame = frame
        if event.direction == Direction.ORIG:
            ex.req_done = True
            ex.req_complete = event.complete
        else:
            ex.resp_done = True
            ex.resp_complete = event.complete
        return _NO_RECORDS

    def _exchange_record(self, ex: _Exchange) -> ObjectRecord:
        """The HTTP object, with the ICAP facts, the real endpoints and the user added.

        Complete means every message that was carried ended normally: a REQMOD's original
        request has no response, and that is no defect."""
        record = super()._exchange_record(ex)
        http_tx = ex.tx
        complete = (
            (ex.request is not None or ex.response is not None)
            and (ex.request is None or ex.req_complete)
            and (ex.response is None or ex.resp_complete)
            and all(item.complete for item in record.contents)
        )
        transaction = self._transactions.get(http_tx // 2) or _Transaction()
        meta = dict(record.meta)
        request = ex.request
        http_target = (request.target, header(request.headers, b"host")) if request else (b"", None)
        icap, flow, user = self._icap_meta(transaction, http_tx, http_target)
        meta["icap"] = icap
        meta["user"] = user
        return dataclasses.replace(
            record,
            flow=flow,
            meta=meta,
            complete=complete,
            parties={"account": user} if user is not None else {},
        )

    def _icap_meta(
        self, transaction: _Transaction, http_tx: int, http_target: tuple[bytes, bytes | None]
    ) -> tuple[dict[str, JsonValue], FlowRef, str | None]:
        """The ``http.icap`` block, the object's flow and its user."""
        wire = self.flow
        icap: dict[str, JsonValue] = {
            "tx": http_tx // 2,
            "role": "adapted" if http_tx % 2 else "original",
            "client": {"addr": wire.client_addr, "port": wire.client_port},
            "server": {"addr": wire.server_addr, "port": wire.server_port},
        }
        headers: Headers = ()
        request = transaction.request
        if request is not None:
            headers = request.headers
            icap.update(
                method=text(request.method),
                uri=text(request.uri),
                preview=request.preview,
                request_headers=[[text(k), text(v)] for k, v in headers],
            )
        response = transaction.response
        if response is not None:
            istag = header(response.headers, b"istag")
            icap.update(
                status=response.status,
                reason=text(response.reason),
                istag=text(istag) if istag is not None else None,
                response_headers=[[text(k), text(v)] for k, v in response.headers],
            )
        client_ip = _address(header(headers, b"x-client-ip"))
        server_ip = _address(header(headers, b"x-server-ip"))
        subscriber = header(headers, b"x-subscriber-id")
        username = header(headers, b"x-client-username")
        authenticated = header(headers, b"x-authenticated-user")
        groups = header(headers, b"x-authenticated-groups")
        user = authenticated_user(authenticated) if authenticated is not None else None
        if user is None and username is not None:
            user = text(username)
        icap.update(
            client_ip=client_ip,
            server_ip=server_ip,
            subscriber_id=text(subscriber) if subscriber is not None else None,
            client_username=text(username) if username is not None else None,
            authenticated_user=authenticated_user(authenticated) if authenticated else None,
            authenticated_groups=text(groups) if groups is not None else None,
        )
        flow = dataclasses.replace(wire, encapsulation=(*wire.encapsulation, "icap"))
        if client_ip is not None or server_ip is not None:
            # Without X-Server-IP the server is named as the HTTP request names it.
            target, host = http_target
            server_name, server_port = http_server(target, host)
            server_addr = server_ip or server_name
            flow = dataclasses.replace(
                flow,
                client_addr=client_ip or wire.client_addr,
                client_port=0 if client_ip is not None else wire.client_port,
                server_addr=server_addr or wire.server_addr,
                server_port=server_port if server_addr else wire.server_port,
                via=(wire.server_addr, wire.server_port),
            )
        return icap, flow, user
