#!/usr/bin/env bash
# Install what the tests need into .venv, then run every check: lint, format, types, tests.
# Usage: ./scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian packages the live-capture and service tests drive (installed when run as root on a
# fresh machine; without them, and outside CI, those tests skip and say why).
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
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
