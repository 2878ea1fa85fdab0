"""Small upstream behaviours of the workloads issue, through real kubectl: creation warnings, OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import Cluster


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
