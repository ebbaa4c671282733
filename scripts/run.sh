#!/usr/bin/env bash
# Start the platform: PostgreSQL (embedded unless DATABASE_URL is set), migrations, the streamer
# and Airflow 3 (loopback only). `run.sh demo` does the same offline against the local fake exchange.
set -euo pipefail
MODE="${1:-run}"
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
# Airflow beyond loopback: a password of the user's own (not a generated one) and TLS, or plain
# HTTP said in so many words; refused before anything starts.
case "$AIRFLOW__API__HOST" in
    127.0.0.1 | localhost | ::1) ;;
    *)
        : "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD to serve Airflow on $AIRFLOW__API__HOST}"
        if [ -z "${AIRFLOW__API__SSL_CERT:-}" ] && [ "${AIRFLOW_ALLOW_PLAINTEXT:-false}" != true ]; then
            echo "error: AIRFLOW__API__HOST=$AIRFLOW__API__HOST is not loopback: set AIRFLOW__API__SSL_CERT and AIRFLOW__API__SSL_KEY, or AIRFLOW_ALLOW_PLAINTEXT=true to send logins unencrypted" >&2
            exit 1
        fi
        ;;
esac
mkdir -p "$DATA_DIR/logs"
chmod 0750 "$DATA_DIR/logs"
# Logs and the files the services write are no one else's to read (0640, directories 0750);
# DATA_DIR itself stays traversable for the embedded server's own user.
umask 027
# Passwords the user gives for Airflow go to the one command that uses each, never into a
# service's environment (every process started below would inherit them).
airflow_admin_password="${AIRFLOW_ADMIN_PASSWORD:-}"
airflow_database_password="${AIRFLOW_DATABASE_PASSWORD:-}"
unset AIRFLOW_ADMIN_PASSWORD AIRFLOW_DATABASE_PASSWORD

# How each process is started, with only its own settings (start_child, start_supervised_with,
# with_env).
. "$ROOT/scripts/processes.sh"
stop_groups() {
    # Every group asked at once, then one shared deadline: stopping one by one, with Airflow's
    # parts slow to exit on a busy machine, took minutes.
    local pid alive
    for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for _ in $(seq 1 60); do
        alive=0
        for pid in "$@"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && return 0
        sleep 0.5
    done
    for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
cleanup() {
    # Ignore further signals until done: make forwards its own SIGTERM, and a second Ctrl-C
    # must not leave the streamer or the database running. Every wait below is bounded.
    trap - EXIT
    trap '' INT TERM
    echo "stopping..."
    # The streamer flushes on SIGTERM while the database, stopped last, is still up.
    if [ "${#children[@]}" -gt 0 ]; then stop_groups "${children[@]}"; fi
    if [ -z "${EXTERNAL_DATABASE:-}" ]; then
        python -m include.cli db stop || true
    fi
}
trap cleanup EXIT INT TERM

if [ "$MODE" = "demo" ]; then
    FAKE_PORT="${FAKE_PORT:-8765}"
    symbols="${SYMBOLS:-BTCUSDT ETHUSDT PEPEUSDT}"
    if [ "$(echo "$symbols" | tr -d ' ,' | tr '[:lower:]' '[:upper:]')" = "ALL" ]; then
        # ALL: DEMO_ALL_SYMBOLS (2,000, about Binance spot's count) symbols skewed as Binance's
        # are, trading its average 460 trades/s, with listings and delistings (halts for good)
        # mid-run, under Binance's default REST limit (6,000 weight a minute).
        market=(--all "${DEMO_ALL_SYMBOLS:-2000}")
    else
        market=(--symbols "$(echo "$symbols" | tr -s ' ,' ',')")
    fi
    # FAKE_START: the market clock's start (ISO 8601, UTC), so a bench can rebuild the same
    # market in-process as its oracle.
    [ -z "${FAKE_START:-}" ] || market+=(--start "$FAKE_START")
    # Its USDⓈ-M and COIN-M perpetuals too: the demo runs spot and USDⓈ-M side by side unless
    # MARKETS says otherwise (MARKETS="spot usdm coinm" adds COIN-M's inverse perpetuals).
    start_child "$DATA_DIR/logs/fakebinance.log" \
        python -m include.platform.process_env fakebinance -- \
        python -m fakebinance --host 127.0.0.1 --port "$FAKE_PORT" --seed 42 "${market[@]}" \
        --usdm --coinm
    export MARKETS="${MARKETS:-spot usdm}"
    fake_url="http://127.0.0.1:$FAKE_PORT"
    export BINANCE_WS_URL="$fake_url" BINANCE_REST_URL="$fake_url" BINANCE_DATA_URL="$fake_url"
    export BINANCE_USDM_WS_URL="$fake_url" BINANCE_USDM_REST_URL="$fake_url"
    export BINANCE_COINM_WS_URL="$fake_url/dstream" BINANCE_COINM_REST_URL="$fake_url"
    echo "fake Binance on $fake_url, markets: $MARKETS (log: $DATA_DIR/logs/fakebinance.log)"
fi

if [ -n "${DATABASE_URL:-}" ]; then
    EXTERNAL_DATABASE=1
    admin_url="$DATABASE_URL"
else
    admin_url="$(python -m include.cli db start)"
fi
# The administrator's URL (its password) reaches only the commands that need it: migrate and
# the look-up of each role's URL. No service inherits it: each gets its own role's URL alone
# (DESIGN.md "Database roles"), so reading a service's environment yields that role only.
unset DATABASE_URL
as_admin() { DATABASE_URL="$admin_url" "$@"; }
# The URL carries the administrator's password (the embedded one's is in $DATA_DIR/secrets/):
# shown without it.
echo "database: $(printf '%s' "$admin_url" | sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#')"
# As the administrator: the tables, the roles each part connects as (DESIGN.md "Database roles")
# and their passwords (the environment's, else generated into $DATA_DIR/secrets/, mode 0600).
as_admin python -m include.cli migrate
role_url() { as_admin python -m include.cli db url --role "$1"; }
streamer_env=(STREAMER_DATABASE_URL="$(role_url streamer_writer)" STREAMER_MIGRATE=false)
loader_env=(LOADER_DATABASE_URL="$(role_url history_loader)")
builder_env=(DBT_DATABASE_URL="$(role_url dbt_builder)")
reader_env=(API_DATABASE_URL="$(role_url analytics_reader)")
api_env=("${reader_env[@]}")
live_env=("${reader_env[@]}")
unset STREAMER_DATABASE_URL LOADER_DATABASE_URL DBT_DATABASE_URL API_DATABASE_URL
unset STREAMER_DATABASE_PASSWORD LOADER_DATABASE_PASSWORD DBT_DATABASE_PASSWORD API_DATABASE_PASSWORD

# Airflow's metadata database is the airflow role's (its password generated into
# $DATA_DIR/secrets/airflow.password), not the administrator's. Airflow's processes run the
# DAGs' tasks, so they hold the task roles (history, dbt, the quality checks' reader) too.
airflow_conn="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}"
if [ -z "$airflow_conn" ]; then
    airflow_url="$(AIRFLOW_DATABASE_PASSWORD="$airflow_database_password" \
        as_admin python -m include.cli db url --database airflow --owner airflow)"
    airflow_conn="${airflow_url/postgresql:/postgresql+psycopg2:}"
fi
unset AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
airflow_env=(AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$airflow_conn"
    "${loader_env[@]}" "${builder_env[@]}" "${reader_env[@]}")
with_env airflow_env airflow db migrate >"$DATA_DIR/logs/airflow-db-migrate.log" 2>&1 \
    || { echo "error: airflow db migrate failed, see $DATA_DIR/logs/airflow-db-migrate.log" >&2; exit 1; }
# The binance_rest pool every REST-calling task shares (include/platform/rest_pool.py), sized from the
# weight budget; created or resized on every start, while the history loads below.
python -m include.cli airflow-pools "$AIRFLOW_HOME/pools.json"
with_env airflow_env airflow pools import "$AIRFLOW_HOME/pools.json" >"$DATA_DIR/logs/airflow-pools.log" 2>&1 &
pools_pid=$!

start_supervised_with streamer_env streamer python -m streamer
echo "streamer started, restarted if it dies (log: $DATA_DIR/logs/streamer.log)"

# History first, joined to the streamer's first closed minute and built, so every DAG can run
# unpaused from the start and the first data_quality run already sees a whole series.
# Its progress (every 10 s: symbols done, klines, time left) and outcome on the console and in
# the log, its log lines in the log only.
echo "loading the last ${BOOTSTRAP_DAYS:-2} days of history (log: $DATA_DIR/logs/bootstrap.log)..."
bootstrap_env=("${loader_env[@]}" "${builder_env[@]}")
: >"$DATA_DIR/logs/bootstrap.log"
with_env bootstrap_env python -m include.cli bootstrap --days "${BOOTSTRAP_DAYS:-2}" \
    2>>"$DATA_DIR/logs/bootstrap.log" | tee -a "$DATA_DIR/logs/bootstrap.log" \
    || echo "warning: history bootstrap failed (see $DATA_DIR/logs/bootstrap.log); the DAGs will catch up" >&2
# Every DAG runs from the start; pause one in the UI to stop it.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"

wait "$pools_pid" \
    || { echo "error: airflow pools import failed, see $DATA_DIR/logs/airflow-pools.log" >&2; exit 1; }

# Airflow's parts one by one rather than `airflow standalone`, which binds its log servers to
# every interface (hard-coded): with LocalExecutor the API server reads task logs from disk.
# A login on loopback too (any local process, or a web page rebinding DNS to 127.0.0.1, could
# use the REST API otherwise): AIRFLOW_ADMIN_PASSWORD, else one generated into
# $DATA_DIR/secrets/airflow-admin.password, shown once below, on the first start.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW_ADMIN_USER:-admin}:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
airflow_login="$(AIRFLOW_ADMIN_PASSWORD="$airflow_admin_password" \
    python -m include.cli airflow-passwords "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")"
# Supervised too: Airflow's scheduler exits when its database goes away for a moment.
start_supervised_with airflow_env airflow-api-server \
    airflow api-server --host "$AIRFLOW__API__HOST" --port "$AIRFLOW__API__PORT"
start_supervised_with airflow_env airflow-scheduler airflow scheduler --skip-serve-logs
start_supervised_with airflow_env airflow-dag-processor airflow dag-processor
start_supervised_with airflow_env airflow-triggerer airflow triggerer --skip-serve-logs
echo "Airflow UI on http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT (logs: $DATA_DIR/logs/airflow-*.log)"
[ -z "$airflow_login" ] || echo "$airflow_login"

start_supervised_with api_env api python -m api
echo "API and live chart on http://${API_HOST:-127.0.0.1}:${API_PORT:-8000}/ (log: $DATA_DIR/logs/api.log)"

# Show the live table filling up until Ctrl-C; `wait` lets the trap run as soon as a signal lands.
# At ALL a summary every 5 s (symbols live, minutes late to close, the newest minute), not
# 2,000 lines.
live_view=()
[ "$(echo "${SYMBOLS:-}" | tr -d ' ,' | tr '[:lower:]' '[:upper:]')" != "ALL" ] || live_view=(--summary)
with_env live_env python -m include.cli live --follow "${live_view[@]}" &
children+=($!)
wait $!
