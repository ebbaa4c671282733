"""Prometheus alert rules: well formed, and every metric they name is one the streamer exports."""

from __future__ import annotations

import re

import yaml

from tests.support.metrics import exported_metric_names
from tests.support.paths import PROJECT_ROOT

PROMETHEUS = PROJECT_ROOT / "docker" / "prometheus"


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_rule_is_complete() -> None:
    """Each alert has an expression, a severity, and says what it means and what to do."""
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)) >= 5
    for rule in rules():
        assert rule["expr"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["action"], rule["alert"]


def test_rules_only_name_metrics_the_streamer_exports() -> None:
    """A typo in a metric name would make an alert that can never fire."""
    exported = exported_metric_names()
    for rule in rules():
        for name in re.findall(r"\b(streamer_[a-z_]+)", rule["expr"]):
            assert name in exported, f"{rule['alert']}: {name} is not exported"


def test_prometheus_loads_the_rules_and_scrapes_the_streamer() -> None:
    """prometheus.yml names the mounted rules file, the streamer's health port and the API's
    port, the API with the token airflow-init writes and the api service accepts."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["streamer"]["static_configs"][0]["targets"] == ["streamer:8795"]
    assert jobs["api"]["static_configs"][0]["targets"] == ["api:8000"]
    token = jobs["api"]["authorization"]["credentials_file"]
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["api"]["environment"]["API_PORT"] == "8000"
    assert token in " ".join(compose["api"]["command"])
    assert f"> {token}" in " ".join(compose["airflow-init"]["command"])
    for service in ("api", "airflow-init", "prometheus"):
        mounts = compose[service]["volumes"]
        assert any(token.startswith(m.split(":")[1] + "/") for m in mounts), service
