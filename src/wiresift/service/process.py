"""The two ways the sensor runs: ``wiresift run`` (foreground, logs to the terminal) and
``wiresift service`` (under systemd: readiness, watchdog, SIGHUP reload, SIGTERM drain,
logs to the journal or a file). See docs/service.md."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from logging.handlers import WatchedFileHandler  # reopens after logrotate
from pathlib import Path
from types import FrameType
from typing import Final

from wiresift.service.metrics import MetricsServer
from wiresift.service.sensor import PROTOCOL_NAMES, Sensor
from wiresift.service.settings import Settings, SettingsError, load_settings
from wiresift.service.systemd import Notifier

log = logging.getLogger("wiresift")

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(message)s"
# Under systemd the journal stamps each line itself.
JOURNAL_FORMAT: Final = "%(levelname)s %(message)s"


def setup_logging(settings: Settings, *, service: bool) -> None:
    """Terminal (run), or a file / the journal through stderr (service)."""
    handler: logging.Handler
    if settings.service.log_file:
        handler = WatchedFileHandler(settings.service.log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(JOURNAL_FORMAT if service else LOG_FORMAT))
    root = logging.getLogger("wiresift")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.service.log_level.upper())
    root.propagate = False


def run_sensor(
    settings: Settings,
    *,
    service: bool,
    config_path: Path | None,
    reload_overrides: Callable[[Settings], Settings] = lambda s: s,
) -> int:
    """Run until SIGTERM/SIGINT; SIGHUP rereads ``config_path``. Returns the exit status."""
    setup_logging(settings, service=service)
    notifier = Notifier() if service else Notifier({})
    sensor = Sensor(settings)
    metrics = None
    listen = settings.service.metrics_listen
    if listen is not None:
        host, port = listen
        try:
            metrics = MetricsServer(host, port, sensor.snapshot)
        except OSError as exc:
            log.critical("metrics on %s port %d: %s", host, port, exc)
            sensor.shutdown()
            return 4
        log.info("metrics on http://%s:%d/metrics", host, metrics.port)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: draining flows and stopping", signal.Signals(signum).name)
        notifier.stopping()
        sensor.request_stop()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        if config_path is None:
            log.warning("SIGHUP: no configuration file to reload")
            return
        notifier.reloading()
        try:
            new = reload_overrides(load_settings(config_path, PROTOCOL_NAMES))
        except SettingsError as exc:
            log.warning("reload refused, configuration unchanged: %s", exc)
            notifier.ready("reload refused")
            return
        sensor.request_reload(new)

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)

    watchdog_every = (notifier.watchdog_seconds or 0) / 2 if settings.service.watchdog else 0
    state = {"next_ping": 0.0, "ready": False, "reloads": 0}

    def tick() -> None:
        if not state["ready"]:
            state["ready"] = True
            names = ", ".join(sensor.inputs) or "no interface"
            notifier.ready(f"capturing on {names}")
            log.info("ready: %s%s", names, " + drop directory" if sensor.capdrop else "")
        elif sensor.reloads != state["reloads"]:
            state["reloads"] = sensor.reloads
            notifier.ready("configuration reloaded")
        if watchdog_every:
            now = time.monotonic()
            if now >= state["next_ping"]:
                state["next_ping"] = now + watchdog_every
                notifier.watchdog()

    sensor.on_tick = tick
    try:
        sensor.run()
    finally:
        if metrics is not None:
            metrics.close()
        notifier.close()
    return 0
