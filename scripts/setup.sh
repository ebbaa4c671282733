#!/usr/bin/env bash
# Create .venv and install the pinned requirements; a no-op when nothing changed. With --tests
# (make test, make check) also what only the tests need: freqtrade's venv, Chromium, Redis.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "error: $PYTHON not found: install Python 3.11 (or set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want="$(cat requirements-pip.txt requirements.txt requirements-nodeps.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --require-hashes -r requirements-pip.txt
    # Every file checked against the sha256 recorded beside its pin (scripts/lock.py).
    .venv/bin/python -m pip install --quiet --require-hashes -r requirements.txt
    .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-nodeps.txt
    echo "$want" > "$stamp"
fi
[ "${1:-}" = "--tests" ] || exit 0
# freqtrade, in a venv of its own (its pins conflict with Airflow's), for its client test.
bash scripts/setup-freqtrade.sh
# Debian packages some tests need, each installed only where missing: headless Chromium for the
# chart page's browser test, redis-server as the Celery broker of tests/test_celery_executor.py
# (the test starts its own on a free loopback port; nothing is left running here).
# Where set-up cannot install a package (no apt-get, neither root nor sudo) it says so in
# .venv/setup-without, and only those tests skip (tests/support/setup_tools.py); any other
# missing package fails its tests: a broken set-up.
without=.venv/setup-without
rm -f "$without"
apt_install() {
    local package="$1" why="$2"
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$package: no apt-get" >> "$without"
    elif [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq "$package" >/dev/null \
            || echo "warning: could not install $package; $why" >&2
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo apt-get install -y -qq "$package" >/dev/null \
            || echo "warning: could not install $package; $why" >&2
    else
        echo "$package: neither root nor sudo to run apt-get" >> "$without"
    fi
}
command -v chromium >/dev/null 2>&1 \
    || apt_install chromium "the chart browser tests will fail"
command -v redis-server >/dev/null 2>&1 \
    || apt_install redis-server "the CeleryExecutor test will fail"
