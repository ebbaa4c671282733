#!/usr/bin/env bash
# Run every benchmark in bench/ (each prints its own ratios); `make bench` calls this.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
unset DATABASE_URL
for bench in bench/*_bench.py; do
    echo "== $bench"
    python "$bench"
done
