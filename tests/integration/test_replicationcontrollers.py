"""core/v1 ReplicationController and PodTemplate through real kubectl and the official Python client.

The replication manager is the ReplicaSet controller behind an adapter: an RC of 2 gets 2 pods
owned by it, ``kubectl scale rc`` goes through its ``/scale``, ``kubectl expose rc`` reads its
selector, and deleting it takes its pods along (the garbage collector). The session cluster runs
the ``process`` runtime, so the pods' command runs on the host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.conftest import Cluster
from tests.waiting import eventually

RC = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:v1
        command: ["sh", "-c", "sleep 3600"]
        ports: [{containerPort: 8080}]
"""


def get(cluster: Cluster, namespace: str, *what: str, binary: Path | None = None) -> Any:
    return json.loads(cluster.kubectl("get", *what, "-n", namespace, "-o", "json", binary=binary).stdout)


def live_pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    items = get(cluster, namespace, "pods", "-l", "app=web")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_create_scale_expose_delete(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns = namespace
    created = cluster.kubectl("create", "-f", "-", "-n", ns, input=RC, binary=kubectl_binary)
    assert "replicationcontroller/web created" in created.stdout

    rc = get(cluster, ns, "rc", "web")
    # Defaults as upstream: the selector and the RC's labels from the template.
    assert rc["spec"]["selector"] == {"app": "web"} and rc["metadata"]["labels"] == {"app": "web"}

    def pods_owned(count: int) -> list[dict[str, Any]]:
        pods = live_pods(cluster, ns)
        assert len(pods) == count
        for pod in pods:
            (owner,) = pod["metadata"]["ownerReferences"]
            assert (owner["apiVersion"], owner["kind"], owner["name"]) == ("v1", "ReplicationController", "web")
            assert owner["uid"] == rc["metadata"]["uid"] and owner["controller"]
        return pods

    eventually(lambda: pods_owned(2), what="2 pods owned by the RC")

    def ready(count: int) -> bool:
        status = get(cluster, ns, "rc", "web")["status"]
        assert status.get("replicas") == count and status.get("readyReplicas") == count
        return True

    eventually(lambda: ready(2), timeout=30, what="the RC's status: 2 ready")

    table = cluster.kubectl("get", "rc", "web", "-n", ns, "-o", "wide", binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    cells = table[1].split()
    assert cells[:4] == ["web", "2", "2", "2"] and cells[5:] == ["web", "web:v1", "app=web"]

    scaled = cluster.kubectl("scale", "rc", "web", "--replicas=3", "-n", ns, binary=kubectl_binary)
    assert "replicationcontroller/web scaled" in scaled.stdout
    eventually(lambda: pods_owned(3), what="3 pods after kubectl scale")

    def described() -> str:
        out = cluster.kubectl("describe", "rc", "web", "-n", ns, binary=kubectl_binary).stdout
        assert "Replicas:     3 current / 3 desired" in out and "SuccessfulCreate" in out
        return out

    eventually(described, what="kubectl describe rc to show 3 replicas and the controller's events")
    scale = json.loads(
        cluster.kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/replicationcontrollers/web/scale").stdout
    )
    assert scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=web"

    exposed = cluster.kubectl("expose", "rc", "web", "--port=80", "--target-port=8080", "-n", ns, binary=kubectl_binary)
    assert "service/web exposed" in exposed.stdout
    svc = get(cluster, ns, "service", "web")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["ports"][0]["targetPort"] == 8080

    deleted = cluster.kubectl("delete", "rc", "web", "-n", ns, binary=kubectl_binary)
    assert 'replicationcontroller "web" deleted' in deleted.stdout
    eventually(lambda: live_pods(cluster, ns) == [], timeout=30, what="the RC's pods deleted with it")


def test_validation_and_short_name_and_category(cluster: Cluster, namespace: str) -> None:
    no_template = cluster.kubectl(
        "create", "-f", "-", "-n", namespace, check=False,
        input="apiVersion: v1\nkind: ReplicationController\nmetadata: {name: bad}\nspec: {selector: {a: b}}\n",
    )  # fmt: skip
    assert no_template.returncode != 0 and "spec.template: Required value" in no_template.stderr
    mismatch = RC.replace("labels: {app: web}", "labels: {app: other}").replace(
        "replicas: 2", "replicas: 0\n  selector: {app: web}"
    )
    refused = cluster.kubectl("create", "-f", "-", "-n", namespace, input=mismatch, check=False)
    assert refused.returncode != 0 and "`selector` does not match template `labels`" in refused.stderr

    cluster.kubectl("create", "-f", "-", "-n", namespace, input=RC.replace("replicas: 2", "replicas: 0"))
    listed = cluster.kubectl("get", "all", "-n", namespace).stdout
    assert "replicationcontroller/web" in listed  # in the `all` category, as upstream
    resources = cluster.kubectl("api-resources", "--api-group=").stdout
    assert any(line.split()[:2] == ["replicationcontrollers", "rc"] for line in resources.splitlines())


PODTEMPLATE = """
apiVersion: v1
kind: PodTemplate
metadata:
  name: tmpl
template:
  metadata:
    labels: {app: web, tier: front}
  spec:
    containers:
    - {name: web, image: web:v1}
    - {name: side, image: side:v2}
"""


def test_pod_templates(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    cluster.kubectl("create", "-f", "-", "-n", namespace, input=PODTEMPLATE, binary=kubectl_binary)
    table = cluster.kubectl("get", "podtemplates", "-n", namespace, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"]
    assert table[1].split() == ["tmpl", "web,side", "web:v1,side:v2", "app=web,tier=front"]
    stored = get(cluster, namespace, "podtemplate", "tmpl")
    assert stored["template"]["spec"]["restartPolicy"] == "Always"  # defaulted as a pod's spec
    cluster.kubectl("delete", "podtemplate", "tmpl", "-n", namespace, binary=kubectl_binary)


@pytest.fixture
def core(cluster: Cluster) -> Iterator[kubernetes.client.CoreV1Api]:
    client = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield kubernetes.client.CoreV1Api(client)
    client.close()


def test_the_python_clients_replication_controller_calls(core: kubernetes.client.CoreV1Api, namespace: str) -> None:
    # What the client's own e2e suite does with RCs.
    body = kubernetes.client.V1ReplicationController(
        metadata=kubernetes.client.V1ObjectMeta(name="frontend"),
        spec=kubernetes.client.V1ReplicationControllerSpec(
            replicas=1,
            selector={"name": "frontend"},
            template=kubernetes.client.V1PodTemplateSpec(
                metadata=kubernetes.client.V1ObjectMeta(labels={"name": "frontend"}),
                spec=kubernetes.client.V1PodSpec(
                    containers=[kubernetes.client.V1Container(name="main", image="x", command=["sleep", "3600"])]
                ),
            ),
        ),
    )
    created = core.create_namespaced_replication_controller(namespace, body)
    assert created.metadata.name == "frontend" and created.spec.replicas == 1
    read = core.read_namespaced_replication_controller("frontend", namespace)
    assert read.spec.selector == {"name": "frontend"}
    listed = core.list_namespaced_replication_controller(namespace)
    assert [rc.metadata.name for rc in listed.items] == ["frontend"]
    core.patch_namespaced_replication_controller_scale("frontend", namespace, {"spec": {"replicas": 2}})
    assert core.read_namespaced_replication_controller_scale("frontend", namespace).spec.replicas == 2

    def two_replicas() -> bool:
        assert core.read_namespaced_replication_controller_status("frontend", namespace).status.replicas == 2
        return True

    eventually(two_replicas, timeout=30, what="the RC's status to count 2 replicas")
    # A DELETE naming no propagation policy orphans a v1 RC's pods, as upstream (kubectl always
    # sends Background; a bare client like this one does not).
    core.delete_namespaced_replication_controller("frontend", namespace)

    def orphaned() -> bool:
        pods = core.list_namespaced_pod(namespace, label_selector="name=frontend").items
        assert len(pods) == 2 and all(not p.metadata.owner_references for p in pods)
        assert not core.list_namespaced_replication_controller(namespace).items
        return True

    eventually(orphaned, timeout=30, what="the RC gone and its pods orphaned")


def test_protobuf_bodies_are_read(cluster: Cluster, namespace: str) -> None:
    import yaml

    from kuberya.resources import protobuf
    from tests.adminhttp import AdminHTTP

    http = AdminHTTP(cluster)
    rc = yaml.safe_load(RC.replace("replicas: 2", "replicas: 0"))
    try:
        for resource, obj in (("replicationcontrollers", rc), ("podtemplates", yaml.safe_load(PODTEMPLATE))):
            path = f"/api/v1/namespaces/{namespace}/{resource}"
            status, answer = http("POST", path, protobuf.encode_object(obj), "application/vnd.kubernetes.protobuf")
            assert status == 201, answer
            assert answer["kind"] == obj["kind"]
    finally:
        http.close()
    assert get(cluster, namespace, "rc", "web")["spec"]["selector"] == {"app": "web"}
