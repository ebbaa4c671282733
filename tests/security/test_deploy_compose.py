"""docker-compose.yml: a container gets only its own secrets and volumes, and no Airflow part
runs a log server it does not need (issue #42, items 9 and 13)."""

from __future__ import annotations

import shlex

import pytest
import yaml

from tests.support.paths import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
# What makes whoever holds it an Airflow admin: the key that signs Airflow's tokens, the key
# its connections are encrypted with, its metadata database's password, its admin's password.
AIRFLOW_SECRETS = {
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW_ADMIN_PASSWORD",
    "PGPASSWORD",
}
NOT_AIRFLOW = ("streamer", "api", "db-init")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def sources(service: dict) -> set[str]:
    """The volumes (named or host paths) a service mounts."""
    return {mount.split(":")[0] for mount in service.get("volumes", [])}


def test_streamer_and_api_hold_nothing_of_airflow(compose: dict) -> None:
    """An RCE in the streamer or the API finds no Airflow secret, no Airflow variable at all,
    and no Airflow home (its admin's passwords file) in its container."""
    for name in ("streamer", "api"):
        env = compose["services"][name]["environment"]
        held = {k for k in env if k in AIRFLOW_SECRETS or k.startswith("AIRFLOW")}
        assert not held, f"{name} holds {sorted(held)}"
        assert "airflow-home" not in sources(compose["services"][name]), name


def test_db_init_holds_only_the_administrator_and_the_roles(compose: dict) -> None:
    """db-init migrates as the administrator: Airflow's signing and encryption keys and its
    home are no business of it."""
    service = compose["services"]["db-init"]
    assert not {k for k in service["environment"] if k.startswith("AIRFLOW__")}
    assert "airflow-home" not in sources(service)


def test_the_metrics_token_reaches_only_its_writer_its_reader_and_prometheus(
    compose: dict,
) -> None:
    """platform-secrets (the token Prometheus scrapes the API with) is mounted by airflow-init
    (writes it), the API and Prometheus (read-only), no one else."""
    holders = {n for n, s in compose["services"].items() if "platform-secrets" in sources(s)}
    assert holders == {"airflow-init", "api", "prometheus"}
    for name in ("api", "prometheus"):
        [mount] = [v for v in compose["services"][name]["volumes"] if "platform-secrets" in v]
        assert mount.endswith(":ro"), name


def test_airflow_home_is_only_airflows(compose: dict) -> None:
    """The volume holding Airflow's passwords file is mounted by Airflow's services alone."""
    holders = {n for n, s in compose["services"].items() if "airflow-home" in sources(s)}
    assert holders
    assert all(n.startswith("airflow-") or n == "flower" for n in holders), holders
    assert not holders & set(NOT_AIRFLOW)


def test_no_log_server_where_logs_are_shared(compose: dict) -> None:
    """The scheduler, the triggerer and the Celery workers write task logs to the shared
    Airflow home, which the api-server reads: none of them serves logs on port 8793."""
    for name in ("airflow-scheduler", "airflow-triggerer", "airflow-worker"):
        command = compose["services"][name]["command"]
        words = shlex.split(command) if isinstance(command, str) else command
        assert "--skip-serve-logs" in words, name
        assert "airflow-home" in sources(compose["services"][name]), name
