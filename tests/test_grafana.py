"""Grafana's provisioning: the dashboard parses, its queries name only what the platform exports
(metrics from the streamer's and the API's registries, columns of Airflow's own tables), and
every provisioned path is one compose mounts."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg
import pytest
import yaml
from prometheus_client import generate_latest

from api.metrics import Metrics as ApiMetrics
from tests.include.history_support import running_fake
from tests.support.metrics import exported_metric_names, metric_names_on_page
from tests.support.paths import PROJECT_ROOT

GRAFANA = PROJECT_ROOT / "docker" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "binance-candles.json"
COMPOSE = PROJECT_ROOT / "docker-compose.yml"
# PromQL words that are not metric names.
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "increase",
    "histogram_quantile",
    "le",
    "job",
    "symbol",
    "error",
    "route",
    "status",
    "connection",
}


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def datasources() -> dict[str, dict]:
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    return {d["uid"]: d for d in config["datasources"]}


def grafana_service() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]


def mounted(container_path: str) -> Path:
    """The repository path compose mounts at container_path (or a parent of it) for grafana."""
    for volume in grafana_service()["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./") and (
            container_path == target or container_path.startswith(target + "/")
        ):
            return PROJECT_ROOT / source / container_path[len(target) :].lstrip("/")
    raise AssertionError(f"nothing of the repository is mounted at {container_path}")


def api_metric_names() -> set[str]:
    return metric_names_on_page(generate_latest(ApiMetrics().registry).decode())


def test_dashboard_parses_and_shows_what_the_issue_asks() -> None:
    """One dashboard with unique panel ids: trades/s, push lag, write lag, gaps, repairs
    failing and DAG outcomes, each with a description."""
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "binance-candles"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in panels()}
    assert {
        "Trades per second",
        "Push lag",
        "Write lag",
        "Gaps",
        "Repairs failing",
        "DAG outcomes",
    } <= titles
    for panel in panels():
        assert panel["description"], panel["title"]
        assert panel["targets"], panel["title"]


def test_promql_names_only_exported_metrics() -> None:
    """Every metric a panel's PromQL names is in the streamer's or the API's registry (a rename
    there fails here), and every panel's data source is a provisioned one."""
    exported = exported_metric_names() | api_metric_names() | {"up"}
    sources = datasources()
    seen: set[str] = set()
    for panel in panels():
        assert panel["datasource"]["uid"] in sources, panel["title"]
        assert panel["datasource"]["type"] == sources[panel["datasource"]["uid"]]["type"]
        for target in panel["targets"]:
            if "expr" not in target:
                continue
            # Label matchers, legends and durations are not metric names.
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", target["expr"])
            expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
            for name in re.findall(r"\b([a-z_][a-z0-9_]*)\b", expr):
                if name in PROMQL_WORDS:
                    continue
                assert name in exported, f"{panel['title']}: {name} is not exported"
                seen.add(name)
    assert {"streamer_trades_total", "api_push_lag_seconds_bucket"} <= seen
    assert {"streamer_writer_lag_seconds", "streamer_gaps_unhealed_total"} <= seen


def test_up_jobs_are_scraped() -> None:
    """up{job=...} in a panel names a job prometheus.yml scrapes."""
    config = yaml.safe_load((PROJECT_ROOT / "docker" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for panel in panels():
        for target in panel["targets"]:
            for job in re.findall(r'up\{job="([^"]+)"\}', target.get("expr", "")):
                assert job in jobs, panel["title"]


def sql_targets() -> list[tuple[str, str]]:
    return [
        (panel["title"], target["rawSql"])
        for panel in panels()
        for target in panel["targets"]
        if "rawSql" in target
    ]


def with_grafana_macros(query: str) -> str:
    """The query as Grafana sends it: its time macros expanded over the last day."""
    return re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        r"\1 between now() - interval '1 day' and now()",
        query,
    )


@pytest.mark.slow
def test_dag_outcome_queries_run_on_airflow_metadata(
    airflow_home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DAG-outcome panels' SQL runs on a real Airflow 3 metadata database after a real DAG
    run (binance_heal_gaps against the fake exchange) and shows that run."""
    from airflow.dag_processing.dagbag import DagBag

    with running_fake() as fake:
        monkeypatch.setenv("BINANCE_REST_URL", fake.url)
        monkeypatch.setenv("SYMBOLS", "ETHUSDT")
        bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "binance_heal_gaps.py"))
        run = bag.dags["binance_heal_gaps"].test()
    assert run.state == "success"
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    queries = dict(sql_targets())
    assert set(queries) == {"DAG runs finished", "DAG outcomes", "Failed tasks"}
    with psycopg.connect(url) as conn:
        results = {t: conn.execute(with_grafana_macros(q)).fetchall() for t, q in queries.items()}
    outcomes = {row[0]: row[1:4] for row in results["DAG outcomes"]}
    assert outcomes["binance_heal_gaps"][0] >= 1
    assert ("success",) in {(row[1],) for row in results["DAG runs finished"]}


@pytest.mark.parametrize("kind", ["datasources", "dashboards"])
def test_provisioning_files_are_mounted_where_grafana_reads_them(kind: str) -> None:
    """Compose mounts the provisioning folder at /etc/grafana/provisioning and the dashboard
    provider's path holds the dashboard file."""
    assert mounted(f"/etc/grafana/provisioning/{kind}") == GRAFANA / "provisioning" / kind
    assert list((GRAFANA / "provisioning" / kind).glob("*.yml"))


def test_dashboard_provider_path_holds_the_dashboard() -> None:
    """The file provider reads the folder compose mounts the dashboard JSON into; the home
    dashboard setting names that file."""
    config = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text()
    )
    [provider] = config["providers"]
    folder = mounted(provider["options"]["path"])
    assert DASHBOARD in folder.glob("*.json")
    home = grafana_service()["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted(home) == DASHBOARD


def test_datasources_reach_compose_services_without_a_password_in_a_url() -> None:
    """Prometheus and PostgreSQL are compose services; the database password comes from the
    container's environment, never written into the file or a URL."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    sources = datasources()
    assert sources["prometheus"]["url"] == "http://prometheus:9090"
    assert "prometheus" in services
    airflow = sources["airflow"]
    assert airflow["url"].split(":")[0] == "postgres"
    assert airflow["jsonData"]["database"] == "airflow"
    password = airflow["secureJsonData"]["password"]
    assert re.fullmatch(r"\$\{?(\w+)\}?", password)
    variable = password.strip("${}")
    # As analytics_reader (airflow-init lets it read dag_run and task_instance), never as
    # the administrator.
    assert airflow["user"] == "analytics_reader"
    assert grafana_service()["environment"][variable].startswith("${API_DATABASE_PASSWORD")
    assert "@" not in airflow["url"]
