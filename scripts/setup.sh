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
echo "==> set-up complete"
