#!/usr/bin/env bash
# The benchmark from a fresh clone, in one command: make .venv if needed, install, run `python -m bench.run`.
# Arguments go to bench.run (e.g. `bash bench/run.sh --reuse --keep`, `bash bench/run.sh --tiny`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
exec .venv/bin/python -m bench.run "$@"
