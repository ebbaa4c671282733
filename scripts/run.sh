#!/usr/bin/env bash
# Start the platform: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the streamer
# and Airflow 3 standalone. `run.sh demo` does the same offline against the local fake exchange.
set -euo pipefail
MODE="${1:-run}"
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
mkdir -p "$DATA_DIR/logs"

# Each child runs in its own process group, so shutdown reaches its own children too (airflow
# standalone leaves its scheduler and workers behind otherwise), in a chosen order.
children=()
start_child() {
    local log="$1"
    shift
    setsid "$@" >"$log" 2>&1 &
    children+=($!)
}
stop_group() {
    local pid="$1" signal="$2"
    kill "-$signal" -- "-$pid" 2>/dev/null || return 0
    for _ in $(seq 1 60); do
        kill -0 -- "-$pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() {
    # Ignore further signals until done: make forwards its own SIGTERM, and a second Ctrl-C
    # must not leave the streamer or the database running. Every wait below is bounded.
    trap - EXIT
    trap '' INT TERM
    echo "stopping..."
    # Newest first: the follower, Airflow, then the streamer (SIGTERM = flush and exit 0), the fake.
    for ((i = ${#children[@]} - 1; i >= 0; i--)); do
        stop_group "${children[$i]}" TERM
    done
    if [ -z "${EXTERNAL_DATABASE:-}" ]; then
        python -m include.cli db stop || true
    fi
}
trap cleanup EXIT INT TERM

if [ "$MODE" = "demo" ]; then
    FAKE_PORT="${FAKE_PORT:-8765}"
    symbols="${SYMBOLS:-BTCUSDT ETHUSDT PEPEUSDT}"
    start_child "$DATA_DIR/logs/fakebinance.log" \
        python -m fakebinance --host 127.0.0.1 --port "$FAKE_PORT" --seed 42 \
        --symbols "$(echo "$symbols" | tr -s ' ,' ',')"
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

start_child "$DATA_DIR/logs/streamer.log" python -m streamer
echo "streamer started (log: $DATA_DIR/logs/streamer.log)"

start_child "$DATA_DIR/logs/api.log" python -m api
echo "API and live chart on http://${API_HOST:-127.0.0.1}:${API_PORT:-8000}/ (log: $DATA_DIR/logs/api.log)"

start_child "$DATA_DIR/logs/airflow.log" airflow standalone
echo "Airflow UI on http://127.0.0.1:$AIRFLOW__API__PORT (log: $DATA_DIR/logs/airflow.log)"

# Show the live table filling up until Ctrl-C; `wait` lets the trap run as soon as a signal lands.
python -m include.cli live --follow &
children+=($!)
wait $!
