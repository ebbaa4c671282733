# Sourced by the other scripts: the venv on PATH, the project importable, Airflow's settings.
# Values already in the environment (or in .env) win over these defaults.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
if [ -f "$ROOT/.env" ]; then
    set -a
    # shellcheck disable=SC1091
    . "$ROOT/.env"
    set +a
fi
export PATH="$ROOT/.venv/bin:$PATH"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export DATA_DIR="${DATA_DIR:-$ROOT/.data}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$DATA_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
# plugins/trusted_hosts.py: the api-server answers only the Host names it is served under.
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$ROOT/plugins}"
# Loopback unless the user exposes it (then run.sh requires AIRFLOW_ADMIN_PASSWORD and a login).
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# Task runners reach the API server here; its default assumes port 8080 whatever the port is.
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$AIRFLOW__API__PORT/execution/}"
# Airflow's LocalExecutor with a shutdown that cannot hang the scheduler after a database
# outage (include/platform/executor.py).
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-include.platform.executor.LocalExecutor}"
# 32 LocalExecutor workers by default: too many for a 2-core laptop or CI box.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-8}"
export DBT_PROFILES_DIR="${DBT_PROFILES_DIR:-$ROOT/dbt_project}"
