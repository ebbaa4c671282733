#!/usr/bin/env bash
# Start the platform: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the streamer
# and Airflow 3 standalone. `run.sh demo` does the same offline against the local fake exchange.
set -euo pipefail
MODE="${1:-run}"
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
mkdir -p "$DATA_DIR/logs"

children=()
cleanup() {
    trap - EXIT INT TERM
    echo "stopping..."
    for pid in "${children[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${children[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -z "${EXTERNAL_DATABASE:-}" ]; then
        python -m include.cli db stop || true
    fi
}
trap cleanup EXIT INT TERM

if [ "$MODE" = "demo" ]; then
    FAKE_PORT="${FAKE_PORT:-8765}"
    python -m fakebinance --host 127.0.0.1 --port "$FAKE_PORT" --seed 42 \
        --symbols "${SYMBOLS:-BTCUSDT ETHUSDT PEPEUSDT}" >"$DATA_DIR/logs/fakebinance.log" 2>&1 &
    children+=($!)
    export BINANCE_WS_URL="http://127.0.0.1:$FAKE_PORT"
    export BINANCE_REST_URL="http://127.0.0.1:$FAKE_PORT"
    export BINANCE_DATA_URL="http://127.0.0.1:$FAKE_PORT"
    echo "fake Binance on http://127.0.0.1:$FAKE_PORT (log: $DATA_DIR/logs/fakebinance.log)"
fi

if [ -n "${DATABASE_URL:-}" ]; then
    EXTERNAL_DATABASE=1
else
    DATABASE_URL="$(python -m include.cli db start)"
    export DATABASE_URL
fi
echo "database: $DATABASE_URL"
python -m include.cli migrate

if [ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]; then
    airflow_url="$(python -m include.cli db url --database airflow)"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${airflow_url/postgresql:/postgresql+psycopg2:}"
fi
airflow db migrate >"$DATA_DIR/logs/airflow-db-migrate.log" 2>&1 \
    || { echo "error: airflow db migrate failed, see $DATA_DIR/logs/airflow-db-migrate.log" >&2; exit 1; }

python -m streamer >"$DATA_DIR/logs/streamer.log" 2>&1 &
children+=($!)
echo "streamer started (log: $DATA_DIR/logs/streamer.log)"

airflow standalone >"$DATA_DIR/logs/airflow.log" 2>&1 &
children+=($!)
echo "Airflow UI on http://127.0.0.1:$AIRFLOW__API__PORT (log: $DATA_DIR/logs/airflow.log)"

# Show the live table filling up, until Ctrl-C.
python -m include.cli live --follow
