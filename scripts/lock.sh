#!/usr/bin/env bash
# Resolve requirements.in in a scratch venv and freeze it as the lock.
set -euo pipefail
PYTHON=${1:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet -r requirements.in
{
  echo "# SalesPulse dependency lock: every package the project runs and tests with, pinned."
  echo "# Airflow's constraint files cannot be fetched here, so this file is the constraint."
  echo "# Regenerate: make lock (resolves requirements.in in a scratch venv and freezes it)."
  "$tmp/venv/bin/pip" freeze --exclude-editable
} > requirements.txt
echo "requirements.txt: $(grep -vc '^#' requirements.txt) pinned packages"
