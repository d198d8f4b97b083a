"""Service settings: parsing, validation with key and line, defaults, overrides."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from ipaddress import ip_network
from pathlib import Path

import pytest

from wiresift.config import Config, Limits, OutputConfig
from wiresift.protocols import REGISTRY
from wiresift.service.settings import (
    CapdropSettings,
    CaptureSettings,
    FlowSettings,
    InterfaceSettings,
    OutputSettings,
    RuleSpec,
    ServiceSettings,
    Settings,
    SettingsError,
    _KeyLocator,
    apply_overrides,
    default_settings_text,
    enabled_protocols,
    load_settings,
    parse_settings,
    parse_size,
)

KNOWN = ("http", "smtp", "pop3")
DEFAULT = default_settings_text()
_HEADER = re.compile(r"\[([\w.]+)\]")
_KEY_LINE = re.compile(r"(\w+) = ")


def _default_keys() -> list[tuple[str, int]]:
    """(dotted key, line) of every key line of the default file, read line by line."""
    table = ""
    found: list[tuple[str, int]] = []
    for number, line in enumerate(DEFAULT.splitlines(), start=1):
        if header := _HEADER.fullmatch(line):
            table = header.group(1)
        elif key := _KEY_LINE.match(line):
            found.append((f"{table}.{key.group(1)}", number))
    return found


def _leaf_keys(table: dict[str, object], prefix: str = "") -> set[str]:
    """Dotted names of the non-table values of a parsed TOML document."""
    keys: set[str] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


DEFAULT_KEYS = _default_keys()


def _mutated(line_number: int, value: str) -> str:
    """The default file with the key on ``line_number`` set to ``value`` (TOML text)."""
    lines = DEFAULT.splitlines()
    key = lines[line_number - 1].split(" = ")[0]
    lines[line_number - 1] = f"{key} = {value}"
    return "\n".join(lines) + "\n"


def _error(text: str, known: tuple[str, ...] = KNOWN) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        parse_settings(text, "s.toml", known)
    return caught.value


# A value of the right type but not allowed, per key name; the second item is the suffix the
# error key has beyond the key itself (array elements, rule fields). Keys of type int, bool
# and float are handled by type below; "filter" accepts any string.
_BAD_STRINGS: dict[str, tuple[str, str]] = {
    "directory": ('""', ""),
    "state_directory": ('""', ""),
    "log_file": ('"a\\u0000b"', ""),
    "done_directory": ('"a\\u0000b"', ""),
    "failed_directory": ('"a\\u0000b"', ""),
    "log_level": ('"verbose"', ""),
    "after": ('"copy"', ""),
    "default_action": ('"drop"', ""),
    "metrics_listen": ('"9477"', ""),
    "memory_budget": ('"16 parsecs"', ""),
    "buffer_size": ('"4GiB"', ""),
    "interfaces": ('["eth0", "eth0"]', "[1]"),
    "protocols": ('["*", "-nosuch"]', "[1]"),
    "patterns": ('["*.pcap", "dir/*.pcap"]', "[1]"),
    "rules": ('[{ action = "accept", src = "10.0.0.300/8" }]', "[0].src"),
    "fallback_charset": ('"klingon-8"', ""),
}


def _bad_value(dotted: str, default: object) -> tuple[str, str] | None:
    """A bad value for a key, or None when every value of its type is allowed."""
    name = dotted.rsplit(".", 1)[1]
    if name in _BAD_STRINGS:
        return _BAD_STRINGS[name]
    if isinstance(default, bool):
        return ('"yes"', "")
    if isinstance(default, int):
        return ("-1", "")
    if isinstance(default, float):
        return ("0.05", "")
    return None


def _default_value(dotted: str) -> object:
    value: object = tomllib.loads(DEFAULT)
    for part in dotted.split("."):
        assert isinstance(value, dict)
        value = value[part]
    return value


def test_defaults_round_trip() -> None:
    """The default file parses to exactly the dataclass defaults."""
    assert parse_settings(DEFAULT) == Settings()
    assert parse_settings("") == Settings()


def test_default_file_names_every_field() -> None:
    """Every settings field, each Limits field included, is a key line of the default file."""
    expected = {f"limits.{item.name}" for item in fields(Limits)}
    for table, record in (
        ("output", OutputSettings),
        ("flows", FlowSettings),
        ("capture", CaptureSettings),
        ("capture.defaults", InterfaceSettings),
        ("capdrop", CapdropSettings),
        ("service", ServiceSettings),
    ):
        expected |= {f"{table}.{item.name}" for item in fields(record)}
    expected -= {"flows.limits", "capture.defaults", "capture.overrides"}
    expected -= {"capture.defaults.name", "capture.defaults.given"}
    listed = [key for key, _ in DEFAULT_KEYS]
    assert sorted(listed) == sorted(expected)
    assert set(listed) == _leaf_keys(tomllib.loads(DEFAULT))


def test_default_file_comments_every_key() -> None:
    """Each key line of the default file follows a comment that states its default."""
    lines = DEFAULT.splitlines()
    for key, number in DEFAULT_KEYS:
        above = lines[number - 2]
        assert above.startswith("#"), key
        comment: list[str] = []
        index = number - 2
        while index >= 0 and lines[index].startswith("#"):
            comment.insert(0, lines[index])
            index -= 1
        assert "default" in " ".join(comment).lower(), key


@pytest.mark.parametrize(("key", "line"), DEFAULT_KEYS, ids=[key for key, _ in DEFAULT_KEYS])
def test_every_key_rejects_a_table(key: str, line: int) -> None:
    """An inline table, a type no key accepts, is reported with the key and its line."""
    error = _error(_mutated(line, "{}"))
    assert (error.key, error.line, error.source) == (key, line, "s.toml")
    assert str(error).startswith(f"s.toml:{line}: {key}: must be ")
    assert str(error).endswith("(got a table)")


@pytest.mark.parametrize(("key", "line"), DEFAULT_KEYS, ids=[key for key, _ in DEFAULT_KEYS])
def test_every_key_rejects_a_bad_value(key: str, line: int) -> None:
    """An out-of-range, unknown or malformed value names the exact key and its line."""
    bad = _bad_value(key, _default_value(key))
    if bad is None:
        assert key.endswith(".filter")  # a BPF expression is checked when it is compiled
        return
    value, suffix = bad
    error = _error(_mutated(line, value))
    assert (error.key, error.line) == (key + suffix, line)


def test_bad_value_messages() -> None:
    """Messages say what is allowed and repeat the value given."""
    snaplen = dict(DEFAULT_KEYS)["capture.defaults.snaplen"]
    assert str(_error(_mutated(snaplen, '"big"'))) == (
        f"s.toml:{snaplen}: capture.defaults.snaplen: must be an integer from 64 to 262144"
        ' (got "big")'
    )
    level = dict(DEFAULT_KEYS)["service.log_level"]
    assert _error(_mutated(level, '"loud"')).message == (
        'must be one of "debug", "info", "warning", "error" (got "loud")'
    )
    protocols = dict(DEFAULT_KEYS)["capdrop.protocols"]
    assert _error(_mutated(protocols, '["htp"]')).message == (
        'unknown protocol "htp" (did you mean "http"?) (known: http, pop3, smtp)'
    )
    budget = dict(DEFAULT_KEYS)["flows.memory_budget"]
    assert _error(_mutated(budget, '"1KiB"')).message == (
        'must be a size from 1 MiB to 1 TiB, in bytes or like "16MiB" (got "1KiB")'
    )


SAMPLE = """\
[output]
directory = "/srv/objects"
keep_secrets = true

[limits]
max_line = 4096

[flows]
memory_budget = "1GiB"

[capture]
interfaces = ["eth0", "eth1"]

[capture.defaults]
snaplen = 65535
buffer_size = "32MiB"
protocols = ["*", "-pop3"]

[[interface]]
name = "eth0"
filter = "not port 22"
protocols = ["http", "smtp"]
rules = [
  { action = "reject", src = "10.0.0.0/8", transport = "tcp", port = 443 },
  { action = "accept", addr = "192.168.1.7/24" },
]

[[interface]]
name = "eth1"
enabled = false
default_action = "reject"
rules = [{ action = "accept", src_port = "1024-2047", dst = "2001:db8::/32" }]

[capdrop]
enabled = true
directory = "/srv/drop"
after = "delete"
poll_seconds = 2

[service]
log_file = "/var/log/wiresift.log"
metrics_listen = "[::1]:9477"
"""


def test_sample_file_parses_to_exact_values() -> None:
    """A file with two interfaces and rules parses to the values written, the rest default."""
    settings = parse_settings(SAMPLE, "sample.toml", KNOWN)
    defaults = InterfaceSettings(
        snaplen=65535, buffer_size=32 * 1024 * 1024, protocols=("*", "-pop3")
    )
    eth0_rules = (
        RuleSpec(action="reject", src=ip_network("10.0.0.0/8"), transport="tcp", port=(443, 443)),
        RuleSpec(action="accept", addr=ip_network("192.168.1.0/24")),
    )
    eth1_rules = (
        RuleSpec(action="accept", src_port=(1024, 2047), dst=ip_network("2001:db8::/32")),
    )
    assert settings == Settings(
        output=OutputSettings(directory=Path("/srv/objects"), keep_secrets=True),
        flows=FlowSettings(memory_budget=1 << 30, limits=Limits(max_line=4096)),
        capture=CaptureSettings(
            interfaces=("eth0", "eth1"),
            defaults=defaults,
            overrides=(
                InterfaceSettings(
                    name="eth0",
                    snaplen=65535,
                    buffer_size=32 * 1024 * 1024,
                    filter="not port 22",
                    protocols=("http", "smtp"),
                    rules=eth0_rules,
                    given=frozenset({"filter", "protocols", "rules"}),
                ),
                InterfaceSettings(
                    name="eth1",
                    enabled=False,
                    snaplen=65535,
                    buffer_size=32 * 1024 * 1024,
                    protocols=("*", "-pop3"),
                    rules=eth1_rules,
                    default_action="reject",
                    given=frozenset({"enabled", "rules", "default_action"}),
                ),
            ),
        ),
        capdrop=CapdropSettings(
            enabled=True, directory=Path("/srv/drop"), after="delete", poll_seconds=2.0
        ),
        service=ServiceSettings(
            log_file=Path("/var/log/wiresift.log"), metrics_listen=("::1", 9477)
        ),
    )
    assert settings.capdrop.effective_done_directory == Path("/srv/drop/.done")
    assert settings.capdrop.effective_failed_directory == Path("/srv/drop/.failed")


def test_for_interface_merges_only_given_keys() -> None:
    """An [[interface]] entry overrides the defaults only for the keys it writes."""
    capture = parse_settings(SAMPLE, "sample.toml", KNOWN).capture
    eth0 = capture.for_interface("eth0")
    assert (eth0.name, eth0.filter, eth0.protocols, eth0.snaplen, eth0.enabled) == (
        "eth0",
        "not port 22",
        ("http", "smtp"),
        65535,
        True,
    )
    assert capture.for_interface("wlan0") == InterfaceSettings(
        name="wlan0", snaplen=65535, buffer_size=32 * 1024 * 1024, protocols=("*", "-pop3")
    )


def test_for_interface_follows_changed_defaults() -> None:
    """A command-line change of a default reaches interfaces that do not set that key."""
    settings = parse_settings(SAMPLE, "sample.toml", KNOWN)
    changed = apply_overrides(
        settings, {"capture.defaults.snaplen": 1500, "capture.defaults.filter": "udp"}, KNOWN
    )
    eth0 = changed.capture.for_interface("eth0")
    assert (eth0.snaplen, eth0.filter) == (1500, "not port 22")
    assert changed.capture.overrides[1].filter == "udp"


_RULE_BAD_VALUES = [
    ("action", '"maybe"'),
    ("addr", '"not-an-address"'),
    ("src", '"10.0.0.1/33"'),
    ("dst", '"::1/129"'),
    ("port", "70000"),
    ("src_port", '"2047-1024"'),
    ("dst_port", "true"),
    ("transport", '"sctp"'),
]


@pytest.mark.parametrize(("key", "value"), _RULE_BAD_VALUES, ids=[k for k, _ in _RULE_BAD_VALUES])
def test_rule_key_in_interface_is_located(key: str, value: str) -> None:
    """A bad rule field of the second [[interface]] names interface[1].rules[1].<key>."""
    rule = {"action": '"reject"', "port": "22", key: value}
    fields_text = ", ".join(f"{name} = {text}" for name, text in rule.items())
    text = (
        DEFAULT
        + '\n[[interface]]\nname = "eth0"\n'
        + '\n[[interface]]\nname = "eth1"\nsnaplen = 1500\nrules = [\n'
        + '  { action = "accept", addr = "192.0.2.0/24" },  # a comment, with [brackets]\n'
        + f"  {{ {fields_text} }},\n]\n"
    )
    line = len(text.splitlines()) - 1
    error = _error(text)
    assert (error.key, error.line) == (f"interface[1].rules[1].{key}", line)


def test_rule_needs_action_and_a_condition() -> None:
    """A rule without action, or with nothing to match, is refused at its own line."""
    text = '[capdrop]\nfilter = "x"\nrules = [\n  { port = 22 },\n]\n'
    assert (_error(text).key, _error(text).line) == ("capdrop.rules[0]", 4)
    assert _error(text).message == 'a rule needs an action ("accept" or "reject")'
    text = '[capdrop]\nrules = [{ action = "accept" }]\n'
    assert _error(text).message == (
        "a rule needs at least one of addr, src, dst, port, src_port, dst_port, transport"
    )


def test_rule_pair_of_mixed_ip_versions_is_refused() -> None:
    """src and dst of different IP versions could never match, so they are an error."""
    error = _error('[capdrop]\nrules = [{ action = "accept", src = "::/0", dst = "0.0.0.0/0" }]\n')
    assert (error.key, error.line, error.message) == (
        "capdrop.rules[0].dst",
        2,
        "src and dst must be of the same IP version",
    )


def test_unknown_keys_are_named_with_a_suggestion() -> None:
    """Unknown keys, tables and rule fields are errors with a close match suggested."""
    error = _error("[capture.defaults]\nsnaplen = 100\n\nsnaplenn = 100\n")
    assert str(error) == (
        's.toml:4: capture.defaults.snaplenn: unknown key (did you mean "snaplen"?)'
    )
    error = _error("# settings\n[outptu]\n")
    assert str(error) == 's.toml:2: outptu: unknown key (did you mean "output"?)'
    error = _error('[[interface]]\nname = "e"\nrules = [{ action = "accept", adr = "::1" }]\n')
    assert (error.key, error.line, error.message) == (
        "interface[0].rules[0].adr",
        3,
        'unknown key (did you mean "addr"?)',
    )
    assert _error("[service]\nzzz = 1\n").message == "unknown key"


def test_dotted_keys_and_tricky_strings_keep_lines_right() -> None:
    """Dotted keys, multi-line strings and '#' or brackets inside strings do not shift lines."""
    text = (
        '[capture]\ndefaults.filter = """\nport 80 # not a comment\n[not.a.table]\n"""\n'
        'defaults.default_action = "maybe"\n'
    )
    error = _error(text)
    assert (error.key, error.line) == ("capture.defaults.default_action", 6)
    text = '[capdrop]\nfilter = """a\\"""b"""\nnosuch = 1\n'
    assert (_error(text).key, _error(text).line) == ("capdrop.nosuch", 3)
    text = "[capdrop]\npatterns = [\n  '*.pcap',  # first\n  \"x]#\",\n  5,\n]\n"
    error = _error(text)
    assert (error.key, error.line) == ("capdrop.patterns[2]", 5)


def test_interface_entries_need_a_unique_name() -> None:
    """An [[interface]] without name, or with a name used before, is refused."""
    error = _error('[[interface]]\nname = "eth0"\n[[interface]]\nsnaplen = 100\n')
    assert (error.key, error.line) == ("interface[1]", 3)
    error = _error('[[interface]]\nname = "eth0"\n[[interface]]\nname = "eth0"\n')
    assert (error.key, error.line, error.message) == (
        "interface[1].name",
        4,
        '"eth0" already has an entry: interface[0]',
    )
    assert _error('[interface]\nname = "eth0"\n').message == (
        "must be written as [[interface]] tables"
    )


def test_toml_syntax_error_reports_tomllib_line() -> None:
    """A TOML syntax error carries tomllib's line and message, with no key."""
    error = _error('[output]\njsonl = true\ndirectory = "unterminated\n')
    assert (error.key, error.line, error.source) == ("", 3, "s.toml")
    assert str(error) == "s.toml:3: Illegal character '\\n'"


def test_load_settings_reads_a_file(tmp_path: Path) -> None:
    """A file is read as UTF-8 and its path becomes the error source."""
    path = tmp_path / "wiresift.toml"
    path.write_text('[service]\nlog_level = "debug"\n', encoding="utf-8")
    assert load_settings(path, KNOWN).service.log_level == "debug"
    path.write_text("[service]\nwatchdog = 1\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, KNOWN)
    assert str(caught.value) == f"{path}:2: service.watchdog: must be true or false (got 1)"


def test_load_settings_file_errors_have_no_key(tmp_path: Path) -> None:
    """An unreadable or non-UTF-8 file is a SettingsError with an empty key."""
    missing = tmp_path / "missing.toml"
    with pytest.raises(SettingsError) as caught:
        load_settings(missing, KNOWN)
    assert (caught.value.key, caught.value.line, caught.value.source) == ("", None, str(missing))
    assert str(caught.value) == f"{missing}: cannot read: No such file or directory"
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"[output]\n# caf\xe9\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(latin, KNOWN)
    assert str(caught.value) == f"{latin}:2: not valid UTF-8"


def test_overrides_apply_and_validate() -> None:
    """Command-line values replace file values, strings read as the key's type."""
    settings = apply_overrides(
        Settings(),
        {
            "output.directory": "/tmp/out",
            "capdrop.enabled": True,
            "service.log_level": "debug",
            "limits.max_line": "2048",
            "flows.memory_budget": "64MiB",
            "capture.interfaces": "eth0, eth1",
            "capdrop.poll_seconds": "0.5",
            "service.watchdog": "false",
        },
        KNOWN,
    )
    assert settings == Settings(
        output=OutputSettings(directory=Path("/tmp/out")),
        flows=FlowSettings(memory_budget=64 << 20, limits=Limits(max_line=2048)),
        capture=CaptureSettings(interfaces=("eth0", "eth1")),
        capdrop=CapdropSettings(enabled=True, poll_seconds=0.5),
        service=ServiceSettings(log_level="debug", watchdog=False),
    )


def test_override_errors_name_the_command_line() -> None:
    """A bad or unknown command-line key is reported without a line."""
    with pytest.raises(SettingsError) as caught:
        apply_overrides(Settings(), {"service.log_level": "loud"}, KNOWN)
    assert (caught.value.key, caught.value.line, caught.value.source) == (
        "service.log_level",
        None,
        "command line",
    )
    assert str(caught.value) == (
        'command line: service.log_level: must be one of "debug", "info", "warning", "error"'
        ' (got "loud")'
    )
    with pytest.raises(SettingsError) as caught:
        apply_overrides(Settings(), {"capture.defaults.protocols": "http,nosuch"}, KNOWN)
    assert caught.value.key == "capture.defaults.protocols[1]"
    with pytest.raises(SettingsError) as caught:
        apply_overrides(Settings(), {"capdrop.enable": True}, KNOWN)
    assert str(caught.value) == (
        'command line: capdrop.enable: unknown key (did you mean "capdrop.enabled"?)'
    )


def test_enabled_protocols_resolves_star_and_removals() -> None:
    """'*' adds all, names add, '-name' removes, in order."""
    assert enabled_protocols(("*",), KNOWN) == frozenset(KNOWN)
    assert enabled_protocols(("*", "-http"), KNOWN) == frozenset({"smtp", "pop3"})
    assert enabled_protocols(("http", "smtp", "-smtp"), KNOWN) == frozenset({"http"})
    assert enabled_protocols((), KNOWN) == frozenset()


def test_engine_config_carries_flows_limits_and_output() -> None:
    """engine_config maps settings onto the engine's Config."""
    settings = parse_settings(SAMPLE, "sample.toml", KNOWN)
    protocols = enabled_protocols(settings.capture.for_interface("eth0").protocols, KNOWN)
    assert settings.engine_config(protocols, KNOWN) == Config(
        limits=Limits(max_line=4096),
        output=OutputConfig(keep_secrets=True),
        disabled_protocols=frozenset({"pop3"}),
        memory_budget=1 << 30,
    )
    no_vlan = apply_overrides(
        settings,
        {
            "flows.key_vlan": False,
            "flows.tcp_idle_timeout": 30,
            "flows.tcp_new_timeout": 10,
            "flows.max_flows": 5000,
            "output.store_content": False,
        },
    )
    config = no_vlan.engine_config(frozenset(), KNOWN)
    assert (
        config.key_vlan,
        config.tcp_idle_timeout,
        config.tcp_new_timeout,
        config.max_flows,
        config.output.store_content,
    ) == (False, 30, 10, 5000, False)
    assert config.disabled_protocols == frozenset(KNOWN)


def test_protocol_names_default_to_the_registry() -> None:
    """Without known_protocols, names are checked against REGISTRY."""
    name = REGISTRY[0].name
    text = f'[capdrop]\nprotocols = ["-{name}"]\n'
    assert parse_settings(text).capdrop.protocols == (f"-{name}",)
    with pytest.raises(SettingsError) as caught:
        parse_settings('[capdrop]\nprotocols = ["nosuch"]\n')
    assert caught.value.key == "capdrop.protocols[0]"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16MiB", 16 << 20),
        ("512 KiB", 512 << 10),
        ("1gib", 1 << 30),
        ("10MB", 10_000_000),
        ("500kB", 500_000),
        ("4096", 4096),
        (4096, 4096),
        ("16 parsecs", None),
        ("-1MiB", None),
        (True, None),
    ],
)
def test_sizes(text: object, size: int | None) -> None:
    """Sizes are bytes or strings with a binary or decimal unit."""
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("127.0.0.1:9477", ("127.0.0.1", 9477)), ("[::1]:80", ("::1", 80)), ("", None)],
)
def test_metrics_listen(value: str, parsed: tuple[str, int] | None) -> None:
    """metrics_listen is host:port, IPv6 in brackets, or "" for off."""
    text = f'[service]\nmetrics_listen = "{value}"\n'
    assert parse_settings(text, known_protocols=KNOWN).service.metrics_listen == parsed


@pytest.mark.parametrize("value", ["::1:80", "host:0", "host:", ":80", "[nohost]:80"])
def test_metrics_listen_rejects(value: str) -> None:
    """Bare IPv6 hosts, port 0 and missing parts are refused."""
    assert _error(f'[service]\nmetrics_listen = "{value}"\n').key == "service.metrics_listen"


@pytest.mark.parametrize("text", ["a = '''open", 'a = """open\\', "a = [1,", "[x", "a = {b = "])
def test_locator_stops_on_text_it_cannot_read(text: str) -> None:
    """The key locator gives up, without hanging, on text that is not TOML."""
    assert _KeyLocator(text).line_of(("a", "b")) in {None, 1}
