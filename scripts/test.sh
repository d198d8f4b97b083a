#!/usr/bin/env bash
# Install what the tests need into .venv, then run every check: lint, format, types, tests.
# Usage: ./scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian packages the live-capture, service and mail tests drive (installed when run as
# root on a fresh machine; without them, and outside CI, those tests skip and say why).
. scripts/ci-packages.sh
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,lint]'
echo "== ruff check"
.venv/bin/ruff check src tests bench
echo "== ruff format --check"
.venv/bin/ruff format --check src tests bench
echo "== mypy --strict"
.venv/bin/mypy src
echo "== pytest"
set +e
.venv/bin/python -bb -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
