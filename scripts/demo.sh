#!/usr/bin/env bash
# Install wiresift into .venv and run it on the bundled sample capture into ./wiresift-out.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e .
rm -rf wiresift-out
exec .venv/bin/wiresift read samples/http-sample.pcap -o wiresift-out "$@"
