"""Protocol detection rate over the whole corpus, flow by flow (a script, not a test).

Runs wiresift's engine (``keep_detections``) over every capture in the corpus MANIFEST and
compares each flow's label with the per-flow reference labels shipped in ``expected/``:

* nDPI ``ndpiReader`` results (``*__ndpi__*.out``): one line per flow with
  ``[proto: <id>/<Master>.<App>]``; the MANIFEST's "nDPI flows by protocol: X xN" clauses
  are the per-label totals of these same lines.
* Zeek ``conn.log`` baselines (``*conn.log*``): the ``service`` column per connection.

A wiresift flow's labels are its detected protocol, the protocol of every object it
produced (a STARTTLS flow is both ``smtp`` and ``tls``), and ``skype`` when a usage object
says ``application: "skype"`` (TLS names, Microsoft STUN attributes). Per protocol it
prints: flows the references label with it (expected), those wiresift labels the same
(detected), missed, false positives (wiresift says P, the reference a different known
protocol), and "extra" (wiresift says P, the reference found nothing). Reference labels
with no wiresift counterpart (DNS, NetBIOS...) are listed as not comparable; a wiresift
label on such a flow still counts as a false positive.

Reproduce:

    .venv/bin/python bench/detection_rate.py [--corpus ../shared/corpus] [--verbose]
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from wiresift.capture import open_source
from wiresift.capture.base import CaptureError
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.model import format_addr
from wiresift.outputs.memory import MemoryContentStore, MemorySink

Endpoint = tuple[str, int]
FlowKey = frozenset[Endpoint]

# nDPI protocol names -> wiresift protocol names (both halves of "Master.App" are mapped).
NDPI_NAMES: dict[str, str] = {
    "HTTP": "http",
    "HTTP2": "http2",
    "TLS": "tls",
    "IMAPS": "tls",
    "POPS": "tls",
    "POP3S": "tls",
    "SMTPS": "tls",
    "IMAP": "imap",
    "POP3": "pop3",
    "SMTP": "smtp",
    "FTP_CONTROL": "ftp",
    "FTP_DATA": "ftp-data",
    "IRC": "irc",
    "Jabber": "xmpp",
    "MSN": "msn",
    "Oscar": "oscar",
    "Yahoo": "ymsg",
    "BitTorrent": "bittorrent",
    "SOCKS": "socks",
    "STUN": "stun",
    "Skype_Teams": "skype",
    "Skype_TeamsCall": "skype",
    "LotusNotes": "notes",
    "DirectConnect": "nmdc",
    "ICAP": "icap",
}
# Zeek conn.log services -> wiresift names.
ZEEK_NAMES: dict[str, str] = {
    "http": "http",
    "ssl": "tls",
    "ftp": "ftp",
    "ftp-data": "ftp-data",
    "smtp": "smtp",
    "pop3": "pop3",
    "imap": "imap",
    "irc": "irc",
    "irc-dcc-data": "irc-dcc",
    "xmpp": "xmpp",
    "socks": "socks",
    "websocket": "websocket",
    "bittorrent": "bittorrent",
}
# wiresift's own sub-protocols compare as their family (nDPI has one BitTorrent label).
FAMILY: dict[str, str] = {
    "bittorrent-dht": "bittorrent",
    "bittorrent-tracker-udp": "bittorrent",
    "bittorrent-lsd": "bittorrent",
    "utp": "bittorrent",
}
UNKNOWN_LABELS = frozenset({"Unknown", "-", ""})
NDPI_FLOW = re.compile(r"^\s+\d+\s+(TCP|UDP)\s+(\S+)\s+<?->\s+(\S+)\s+\[proto: [0-9.]+/([^\]]+)\]")


def _endpoint(text: str) -> Endpoint | None:
    """``1.2.3.4:80`` or ``[2001:db8::1]:80`` -> (normalised address, port)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        return None


class Reference:
    """Per-flow labels of one capture from one tool."""

    def __init__(self, source: str) -> None:
        self.source = source
        # key -> (raw label, expected wiresift names; empty for a label we do not parse)
        self.flows: dict[FlowKey, tuple[str, frozenset[str]]] = {}
        self.not_comparable: Counter[str] = Counter()


def read_ndpi(path: Path) -> Reference:
    """Flow lines of an ndpiReader result."""
    ref = Reference("nDPI")
    for line in path.read_text(errors="replace").splitlines():
        match = NDPI_FLOW.match(line)
        if match is None:
            continue
        a, b = _endpoint(match.group(2)), _endpoint(match.group(3))
        if a is None or b is None:
            continue
        label = match.group(4)
        parts = label.split(".")
        master = parts[0]
        if master in UNKNOWN_LABELS:
            expected: frozenset[str] = frozenset()
        elif master not in NDPI_NAMES:
            expected = frozenset()
            ref.not_comparable[label] += 1
        else:
            expected = frozenset(NDPI_NAMES[p] for p in parts if p in NDPI_NAMES)
        ref.flows[frozenset((a, b))] = (label, expected)
    return ref


def read_zeek_conn(path: Path) -> Reference:
    """Connections of a Zeek conn.log (full or ``.cut`` baseline)."""
    ref = Reference("Zeek")
    fields: list[str] = []
    for line in path.read_text(errors="replace").splitlines():
        if "id.orig_h" in line and "id.resp_p" in line:
            fields = line.removeprefix("#fields").strip().split("\t")
            continue
        if not fields or line.startswith("#"):
            continue
        row = dict(zip(fields, line.split("\t"), strict=False))
        if "service" not in row:
            continue
        a = _endpoint(f"[{row.get('id.orig_h', '')}]:{row.get('id.orig_p', '')}")
        b = _endpoint(f"[{row.get('id.resp_h', '')}]:{row.get('id.resp_p', '')}")
        if a is None or b is None:
            continue
        label = row["service"]
        services = [s for s in label.split(",") if s and s != "-"]
        unmapped = [s for s in services if s not in ZEEK_NAMES]
        if unmapped and len(unmapped) == len(services):
            ref.not_comparable[label] += 1
        ref.flows[frozenset((a, b))] = (
            label,
            frozenset(ZEEK_NAMES[s] for s in services if s in ZEEK_NAMES),
        )
    return ref


def wiresift_labels(path: Path) -> dict[FlowKey, set[str]]:
    """Every flow of one capture with the protocols wiresift gave it."""
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), source_name=path.name)
    engine.keep_detections = True
    source = open_source(path)
    try:
        engine.run(source)
    finally:
        source.close()
    engine.finish()
    labels: dict[FlowKey, set[str]] = defaultdict(set)
    first: dict[FlowKey, str | None] = {}
    for flow, detection in engine.detections:
        (oa, op), (ra, rp) = flow.orig, flow.resp
        a = _endpoint(f"[{format_addr(oa)}]:{op}")
        b = _endpoint(f"[{format_addr(ra)}]:{rp}")
        if a is None or b is None:
            continue
        key = frozenset((a, b))
        if key in first:
            continue  # a later detection is tunnelled content (SOCKS, CONNECT), not the flow
        first[key] = detection.protocol
        labels[key] = set() if detection.protocol is None else {detection.protocol}
    for record in sink.records:
        ref = record.flow
        a = _endpoint(f"[{ref.client_addr}]:{ref.client_port}")
        b = _endpoint(f"[{ref.server_addr}]:{ref.server_port}")
        if a is None or b is None or ref.via is not None:
            continue  # objects of a tunnelled connection name the tunnel's target
        key = frozenset((a, b))
        if not (record.protocol == "ftp" and first.get(key) == "ftp-data"):
            labels[key].add(record.protocol)  # e.g. "tls" after STARTTLS on an smtp flow
        metadata = record.meta.get("metadata")
        if isinstance(metadata, dict) and metadata.get("application") == "skype":
            labels[key].add("skype")
    for key, names in labels.items():
        labels[key] = {FAMILY.get(name, name) for name in names}
    return labels


class Tally:
    """Counts per protocol across the corpus."""

    def __init__(self) -> None:
        self.expected: Counter[str] = Counter()
        self.detected: Counter[str] = Counter()
        self.false_positive: Counter[str] = Counter()
        self.extra: Counter[str] = Counter()
        self.not_comparable: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = defaultdict(list)

    def compare(self, capture: str, ref: Reference, ours: dict[FlowKey, set[str]]) -> None:
        for key, (label, expected) in ref.flows.items():
            got = ours.get(key, set())
            for name in expected:
                self.expected[name] += 1
                if name in got:
                    self.detected[name] += 1
                elif len(self.examples[f"missed {name}"]) < 3:
                    said = ",".join(sorted(got)) or ("nothing" if key in ours else "no such flow")
                    self.examples[f"missed {name}"].append(
                        f"{capture} {sorted(key)} ({ref.source} {label}; wiresift: {said})"
                    )
            for name in got - expected:
                if label in UNKNOWN_LABELS or label.split(".")[0] in UNKNOWN_LABELS:
                    self.extra[name] += 1
                else:
                    self.false_positive[name] += 1
                    if len(self.examples[f"false positive {name}"]) < 3:
                        self.examples[f"false positive {name}"].append(
                            f"{capture} {sorted(key)} ({ref.source} says {label})"
                        )
        self.not_comparable.update({f"{ref.source} {k}": v for k, v in ref.not_comparable.items()})


def manifest_rows(corpus: Path) -> list[dict[str, str]]:
    lines = (corpus / "MANIFEST.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:] if line]


def clause_origin(clause: str) -> str:
    """The origin a MANIFEST clause names (text before its first colon, shortened)."""
    origin = clause.split(":", 1)[0].strip()
    origin = re.sub(r"\(.*?\)", "", origin).strip()
    return re.sub(r"^\d+ ", "", origin)[:48]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "corpus"
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--verbose", action="store_true", help="show example misses")
    args = parser.parse_args()
    corpus: Path = args.corpus
    tally = Tally()
    other_clauses: Counter[str] = Counter()
    compared = without_reference = failed = 0
    start = time.perf_counter()
    for row in manifest_rows(corpus):
        path = corpus / row["file"]
        references: list[Reference] = []
        for name in re.findall(r"expected/([^,\] ]+)", row.get("expectation_source", "")):
            ref_path = corpus / "expected" / name
            if name.endswith(".out") and "__ndpi__" in name:
                references.append(read_ndpi(ref_path))
            elif "conn.log" in name:
                references.append(read_zeek_conn(ref_path))
        for clause in row.get("expected_objects", "").split("||"):
            origin = clause_origin(clause)
            read = origin.startswith("nDPI flows by protocol") or (
                origin.startswith("zeek conn.log") and any(r.source == "Zeek" for r in references)
            )
            if origin and not read:
                other_clauses[origin] += 1
        if not references:
            without_reference += 1
            continue
        try:
            ours = wiresift_labels(path)
        except CaptureError as exc:
            failed += 1
            print(f"cannot read {row['file']}: {exc}", file=sys.stderr)
            continue
        compared += 1
        for ref in references:
            tally.compare(row["file"], ref, ours)
    elapsed = time.perf_counter() - start

    names = sorted(set(tally.expected) | set(tally.false_positive) | set(tally.extra))
    print(f"{'protocol':<14}{'expected':>9}{'detected':>9}{'missed':>8}{'false+':>8}{'extra':>7}")
    for name in names:
        exp, det = tally.expected[name], tally.detected[name]
        print(
            f"{name:<14}{exp:>9}{det:>9}{exp - det:>8}"
            f"{tally.false_positive[name]:>8}{tally.extra[name]:>7}"
        )
    total_exp, total_det = sum(tally.expected.values()), sum(tally.detected.values())
    rate = 100.0 * total_det / total_exp if total_exp else 0.0
    print(
        f"overall: {total_det}/{total_exp} reference labels detected ({rate:.1f}%), "
        f"{sum(tally.false_positive.values())} false positives, "
        f"{sum(tally.extra.values())} labels where the reference found nothing"
    )
    print(
        f"captures compared: {compared} (with nDPI or Zeek conn.log flow labels); "
        f"without a flow-level reference: {without_reference}; unreadable: {failed}; "
        f"{elapsed:.1f} s"
    )
    print("reference labels not comparable (no wiresift parser):")
    for label, count in tally.not_comparable.most_common():
        print(f"  {label} x{count}")
    print("MANIFEST clauses not compared here (object-level expectations, other tests):")
    for origin, count in other_clauses.most_common(12):
        print(f"  {origin} x{count}")
    if args.verbose:
        for what, examples in sorted(tally.examples.items()):
            for example in examples:
                print(f"  {what}: {example}")
    print("reproduce: .venv/bin/python bench/detection_rate.py --corpus ../shared/corpus")
    return 0


if __name__ == "__main__":
    sys.exit(main())
