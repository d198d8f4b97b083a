"""Protocol metadata events -> one "usage" object per flow: who used which application.

The builder takes the TLS handshake events (versions, SNI, ALPN, cipher, JA3/JA3S/JA4,
resumption, certificates) and the generic ``UsageInfo`` events of any other protocol, and
merges them into one passport when the flow ends. Certificates become content items (role
``certificate``, DER bytes, named ``<sha256>.der``) with their summary beside them; the
engine hands in packet and byte counters and how the protocol was detected before
``close``.
"""

from __future__ import annotations

import hashlib
from typing import Final

from wiresift.extract.builder import Builder
from wiresift.extract.files import ContentTracker
from wiresift.model import ContentItem, JsonValue, ObjectRecord
from wiresift.protocols.base import Anomaly, Direction, Event
from wiresift.protocols.skype.hosts import classify_tls
from wiresift.protocols.tls.events import (
    AlertSeen,
    CertificateInfo,
    CertificateSeen,
    ClientHello,
    EncryptedData,
    Resumed,
    ServerHello,
)
from wiresift.protocols.tls.fingerprints import cipher_name, is_grease, version_name
from wiresift.protocols.usage_events import UsageInfo

_NOTHING: Final[list[ObjectRecord]] = []  # shared empty result, never mutated
# Anomalies listed on one object at most (as for HTTP objects).
MAX_OBJECT_ANOMALIES: Final = 32
# Certificates stored per direction (real chains hold 2-5).
MAX_CERTIFICATES: Final = 16
# Entries kept in one merged list value (alerts, UsageInfo lists).
MAX_LIST_VALUES: Final = 64
# Keys kept in the merged metadata of one flow.
MAX_METADATA_KEYS: Final = 256
_SIDE_NAMES: Final = ("client", "server")
_TLS_EVENTS: Final = (ClientHello, ServerHello, CertificateSeen, Resumed, AlertSeen, EncryptedData)


def certificate_summary(info: CertificateInfo) -> dict[str, JsonValue]:
    """The JSON form of a certificate summary (also stored on its content item)."""
    return {
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "san_dns": list(info.san_dns),
        "san_ip": list(info.san_ip),
        "key_type": info.key_type,
        "key_bits": info.key_bits,
        "curve": info.curve,
        "signature_algorithm": info.signature_algorithm,
        "self_signed": info.self_signed,
        "sha256": info.sha256,
        "sha1": info.sha1,
    }


class UsageBuilder(Builder):
    """Turns one flow's metadata events into a single "usage" object."""

    def _start(self) -> None:
        self.protocol: str | None = None
        self.metadata: dict[str, JsonValue] = {}
        self.counters: dict[str, JsonValue] = {}
        self.contents: list[ContentItem] = []
        self.anomalies: list[str] = []
        self.ts_first = self.ts_last = 0
        self.first_frame = self.last_frame = 0
        self._certificates = [0, 0]
        self._client_hello = False
        self._server_hello = False
        self._complete = True
        self._closed = False

    # -- events ---------------------------------------------------------------------

    def on_event(self, event: Event, frame: int) -> list[ObjectRecord]:
        """Take one event; a usage object is made only at ``close``."""
        if isinstance(event, Anomaly):
            self.anomaly(event.name, event.detail)
            return _NOTHING
        if isinstance(event, UsageInfo):
            self._seen(event.protocol, event.ts, frame)
            self._merge(event.metadata)
            self._complete = self._complete and event.complete
        elif isinstance(event, _TLS_EVENTS):
            self._seen("tls", event.ts, frame)
            self._tls(event)
        return _NOTHING

    def anomaly(self, name: str, detail: str) -> None:
        """A named anomaly of this flow (parser or extraction)."""
        if len(self.anomalies) < MAX_OBJECT_ANOMALIES:
            self.anomalies.append(name)

    def set_counters(
        self,
        packets_orig: int,
        packets_resp: int,
        bytes_orig: int,
        bytes_resp: int,
        detection: str,
        confidence: str,
    ) -> None:
        """Flow totals and how the protocol was chosen (the engine calls this before close)."""
        self.counters = {
            "packets": {"client": packets_orig, "server": packets_resp},
            "bytes": {"client": bytes_orig, "server": bytes_resp},
            "detection": detection,
            "confidence": confidence,
        }

    def close(self, ts: int) -> list[ObjectRecord]:
        """The flow ended: its usage object, if anything was learnt."""
        if self._closed or self.protocol is None:
            self._closed = True
            return []
        self._closed = True
        complete = self._complete and all(c.complete for c in self.contents)
        if self.protocol in ("tls", "dtls"):
            complete = complete and self._client_hello and self._server_hello
            classify_tls(self.metadata)  # Skype/Teams server or certificate names
        meta: dict[str, JsonValue] = {"protocol": self.protocol, **self.counters}
        meta["metadata"] = self.metadata
        return [
            ObjectRecord(
                id=self._next_id(),
                kind="usage",
                protocol=self.protocol,
                ts_first=self.ts_first,
                ts_last=self.ts_last,
                source=self._source(self.first_frame, self.last_frame),
                flow=self.flow,
                direction="none",
                complete=complete,
                meta=meta,
                contents=tuple(self.contents),
                anomalies=tuple(self.anomalies),
            )
        ]

    # -- internals ------------------------------------------------------------------

    def _seen(self, protocol: str, ts: int, frame: int) -> None:
        if self.protocol is None:
            self.protocol = protocol
            self.ts_first = ts
            self.first_frame = frame
        self.ts_last = max(self.ts_last, ts)
        self.last_frame = max(self.last_frame, frame)

    def _merge(self, values: object) -> None:
        """Scalars replace, lists append (without duplicates, capped)."""
        if not isinstance(values, dict):
            return
        metadata = self.metadata
        for key, value in values.items():
            if key not in metadata and len(metadata) >= MAX_METADATA_KEYS:
                continue
            old = metadata.get(key)
            if isinstance(value, list):
                merged = list(old) if isinstance(old, list) else []
                for item in value:
                    if len(merged) >= MAX_LIST_VALUES:
                        break
                    if item not in merged:
                        merged.append(item)
                metadata[key] = merged
            else:
                metadata[key] = value

    def _append(self, key: str, value: JsonValue) -> None:
        values = self.metadata.setdefault(key, [])
        assert isinstance(values, list)
        if len(values) < MAX_LIST_VALUES:
            values.append(value)

    def _tls(self, event: Event) -> None:
        meta = self.metadata
        if isinstance(event, ClientHello):
            self._client_hello = True
            offered = [v for v in event.supported_versions if not is_grease(v)]
            meta.update(
                {
                    "client_version": version_name(event.legacy_version),
                    "offered_versions": [version_name(v) for v in offered],
                    "sni": event.server_name,
                    "alpn_offered": list(event.alpn),
                    "ciphers_offered": [
                        cipher_name(c) for c in event.cipher_suites if not is_grease(c)
                    ],
                    "sslv2_hello": event.sslv2,
                    "ja3": event.ja3,
                    "ja3_string": event.ja3_string,
                    "ja4": event.ja4,
                    "ja4_r": event.ja4_r,
                }
            )
        elif isinstance(event, ServerHello):
            self._server_hello = not event.retry_request
            meta.update(
                {
                    "version": version_name(event.version),
                    "cipher": event.cipher_name,
                    "alpn": event.alpn,
                    "ja3s": event.ja3s,
                    "ja3s_string": event.ja3s_string,
                    "hello_retry": event.retry_request,
                }
            )
            meta.setdefault("resumed", False)
        elif isinstance(event, Resumed):
            meta["resumed"] = True
            meta["resumption"] = event.method
        elif isinstance(event, CertificateSeen):
            self._certificate(event)
        elif isinstance(event, AlertSeen):
            self._append(
                "alerts",
                {
                    "from": _SIDE_NAMES[event.direction],
                    "level": event.level,
                    "description": event.description,
                },
            )
        elif isinstance(event, EncryptedData):
            side = _SIDE_NAMES[event.direction]
            meta[f"encrypted_records_{side}"] = event.records
            meta[f"encrypted_bytes_{side}"] = event.size

    def _certificate(self, event: CertificateSeen) -> None:
        side = event.direction
        if self._certificates[side] >= MAX_CERTIFICATES:
            self.anomaly("tls_too_many_certificates", "")
            return
        self._certificates[side] += 1
        tracker = ContentTracker(
            self.store.open(),
            role="certificate",
            name=f"{hashlib.sha256(event.der).hexdigest()}.der",
            declared_type="application/pkix-cert",
            limit=self.config.limits.max_stored_body,
        )
        tracker.write(event.der)
        summary: dict[str, JsonValue] = {
            "from": _SIDE_NAMES[side],
            "chain_index": event.index,
        }
        if event.info is not None:
            summary.update(certificate_summary(event.info))
        tracker.extra["certificate"] = summary
        self.contents.append(tracker.finish(complete=True))
        key = "server_certificates" if side is Direction.RESP else "client_certificates"
        self._append(key, summary)
