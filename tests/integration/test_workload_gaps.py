"""Small upstream behaviours of the workloads issue, through real kubectl: creation warnings, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import Cluster
from tests.waiting import eventually


def test_a_job_name_that_is_no_dns_label_is_warned_about(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi.v2", "namespace": namespace},
        "spec": {
            "suspend": True,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}},
        },
    }
    created = cluster.kubectl("create", "-f", "-", input=yaml.safe_dump(job), binary=kubectl_binary)
    assert (
        "Warning: metadata.name: this is used in Pod names and hostnames, which can result in surprising "
        "behavior; a DNS label is recommended: [a lowercase RFC 1123 label must consist of"
    ) in created.stderr
    # An update that changes nothing in the spec is not warned about.
    labelled = cluster.kubectl("label", "job", "pi.v2", "-n", namespace, "a=b", binary=kubectl_binary)
    assert "Warning" not in labelled.stderr


def test_pods_eviction_has_its_openapi_path(cluster: Cluster) -> None:
    document = json.loads(cluster.kubectl("get", "--raw", "/openapi/v3/api/v1").stdout)
    post = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert post["x-kubernetes-group-version-kind"] == {"group": "policy", "kind": "Eviction", "version": "v1"}
    assert "io.k8s.api.policy.v1.Eviction" in document["components"]["schemas"]


def test_set_hostname_as_fqdn_names_the_pod_by_its_fqdn(cluster: Cluster, namespace: str) -> None:
    def pod(name: str, hostname: str) -> dict[str, object]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "hostname": hostname,
                "subdomain": "svc",
                "setHostnameAsFQDN": True,
                "containers": [{"name": "c", "image": "busybox:1", "command": ["sh", "-c", "sleep 300"]}],
                "terminationGracePeriodSeconds": 0,
            },
        }

    cluster.kubectl("create", "-f", "-", input=json.dumps(pod("fqdn", "box")))
    cluster.kubectl("wait", "--for=condition=Ready", "pod/fqdn", "-n", namespace, "--timeout=60s")
    fqdn = f"box.svc.{namespace}.svc.cluster.local"
    assert cluster.kubectl("exec", "fqdn", "-n", namespace, "--", "hostname").stdout.strip() == fqdn
    assert cluster.kubectl("exec", "fqdn", "-n", namespace, "--", "sh", "-c", "echo $HOSTNAME").stdout.strip() == fqdn

    # An FQDN past the kernel's 64 characters: no sandbox, and the kubelet's event says why.
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod("too-long", "h" * 40)))

    def refused() -> str:
        events = json.loads(
            cluster.kubectl(
                "get", "events", "-n", namespace, "--field-selector=involvedObject.name=too-long", "-o", "json"
            ).stdout
        )["items"]
        reasons = {e["reason"]: e["message"] for e in events}
        assert "FailedCreatePodSandBox" in reasons, reasons
        return str(reasons["FailedCreatePodSandBox"])

    message = eventually(refused, timeout=30, what="FailedCreatePodSandBox event")
    assert "is too long (64 characters is the max" in message
    phase = cluster.kubectl("get", "pod", "too-long", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Pending"


def test_rollout_undo_to_the_current_revision_is_skipped(cluster: Cluster, namespace: str) -> None:
    # kubectl compares its own patch of the live template with the revision's bytes (daemonSetMatch,
    # statefulSetMatch): the stored revision must be byte-for-byte what it would write.
    template = {
        "metadata": {"labels": {"app": "undo"}},
        # '&&' and non-ASCII text: Go escapes the one and not the other, and kubectl compares bytes
        "spec": {
            "containers": [{"name": "c", "image": "busybox:1", "command": ["sh", "-c", "true && sleep 300 # 쿠버야"]}]
        },
    }
    for kind in ("DaemonSet", "StatefulSet"):
        name = f"undo-{kind.lower()}"
        spec: dict[str, object] = {"selector": {"matchLabels": {"app": "undo"}}, "template": template}
        if kind == "StatefulSet":
            spec |= {"serviceName": name, "replicas": 0}
        body = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        cluster.kubectl("create", "-f", "-", input=json.dumps(body))
        resource = f"{kind.lower()}/{name}"

        def revision_made(resource: str = resource) -> str:
            history = cluster.kubectl("rollout", "history", resource, "-n", namespace).stdout
            assert "1 " in history or "1\t" in history, history
            return history

        eventually(revision_made, timeout=30, what=f"{kind} revision 1")
        undone = cluster.kubectl("rollout", "undo", resource, "--to-revision=1", "-n", namespace)
        assert "skipped rollback (current template already matches revision 1)" in undone.stdout, undone.stdout
