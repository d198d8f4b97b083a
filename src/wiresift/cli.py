"""Command line: ``wiresift read``, ``wiresift detect``, ``wiresift protocols``.

Errors the user can fix (bad arguments, missing or unreadable files, a full disk) are one
line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from wiresift import __version__
from wiresift.capture import open_source
from wiresift.capture.base import CaptureError, PacketSource
from wiresift.config import Config
from wiresift.engine import Engine, RunStats
from wiresift.extract.files import ContentStore, NullStore
from wiresift.model import format_addr
from wiresift.outputs import Sink
from wiresift.outputs.filestore import FileContentStore, JsonLinesSink, PassportFileSink
from wiresift.protocols import REGISTRY

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4


class _Progress:
    """A one-line progress bar on a terminal (bytes of the input read)."""

    def __init__(self, stream: TextIO, source: PacketSource, index: int, count: int) -> None:
        self.stream = stream
        self.source = source
        self.label = f"[{index}/{count}] {Path(source.name).name}"
        self.total = source.total_bytes()
        self.last = 0.0

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        done = self.source.bytes_read()
        if self.total:
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {frac * 100:5.1f}%")
        else:
            self.stream.write(f"\r{self.label} {done / 1e6:.1f} MB")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\r" + " " * (len(self.label) + 42) + "\r")
        self.stream.flush()


def _summary(stats: RunStats, out: Path | None) -> str:
    lines = [
        f"packets   {stats.packets:,}",
        f"bytes     {stats.bytes:,}",
        f"flows     {stats.flows:,}"
        + (f" ({stats.flows_evicted:,} evicted: max_flows reached)" if stats.flows_evicted else ""),
    ]
    total = sum(stats.objects.values())
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(stats.objects.items())) or "none"
    lines.append(f"objects   {total:,} ({kinds})")
    if stats.protocols:
        lines.append(
            "protocols " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats.protocols.items()))
        )
    if stats.anomalies:
        lines.append(
            "anomalies " + ", ".join(f"{k} {v:,}" for k, v in stats.anomalies.most_common())
        )
    if stats.cpu_seconds > 0:
        mbit = stats.bytes * 8 / stats.cpu_seconds / 1e6
        pps = stats.packets / stats.cpu_seconds
        lines.append(
            f"speed     {mbit:,.0f} Mbit/s, {pps:,.0f} packets/s "
            f"({stats.cpu_seconds:.2f} s CPU, {stats.wall_seconds:.2f} s wall)"
        )
    lines.extend(f"error     {error}" for error in stats.errors)
    if out is not None:
        lines.append(f"output    {out}")
    return "\n".join(lines)


def _open_sources(paths: Sequence[str]) -> list[PacketSource]:
    sources: list[PacketSource] = []
    try:
        for path in paths:
            sources.append(open_source(path))  # noqa: PERF401 (closed below on failure)
    except CaptureError:
        for source in sources:
            source.close()
        raise
    return sources


def _file_config(args: argparse.Namespace) -> Config | None:
    """The engine configuration of ``read``/``detect``: the defaults, or the ``[limits]``,
    ``[flows]`` and ``[output]`` content settings of ``--config FILE``; then the command
    line (``--disable``, ``--no-content``). None after printing why a file is not valid."""
    config = Config()
    if args.config:
        from wiresift.service.settings import SettingsError, load_settings  # noqa: PLC0415

        known = [spec.name for spec in REGISTRY]
        try:
            settings = load_settings(Path(args.config), known)
        except SettingsError as exc:
            print(f"wiresift: {exc}", file=sys.stderr)
            return None
        config = settings.engine_config(frozenset(known), known)
    output = config.output
    if getattr(args, "no_content", False):
        output = replace(output, store_content=False)
    return replace(
        config,
        output=output,
        disabled_protocols=config.disabled_protocols | frozenset(args.disable),
    )


def cmd_read(args: argparse.Namespace) -> int:
    out = Path(args.output)
    config = _file_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        sources = _open_sources(args.files)
    except CaptureError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_INPUT
    try:
        out.mkdir(parents=True, exist_ok=True)
        sinks: list[Sink] = [PassportFileSink(out)]
        if args.jsonl == "-":
            sinks.append(JsonLinesSink(sys.stdout.buffer))
        elif args.jsonl:
            sinks.append(JsonLinesSink.to_path(Path(args.jsonl)))
        else:
            sinks.append(JsonLinesSink.to_path(out / "objects.jsonl"))
        store: ContentStore = FileContentStore(out) if config.output.store_content else NullStore()
    except OSError as exc:
        for source in sources:
            source.close()
        print(f"wiresift: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_OUTPUT
    anomaly_file = open(out / "anomalies.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def log_anomaly(uid: str, name: str, detail: str, ts: int) -> None:
        anomaly_file.write(
            json.dumps({"flow": uid, "name": name, "detail": detail, "ts_ns": ts}) + "\n"
        )

    name = sources[0].name if len(sources) == 1 else f"{len(sources)} files"
    engine = Engine(config, sinks, store=store, source_name=name, anomaly_log=log_anomaly)
    show = sys.stderr.isatty() and not args.quiet
    try:
        for index, source in enumerate(sources, 1):
            engine.source_name = source.name
            progress = _Progress(sys.stderr, source, index, len(sources)) if show else None
            try:
                engine.run(source, progress)
            finally:
                if progress is not None:
                    progress.done()
                source.close()
        stats = engine.finish()
    except OSError as exc:
        for source in sources:
            source.close()
        for sink in sinks:
            with contextlib.suppress(OSError):
                sink.close()
        if exc.errno == errno.ENOSPC:
            print(f"wiresift: the disk holding {out} is full", file=sys.stderr)
        else:
            print(f"wiresift: output error: {exc}", file=sys.stderr)
        return EXIT_OUTPUT
    finally:
        with contextlib.suppress(OSError):
            anomaly_file.close()
    if not args.quiet:
        print(_summary(stats, out), file=sys.stderr)
    return EXIT_INPUT if stats.errors else EXIT_OK


def cmd_detect(args: argparse.Namespace) -> int:
    config = _file_config(args)
    if config is None:
        return EXIT_USAGE
    try:
        sources = _open_sources(args.files)
    except CaptureError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_INPUT
    engine = Engine(config, [])
    engine.keep_detections = True
    for source in sources:
        engine.run(source)
        source.close()
    engine.finish()
    for flow, detection in engine.detections:
        (oa, op), (ra, rp) = flow.orig, flow.resp
        proto = detection.protocol or "-"
        conf = detection.confidence.name.lower() if detection.confidence else "-"
        print(
            f"{flow.uid} {format_addr(oa)}:{op} -> {format_addr(ra)}:{rp} "
            f"{proto} ({conf}) {detection.reason}"
            + (" [roles reversed]" if detection.reversed else "")
        )
    return EXIT_OK


def cmd_protocols(args: argparse.Namespace) -> int:
    for spec in REGISTRY:
        ports = ",".join(str(p) for p in sorted(spec.ports)) or "-"
        print(f"{spec.name:<10} {spec.transport}  ports (hint) {ports:<30} {spec.description}")
    return EXIT_OK


DEFAULT_CONFIG_PATH = Path("/etc/wiresift/wiresift.toml")


def _sensor_overrides(args: argparse.Namespace) -> dict[str, object]:
    """Command-line options that override the configuration file (dotted keys)."""
    overrides: dict[str, object] = {}
    if args.output:
        overrides["output.directory"] = args.output
    if args.interface:
        overrides["capture.interfaces"] = list(args.interface)
    if args.filter is not None:
        overrides["capture.defaults.filter"] = args.filter
    if args.capdrop:
        overrides["capdrop.enabled"] = True
        overrides["capdrop.directory"] = args.capdrop
    if args.state:
        overrides["service.state_directory"] = args.state
    if args.metrics:
        overrides["service.metrics_listen"] = args.metrics
    if args.log_level:
        overrides["service.log_level"] = args.log_level
    if args.log_file:
        overrides["service.log_file"] = args.log_file
    if args.no_live:
        overrides["capture.defaults.enabled"] = False
    return overrides


# The sensor's modules (libpcap binding, metrics server, settings) load only for the
# commands that use them, so `wiresift read` starts without them.


def _sensor(args: argparse.Namespace, *, service: bool) -> int:
    from wiresift.service.process import run_sensor  # noqa: PLC0415
    from wiresift.service.sensor import PROTOCOL_NAMES  # noqa: PLC0415
    from wiresift.service.settings import (  # noqa: PLC0415
        Settings,
        SettingsError,
        apply_overrides,
        load_settings,
    )

    path: Path | None = Path(args.config) if args.config else None
    if path is None and DEFAULT_CONFIG_PATH.exists():
        path = DEFAULT_CONFIG_PATH
    overrides = _sensor_overrides(args)
    try:
        base = load_settings(path, PROTOCOL_NAMES) if path is not None else Settings()
        settings = apply_overrides(base, overrides)
    except SettingsError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return run_sensor(
            settings,
            service=service,
            config_path=path,
            reload_overrides=lambda new: apply_overrides(new, overrides),
        )
    except OSError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_OUTPUT


def cmd_run(args: argparse.Namespace) -> int:
    return _sensor(args, service=False)


def cmd_service(args: argparse.Namespace) -> int:
    return _sensor(args, service=True)


def cmd_interfaces(args: argparse.Namespace) -> int:
    from wiresift.capture.live import (  # noqa: PLC0415
        default_capture_interfaces,
        list_interfaces,
    )

    try:
        infos = list_interfaces()
    except CaptureError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_INPUT
    default = set(default_capture_interfaces(infos))
    for info in infos:
        flags = ",".join(
            flag
            for flag, on in (
                ("up", info.up),
                ("running", info.running),
                ("loopback", info.loopback),
                ("default", info.name in default),
            )
            if on
        )
        addrs = " ".join(info.addresses) or "-"
        print(f"{info.name:<16} {flags or '-':<28} {addrs}  {info.description or ''}".rstrip())
    return EXIT_OK


def cmd_config(args: argparse.Namespace) -> int:
    from wiresift.service.sensor import PROTOCOL_NAMES  # noqa: PLC0415
    from wiresift.service.settings import (  # noqa: PLC0415
        SettingsError,
        default_settings_text,
        load_settings,
    )

    if args.default:
        sys.stdout.write(default_settings_text())
        return EXIT_OK
    try:
        load_settings(Path(args.check), PROTOCOL_NAMES)
    except SettingsError as exc:
        print(f"wiresift: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.check}: valid")
    return EXIT_OK


def _add_sensor_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c", "--config", help=f"TOML configuration (default {DEFAULT_CONFIG_PATH} if present)"
    )
    parser.add_argument("-o", "--output", help="output folder (output.directory)")
    parser.add_argument(
        "-i", "--interface", action="append", help="capture on this interface (repeatable)"
    )
    parser.add_argument("--filter", help="BPF filter for every interface")
    parser.add_argument("--no-live", action="store_true", help="no live capture at all")
    parser.add_argument("--capdrop", help="watch this drop directory for capture files")
    parser.add_argument("--state", help="state folder (drop-directory journal)")
    parser.add_argument("--metrics", help="serve Prometheus metrics on HOST:PORT")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-file", help="log to this file instead of stderr")


def _add_disable(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take limits, flow settings (timeouts, max_flows) and what is stored from this "
        "configuration file ('wiresift config --default' writes one)",
    )
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        choices=[spec.name for spec in REGISTRY],
        metavar="PROTOCOL",
        help="do not parse this protocol (repeatable; see 'wiresift protocols')",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wiresift",
        description="Turn captured traffic into the application-level objects it carried.",
    )
    parser.add_argument("--version", action="version", version=f"wiresift {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    read = sub.add_parser("read", help="extract objects from capture files")
    read.add_argument("files", nargs="+", help="pcap, pcapng, optionally gzip-compressed")
    read.add_argument("-o", "--output", default="wiresift-out", help="output folder")
    read.add_argument("--jsonl", help="also stream passports as JSON lines here ('-': stdout)")
    read.add_argument("--no-content", action="store_true", help="write passports only")
    read.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    _add_disable(read)
    read.set_defaults(func=cmd_read)
    detect = sub.add_parser("detect", help="show, per flow, which protocol was chosen and why")
    detect.add_argument("files", nargs="+")
    _add_disable(detect)
    detect.set_defaults(func=cmd_detect)
    protocols = sub.add_parser("protocols", help="list the supported protocols")
    protocols.set_defaults(func=cmd_protocols)
    run = sub.add_parser("run", help="run the sensor in the foreground (logs to the terminal)")
    _add_sensor_options(run)
    run.set_defaults(func=cmd_run)
    service = sub.add_parser("service", help="run the sensor as a systemd service")
    _add_sensor_options(service)
    service.set_defaults(func=cmd_service)
    interfaces = sub.add_parser("interfaces", help="list the interfaces that can be captured")
    interfaces.set_defaults(func=cmd_interfaces)
    config = sub.add_parser("config", help="write the default configuration, or check one")
    what = config.add_mutually_exclusive_group(required=True)
    what.add_argument("--default", action="store_true", help="print the default configuration")
    what.add_argument("--check", metavar="FILE", help="validate a configuration file")
    config.set_defaults(func=cmd_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("wiresift: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``wiresift protocols | head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
