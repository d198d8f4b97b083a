"""The sensor as a long-running process: settings, live interfaces, the drop directory,
counters and the systemd service mode. Everything here does I/O; the stages it drives
(decode, flow, detect, protocols, extract) stay sans-IO."""
