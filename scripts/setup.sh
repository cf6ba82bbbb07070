#!/usr/bin/env bash
# Create the virtual environment and install the pinned lock into it.
# Idempotent: re-running only installs what changed.  Called by `make setup`.
set -euo pipefail
PYTHON=${1:-python3}
VENV=${2:-.venv}

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"SalesPulse needs Python 3.11+, this is {sys.version.split()[0]}")
PY

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "==> installing the pinned lock (requirements.txt)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
echo "==> checking Java for Spark"
"$VENV/bin/python" -m salespulse.java --ensure
if [ -f django_app/package.json ]; then
    echo "==> front-end libraries from npm (django_app/package-lock.json)"
    (cd django_app && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Debian's chromium for the browser tests"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "!! chromium not found: install Debian's 'chromium' package for the browser tests" >&2
    fi
fi
echo "==> set-up complete"
