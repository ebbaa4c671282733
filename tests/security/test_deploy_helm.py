"""deploy/helm/values.yaml: a fixed image, pods that cannot gain privileges, and network
policies (issue #42, item 13)."""

from __future__ import annotations

import pytest
import yaml

from tests.support.paths import PROJECT_ROOT

VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def test_the_image_is_a_fixed_version(values: dict) -> None:
    """Not `latest`: a push to the registry never changes what a running release executes."""
    image = values["images"]["airflow"]
    reference = image.get("digest") or image.get("tag")
    assert isinstance(reference, str), reference
    assert reference
    assert reference != "latest"


def test_containers_run_unprivileged(values: dict) -> None:
    """Every pod runs as the image's user (never root), under the default seccomp profile; no
    container may escalate or keep a capability."""
    pod = values["securityContexts"]["pod"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == values["uid"] != 0
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    container = values["securityContexts"]["containers"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]


def test_network_policies_are_on(values: dict) -> None:
    """The chart's NetworkPolicies are rendered: a pod accepts only its peers."""
    assert values["networkPolicies"]["enabled"] is True
