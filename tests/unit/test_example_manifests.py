"""The examples' Kubernetes manifests (examples/*/k8s): consistent with each other and with the apps.

The unit tests read the YAML with PyYAML and check what a typo would silently break on a real
cluster (a selector that matches no pod, a probe on a port that does not exist, a container name
that ``kubectl set image deploy/payment payment=…`` would not find), then run kuberya's own
defaulting and validation over them. The integration test has real kubectl binaries dry-run them
against a kuberya server, client side and server side.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kuberya.resources.kinds import apply_defaults, validate

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass(frozen=True)
class Expected:
    app: str
    replicas: int
    container_port: int
    service_port: int


APPS = [
    Expected(app="payment", replicas=3, container_port=8080, service_port=8080),
    Expected(app="marvel-collection", replicas=1, container_port=3000, service_port=80),
]


def load_manifests(app: str) -> dict[str, dict[str, Any]]:
    """The app's objects by kind; each kind exactly once."""
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted((EXAMPLES / app / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            assert document["kind"] not in objects, f"{path}: a second {document['kind']}"
            objects[document["kind"]] = document
    assert set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    return objects


def resolve_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"port {port!r} is not a named port of container {container['name']}"
    return int(named[0])


def quantity(value: str) -> float:
    """CPU in cores or memory in bytes, for the suffixes these manifests use."""
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|)", str(value))
    assert match, f"unexpected quantity {value!r}"
    return float(match.group(1)) * units[match.group(2)]


@pytest.mark.unit
@pytest.mark.parametrize("expected", APPS, ids=lambda e: e.app)
def test_deployment_service_and_hpa_agree(expected: Expected) -> None:
    objects = load_manifests(expected.app)
    deployment, service, hpa = objects["Deployment"], objects["Service"], objects["HorizontalPodAutoscaler"]
    labels = {"app": expected.app}

    assert deployment["apiVersion"] == "apps/v1"
    assert deployment["metadata"]["name"] == expected.app
    assert deployment["metadata"]["labels"] == labels
    spec = deployment["spec"]
    assert spec["replicas"] == expected.replicas
    assert spec["selector"] == {"matchLabels": labels}
    template_labels = spec["template"]["metadata"]["labels"]
    assert labels.items() <= template_labels.items(), "the selector must match the pods it creates"
    # Zero-downtime rollouts: never fewer ready pods than asked for.
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 30
    (container,) = pod["containers"]
    # `kubectl set image deploy/<app> <app>=<image>` addresses the container by this name.
    assert container["name"] == expected.app
    assert container["image"] == f"{expected.app}:v1"
    assert resolve_port(container, "http") == expected.container_port

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert resolve_port(container, container[probe]["httpGet"]["port"]) == expected.container_port
    assert container["lifecycle"]["preStop"] == {"exec": {"command": ["sh", "-c", "sleep 2"]}}

    resources = container["resources"]
    assert quantity(resources["requests"]["cpu"]) == pytest.approx(0.1)
    assert quantity(resources["limits"]["cpu"]) == pytest.approx(0.5)
    assert quantity(resources["requests"]["memory"]) == 64 * 2**20
    assert quantity(resources["limits"]["memory"]) == 128 * 2**20
    assert container["securityContext"]["runAsNonRoot"] is True

    assert service["apiVersion"] == "v1"
    assert service["metadata"]["name"] == expected.app
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == labels
    (port,) = service["spec"]["ports"]
    assert port["port"] == expected.service_port
    assert resolve_port(container, port["targetPort"]) == expected.container_port

    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", expected.app)
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 50}


@pytest.mark.unit
@pytest.mark.parametrize("expected", APPS, ids=lambda e: e.app)
def test_dockerfile_matches_the_manifests(expected: Expected) -> None:
    dockerfile = (EXAMPLES / expected.app / "Dockerfile").read_text()
    instructions = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert instructions[0].startswith("ARG BASE="), "the base image is a build argument (no public hub offline)"
    assert "FROM ${BASE}" in instructions
    assert f"EXPOSE {expected.container_port}" in instructions
    user = next(line.split()[1] for line in instructions if line.startswith("USER "))
    # runAsNonRoot can only be checked by the kubelet against a numeric, non-zero user.
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    for line in instructions:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (EXAMPLES / expected.app / source).exists(), f"{line}: {source} is missing"


@pytest.mark.unit
def test_payment_grace_period_fits_in_the_pod_termination_grace() -> None:
    deployment = load_manifests("payment")["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    serve = (EXAMPLES / "payment" / "serve.py").read_text()
    grace = float(re.search(r"grace_period: float = ([\d.]+)", serve).group(1))  # type: ignore[union-attr]
    pre_stop = 2
    assert pre_stop + grace <= pod["terminationGracePeriodSeconds"]


@pytest.mark.unit
@pytest.mark.parametrize("expected", APPS, ids=lambda e: e.app)
def test_kuberya_admission_accepts_the_manifests(expected: Expected) -> None:
    for obj in load_manifests(expected.app).values():
        defaulted = copy.deepcopy(obj)
        defaulted["metadata"].setdefault("namespace", "default")
        apply_defaults(defaulted)
        assert validate(defaulted) == [], f"{obj['kind']} {obj['metadata']['name']}"


@pytest.mark.integration
def test_kubectl_dry_runs_accept_the_manifests(cluster: Any, kubectl_binary: Path) -> None:
    files = [arg for app in APPS for arg in ("-f", str(EXAMPLES / app.app / "k8s"))]
    for mode in ("client", "server"):
        result = cluster.kubectl(
            "apply", f"--dry-run={mode}", "--validate=strict", "-n", "default", *files, binary=kubectl_binary
        )
        for app in APPS:
            assert f"deployment.apps/{app.app} created" in result.stdout
            assert f"service/{app.app} created" in result.stdout
            assert f"horizontalpodautoscaler.autoscaling/{app.app} created" in result.stdout
