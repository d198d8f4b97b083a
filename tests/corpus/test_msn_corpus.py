"""MSN capture of the shared corpus (nDPI msnms.pcap, 2005): every text message the manual
tshark inspection lists (expected/ndpi-msnms__manual-tshark-im-objects.tsv) comes out as a
``chat`` object with its sender, the switchboard's other participants and the exact text,
the one-sided switchboard (client to server only) included."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

import wiresift.engine
from tests.conftest import corpus_path
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import msn

CAPTURE = ("pcaps", "msn", "ndpi-msnms.pcap")
EXPECTED = ("expected", "ndpi-msnms__manual-tshark-im-objects.tsv")
LOCAL = "jujurius@msn.com"  # MANIFEST: local user
REMOTE = "cecile260992@hotmail.com"  # MANIFEST: remote 'choupi'
ONE_SIDED_PORT = 1176  # MANIFEST: client->server only; no USR/ANS seen, so no account


class MsnChatBuilder(ChatBuilder):
    """The chat builder with the protocol name the engine gives it once registered."""

    protocol = "msn"


def _run() -> list[dict[str, Any]]:
    sink = MemorySink()
    engine = Engine(Config(), [sink], store=MemoryContentStore(), registry=msn.SPECS)
    source = open_source(corpus_path(*CAPTURE))
    try:
        engine.run(source)
    finally:
        source.close()
    engine.finish()
    return [r.to_json() for r in sink.records]


@pytest.fixture(scope="module")
def passports() -> list[dict[str, Any]]:
    """The capture's objects with msn registered and its chat builder patched in."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(wiresift.engine.BUILDERS, "msn", MsnChatBuilder)
        return _run()


def _expected() -> dict[tuple[int, str], list[tuple[str, tuple[str, ...], str, int | None]]]:
    """(client port, "client"|"server") -> [(sender, recipients, text, trid)] in order."""
    rows = corpus_path(*EXPECTED).read_text(encoding="utf-8").splitlines()
    out: dict[tuple[int, str], list[tuple[str, tuple[str, ...], str, int | None]]] = defaultdict(
        list
    )
    for row in rows:
        kind, _flow, endpoints, who, text = row.split("\t", 4)
        if kind != "msn_text_message":
            continue
        src, dst = endpoints.split("->")
        from_client = not src.endswith(":1863")
        port = int((src if from_client else dst).rsplit(":", 1)[1])
        one_sided = port == ONE_SIDED_PORT
        if who.startswith("self(trid="):
            trid: int | None = int(who[len("self(trid=") : -1])
            sender = "" if one_sided else LOCAL
            recipients: tuple[str, ...] = () if one_sided else (REMOTE,)
        else:
            trid, sender, recipients = None, who, (LOCAL,)
        out[port, "client" if from_client else "server"].append((sender, recipients, text, trid))
    return out


def test_every_text_message_with_sender_participants_and_text(
    passports: list[dict[str, Any]],
) -> None:
    """34 messages: per switchboard and side, the same senders, recipients and texts in order."""
    got: dict[tuple[int, str], list[tuple[str, tuple[str, ...], str, int | None]]] = defaultdict(
        list
    )
    for passport in passports:
        if passport["kind"] != "chat":
            continue
        chat = passport["chat"]
        got[passport["flow"]["client"]["port"], chat["sent_by"]].append(
            (
                passport["parties"]["sender"],
                tuple(passport["parties"]["recipients"]),
                chat["text"],
                chat.get("trid"),
            )
        )
    expected = _expected()
    assert sum(len(v) for v in expected.values()) == 34
    assert dict(got) == dict(expected)


def test_one_sided_switchboard_keeps_its_side(passports: list[dict[str, Any]]) -> None:
    """The flow captured client to server only still gives its message (trid 88)."""
    one_sided = [
        p for p in passports if p["kind"] == "chat" and p["flow"]["client"]["port"] == 1176
    ]
    assert [(p["chat"]["trid"], p["chat"]["text"][:24]) for p in one_sided] == [
        (88, "ouai mai tu voi je lui p")
    ]


def test_clean_run_and_fonts(passports: list[dict[str, Any]]) -> None:
    """No anomaly on the capture; message fonts come from X-MMS-IM-Format."""
    assert [p["anomalies"] for p in passports if p["anomalies"]] == []
    fonts = {p["chat"]["font"] for p in passports if p["kind"] == "chat"}
    assert fonts == {"Lucida Grande", "MS Shell Dlg"}
