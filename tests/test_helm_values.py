"""deploy/helm/values.yaml: the official Airflow chart's keys, agreeing with the image and code."""

from __future__ import annotations

import importlib
import re
import shlex
from importlib.metadata import version

import pytest
import yaml

from tests.support.deploy import DESIGN_VARIABLES, dockerfile_env
from tests.support.paths import PROJECT_ROOT

VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def env_list(values: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in values["env"]}


def test_kubernetes_executor_from_this_image(values: dict) -> None:
    """KubernetesExecutor (its provider is installed, so the image has it), on the image built
    from the Dockerfile, for the Airflow version requirements.txt pins."""
    assert values["executor"] == "KubernetesExecutor"
    module = importlib.import_module(
        "airflow.providers.cncf.kubernetes.executors.kubernetes_executor"
    )
    assert module.KubernetesExecutor
    assert (
        "apache-airflow-providers-cncf-kubernetes=="
        in (PROJECT_ROOT / "requirements.txt").read_text()
    )
    assert values["airflowVersion"] == version("apache-airflow")
    image = values["images"]["airflow"]
    assert set(image) >= {"repository", "tag", "pullPolicy"}
    assert "binance-candles" in image["repository"]


def test_image_layout_matches_the_dockerfile(values: dict) -> None:
    """The chart's uid, Airflow home and DAGs folder are the Dockerfile's, and the DAGs are
    baked in: no git-sync, no DAG volume."""
    env = dockerfile_env()
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert f"--uid {values['uid']} " in dockerfile
    assert values["airflowHome"] == env["AIRFLOW_HOME"]
    assert values["config"]["core"]["dags_folder"] == env["AIRFLOW__CORE__DAGS_FOLDER"]
    assert values["dags"]["gitSync"]["enabled"] is False
    assert values["dags"]["persistence"]["enabled"] is False


def test_external_postgresql_via_secrets(values: dict) -> None:
    """No bundled PostgreSQL, PgBouncer or Redis; Airflow's metadata URL comes from a secret
    and its role's password from another key of it as PGPASSWORD; every pod gets the task
    roles' passwords and no other; the administrator's reaches the migration job alone; no
    password is ever a value."""
    from include.platform import db

    for part in ("postgresql", "pgbouncer", "redis", "flower"):
        assert values[part]["enabled"] is False, part
    metadata = values["data"]["metadataSecretName"]
    everywhere = {s["envName"]: s for s in values["secret"]}
    assert set(everywhere) == {
        "PGPASSWORD",
        *(db.role_variables(role)[1] for role in (db.LOADER, db.BUILDER, db.READER)),
    }
    assert everywhere["PGPASSWORD"]["secretName"] == metadata
    assert all(set(s) == {"envName", "secretName", "secretKey"} for s in everywhere.values())
    admin_secret = "binance-candles-db"
    assert admin_secret not in {s["secretName"] for s in values["secret"]}
    job_env = {e["name"]: e for e in values["migrateDatabaseJob"]["env"]}
    assert job_env["ADMIN_PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == admin_secret
    assert all("value" not in e for e in job_env.values())
    assert "PASSWORD" not in " ".join(str(e.get("value", "")) for e in values["env"])


def test_design_variables_reach_every_container(values: dict) -> None:
    """env holds DESIGN.md's variables (each item a name and a value), DATABASE_URL without a
    password, on the platform's own database."""
    env = env_list(values)
    assert set(env) >= DESIGN_VARIABLES
    url = env["DATABASE_URL"]
    assert url.startswith("postgresql://")
    assert url.endswith("/binance")
    assert ":" not in url.split("://", 1)[1].split("@", 1)[0]


def test_migration_hook_creates_the_rest_pool(values: dict) -> None:
    """The chart's migration job (a post-install/upgrade hook, custom env applied) runs the
    platform's migrations, Airflow's, then writes and imports the binance_rest pools file,
    each a command that exists."""
    from airflow.cli.cli_config import core_commands

    from include.cli import app

    job = values["migrateDatabaseJob"]
    assert job["enabled"] is True
    assert job["applyCustomEnv"] is True
    assert job["args"][:2] == ["bash", "-c"]
    script = " ".join(shlex.split(job["args"][2]))
    steps = [s.strip() for s in script.split("&&")]
    assert steps[0] == "PGPASSWORD=$ADMIN_PGPASSWORD python -m include.cli migrate"
    assert steps[1] == (
        "PGPASSWORD=$ADMIN_PGPASSWORD python -m include.cli db url --database airflow "
        "--owner airflow > /dev/null"
    )
    assert steps[2] == "airflow db migrate"
    match = re.fullmatch(r"python -m include\.cli airflow-pools (\S+)", steps[3])
    assert match
    assert steps[4] == f"airflow pools import {match[1]}"
    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert {"migrate", "airflow-pools"} <= names
    pools = next(c for c in core_commands if c.name == "pools")
    assert "import" in {c.name for c in pools.subcommands}


def test_simple_auth_manager_with_a_mounted_password(values: dict) -> None:
    """The image has no FAB: the simple auth manager (importable), no default-user job (both
    settings the chart reads for it off), and its passwords file is inside a secret the
    api-server mounts."""
    core = values["config"]["core"]
    module, _, name = core["auth_manager"].rpartition(".")
    assert getattr(importlib.import_module(module), name)
    assert "apache-airflow-providers-fab" not in (PROJECT_ROOT / "requirements.txt").read_text()
    assert values["apiServer"]["defaultUser"]["enabled"] is False
    assert values["webserver"]["defaultUser"]["enabled"] is False
    # The chart's schema has no createUserJob.enabled: a key there would fail `helm install`.
    assert "enabled" not in values.get("createUserJob", {})
    api = values["apiServer"]
    [volume] = [v for v in api["extraVolumes"] if "secret" in v]
    [mount] = [m for m in api["extraVolumeMounts"] if m["name"] == volume["name"]]
    assert core["simple_auth_manager_passwords_file"].startswith(mount["mountPath"] + "/")
