#!/usr/bin/env bash
# Run every benchmark in bench/ (each prints its own ratios); `make bench` calls this.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
unset DATABASE_URL
for bench in bench/*_bench.py; do
    # 86 M rows: about 45 GB of disk and an hour; run by hand (docs/scaling.md, Real volume).
    if [ "$bench" = bench/volume_bench.py ]; then
        echo "== $bench: skipped (run it by hand, see docs/scaling.md)"
        continue
    fi
    echo "== $bench"
    python "$bench"
done
