#!/usr/bin/env bash
# Create .venv-freqtrade with the pinned freqtrade (requirements-freqtrade.txt) for
# tests/api/test_freqtrade.py; a no-op when nothing changed. freqtrade gets a venv of its own:
# its pins (SQLAlchemy 2, its dependency set) conflict with Airflow's in .venv. TA-Lib installs
# as a binary wheel, no C library needed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv-freqtrade/bin/python ]; then
    "$PYTHON" -m venv .venv-freqtrade
fi
stamp=.venv-freqtrade/.requirements.sha256
want="$(cat requirements-pip.txt requirements-freqtrade.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv-freqtrade/bin/python -m pip install --quiet --require-hashes -r requirements-pip.txt
    .venv-freqtrade/bin/python -m pip install --quiet --require-hashes -r requirements-freqtrade.txt
    echo "$want" > "$stamp"
fi
