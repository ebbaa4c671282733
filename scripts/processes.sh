# Sourced by run.sh: how it starts its processes. Each gets only its own settings: a command
# runs under `python -m include.platform.process_env PROCESS -- command...`, which keeps of the
# environment (all of .env, exported by env.sh) what PROCESS may see and nothing else, so the
# API and the streamer never hold Airflow's admin password, its JWT secret or its Fernet key.

# Each child runs in its own process group, so shutdown reaches its own children too (Airflow's
# scheduler leaves its workers behind otherwise), in a chosen order.
children=()
start_child() {
    local log="$1"
    shift
    setsid "$@" >"$log" 2>&1 &
    children+=($!)
}
# Keep a service up: restart it when it dies (not when it exits 0, i.e. was asked to stop), with
# a backoff that doubles up to 30 s and starts over once the service ran for a minute.
supervise() {
    local name="$1" log="$2"
    shift 2
    local delay=1 started code
    while true; do
        started=$SECONDS
        "$@" >>"$log" 2>&1 && code=0 || code=$?
        [ "$code" -eq 0 ] && return 0
        if ((SECONDS - started > 60)); then delay=1; fi
        echo "supervisor: $name exited with status $code; restarting in ${delay}s" | tee -a "$log" >&2
        sleep "$delay"
        delay=$((delay * 2 > 30 ? 30 : delay * 2))
    done
}
# A supervised child of PROCESS's environment (the supervisor's too): the service's output in
# logs/<name>.log, restarts noted there too.
start_supervised() {
    local process="$1" name="$2"
    shift 2
    start_child "$DATA_DIR/logs/$name-supervisor.log" \
        python -m include.platform.process_env "$process" -- \
        bash -c "$(declare -f supervise); supervise \"\$@\"" supervise \
        "$name" "$DATA_DIR/logs/$name.log" "$@"
}
# A role's URL goes into a child's environment, never onto a command line (any local user can
# read another's /proc/<pid>/cmdline): `with_env PROCESS_env cmd...` runs cmd with array
# PROCESS_env's assignments added to PROCESS's environment; `start_supervised_with PROCESS_env
# service cmd...` does it for a supervised service.
with_env() {
    local -n assignments="$1"
    local process="${1%_env}"
    shift
    (export "${assignments[@]}" && exec python -m include.platform.process_env "$process" -- "$@")
}
start_supervised_with() {
    local -n assignments="$1"
    local process="${1%_env}"
    shift
    local assignment
    export "${assignments[@]}"
    start_supervised "$process" "$@"
    for assignment in "${assignments[@]}"; do unset "${assignment%%=*}"; done
}
