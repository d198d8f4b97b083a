"""Real IRC and XMPP captures of the shared corpus: the messages, contact lists and DCC file
that the MANIFEST states (and the SHA-256 Zeek gives for the DCC SEND file)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

import wiresift.engine
from tests.conftest import corpus_path
from tests.engine.helpers import Run
from wiresift.capture import open_source
from wiresift.config import Config
from wiresift.engine import Engine
from wiresift.extract.chat import ChatBuilder
from wiresift.outputs.memory import MemoryContentStore, MemorySink
from wiresift.protocols import irc, xmpp

REGISTRY = (*irc.SPECS, *xmpp.SPECS)
# Zeek's file-analysis baseline (scripts.base.frameworks.file-analysis.irc, "thefile").
DCC_FILE_SHA256 = "566c4819a8130d65d29076930bd46dde5c2595a4a8be4a380857feb5b430ec6e"
DCC_FILE_SIZE = 1_320_211


@pytest.fixture
def chat_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route the four chat protocols to ChatBuilder (before their integration)."""
    for name in ("irc", "irc-dcc", "xmpp", "xmpp-s5b"):
        monkeypatch.setitem(wiresift.engine.BUILDERS, name, ChatBuilder)


def run(path: Path, config: Config | None = None) -> Run:
    """Read ``path`` through an engine that knows only IRC and XMPP."""
    sink = MemorySink()
    store = MemoryContentStore()
    engine = Engine(
        config or Config(), [sink], store=store, registry=REGISTRY, source_name=str(path)
    )
    source = open_source(path)
    try:
        engine.run(source)
    finally:
        source.close()
    return Run(sink, store, engine.finish())


def chats(run: Run) -> list[tuple[str, str, list[str], str | None, str, str]]:
    """(protocol, sender, recipients, channel, kind, text) of every chat object."""
    return [
        (
            p["protocol"],
            p["parties"]["sender"],
            p["parties"]["recipients"],
            p["chat"]["channel"],
            p["chat"]["message_kind"],
            p["chat"]["text"],
        )
        for p in run.passports
        if p["kind"] == "chat"
    ]


def of_kind(run: Run, kind: str) -> list[dict[str, Any]]:
    """Passports of ``kind``."""
    return [p for p in run.passports if p["kind"] == kind]


@pytest.mark.usefixtures("chat_builders")
def test_irc_dcc_send_file_and_channel_messages() -> None:
    """zeek-irc-dcc-send: four #testing messages of tim2, two of tim1, the DCC SEND file
    ssh.trace (1,320,211 bytes, Zeek's SHA-256) and the DCC CHAT lines."""
    result = run(corpus_path("pcaps", "irc", "zeek-irc-dcc-send.pcapng"))
    own = [c for c in chats(result) if c[0] == "irc" and c[1] == "tim2"]
    assert own == [
        ("irc", "tim2", ["#testing"], "#testing", "groupchat", text)
        for text in (
            "hi, i'm chatting for some packets",
            "more packets",
            "more packets!",
            "even more packets!",
        )
    ]
    files = of_kind(result, "file")
    assert len(files) == 1
    file = files[0]
    assert file["protocol"] == "irc-dcc"
    assert file["file"]["wire_name"] == "ssh.trace"
    assert file["complete"] is True
    (content,) = file["contents"]
    assert content["size"] == DCC_FILE_SIZE
    assert content["sha256"] == DCC_FILE_SHA256
    data = result.store.blobs[content["sha256"]]
    assert hashlib.sha256(data).hexdigest() == DCC_FILE_SHA256
    dcc_chat = [c for c in chats(result) if c[0] == "irc-dcc"]
    assert dcc_chat == [
        ("irc-dcc", "tim1", ["tim2"], None, "private", "hello, are you there?"),
        ("irc-dcc", "tim2", ["tim1"], None, "private", "yes i am!"),
    ]


@pytest.mark.usefixtures("chat_builders")
def test_irc_basic_message_without_colon() -> None:
    """zeek-irc-basic: 'PRIVMSG #brotest test' (no ':' before the text) is one message."""
    result = run(corpus_path("pcaps", "irc", "zeek-irc-basic.pcap"))
    assert [c for c in chats(result) if c[1] == "brotest"] == [
        ("irc", "brotest", ["#brotest"], "#brotest", "groupchat", "test")
    ]


@pytest.mark.usefixtures("chat_builders")
def test_irc_on_port_8000_found_by_content() -> None:
    """ndpi-irc: IRC on port 8000 is recognised by content; the login is molochtest."""
    result = run(corpus_path("pcaps", "irc", "ndpi-irc.pcap"))
    assert result.stats.protocols["irc"] == 1


@pytest.mark.usefixtures("chat_builders")
def test_xmpp_pidgin_roster_and_messages() -> None:
    """ndpi-jabber: the two 'hey' messages and tom's roster with chatback (group cs-xmpp,
    subscription to), exactly as the MANIFEST states.

    The roster pushes follow 600 s of silence; with the default 300 s idle timeout the flow
    restarts there and the flow layer drops the first packets of the restarted flow, so the
    idle timeout is raised here.
    """
    config = Config(tcp_idle_timeout=3600)
    result = run(corpus_path("pcaps", "xmpp", "ndpi-jabber.pcapng"), config)
    assert chats(result) == [
        ("xmpp", "tom@cs-xmpp.lan/darkstar", ["chatback@cs-xmpp.lan"], None, "chat", "hey"),
        (
            "xmpp",
            "chatback@cs-xmpp.lan/104588072251790900698",
            ["tom@cs-xmpp.lan/darkstar"],
            None,
            "chat",
            "hey",
        ),
    ]
    lists = [p for p in of_kind(result, "contact_list") if p["contact_list"]["contacts"]]
    assert len(lists) == 1
    meta = lists[0]["contact_list"]
    assert meta["owner"] == "tom@cs-xmpp.lan"
    assert meta["contacts"] == [
        {
            "contact": "chatback@cs-xmpp.lan",
            "name": None,
            "groups": ["cs-xmpp"],
            "subscription": "to",
            "ask": None,
        }
    ]
    accounts = {p["parties"]["account"] for p in result.passports if p["protocol"] == "xmpp"}
    assert accounts == {"tom@cs-xmpp.lan/darkstar"}


@pytest.mark.usefixtures("chat_builders")
def test_xmpp_starttls_switches_to_tls() -> None:
    """zeek-xmpp-starttls: the stream is XMPP, then TLS after <proceed/>."""
    result = run(corpus_path("pcaps", "xmpp", "zeek-xmpp-starttls.pcap"))
    assert result.stats.protocols["xmpp"] == 1
    assert result.stats.protocols["tls (not parsed)"] == 1
