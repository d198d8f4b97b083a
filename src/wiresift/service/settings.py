"""Service settings: one TOML file (TOML v1.0.0), validated key by key.

Theory of operation: ``tomllib`` parses the text, then each table is read against a
table of converters (one per key). A converter either returns the typed value or raises
``_InvalidError`` naming the key path; only then is the text scanned once more by
``_KeyLocator`` to find the line of that path, since tomllib keeps no positions. Unknown
keys are errors, with a suggestion when one is close. The commented default file returned by
``default_settings_text`` is the reference documentation of every key.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal, TypeVar, cast

from wiresift.config import Config, Limits, OutputConfig
from wiresift.protocols import REGISTRY

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PortRange = tuple[int, int]  # inclusive (low, high)
Action = Literal["accept", "reject"]
Transport = Literal["tcp", "udp", "any"]
LogLevel = Literal["debug", "info", "warning", "error"]
AfterTaking = Literal["move", "delete", "leave"]
KeyPath = tuple[str | int, ...]
_Record = TypeVar("_Record", bound="DataclassInstance")

KIB: Final = 1024
MIB: Final = 1024 * KIB
GIB: Final = 1024 * MIB
TIB: Final = 1024 * GIB
# Linux IFNAMSIZ is 16 including the terminating NUL (include/uapi/linux/if.h).
MAX_INTERFACE_NAME: Final = 15
ALL_PROTOCOLS: Final = "*"


class SettingsError(ValueError):
    """A settings value or file that cannot be used; ``str()`` is ``SOURCE:LINE: KEY: why``."""

    def __init__(self, message: str, *, key: str, line: int | None, source: str) -> None:
        self.message = message
        self.key = key
        self.line = line
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class _InvalidError(Exception):
    """A value failed validation; positions are added by the caller that knows the text."""

    def __init__(self, path: KeyPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# ----------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSettings:
    """The [output] table: where objects go and what is kept of them."""

    directory: Path = Path("/var/lib/wiresift/objects")
    jsonl: bool = True
    store_content: bool = True
    keep_encoded_body: bool = True
    keep_multipart_body: bool = True
    keep_secrets: bool = False
    usage_window: int = 0
    websocket_per_connection: bool = False
    fallback_charset: str = "cp1251"
    ftp_store_listings: bool = True

    def output_config(self) -> OutputConfig:
        """The engine's view of these settings."""
        return OutputConfig(
            store_content=self.store_content,
            keep_encoded_body=self.keep_encoded_body,
            keep_multipart_body=self.keep_multipart_body,
            keep_secrets=self.keep_secrets,
            usage_window=self.usage_window,
            websocket_per_connection=self.websocket_per_connection,
            fallback_charset=self.fallback_charset,
            ftp_store_listings=self.ftp_store_listings,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowSettings:
    """The [flows] table, plus the [limits] table of the engine."""

    tcp_idle_timeout: int = 3600
    tcp_new_timeout: int = 60
    udp_idle_timeout: int = 60
    max_flows: int = 100_000
    key_vlan: bool = True
    key_tunnel: bool = True
    memory_budget: int = 256 * MIB
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSpec:
    """One accept/reject rule; every condition given must hold. A ``src``/``dst`` (or
    ``src_port``/``dst_port``) pair also matches the reverse direction, so both directions of
    a connection get the same verdict; ``addr`` and ``port`` match either end."""

    action: Action
    addr: Network | None = None
    src: Network | None = None
    dst: Network | None = None
    port: PortRange | None = None
    src_port: PortRange | None = None
    dst_port: PortRange | None = None
    transport: Transport = "any"


@dataclass(frozen=True, slots=True, kw_only=True)
class InterfaceSettings:
    """Capture settings of one interface ([capture.defaults] has ``name`` None).

    For an [[interface]] entry, ``given`` names the keys written in that entry; the other
    fields hold the [capture.defaults] values."""

    name: str | None = None
    enabled: bool = True
    promiscuous: bool = True
    snaplen: int = 262144
    buffer_size: int = 16 * MIB
    filter: str = ""
    protocols: tuple[str, ...] = (ALL_PROTOCOLS,)
    rules: tuple[RuleSpec, ...] = ()
    default_action: Action = "accept"
    given: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureSettings:
    """The [capture] table, [capture.defaults] and the [[interface]] entries."""

    interfaces: tuple[str, ...] = ()
    rescan_seconds: int = 10
    defaults: InterfaceSettings = InterfaceSettings()
    overrides: tuple[InterfaceSettings, ...] = ()

    def for_interface(self, name: str) -> InterfaceSettings:
        """The defaults with the keys written in the matching [[interface]] entry applied."""
        for entry in self.overrides:
            if entry.name == name:
                return _merge_interface(self.defaults, entry)
        return replace(self.defaults, name=name, given=frozenset())


@dataclass(frozen=True, slots=True, kw_only=True)
class CapdropSettings:
    """The [capdrop] table: capture files dropped into a directory."""

    enabled: bool = False
    directory: Path = Path("/var/lib/wiresift/capdrop")
    recursive: bool = False
    stable_seconds: int = 5
    poll_seconds: float = 1.0
    after: AfterTaking = "move"
    done_directory: Path | None = None
    failed_directory: Path | None = None
    carry_flows: bool = False
    patterns: tuple[str, ...] = ("*.pcap", "*.pcapng", "*.cap", "*.pcap.gz", "*.pcapng.gz")
    filter: str = ""
    protocols: tuple[str, ...] = (ALL_PROTOCOLS,)
    rules: tuple[RuleSpec, ...] = ()
    default_action: Action = "accept"

    @property
    def effective_done_directory(self) -> Path:
        """Where processed files go when ``after = "move"``."""
        return self.done_directory or self.directory / ".done"

    @property
    def effective_failed_directory(self) -> Path:
        """Where files that could not be read go."""
        return self.failed_directory or self.directory / ".failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSettings:
    """The [service] table: the process itself."""

    state_directory: Path = Path("/var/lib/wiresift/state")
    log_file: Path | None = None
    log_level: LogLevel = "info"
    stats_interval: int = 60
    metrics_listen: tuple[str, int] | None = None  # (host, port); host without brackets
    watchdog: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The whole settings file."""

    output: OutputSettings = OutputSettings()
    flows: FlowSettings = FlowSettings()
    capture: CaptureSettings = CaptureSettings()
    capdrop: CapdropSettings = CapdropSettings()
    service: ServiceSettings = ServiceSettings()

    def engine_config(self, protocols: frozenset[str], known: Collection[str]) -> Config:
        """The engine configuration for one source that runs ``protocols`` out of ``known``."""
        return Config(
            limits=self.flows.limits,
            output=self.output.output_config(),
            disabled_protocols=frozenset(known) - protocols,
            tcp_idle_timeout=self.flows.tcp_idle_timeout,
            tcp_new_timeout=self.flows.tcp_new_timeout,
            udp_idle_timeout=self.flows.udp_idle_timeout,
            max_flows=self.flows.max_flows,
            key_vlan=self.flows.key_vlan,
            key_tunnel=self.flows.key_tunnel,
            memory_budget=self.flows.memory_budget,
        )


def _with(record: _Record, changes: Mapping[str, object]) -> _Record:
    """``dataclasses.replace`` with values that their converters have checked already."""
    return replace(record, **changes)


def _merge_interface(defaults: InterfaceSettings, entry: InterfaceSettings) -> InterfaceSettings:
    changes = {key: getattr(entry, key) for key in entry.given}
    return _with(defaults, {**changes, "name": entry.name, "given": entry.given})


def enabled_protocols(spec: tuple[str, ...], known: Collection[str]) -> frozenset[str]:
    """Resolve a protocols list in order: "*" adds every known protocol, "name" adds one,
    "-name" removes one. Names not in ``known`` are ignored (validation reports them)."""
    enabled: set[str] = set()
    for item in spec:
        if item == ALL_PROTOCOLS:
            enabled.update(known)
        elif item.startswith("-"):
            enabled.discard(item[1:])
        elif item in known:
            enabled.add(item)
    return frozenset(enabled)


# ------------------------------------------------------------------------------ converters

Converter = Callable[[object, KeyPath], object]

_SIZE: Final = re.compile(r"\s*(\d+)\s*([kmgt]i?b|b)?\s*", re.IGNORECASE)
_SIZE_UNITS: Final = {
    "b": 1,
    "kib": KIB,
    "mib": MIB,
    "gib": GIB,
    "tib": TIB,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
}
_QUOTES: Final = frozenset({'"', "'"})
_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")  # TOML v1.0.0 "Keys"
_PORT_RANGE: Final = re.compile(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?")
_MAX_SHOWN: Final = 60


def _show(value: object) -> str:
    """A value as it would be written in TOML, shortened for a one-line message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + '..."'
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def _format_size(size: int) -> str:
    for unit, name in ((TIB, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} bytes"


def parse_size(value: object) -> int | None:
    """Bytes from an int or a string like "16MiB", "512KiB", "1GB" (None when malformed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or (match := _SIZE.fullmatch(value)) is None:
        return None
    unit = (match.group(2) or "b").lower()
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _boolean(value: object, path: KeyPath) -> bool:
    if not isinstance(value, bool):
        raise _InvalidError(path, f"must be true or false (got {_show(value)})")
    return value


def _integer(low: int, high: int | None = None) -> Converter:
    def convert(value: object, path: KeyPath) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            if high is None:
                wanted = "a positive integer" if low == 1 else f"an integer of at least {low}"
            else:
                wanted = f"an integer from {low} to {high}"
            raise _InvalidError(path, f"must be {wanted} (got {_show(value)})")
        return value

    return convert


def _number(low: float, high: float) -> Converter:
    def convert(value: object, path: KeyPath) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise _InvalidError(
                path, f"must be a number from {low:g} to {high:g} (got {_show(value)})"
            )
        return float(value)

    return convert


def _size(low: int, high: int) -> Converter:
    def convert(value: object, path: KeyPath) -> int:
        size = parse_size(value)
        if size is None or not low <= size <= high:
            raise _InvalidError(
                path,
                f"must be a size from {_format_size(low)} to {_format_size(high)}, in bytes"
                f' or like "16MiB" (got {_show(value)})',
            )
        return size

    return convert


def _choice(*allowed: str) -> Converter:
    def convert(value: object, path: KeyPath) -> str:
        if value not in allowed:
            listed = ", ".join(f'"{name}"' for name in allowed)
            raise _InvalidError(path, f"must be one of {listed} (got {_show(value)})")
        return value

    return convert


def _charset(value: object, path: KeyPath) -> str:
    name = _string(value, path)
    try:
        codecs.lookup(name)
    except LookupError:
        raise _InvalidError(path, f"must be a charset Python knows (got {_show(value)})") from None
    return name


def _string(value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise _InvalidError(path, f"must be a string (got {_show(value)})")
    return value


def _path(value: object, path: KeyPath) -> Path:
    if not isinstance(value, str) or not value or "\0" in value:
        raise _InvalidError(path, f"must be a non-empty path (got {_show(value)})")
    return Path(value)


def _optional_path(value: object, path: KeyPath) -> Path | None:
    if value == "":
        return None
    if not isinstance(value, str) or "\0" in value:
        raise _InvalidError(path, f'must be a path, or "" for the default (got {_show(value)})')
    return Path(value)


def _listen_address(value: object, path: KeyPath) -> tuple[str, int] | None:
    if value == "":
        return None
    wanted = f'must be "host:port" like "127.0.0.1:9477", or "" for off (got {_show(value)})'
    if not isinstance(value, str):
        raise _InvalidError(path, wanted)
    host, _, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _InvalidError(path, wanted) from None
    elif ":" in host:
        raise _InvalidError(path, wanted)  # an IPv6 host needs brackets: "[::1]:9477"
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise _InvalidError(path, wanted)
    return (host, int(port))


def _array(value: object, path: KeyPath, what: str) -> list[object]:
    if not isinstance(value, list):
        raise _InvalidError(path, f"must be an array of {what} (got {_show(value)})")
    return cast(list[object], value)


def _patterns(value: object, path: KeyPath) -> tuple[str, ...]:
    items = _array(value, path, "file name patterns")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item or "/" in item:
            raise _InvalidError(
                (*path, index), f'must be a pattern like "*.pcap" (got {_show(item)})'
            )
    return tuple(cast(list[str], items))


def _interface_name(value: object, path: KeyPath) -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value.encode()) <= MAX_INTERFACE_NAME
        or "/" in value
        or any(char.isspace() for char in value)
    ):
        raise _InvalidError(
            path,
            f"must be an interface name of 1 to {MAX_INTERFACE_NAME} bytes without spaces"
            f' or "/" (got {_show(value)})',
        )
    return value


def _interface_names(value: object, path: KeyPath) -> tuple[str, ...]:
    names: list[str] = []
    for index, item in enumerate(_array(value, path, "interface names")):
        name = _interface_name(item, (*path, index))
        if name in names:
            raise _InvalidError((*path, index), f'"{name}" is listed twice')
        names.append(name)
    return tuple(names)


def _suggestion(word: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _protocols(known: Collection[str]) -> Converter:
    def convert(value: object, path: KeyPath) -> tuple[str, ...]:
        items = _array(value, path, "protocol names")
        for index, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise _InvalidError(
                    (*path, index),
                    f'must be "*", a protocol name or "-name" (got {_show(item)})',
                )
            name = item.removeprefix("-")
            if item != ALL_PROTOCOLS and name not in known:
                listed = ", ".join(sorted(known))
                raise _InvalidError(
                    (*path, index),
                    f"unknown protocol {_show(name)}{_suggestion(name, known)} (known: {listed})",
                )
        return tuple(cast(list[str], items))

    return convert


def _network(value: object, path: KeyPath) -> Network:
    wanted = f'must be an address or network like "10.0.0.0/8" (got {_show(value)})'
    if not isinstance(value, str):
        raise _InvalidError(path, wanted)
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise _InvalidError(path, wanted) from None


def _port_range(value: object, path: KeyPath) -> PortRange:
    wanted = f'must be a port from 0 to 65535 or a range like "1024-2047" (got {_show(value)})'
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and (match := _PORT_RANGE.fullmatch(value)) is not None:
        low = int(match.group(1))
        high = int(match.group(2) or low)
    else:
        raise _InvalidError(path, wanted)
    if not 0 <= low <= high <= 65535:
        raise _InvalidError(path, wanted)
    return (low, high)


_ACTIONS: Final = ("accept", "reject")
_TRANSPORTS: Final = ("tcp", "udp", "any")
_RULE_CONDITIONS: Final = ("addr", "src", "dst", "port", "src_port", "dst_port", "transport")
_RULE_KEYS: Final = ("action", *_RULE_CONDITIONS)


def _rule(value: object, path: KeyPath) -> RuleSpec:
    if not isinstance(value, dict):
        wanted = 'must be a table like { action = "reject", port = 22 }'
        raise _InvalidError(path, f"{wanted} (got {_show(value)})")
    raw = cast(dict[str, object], value)
    _reject_unknown(raw, path, _RULE_KEYS)
    if "action" not in raw:
        raise _InvalidError(path, 'a rule needs an action ("accept" or "reject")')
    if not any(key in raw for key in _RULE_CONDITIONS):
        raise _InvalidError(path, "a rule needs at least one of " + ", ".join(_RULE_CONDITIONS))

    def network(key: str) -> Network | None:
        return _network(raw[key], (*path, key)) if key in raw else None

    def ports(key: str) -> PortRange | None:
        return _port_range(raw[key], (*path, key)) if key in raw else None

    action = _choice(*_ACTIONS)(raw["action"], (*path, "action"))
    transport = _choice(*_TRANSPORTS)(raw.get("transport", "any"), (*path, "transport"))
    rule = RuleSpec(
        action=cast(Action, action),
        addr=network("addr"),
        src=network("src"),
        dst=network("dst"),
        port=ports("port"),
        src_port=ports("src_port"),
        dst_port=ports("dst_port"),
        transport=cast(Transport, transport),
    )
    if rule.src is not None and rule.dst is not None and rule.src.version != rule.dst.version:
        raise _InvalidError((*path, "dst"), "src and dst must be of the same IP version")
    return rule


def _rules(value: object, path: KeyPath) -> tuple[RuleSpec, ...]:
    items = _array(value, path, "rule tables")
    return tuple(_rule(item, (*path, index)) for index, item in enumerate(items))


def _reject_unknown(raw: Mapping[str, object], path: KeyPath, known: Collection[str]) -> None:
    for key in raw:
        if key not in known:
            raise _InvalidError((*path, key), "unknown key" + _suggestion(key, known))


# --------------------------------------------------------------------------- table schemas

_OUTPUT: Final[Mapping[str, Converter]] = {
    "directory": _path,
    "jsonl": _boolean,
    "store_content": _boolean,
    "keep_encoded_body": _boolean,
    "keep_multipart_body": _boolean,
    "keep_secrets": _boolean,
    "usage_window": _integer(0, 86400),
    "websocket_per_connection": _boolean,
    "fallback_charset": _charset,
    "ftp_store_listings": _boolean,
}
_LIMITS: Final[Mapping[str, Converter]] = {item.name: _integer(1) for item in fields(Limits)}
_FLOWS: Final[Mapping[str, Converter]] = {
    "tcp_idle_timeout": _integer(1, 86400),
    "tcp_new_timeout": _integer(1, 86400),
    "udp_idle_timeout": _integer(1, 86400),
    "max_flows": _integer(1, 100_000_000),
    "key_vlan": _boolean,
    "key_tunnel": _boolean,
    "memory_budget": _size(MIB, TIB),
}
_CAPTURE: Final[Mapping[str, Converter]] = {
    "interfaces": _interface_names,
    "rescan_seconds": _integer(1, 3600),
}
_SERVICE: Final[Mapping[str, Converter]] = {
    "state_directory": _path,
    "log_file": _optional_path,
    "log_level": _choice("debug", "info", "warning", "error"),
    "stats_interval": _integer(1, 86400),
    "metrics_listen": _listen_address,
    "watchdog": _boolean,
}


def _filtering(known: Collection[str]) -> dict[str, Converter]:
    """Keys shared by [capture.defaults], [[interface]] and [capdrop]."""
    return {
        "filter": _string,  # BPF is compiled, and checked, when a source is opened
        "protocols": _protocols(known),
        "rules": _rules,
        "default_action": _choice(*_ACTIONS),
    }


def _interface_schema(known: Collection[str]) -> dict[str, Converter]:
    return {
        "enabled": _boolean,
        "promiscuous": _boolean,
        "snaplen": _integer(64, 262144),
        "buffer_size": _size(64 * KIB, 2 * GIB),
        **_filtering(known),
    }


def _capdrop_schema(known: Collection[str]) -> dict[str, Converter]:
    return {
        "enabled": _boolean,
        "directory": _path,
        "recursive": _boolean,
        "stable_seconds": _integer(0, 3600),
        "poll_seconds": _number(0.1, 60.0),
        "after": _choice("move", "delete", "leave"),
        "done_directory": _optional_path,
        "failed_directory": _optional_path,
        "carry_flows": _boolean,
        "patterns": _patterns,
        **_filtering(known),
    }


_TOP_LEVEL: Final = ("output", "limits", "flows", "capture", "capdrop", "service", "interface")


def _table(raw: object, path: KeyPath) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise _InvalidError(path, f"must be a table (got {_show(raw)})")
    return cast(dict[str, object], raw)


def _convert(
    raw: Mapping[str, object],
    path: KeyPath,
    schema: Mapping[str, Converter],
    extra: Collection[str] = (),
) -> dict[str, object]:
    """Convert every key of ``raw`` that ``schema`` names; other keys (but ``extra``) fail."""
    _reject_unknown(raw, path, [*schema, *extra])
    return {key: schema[key](value, (*path, key)) for key, value in raw.items() if key in schema}


def _known_protocols(known: Collection[str] | None) -> Collection[str]:
    if known is not None:
        return known
    return frozenset(spec.name for spec in REGISTRY)


def _build(document: Mapping[str, object], known: Collection[str]) -> Settings:
    _reject_unknown(document, (), _TOP_LEVEL)
    base = Settings()

    def section(name: str) -> dict[str, object]:
        return _table(document.get(name, {}), (name,))

    output = _with(base.output, _convert(section("output"), ("output",), _OUTPUT))
    limits = _with(base.flows.limits, _convert(section("limits"), ("limits",), _LIMITS))
    flows = _with(base.flows, {**_convert(section("flows"), ("flows",), _FLOWS), "limits": limits})

    capture_raw = section("capture")
    capture_values = _convert(capture_raw, ("capture",), _CAPTURE, extra=("defaults",))
    interface_schema = _interface_schema(known)
    defaults_path: KeyPath = ("capture", "defaults")
    defaults_raw = _table(capture_raw.get("defaults", {}), defaults_path)
    defaults = _with(base.capture.defaults, _convert(defaults_raw, defaults_path, interface_schema))
    overrides = _interfaces(document.get("interface", []), defaults, interface_schema)
    capture = _with(base.capture, {**capture_values, "defaults": defaults, "overrides": overrides})

    capdrop = _with(
        base.capdrop, _convert(section("capdrop"), ("capdrop",), _capdrop_schema(known))
    )
    service = _with(base.service, _convert(section("service"), ("service",), _SERVICE))
    return Settings(output=output, flows=flows, capture=capture, capdrop=capdrop, service=service)


def _interfaces(
    raw: object, defaults: InterfaceSettings, schema: Mapping[str, Converter]
) -> tuple[InterfaceSettings, ...]:
    if not isinstance(raw, list):
        raise _InvalidError(("interface",), "must be written as [[interface]] tables")
    entries: list[InterfaceSettings] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(cast(list[object], raw)):
        path: KeyPath = ("interface", index)
        table = _table(item, path)
        values = _convert(table, path, schema, extra=("name",))
        if "name" not in table:
            raise _InvalidError(path, 'an [[interface]] needs a name, like name = "eth0"')
        name = _interface_name(table["name"], (*path, "name"))
        if name in seen:
            raise _InvalidError(
                (*path, "name"), f'"{name}" already has an entry: interface[{seen[name]}]'
            )
        seen[name] = index
        entry = _with(InterfaceSettings(name=name, given=frozenset(values)), values)
        entries.append(_merge_interface(defaults, entry))
    return tuple(entries)


# -------------------------------------------------------------------------------- locator


class _KeyLocator:
    """Lines of the key paths of a valid TOML text (TOML v1.0.0 grammar, read loosely).

    Records the line of each key, table header, [[array]] table (by index) and array
    element, so that an error on ``interface[1].rules[0].src`` points at its line."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
        self._array_tables: dict[KeyPath, int] = {}
        self.lines: dict[KeyPath, int] = {}
        # The text parsed already; a surprise here costs positions, never the error itself.
        with contextlib.suppress(IndexError, ValueError):
            self._document()

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, else of its first descendant, else of its nearest parent."""
        if path in self.lines:
            return self.lines[path]
        below = [line for key, line in self.lines.items() if key[: len(path)] == path]
        if below:
            return min(below)
        return self.line_of(path[:-1]) if path else None

    def _here(self) -> int:
        return bisect.bisect_right(self._line_starts, self._pos)

    def _peek(self, count: int = 1) -> str:
        return self._text[self._pos : self._pos + count]

    def _record(self, path: KeyPath) -> None:
        line = self._here()
        for end in range(1, len(path)):
            self.lines.setdefault(path[:end], line)
        self.lines[path] = line

    def _skip(self, *, newlines: bool) -> None:
        text = self._text
        while self._pos < len(text):
            char = text[self._pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self._pos += 1
            elif newlines and char == "#":
                end = text.find("\n", self._pos)
                self._pos = len(text) if end < 0 else end
            else:
                return

    def _document(self) -> None:
        table: KeyPath = ()
        text = self._text
        while True:
            self._skip(newlines=True)
            if self._pos >= len(text):
                return
            start = self._pos
            if self._peek(2) == "[[":
                self._pos += 2
                parts = self._key()
                prefix = (*self._resolve(parts[:-1]), parts[-1])
                index = self._array_tables.get(prefix, 0)
                self._array_tables[prefix] = index + 1
                table = (*prefix, index)
                self._record(table)
                self._pos += 2  # "]]"
            elif self._peek() == "[":
                self._pos += 1
                table = self._resolve(self._key())
                self._record(table)
                self._pos += 1  # "]"
            else:
                path = table + self._key()
                self._record(path)
                self._skip(newlines=False)
                self._pos += 1  # "="
                self._skip(newlines=False)
                self._value(path)
            if self._pos <= start:  # no progress: give up on this line
                end = text.find("\n", self._pos)
                self._pos = len(text) if end < 0 else end + 1

    def _resolve(self, parts: tuple[str, ...]) -> KeyPath:
        """A header path; each array-of-tables prefix refers to its last element."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            count = self._array_tables.get(path)
            if count:
                path = (*path, count - 1)
        return path

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            char = self._peek()
            if char in _QUOTES:
                start = self._pos + 1
                self._string()
                raw = self._text[start : self._pos - 1]
                parts.append(_unescape(raw) if char == '"' else raw)
            else:
                match = _BARE_KEY.match(self._text, self._pos)
                if match is None:
                    raise ValueError("not a key")
                parts.append(match.group())
                self._pos = match.end()
            self._skip(newlines=False)
            if self._peek() != ".":
                return tuple(parts)
            self._pos += 1

    def _string(self) -> None:
        """Step over one string of any of the four TOML kinds."""
        quote = self._peek()
        escapes = quote == '"'  # literal strings have no escapes
        if self._peek(3) == quote * 3:
            self._pos += 3
            while self._peek(3) != quote * 3:
                if self._pos >= len(self._text):
                    raise IndexError("unterminated string")
                self._pos += 2 if escapes and self._peek() == "\\" else 1
            self._pos += 3
            # Up to two more quotes are content just before the closing delimiter.
            for _ in range(2):
                if self._peek() == quote:
                    self._pos += 1
            return
        self._pos += 1
        while (char := self._text[self._pos]) != quote:
            self._pos += 2 if escapes and char == "\\" else 1
        self._pos += 1

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if not char:
            raise IndexError("value missing at the end of the text")
        if char in _QUOTES:
            self._string()
        elif char == "[":
            self._pos += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self._peek() == "]":
                    self._pos += 1
                    return
                element = (*path, index)
                self._record(element)
                self._value(element)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._pos += 1
                index += 1
        elif char == "{":
            self._pos += 1
            while True:
                self._skip(newlines=True)
                if self._peek() == "}":
                    self._pos += 1
                    return
                key = path + self._key()
                self._record(key)
                self._skip(newlines=False)
                self._pos += 1  # "="
                self._skip(newlines=False)
                self._value(key)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._pos += 1
        else:
            start = self._pos
            while self._pos < len(self._text) and self._text[self._pos] not in ",]}\r\n#":
                self._pos += 1
            if self._pos == start:
                raise ValueError("empty value")


def _unescape(raw: str) -> str:
    """Decode the escapes of a basic-string key (TOML v1.0.0 "String")."""
    try:
        return tomllib.loads(f'k = "{raw}"')["k"]  # type: ignore[no-any-return]
    except tomllib.TOMLDecodeError:
        return raw


def dotted_key(path: KeyPath) -> str:
    """``("interface", 1, "snaplen")`` -> ``interface[1].snaplen``; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if _BARE_KEY.fullmatch(part) else _show(part)
            out += f".{shown}" if out else shown
    return out


# ---------------------------------------------------------------------------- entry points

_DECODE_POSITION: Final = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def parse_settings(
    text: str, source: str = "<string>", known_protocols: Collection[str] | None = None
) -> Settings:
    """Settings from TOML text; ``known_protocols`` defaults to the names in REGISTRY."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        position = _DECODE_POSITION.search(message)
        line = int(position.group(1)) if position else getattr(error, "lineno", None)
        message = _DECODE_POSITION.sub("", message)
        raise SettingsError(message, key="", line=line, source=source) from None
    try:
        return _build(document, _known_protocols(known_protocols))
    except _InvalidError as invalid:
        line = _KeyLocator(text).line_of(invalid.path)
        raise SettingsError(
            invalid.message, key=dotted_key(invalid.path), line=line, source=source
        ) from None


def load_settings(path: Path, known_protocols: Collection[str] | None = None) -> Settings:
    """Settings from a UTF-8 TOML file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SettingsError(
            f"cannot read: {error.strerror or error}", key="", line=None, source=str(path)
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise SettingsError("not valid UTF-8", key="", line=line, source=str(path)) from None
    return parse_settings(text, str(path), known_protocols)


_OVERRIDE_SOURCE: Final = "command line"
# Keys whose converters take arrays: a command-line string is split on commas.
_ARRAY_KEYS: Final = frozenset({"interfaces", "protocols", "patterns"})
_STRING_KEYS: Final = frozenset(
    {
        "directory",
        "state_directory",
        "log_file",
        "done_directory",
        "failed_directory",
        "filter",
        "log_level",
        "after",
        "default_action",
        "metrics_listen",
        "memory_budget",
        "buffer_size",
    }
)


def _from_command_line(key: str, value: object) -> object:
    """A command-line string read as the TOML value the key expects ("60", "true", "1.5")."""
    if not isinstance(value, str) or key in _STRING_KEYS:
        return value
    if key in _ARRAY_KEYS:
        return [item.strip() for item in value.split(",") if item.strip()]
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def apply_overrides(
    settings: Settings,
    overrides: Mapping[str, object],
    known_protocols: Collection[str] | None = None,
) -> Settings:
    """Settings with command-line values applied; keys are dotted ("output.directory").

    Values are validated like file values; strings are also read as TOML scalars for
    non-string keys, and as comma-separated lists for array keys."""
    known = _known_protocols(known_protocols)
    schemas: dict[str, Mapping[str, Converter]] = {
        "output": _OUTPUT,
        "limits": _LIMITS,
        "flows": _FLOWS,
        "capture": _CAPTURE,
        "capture.defaults": _interface_schema(known),
        "capdrop": _capdrop_schema(known),
        "service": _SERVICE,
    }
    every_key = [f"{table}.{key}" for table, schema in schemas.items() for key in schema]
    for dotted, raw_value in overrides.items():
        table, _, key = dotted.rpartition(".")
        schema = schemas.get(table, {})
        if key not in schema:
            raise SettingsError(
                "unknown key" + _suggestion(dotted, every_key),
                key=dotted,
                line=None,
                source=_OVERRIDE_SOURCE,
            )
        path = (*table.split("."), key)
        try:
            value = schema[key](_from_command_line(key, raw_value), path)
        except _InvalidError as invalid:
            raise SettingsError(
                invalid.message, key=dotted_key(invalid.path), line=None, source=_OVERRIDE_SOURCE
            ) from None
        settings = _replace_key(settings, table, key, value)
    return settings


def _replace_key(settings: Settings, table: str, key: str, value: object) -> Settings:
    if table == "limits":
        limits = _with(settings.flows.limits, {key: value})
        return replace(settings, flows=replace(settings.flows, limits=limits))
    if table == "capture.defaults":
        capture = settings.capture
        defaults = _with(capture.defaults, {key: value})
        overrides = tuple(_merge_interface(defaults, entry) for entry in capture.overrides)
        return replace(settings, capture=replace(capture, defaults=defaults, overrides=overrides))
    section: DataclassInstance = getattr(settings, table)
    return _with(settings, {table: _with(section, {key: value})})


def default_settings_text() -> str:
    """The complete default settings file; its comments are the reference for every key."""
    return DEFAULT_SETTINGS_TEXT


DEFAULT_SETTINGS_TEXT: Final = """\
# wiresift service settings (TOML, https://toml.io/en/v1.0.0).
#
# This file lists every key with its default value; `wiresift config --default` prints it.
# Keys left out keep their defaults, so a real file needs only the lines it changes.
# Unknown keys are errors. Sizes are bytes, or strings with a unit: "512KiB", "16MiB",
# "1GiB" (powers of 1024) or "500kB", "10MB", "1GB" (powers of 1000).

[output]
# Folder for objects/ (one JSON passport per object), content/ (the stored files) and
# objects.jsonl. Default "/var/lib/wiresift/objects".
directory = "/var/lib/wiresift/objects"
# Also append every object to <directory>/objects.jsonl, one JSON object a line.
# true | false, default true.
jsonl = true
# Store the content of objects (bodies, attachments, files). Off: passports only, still
# with sizes and hashes. true | false, default true.
store_content = true
# Also store the still-encoded wire form of a body that had a Content-Encoding (gzip...).
# true | false, default true.
keep_encoded_body = true
# Also store a whole multipart body beside the parts extracted from it.
# true | false, default true.
keep_multipart_body = true
# Record passwords seen in clear text (mail and FTP logins). true | false, default false.
keep_secrets = false
# Usage objects (TLS, BitTorrent, Skype...): 0 gives one per connection; N seconds sums the
# connections of each client, server and protocol (BitTorrent: client and swarm) over
# windows of N seconds into one object. 0 to 86400, default 0.
usage_window = 0
# WebSocket: false gives one object per message; true one per connection holding its
# messages in order. true | false, default false.
websocket_per_connection = false
# Chat text (IRC, Direct Connect hubs) that is not valid UTF-8 is read in this charset; the
# bytes as sent are kept too. Any charset Python knows, default "cp1251".
fallback_charset = "cp1251"
# FTP directory listings (LIST, NLST, MLSD) are objects whose entries (names, sizes) are in
# their metadata; false keeps only that metadata, true also stores the listing itself.
# true | false, default true.
ftp_store_listings = true

[limits]
# Caps on what the engine buffers; past a cap it stops storing, keeps tracking, records an
# anomaly and marks the affected object truncated. Each is an integer of at least 1.
# Bytes buffered per direction while a stream's protocol is undecided. Default 4096.
detect_buffer_bytes = 4096
# Packets with payload looked at before protocol detection gives up. Default 100.
detect_max_packets = 100
# Longest line of a line-based protocol (SMTP, POP3, IMAP, FTP...), bytes. Default 8192.
max_line = 8192
# Largest header block (HTTP, ICAP, MIME), bytes. Default 65536.
max_header_block = 65536
# Requests waiting for their response on one connection. Default 256.
max_pending_tx = 256
# Largest content stored per object, bytes of decoded content; past it the object is
# truncated. Default 33554432 (32 MiB).
max_stored_body = 33554432
# Out-of-order bytes held per TCP direction before a hole is declared a gap.
# Default 1048576 (1 MiB).
max_reassembly_ooo_bytes = 1048576
# Out-of-order segments held per TCP direction. Default 2048.
max_reassembly_ooo_segments = 2048
# Deepest nesting of multipart bodies. Default 10.
max_mime_depth = 10
# Largest decompression ratio tolerated before a body is treated as a bomb. Default 1000.
max_decompression_ratio = 1000
# Content-Encoding layers decoded at most. Default 8.
max_content_encodings = 8
# Parts of one multipart body extracted at most. Default 1024.
max_multipart_parts = 1024
# Consecutive body segments of one flow joined before they are parsed, hashed and written
# (fewer calls per byte; the objects are the same), bytes; 1 feeds each segment on its
# own. Default 65536.
join_body_bytes = 65536
# The same for all flows of an input together, bytes. Default 8388608 (8 MiB).
join_body_total = 8388608

[flows]
# Seconds without a packet after which a TCP connection is closed (chat and mail sessions
# idle for many minutes; Suricata's established timeout is the same). 1 to 86400, default 3600.
tcp_idle_timeout = 3600
# Seconds without a packet after which a TCP connection that has carried no payload yet (a
# SYN with no answer, a bare handshake) is dropped; if it is used later, it is picked up
# mid-stream. Scans and SYN floods leave these behind. 1 to 86400, default 60.
tcp_new_timeout = 60
# Seconds without a packet after which a UDP flow ends. 1 to 86400, default 60.
udp_idle_timeout = 60
# Flows held at once per input. A new flow past it ends the least recently active one:
# a connection without payload first, then a UDP flow, then an established connection
# (counted as evicted; its objects so far are delivered). An established connection holds
# 6 to 10 KB, one without payload about 1 KB. 1 to 100000000, default 100000.
max_flows = 100000
# Keep flows apart by VLAN id (the same addresses on two VLANs are two flows).
# true | false, default true.
key_vlan = true
# Keep flows apart by tunnel (GRE, VXLAN... endpoints). true | false, default true.
key_tunnel = true
# Bytes of buffered stream data across all flows; when reached, the flows holding the most
# are cut first. A size from 1 MiB to 1 TiB, default 268435456 ("256MiB").
memory_budget = 268435456

[capture]
# Interfaces captured live, by name, e.g. ["eth0", "eth1"]. Empty: every interface that
# is up and not a loopback, including ones that appear later. Default [].
interfaces = []
# How often, in seconds, interfaces that appeared or went away are looked for.
# 1 to 3600, default 10.
rescan_seconds = 10

[capture.defaults]
# These apply to every interface unless an [[interface]] entry (see the end of this
# section) gives another value.
# Capture on this interface at all. true | false, default true.
enabled = true
# Put the interface in promiscuous mode (see traffic not addressed to this host).
# true | false, default true.
promiscuous = true
# Bytes kept of each packet. 64 to 262144, default 262144 (whole packets: anything less
# leaves gaps in every stream).
snaplen = 262144
# Kernel capture buffer. A size from 64 KiB to 2 GiB, default 16777216 ("16MiB").
buffer_size = 16777216
# BPF filter expression (pcap-filter(7)), e.g. "not port 22". "" = every packet.
# Default "".
filter = ""
# Protocols parsed, read in order: "*" = every protocol wiresift knows, "name" adds one,
# "-name" removes one, e.g. ["*", "-http"] or ["http", "smtp"]. `wiresift protocols` lists
# the names. Flows of other protocols are still tracked and counted. Default ["*"].
protocols = ["*"]
# Accept/reject rules, tried in order; the first that matches decides. One inline table
# each:
#   action    = "accept" | "reject"                       (required)
#   addr      = "10.0.0.0/8"   address or network at either end
#   src, dst  = "192.0.2.1"    addresses or networks of the two ends; a src/dst pair also
#                              matches the reverse direction, so both directions of a
#                              connection get the same verdict
#   port      = 443 | "8000-8099"   port or range at either end (0 to 65535)
#   src_port, dst_port         like port, with pair semantics as for src/dst
#   transport = "tcp" | "udp" | "any"                     (default "any")
# A rule needs an action and at least one other key; every key given must match. Example:
#   rules = [
#     { action = "reject", src = "10.0.0.0/8", transport = "tcp", port = 443 },
#     { action = "accept", addr = "192.168.1.0/24" },
#   ]
# Default [].
rules = []
# Verdict when no rule matches: "accept" | "reject". Default "accept".
default_action = "accept"

# Per-interface settings: zero or more [[interface]] tables, each with a name and any key
# of [capture.defaults]; keys not written keep the [capture.defaults] value. Example:
#   [[interface]]
#   name = "eth0"
#   filter = "not port 22"
#   protocols = ["http", "smtp"]
#   rules = [
#     { action = "reject", src = "10.0.0.0/8", transport = "tcp", port = 443 },
#     { action = "accept", addr = "192.168.1.0/24" },
#   ]

[capdrop]
# Read capture files (pcap, pcapng, gzip-compressed or not) dropped into a directory.
# true | false, default false.
enabled = false
# The directory watched. Default "/var/lib/wiresift/capdrop".
directory = "/var/lib/wiresift/capdrop"
# Also look in subdirectories. true | false, default false.
recursive = false
# A file is taken once its writer has closed it, or once its size and modification time
# stayed unchanged this many seconds. 0 to 3600, default 5.
stable_seconds = 5
# Seconds between two looks at the directory. A number from 0.1 to 60, default 1.0.
poll_seconds = 1.0
# What happens to a file once read: "move" (to done_directory, or to failed_directory
# when it could not be read), "delete" or "leave" (the journal in
# service.state_directory remembers it). Default "move".
after = "move"
# Where read files are moved. "" = <directory>/.done. Default "".
done_directory = ""
# Where unreadable files are moved. "" = <directory>/.failed. Default "".
failed_directory = ""
# Keep flow state from one file to the next, for dumps rotated mid-connection
# (tcpdump -C/-G). true | false, default false.
carry_flows = false
# File name patterns taken (shell-style, * and ?); other files are left alone.
# Default ["*.pcap", "*.pcapng", "*.cap", "*.pcap.gz", "*.pcapng.gz"].
patterns = ["*.pcap", "*.pcapng", "*.cap", "*.pcap.gz", "*.pcapng.gz"]
# BPF filter applied to the files' packets, as in [capture.defaults]. Default "".
filter = ""
# Protocols parsed, as in [capture.defaults]. Default ["*"].
protocols = ["*"]
# Accept/reject rules, as in [capture.defaults]. Default [].
rules = []
# Verdict when no rule matches: "accept" | "reject". Default "accept".
default_action = "accept"

[service]
# Folder for the service's own state (the journal of files taken from the drop directory).
# Default "/var/lib/wiresift/state".
state_directory = "/var/lib/wiresift/state"
# Log file. "" = standard error (the journal under systemd). Default "".
log_file = ""
# Least severe messages logged: "debug" | "info" | "warning" | "error". Default "info".
log_level = "info"
# Seconds between two periodic statistics lines in the log. 1 to 86400, default 60.
stats_interval = 60
# Address serving Prometheus metrics over HTTP, "host:port" like "127.0.0.1:9477" or
# "[::1]:9477". "" = off. Default "".
metrics_listen = ""
# Send systemd watchdog pings when systemd asks for them (WATCHDOG_USEC is set).
# true | false, default true.
watchdog = true
"""
