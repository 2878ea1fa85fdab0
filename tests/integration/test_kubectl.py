"""The API server through real kubectl: every verb of KUBE_API.md §2–§12 that needs no container.

Each test runs against both kubectl binaries where it matters (1.32 from the distribution sends
protobuf creates; the newest opens WatchList streams).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster
from tests.waiting import eventually

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: payment:v1
        ports: [{containerPort: 8080}]
        env: [{name: MODE, value: one}]
"""


def test_version_and_api_resources(cluster: Cluster, kubectl_binary: Path) -> None:
    out = cluster.kubectl("version", "-o", "json", binary=kubectl_binary).stdout
    server = json.loads(out)["serverVersion"]
    assert server["gitVersion"].startswith("v1.")
    resources = cluster.kubectl("api-resources", "-o", "wide", binary=kubectl_binary).stdout
    for line in (
        "deployments",
        "deploy",
        "replicasets",
        "horizontalpodautoscalers",
        "endpointslices",
        "namespaces",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "events",
    ):
        assert line in resources
    assert "couldn't get resource list" not in resources


def test_create_typed_generators(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    k = lambda *a: cluster.kubectl(*a, "-n", namespace, binary=kubectl_binary)  # noqa: E731
    k("create", "deployment", "api", "--image=payment:v1", "--replicas=3", "--port=8080")
    k("create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=level=3")
    k("create", "secret", "generic", "creds", "--from-literal=password=s3cr3t")
    k("create", "service", "clusterip", "api", "--tcp=80:8080")
    k("create", "serviceaccount", "robot")
    k("run", "solo", "--image=payment:v1", "--port=8080", "--labels=app=solo", "--env=MODE=x")
    dep = json.loads(k("get", "deployment", "api", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 8080
    assert dep["metadata"]["generation"] == 1
    cm = json.loads(k("get", "cm", "settings", "-o", "json").stdout)
    assert cm["data"] == {"mode": "fast", "level": "3"}
    secret = json.loads(k("get", "secret", "creds", "-o", "json").stdout)
    assert secret["data"]["password"] == "czNjcjN0"
    assert secret["type"] == "Opaque"
    svc = json.loads(k("get", "svc", "api", "-o", "json").stdout)
    assert svc["spec"]["clusterIP"].startswith("10.96.")
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    pod = json.loads(k("get", "pod", "solo", "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "x"}]
    assert pod["status"]["phase"] == "Pending"
    sa = k("get", "sa", "robot", "-o", "name").stdout.strip()
    assert sa == "serviceaccount/robot"


def test_get_output_formats_and_tables(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    table = cluster.kubectl("get", "deploy", "-n", namespace).stdout
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["web", "0/2"]
    wide = cluster.kubectl("get", "deploy", "-n", namespace, "-o", "wide").stdout
    assert "CONTAINERS" in wide and "payment:v1" in wide and "app=web" in wide
    assert cluster.kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.strip() == "deployment.apps/web"
    obj = yaml.safe_load(cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "yaml").stdout)
    assert obj["kind"] == "Deployment" and obj["metadata"]["labels"]["tier"] == "front"
    labelled = cluster.kubectl("get", "deploy", "-n", namespace, "-l", "tier=front", "-o", "name").stdout
    assert labelled.strip() == "deployment.apps/web"
    none = cluster.kubectl("get", "deploy", "-n", namespace, "-l", "tier in (back,db)", "-o", "name").stdout
    assert none.strip() == ""
    by_field = cluster.kubectl(
        "get", "deploy", "-n", namespace, "--field-selector", "metadata.name=web", "-o", "name"
    ).stdout
    assert by_field.strip() == "deployment.apps/web"
    all_ns = cluster.kubectl("get", "deploy", "-A").stdout
    assert all_ns.startswith("NAMESPACE") and namespace in all_ns
    bad = cluster.kubectl("get", "pods", "-n", namespace, "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0 and "field label not supported" in bad.stderr
    nodes = cluster.kubectl("get", "namespaces").stdout
    assert "default" in nodes and "Active" in nodes


def test_describe(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    out = cluster.kubectl("describe", "deployment", "web", "-n", namespace).stdout
    assert "Name:" in out and "web" in out and "RollingUpdate" in out and "payment:v1" in out
    out = cluster.kubectl("describe", "namespace", namespace).stdout
    assert "Active" in out


def test_apply_client_side_three_way(cluster: Cluster, namespace: str) -> None:
    first = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT).stdout
    assert "created" in first
    again = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT).stdout
    assert "unchanged" in again
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 4").replace("env: [{name: MODE, value: one}]", "")
    out = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=changed).stdout
    assert "configured" in out
    dep = json.loads(cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 4
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert "env" not in container, "the three-way patch must remove a field dropped from the file"
    assert container["image"] == "payment:v1"
    assert dep["metadata"]["generation"] == 2


def test_apply_server_side_and_conflicts(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    manifest = DEPLOYMENT.replace("name: web\n", "name: ssa\n", 1)
    out = cluster.kubectl(
        "apply", "--server-side", "-n", namespace, "-f", "-", input=manifest, binary=kubectl_binary
    ).stdout
    assert "serverside-applied" in out
    dep = json.loads(
        cluster.kubectl("get", "deploy", "ssa", "-n", namespace, "-o", "json", "--show-managed-fields").stdout
    )
    managers = {m["manager"]: m["operation"] for m in dep["metadata"]["managedFields"]}
    assert managers.get("kubectl") == "Apply"
    # Another manager takes .spec.replicas; a re-apply with a different value must conflict.
    cluster.kubectl("scale", "deploy", "ssa", "-n", namespace, "--replicas=5", binary=kubectl_binary)
    conflict = cluster.kubectl(
        "apply",
        "--server-side",
        "-n",
        namespace,
        "-f",
        "-",
        input=manifest.replace("replicas: 2", "replicas: 3"),
        check=False,
        binary=kubectl_binary,
    )
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower()
    forced = cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-n",
        namespace,
        "-f",
        "-",
        input=manifest.replace("replicas: 2", "replicas: 3"),
        binary=kubectl_binary,
    )
    assert forced.returncode == 0
    dep = json.loads(cluster.kubectl("get", "deploy", "ssa", "-n", namespace, "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 3


def test_replace_conflict_on_stale_resource_version(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "cfg", "-n", namespace, "--from-literal=a=1")
    stale = json.loads(cluster.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)
    cluster.kubectl("label", "cm", "cfg", "-n", namespace, "touched=yes")
    stale["data"]["a"] = "2"
    result = cluster.kubectl("replace", "-n", namespace, "-f", "-", input=json.dumps(stale), check=False)
    assert result.returncode != 0
    assert "the object has been modified" in result.stderr
    fresh = json.loads(cluster.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)
    fresh["data"]["a"] = "3"
    cluster.kubectl("replace", "-n", namespace, "-f", "-", input=json.dumps(fresh))
    assert json.loads(cluster.kubectl("get", "cm", "cfg", "-n", namespace, "-o", "json").stdout)["data"]["a"] == "3"


def test_patch_strategic_merge_json(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("set", "image", "deploy/web", "web=payment:v2", "-n", namespace)
    dep = json.loads(cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json").stdout)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "payment:v2" and container["env"] == [{"name": "MODE", "value": "one"}]
    cluster.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"tier":null,"team":"pay"}}}',
    )
    cluster.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":7}]',
    )
    cluster.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        namespace,
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}',
    )
    dep = json.loads(cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json").stdout)
    assert dep["metadata"]["labels"] == {"app": "web", "team": "pay"}
    assert dep["spec"]["replicas"] == 7
    names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
    assert names == ["side", "web"] or names == ["web", "side"]
    bad = cluster.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op":"replace","path":"/spec/nope/deeper","value":1}]',
        check=False,
    )
    assert bad.returncode != 0


def test_label_annotate_scale(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("label", "deploy", "web", "-n", namespace, "stage=beta", binary=kubectl_binary)
    cluster.kubectl("annotate", "deploy", "web", "-n", namespace, "owner=team-a", binary=kubectl_binary)
    cluster.kubectl("scale", "deploy", "web", "-n", namespace, "--replicas=5", binary=kubectl_binary)
    dep = json.loads(cluster.kubectl("get", "deploy", "web", "-n", namespace, "-o", "json").stdout)
    assert dep["metadata"]["labels"]["stage"] == "beta"
    assert dep["metadata"]["annotations"]["owner"] == "team-a"
    assert dep["spec"]["replicas"] == 5
    stale = cluster.kubectl(
        "scale",
        "deploy",
        "web",
        "-n",
        namespace,
        "--replicas=2",
        "--current-replicas=3",
        check=False,
        binary=kubectl_binary,
    )
    assert stale.returncode != 0


def test_dry_run_server_changes_nothing(cluster: Cluster, namespace: str) -> None:
    out = cluster.kubectl(
        "create", "deployment", "ghost", "--image=x:1", "-n", namespace, "--dry-run=server", "-o", "json"
    ).stdout
    assert json.loads(out)["spec"]["revisionHistoryLimit"] == 10  # defaulted by the server
    missing = cluster.kubectl("get", "deploy", "ghost", "-n", namespace, check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_strict_field_validation_rejects_unknown_fields(cluster: Cluster, namespace: str) -> None:
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  replicaz: 3").replace(
        "image: payment:v1", "image: payment:v1\n        imagee: x"
    )
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert 'unknown field "spec.replicaz"' in result.stderr
    assert "spec.template.spec.containers[0].imagee" in result.stderr
    assert cluster.kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.strip() == ""


def test_validation_errors_are_422_with_causes(cluster: Cluster, namespace: str) -> None:
    bad = DEPLOYMENT.replace("selector: {matchLabels: {app: web}}", "selector: {matchLabels: {app: other}}")
    result = cluster.kubectl("apply", "-n", namespace, "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert "is invalid" in result.stderr and "selector" in result.stderr


def _wait_gone(cluster: Cluster, *args: str, timeout: float = 10) -> None:
    def gone() -> bool:
        return cluster.kubectl("get", *args, "-o", "name", "--ignore-not-found", check=False).stdout.strip() == ""

    eventually(gone, timeout=timeout, interval=0.1, what=f"{' '.join(args)} to be deleted")


OWNED_RS = """
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: {name}-rs
  labels: {{app: {name}}}
  ownerReferences:
  - {{apiVersion: apps/v1, kind: Deployment, name: {name}, uid: "{uid}", controller: true, blockOwnerDeletion: true}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: c, image: x}}]}}
"""


def _deployment_with_dependent(cluster: Cluster, namespace: str, name: str) -> None:
    cluster.kubectl("create", "deployment", name, "--image=x", "-n", namespace)
    uid = json.loads(cluster.kubectl("get", "deploy", name, "-n", namespace, "-o", "json").stdout)["metadata"]["uid"]
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=OWNED_RS.format(name=name, uid=uid))


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
def test_delete_propagation(cluster: Cluster, namespace: str, cascade: str) -> None:
    name = f"gc-{cascade}"
    _deployment_with_dependent(cluster, namespace, name)
    cluster.kubectl("delete", "deploy", name, "-n", namespace, f"--cascade={cascade}", timeout=30)
    _wait_gone(cluster, "deploy", name, "-n", namespace)
    if cascade == "orphan":
        time.sleep(0.5)
        rs = json.loads(cluster.kubectl("get", "rs", f"{name}-rs", "-n", namespace, "-o", "json").stdout)
        assert not rs["metadata"].get("ownerReferences")
    else:
        _wait_gone(cluster, "rs", f"{name}-rs", "-n", namespace)


def test_namespace_termination_deletes_contents(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "doomed")
    cluster.kubectl("create", "configmap", "c1", "-n", "doomed", "--from-literal=a=1")
    cluster.kubectl("create", "deployment", "d1", "-n", "doomed", "--image=x")
    cluster.kubectl("delete", "namespace", "doomed", timeout=60)
    assert cluster.kubectl("get", "ns", "doomed", check=False).returncode != 0
    assert cluster.kubectl("get", "cm", "-n", "doomed", "-o", "name").stdout.strip() == ""


def test_autoscale_creates_hpa(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    cluster.kubectl("create", "deployment", "auto", "--image=x", "-n", namespace)
    cluster.kubectl(
        "autoscale",
        "deploy",
        "auto",
        "--min=1",
        "--max=10",
        "--cpu-percent=50",
        "-n",
        namespace,
        binary=kubectl_binary,
    )
    v2 = json.loads(
        cluster.kubectl("get", "horizontalpodautoscalers.v2.autoscaling", "auto", "-n", namespace, "-o", "json").stdout
    )
    assert v2["spec"]["maxReplicas"] == 10
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    v1 = json.loads(
        cluster.kubectl("get", "horizontalpodautoscalers.v1.autoscaling", "auto", "-n", namespace, "-o", "json").stdout
    )
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 50
    table = cluster.kubectl("get", "hpa", "-n", namespace).stdout
    assert "Deployment/auto" in table


def test_get_watch_prints_changes(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    cluster.kubectl("create", "configmap", "w1", "-n", namespace, "--from-literal=a=1")
    env_kubeconfig = str(cluster.kubeconfig)
    proc = subprocess.Popen(
        [str(kubectl_binary), "get", "cm", "-n", namespace, "-w", "--kubeconfig", env_kubeconfig],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"HOME": str(cluster.data_dir / "home"), "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.5)
        cluster.kubectl("create", "configmap", "w2", "-n", namespace, "--from-literal=b=2")
        time.sleep(1.0)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    lines = [line.split()[0] for line in out.strip().splitlines() if line.strip()]
    assert lines.count("w1") == 1, out
    assert "w2" in lines, out


def test_explain(cluster: Cluster, kubectl_binary: Path) -> None:
    out = cluster.kubectl("explain", "deployment.spec.strategy", binary=kubectl_binary).stdout
    assert "rollingUpdate" in out


def test_unknown_resources_and_paths(cluster: Cluster) -> None:
    missing = cluster.kubectl("get", "deploy", "nope", check=False)
    assert 'deployments.apps "nope" not found' in missing.stderr
    raw = cluster.kubectl("get", "--raw", "/apis/nothing.example.com/v1", check=False)
    assert raw.returncode != 0


def test_no_credentials_is_401(cluster: Cluster) -> None:
    import ssl
    import urllib.error
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(cluster.url + "/api/v1/namespaces", context=ctx, timeout=5)
    assert raised.value.code == 401
    assert json.loads(raised.value.read())["reason"] == "Unauthorized"
