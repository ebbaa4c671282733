#!/usr/bin/env bash
# The whole test suite: lint, then pytest against a real embedded PostgreSQL, real dbt and Airflow.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
# Tests start their own servers; a developer's DATABASE_URL must not leak into them.
unset DATABASE_URL
ruff check .
ruff format --check .
# pytest-xdist hands whole files to the workers (module fixtures built once), the longest files
# first (tests/conftest.py). One worker more than the cores: half of a run's time is spent waiting
# on markets that run on a clock (the cores were busy 51% of a two-worker run on two cores).
# TEST_WORKERS=1 runs the files one after another.
exec python -m pytest -n "${TEST_WORKERS:-$(($(nproc) + 1))}" --dist loadfile --no-loadscope-reorder "$@"
