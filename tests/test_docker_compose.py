"""docker-compose.yml is valid Compose and its services run what the code provides."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from include.platform import executor
from tests.support.deploy import DESIGN_VARIABLES, dockerfile_env
from tests.support.paths import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
# Started only with `docker compose --profile celery`.
CELERY_SERVICES = {"redis", "airflow-worker", "flower"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def command_words(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_valid_against_compose_spec() -> None:
    """The file validates against the Compose specification's JSON schema."""
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_part_of_the_platform_is_a_service(compose: dict) -> None:
    """PostgreSQL, the Airflow 3 services, two one-shot inits (the administrator's migrations,
    Airflow's), the streamer, the API, Prometheus, Grafana and the docs server, plus the celery
    profile's Redis, workers and Flower."""
    expected = {
        "postgres",
        "db-init",
        "airflow-init",
        "streamer",
        "api",
        "prometheus",
        "grafana",
        "docs",
        *AIRFLOW_SERVICES,
        *CELERY_SERVICES,
    }
    assert set(compose["services"]) == expected


def test_long_running_services_have_health_checks(compose: dict) -> None:
    """Every service but the one-shot init has a health check; init does not restart."""
    for name, service in compose["services"].items():
        if name in ("db-init", "airflow-init"):
            assert service["restart"] == "no"
        else:
            assert service.get("healthcheck", {}).get("test"), name


def test_services_wait_for_database_and_init(compose: dict) -> None:
    """Nothing starts before PostgreSQL is healthy and the migrations have run."""
    init = compose["services"]["airflow-init"]["depends_on"]
    assert init["db-init"]["condition"] == "service_completed_successfully"
    for name, service in compose["services"].items():
        if name in (
            "postgres",
            "db-init",
            "airflow-init",
            "prometheus",
            "grafana",
            "docs",
            "redis",
        ):
            continue
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name


def test_database_is_persistent(compose: dict) -> None:
    """PostgreSQL keeps its data in a named volume."""
    mounts = compose["services"]["postgres"]["volumes"]
    assert any(m.split(":")[0] in compose["volumes"] for m in mounts)


def test_airflow_commands_exist(compose: dict) -> None:
    """Each Airflow service runs the Airflow 3 sub-command its name says."""
    from airflow.cli.cli_config import core_commands

    known = {c.name for c in core_commands}
    for name, subcommand in AIRFLOW_SERVICES.items():
        words = command_words(compose["services"][name])
        assert words[:2] == ["airflow", subcommand], name
        assert subcommand in known


def test_python_commands_exist(compose: dict) -> None:
    """Every `python -m MODULE` in a service names a module of this repo."""
    for name, service in compose["services"].items():
        if "command" not in service:
            continue
        words = command_words(service)
        text = " ".join(words)
        for module in re.findall(r"python -m ([\w.]+)", text):
            spec = importlib.util.find_spec(module)
            assert spec is not None, f"{name}: {module}"
            if spec.submodule_search_locations is not None:
                assert importlib.util.find_spec(module + ".__main__"), f"{name}: {module}"


def test_init_runs_the_migrations_the_cli_provides(compose: dict) -> None:
    """db-init runs `include.cli migrate` and hands Airflow's database to its own role;
    airflow-init then runs `airflow db migrate` as that role; the commands exist."""
    from include.cli import app

    text = " ".join(command_words(compose["services"]["db-init"]))
    assert "python -m include.cli migrate" in text
    assert "python -m include.cli db url --database airflow --owner airflow" in text
    init = " ".join(command_words(compose["services"]["airflow-init"]))
    assert "bash -c airflow db migrate && python -m include.cli airflow-grants" in init
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"migrate", "airflow-grants"} <= commands


def test_init_creates_the_rest_pool(compose: dict) -> None:
    """airflow-init writes the binance_rest pools file and imports it after `airflow db
    migrate`, as run.sh does, so REST tasks are scheduled on a fresh install."""
    from airflow.cli.cli_config import core_commands

    from include.cli import app

    text = " ".join(command_words(compose["services"]["airflow-init"]))
    match = re.search(
        r"python -m include\.cli airflow-pools (\S+) && airflow pools import (\S+)", text
    )
    assert match, text
    assert match[1] == match[2]
    assert text.index("airflow db migrate") < match.start()
    assert "airflow-pools" in {c.name for c in app.registered_commands}
    pools = next(c for c in core_commands if c.name == "pools")
    assert "import" in {c.name for c in pools.subcommands}
    script = (PROJECT_ROOT / "scripts" / "run.sh").read_text()
    pools_import = r"include\.cli airflow-pools (\S+)\n+with_env \w+ airflow pools import \1"
    assert re.search(pools_import, script)


def test_environment_matches_what_the_code_reads(compose: dict) -> None:
    """Streamer and Airflow get DESIGN.md's variables; both databases are on service postgres,
    Airflow's reached as its own role; the streamer and the API know nothing of it."""
    for name in ("streamer", "airflow-scheduler", "airflow-init"):
        env = compose["services"][name]["environment"]
        assert set(env) >= DESIGN_VARIABLES, name
        assert "@postgres:5432/binance" in env["DATABASE_URL"]
    for name in ("airflow-scheduler", "airflow-init"):
        env = compose["services"][name]["environment"]
        conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert conn == "postgresql+psycopg2://airflow@postgres:5432/airflow", name
    for name in ("streamer", "api"):
        assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in compose["services"][name]["environment"]
    init_sql = (PROJECT_ROOT / "docker" / "init-databases.sql").read_text()
    assert "create database airflow" in init_sql
    assert compose["services"]["postgres"]["environment"]["POSTGRES_DB"] == "binance"


def test_image_layout_matches_airflow_config() -> None:
    """The image puts dags/ where Airflow looks and the repo on the import path."""
    env = dockerfile_env()
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == env["PYTHONPATH"] + "/dags"
    assert "WORKDIR " + env["PYTHONPATH"] in (PROJECT_ROOT / "Dockerfile").read_text()


def test_secrets_come_from_env_and_are_documented(compose: dict) -> None:
    """Every required ${VAR:?} in the file is listed in .env.example."""
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    documented = set(re.findall(r"^#?\s*(\w+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M))
    assert required
    assert required <= documented


def test_streamer_settings_are_ones_it_reads(compose: dict) -> None:
    """Every STREAMER_* variable the streamer service sets is a field of the settings model
    (include/platform/settings.py), its role's included (include/platform/db.py role_variables)."""
    from include.platform import db
    from include.platform.settings import variables

    env = compose["services"]["streamer"]["environment"]
    names = [name for name in env if name.startswith("STREAMER_")]
    assert names
    assert set(db.role_variables(db.STREAMER)) <= set(variables("STREAMER_"))
    for name in names:
        assert name in variables("STREAMER_"), name
    port = env["STREAMER_HEALTH_PORT"]
    assert f"localhost:{port}/healthz" in " ".join(
        compose["services"]["streamer"]["healthcheck"]["test"]
    )


def test_data_dir_is_one_writable_volume(compose: dict) -> None:
    """Every platform service has DATA_DIR on the same named volume, mounted read-write, and
    the image creates that directory for its user (a named volume takes its owner from it)."""
    platform = [
        n for n, s in compose["services"].items() if s.get("image") == "binance-candles:latest"
    ]
    assert len(platform) == 10
    for name in platform:
        service = compose["services"][name]
        data_dir = service["environment"]["DATA_DIR"]
        [volume] = [v for v in service["volumes"] if v.split(":")[1] == data_dir]
        assert volume.split(":")[0] in compose["volumes"], name
        assert not volume.endswith(":ro"), name
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(rf"mkdir -p [^\n]*{data_dir}\b", dockerfile)
    assert re.search(rf"chown platform [^\n]*{data_dir}\b", dockerfile)


def test_docs_server_serves_what_the_dags_publish(compose: dict) -> None:
    """The docs service mounts DATA_DIR's volume read-only and serves exactly the folders the
    code publishes the dbt docs and the Data Docs to, nothing else of DATA_DIR."""
    from include.quality.runner import data_docs_index, gx_root_dir
    from include.timeframes import docs_dir

    platform_env = compose["x-platform"]["environment"]
    data_dir = Path(platform_env["DATA_DIR"])
    [data_volume] = [v for v in compose["x-platform"]["volumes"] if v.endswith(f":{data_dir}")]
    docs = compose["services"]["docs"]
    [mount] = [v for v in docs["volumes"] if v.startswith(data_volume.split(":")[0] + ":")]
    _, target, mode = mount.split(":")
    assert mode == "ro"
    conf_source = next(
        v.split(":")[0] for v in docs["volumes"] if v.split(":")[1].endswith("default.conf")
    )
    conf = (PROJECT_ROOT / conf_source).read_text()
    aliases = dict(re.findall(r"location (/\w+/) \{\s*alias (\S+);", conf))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATA_DIR", str(data_dir))
        dbt = docs_dir().relative_to(data_dir)
        gx = data_docs_index(gx_root_dir()).parent.relative_to(data_dir)
    assert aliases == {"/dbt/": f"{target}/{dbt}/", "/gx/": f"{target}/{gx}/"}
    # Anything else under / is refused, so logs and generated passwords stay unserved.
    assert re.search(r"location / \{\s*return 404;", conf)
    index = next(v.split(":")[0] for v in docs["volumes"] if v.split(":")[1].endswith("index.html"))
    page = (PROJECT_ROOT / index).read_text()
    assert 'href="/dbt/"' in page
    assert 'href="/gx/"' in page


def test_no_password_is_pasted_into_a_command(compose: dict) -> None:
    """A password interpolated into a shell command breaks on a quote or a $; commands read
    them from the environment instead."""
    for name, service in compose["services"].items():
        text = " ".join(command_words(service)) if "command" in service else ""
        assert not re.search(r"\$\{\w*(PASSWORD|SECRET|TOKEN)", text), name
    init = compose["services"]["airflow-init"]
    assert "python -m include.cli airflow-passwords" in " ".join(command_words(init))
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD")


def test_passwords_never_sit_inside_a_url(compose: dict) -> None:
    """A password with @, / or % would break a URL: the administrator's and Airflow's metadata
    role's travel as PGPASSWORD, each platform role's as its <PREFIX>_DATABASE_PASSWORD."""
    env = compose["x-airflow"]["environment"]
    assert env["PGPASSWORD"].startswith("${AIRFLOW_DATABASE_PASSWORD")
    assert compose["services"]["db-init"]["environment"]["PGPASSWORD"].startswith(
        "${POSTGRES_PASSWORD"
    )
    for where in [*compose["services"].values(), compose["x-airflow"], compose["x-platform"]]:
        for name, value in where.get("environment", {}).items():
            # The broker's URL is the one exception (Celery reads no other form): REDIS_PASSWORD
            # is documented as letters, digits, - and _, which need no quoting there.
            if "://" in str(value) and name != "AIRFLOW__CELERY__BROKER_URL":
                assert "PASSWORD" not in str(value), name


def test_each_service_holds_only_its_roles_passwords(compose: dict) -> None:
    """The streamer and the API get their own role's password and not the administrator's;
    db-init (which migrates) alone holds the administrator's and sets every role's; the Airflow
    services hold their metadata role's and their tasks' roles (DESIGN.md "Database roles");
    Grafana reads as analytics_reader."""
    from include.platform import db

    def passwords(name: str) -> set[str]:
        env = compose["services"][name]["environment"]
        return {k for k in env if k.endswith("PASSWORD") and k != "AIRFLOW_ADMIN_PASSWORD"}

    role_password = {role: db.role_variables(role)[1] for role in db.ROLES}
    assert passwords("streamer") == {role_password[db.STREAMER]}
    assert compose["services"]["streamer"]["environment"]["STREAMER_MIGRATE"] == "false"
    assert passwords("api") == {role_password[db.READER]}
    assert passwords("db-init") == {
        "PGPASSWORD",
        "AIRFLOW_DATABASE_PASSWORD",
        *role_password.values(),
    }
    assert passwords("grafana") == {role_password[db.READER], "GF_SECURITY_ADMIN_PASSWORD"}
    holders = {
        name
        for name, service in compose["services"].items()
        if any("${POSTGRES_PASSWORD" in str(v) for v in service.get("environment", {}).values())
    }
    assert holders == {"postgres", "db-init"}
    for name in [*AIRFLOW_SERVICES, "airflow-init", "airflow-worker", "flower"]:
        assert passwords(name) == {
            "PGPASSWORD",
            role_password[db.LOADER],
            role_password[db.BUILDER],
            role_password[db.READER],
        }, name
    for value in role_password.values():
        assert f"${{{value}:?" in COMPOSE.read_text()


def test_celery_profile_is_opt_in(compose: dict) -> None:
    """Redis, the workers and Flower belong to profile `celery` and nothing else does, so a
    plain `docker compose up` is unchanged: LocalExecutor unless AIRFLOW_EXECUTOR says so."""
    for name, service in compose["services"].items():
        expected = ["celery"] if name in CELERY_SERVICES else None
        assert service.get("profiles") == expected, name
    env = compose["x-airflow"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == f"${{AIRFLOW_EXECUTOR:-{executor.NAME}}}"
    assert (
        "AIRFLOW_EXECUTOR=CeleryExecutor docker compose --profile celery up"
        in (PROJECT_ROOT / "docs" / "scaling.md").read_text()
    )


def test_celery_workers_reach_broker_and_result_backend(compose: dict) -> None:
    """Every Airflow part gets the broker on service redis (its default port, no persistence)
    and the result backend in the airflow database; the workers wait for a healthy broker
    and init, the scheduler waits for the broker only when the profile is on."""
    env = compose["x-airflow"]["environment"]
    # The broker asks for a password; only the Airflow services know it.
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://:${REDIS_PASSWORD:-}@redis:6379/0"
    assert "AIRFLOW__CELERY__BROKER_URL" not in compose["x-platform"]["environment"]
    backend = env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+postgresql://")
    assert backend.endswith("@postgres:5432/airflow")
    assert "PASSWORD" not in backend
    redis = compose["services"]["redis"]
    script = " ".join(command_words(redis))
    # Its configuration on stdin: no snapshots, no append-only file, a password that never
    # sits on a command line; refused to start without one.
    assert 'printf \'save ""\\nappendonly no\\nrequirepass "%s"\\n\' "$$REDIS_PASSWORD"' in script
    assert script.endswith("| exec redis-server -")
    assert 'test -n "$$REDIS_PASSWORD" ||' in script
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])
    assert "ports" not in redis
    for name in ("airflow-worker", "flower"):
        depends = compose["services"][name]["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    scheduler = compose["services"]["airflow-scheduler"]["depends_on"]["redis"]
    assert scheduler == {"condition": "service_healthy", "required": False}


def test_celery_commands_exist(compose: dict) -> None:
    """The workers (at least two replicas) and Flower run `airflow celery` sub-commands the
    installed celery provider defines, and the worker's health check pings its own node."""
    from airflow.providers.celery.cli.definition import get_celery_cli_commands

    [group] = get_celery_cli_commands()
    known = {c.name for c in group.subcommands}
    worker = compose["services"]["airflow-worker"]
    assert command_words(worker) == ["airflow", "celery", "worker", "--skip-serve-logs"]
    assert "worker" in known
    flower = compose["services"]["flower"]
    assert command_words(flower)[:3] == ["airflow", "celery", "flower"]
    # Its health check hands the login to curl on stdin, not on a command line.
    check_flower = " ".join(flower["healthcheck"]["test"])
    assert "curl -fsS -K - http://localhost:5555/healthcheck" in check_flower
    assert " -u " not in check_flower
    assert "flower" in known
    assert worker["deploy"]["replicas"] >= 2
    check = " ".join(worker["healthcheck"]["test"])
    assert "airflow.providers.celery.executors.celery_executor.app" in check
    assert 'inspect ping -d "celery@$${HOSTNAME}"' in check


def test_the_image_never_holds_the_env_file() -> None:
    """.env holds every secret: it stays out of the build context (so out of every image and
    every container's settings); each container gets only the variables compose gives it."""
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored
    assert "**/.env" in ignored
    assert "env_file" not in (PROJECT_ROOT / "docker-compose.yml").read_text()
