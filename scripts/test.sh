#!/usr/bin/env bash
# The whole test suite: lint, then pytest against a real embedded PostgreSQL, real dbt and Airflow.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
# Tests start their own servers; a developer's DATABASE_URL must not leak into them.
unset DATABASE_URL
ruff check .
ruff format --check .
# On every core: pytest-xdist hands whole files to the workers (module fixtures built once), the
# longest files first (tests/conftest.py); TEST_WORKERS=1 runs them one after another.
exec python -m pytest -n "${TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder "$@"
