"""Leases (the node's heartbeat), events.k8s.io/v1 Events and RuntimeClasses through real kubectl.

The session cluster runs the ``process`` runtime: a pod whose RuntimeClass's handler is
``process`` runs, one naming a class that does not exist is refused at admission, and one whose
class names a handler the node does not have stays Pending with a Warning event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cluster
from tests.waiting import eventually


def as_json(cluster: Cluster, *args: str, binary: Path | None = None) -> Any:
    return json.loads(cluster.kubectl(*args, "-o", "json", binary=binary).stdout)


def node_name(cluster: Cluster) -> str:
    def registered() -> str:
        (node,) = as_json(cluster, "get", "nodes")["items"]
        return str(node["metadata"]["name"])

    return eventually(registered, what="the node registered")


# ---- leases --------------------------------------------------------------------------------


def test_the_nodes_lease_renews(cluster: Cluster, kubectl_binary: Path) -> None:
    node = node_name(cluster)
    table = eventually(
        lambda: cluster.kubectl("get", "lease", "-n", "kube-node-lease", binary=kubectl_binary).stdout.splitlines(),
        what="the node's lease",
    )
    assert table[0].split() == ["NAME", "HOLDER", "AGE"]
    assert [line.split()[:2] for line in table[1:]] == [[node, node]]

    lease = as_json(cluster, "get", "lease", node, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == node and lease["spec"]["leaseDurationSeconds"] == 40
    first = lease["spec"]["renewTime"]

    def owned_by_the_node() -> bool:
        # Set at the first renewal after the Node is registered (it may come after the lease).
        meta = as_json(cluster, "get", "lease", node, "-n", "kube-node-lease")["metadata"]
        (owner,) = meta["ownerReferences"]
        assert (owner["apiVersion"], owner["kind"], owner["name"]) == ("v1", "Node", node)
        return True

    eventually(owned_by_the_node, timeout=25, interval=1, what="the lease owned by the Node")

    def renewed() -> str:
        again = as_json(cluster, "get", "lease", node, "-n", "kube-node-lease")["spec"]["renewTime"]
        assert again > first
        return str(again)

    eventually(renewed, timeout=25, interval=1, what="renewTime to move (every 10 s)")
    conditions = {c["type"]: c["status"] for c in as_json(cluster, "get", "node", node)["status"]["conditions"]}
    assert conditions["Ready"] == "True"


def test_a_lease_of_ones_own(cluster: Cluster, namespace: str) -> None:
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
    }
    cluster.kubectl("create", "-f", "-", "-n", namespace, input=json.dumps(body))
    bad = dict(body, metadata={"name": "bad"}, spec={"leaseDurationSeconds": 0})
    refused = cluster.kubectl("create", "-f", "-", "-n", namespace, input=json.dumps(bad), check=False)
    assert refused.returncode != 0 and "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0" in (
        refused.stderr
    )
    explained = cluster.kubectl("explain", "lease.spec.holderIdentity").stdout
    assert "GROUP:      coordination.k8s.io" in explained


# ---- events --------------------------------------------------------------------------------

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  {runtime}
  containers:
  - name: main
    image: x
    command: ["sh", "-c", "echo hi; sleep 3600"]
"""


def pod_manifest(name: str, runtime_class: str | None = None) -> str:
    return POD.format(name=name, runtime=f"runtimeClassName: {runtime_class}" if runtime_class else "")


def running(cluster: Cluster, namespace: str, name: str) -> bool:
    assert as_json(cluster, "get", "pod", name, "-n", namespace)["status"]["phase"] == "Running"
    return True


def test_kubectl_events_and_the_events_group(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    ns = namespace
    cluster.kubectl("create", "-f", "-", "-n", ns, input=pod_manifest("talker"))
    eventually(lambda: running(cluster, ns, "talker"), timeout=30, what="the pod running")

    def started() -> str:
        out = cluster.kubectl("events", "-n", ns, "--for", "pod/talker", binary=kubectl_binary).stdout
        assert "Started" in out and "Pod/talker" in out  # kubectl events keeps the kind as written
        return out

    listed = eventually(started, what="kubectl events to list the pod's Started event")
    assert listed.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]

    new = as_json(cluster, "get", "events.events.k8s.io", "-n", ns, "--field-selector=regarding.name=talker",
                  binary=kubectl_binary)  # fmt: skip
    items = new["items"]
    assert items and all(e["apiVersion"] == "events.k8s.io/v1" for e in items)
    assert {e["regarding"]["name"] for e in items} == {"talker"}  # upstream's field label conversion
    started_event = next(e for e in items if e["reason"] == "Started")
    assert started_event["note"] == "Started container main"
    assert started_event["regarding"]["kind"] == "Pod"
    assert started_event["deprecatedSource"]["component"] == "kubelet"
    assert "involvedObject" not in started_event and "message" not in started_event

    # The same object read through the core group.
    core = as_json(cluster, "get", "event", started_event["metadata"]["name"], "-n", ns)
    assert core["message"] == "Started container main" and core["involvedObject"]["name"] == "talker"

    table = cluster.kubectl("get", "events.events.k8s.io", "-n", ns, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("pod/talker" in line and "Started" in line for line in table[1:])


def test_events_written_and_watched_in_the_new_group(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "hand.1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/hand",
        "reportingInstance": "hand-1",
        "action": "Wave",
        "reason": "Waved",
        "type": "Normal",
        "note": "hello",
        # a cluster-scoped object's event outside default/kube-system names the event's namespace
        "regarding": {"kind": "Namespace", "name": ns, "namespace": ns, "apiVersion": "v1"},
    }
    cluster.kubectl("create", "-f", "-", "-n", ns, input=json.dumps(body))
    core = as_json(cluster, "get", "event", "hand.1", "-n", ns)
    assert (core["message"], core["reportingComponent"], core["involvedObject"]["name"]) == (
        "hello",
        "example.com/hand",
        ns,
    )
    watched = cluster.kubectl(
        "get", "--raw", f"/apis/events.k8s.io/v1/namespaces/{ns}/events?watch=true&timeoutSeconds=2"
    ).stdout
    events = [json.loads(line) for line in watched.splitlines() if line.strip()]
    hand = [e for e in events if e["object"]["metadata"]["name"] == "hand.1"]
    assert hand and hand[0]["type"] == "ADDED"
    assert hand[0]["object"]["apiVersion"] == "events.k8s.io/v1" and hand[0]["object"]["note"] == "hello"


def test_events_k8s_io_writes_get_upstreams_stricter_rules(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    # Through the core group an event without a reporter is fine, as upstream keeps it lenient.
    core_body = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "lenient.1"},
        "involvedObject": {"kind": "Pod", "name": "x", "namespace": ns},
        "reason": "Old",
        "message": "old style",
    }
    cluster.kubectl("create", "-f", "-", "-n", ns, input=json.dumps(core_body))
    # The same through events.k8s.io/v1 is refused, each missing field named.
    v1_body = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "strict.1"},
        "regarding": {"kind": "Pod", "name": "x", "namespace": ns},
        "reason": "New",
        "note": "new style",
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "deprecatedCount": 2,
    }
    refused = cluster.kubectl("create", "-f", "-", "-n", ns, input=json.dumps(v1_body), check=False)
    assert refused.returncode != 0
    for text in (
        "reportingController: Required value",
        "reportingInstance: Required value",
        "action: Required value",
        'type: Invalid value: "": has invalid value: ',
        'count: Invalid value: "": needs to be unset',
    ):
        assert text in refused.stderr, (text, refused.stderr)
    assert cluster.kubectl("get", "event", "strict.1", "-n", ns, check=False).returncode != 0  # nothing stored

    v1_body.pop("deprecatedCount")
    v1_body.update(reportingController="example.com/ctl", reportingInstance="ctl-1", action="Act", type="Warning")
    cluster.kubectl("create", "-f", "-", "-n", ns, input=json.dumps(v1_body))
    # An events.k8s.io/v1 update may change the series, not the note.
    patched = cluster.kubectl(
        "patch", "events.events.k8s.io", "strict.1", "-n", ns, "--type=merge", "-p", '{"note": "rewritten"}',
        check=False,
    )  # fmt: skip
    assert patched.returncode != 0 and "message: Invalid value" in patched.stderr
    assert "field is immutable" in patched.stderr
    series = {"series": {"count": 2, "lastObservedTime": "2026-01-01T00:01:00.000000Z"}}
    cluster.kubectl("patch", "events.events.k8s.io", "strict.1", "-n", ns, "--type=merge", "-p", json.dumps(series))


def test_discovery_lists_events_in_both_groups(cluster: Cluster, kubectl_binary: Path) -> None:
    rows = [line.split() for line in cluster.kubectl("api-resources", binary=kubectl_binary).stdout.splitlines()]
    events = [row for row in rows if row and row[0] == "events"]
    assert [row[2] for row in events] == ["v1", "events.k8s.io/v1"]
    for resource, version in (("leases", "coordination.k8s.io/v1"), ("runtimeclasses", "node.k8s.io/v1")):
        assert any(row[:2] == [resource, version] for row in rows), resource
    explained = cluster.kubectl("explain", "events.note", "--api-version=events.k8s.io/v1", binary=kubectl_binary)
    assert "GROUP:      events.k8s.io" in explained.stdout
    assert "note is a human-readable description" in explained.stdout


# ---- runtime classes -------------------------------------------------------------------------


@pytest.fixture
def runtime_classes(cluster: Cluster) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        cluster.kubectl("delete", "runtimeclass", name, "--ignore-not-found", check=False)


def make_class(cluster: Cluster, made: list[str], handler: str) -> str:
    name = f"{handler}-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name}, "handler": handler}
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    made.append(name)
    return name


def test_a_pod_runs_with_the_process_handler(
    cluster: Cluster, namespace: str, runtime_classes: list[str], kubectl_binary: Path
) -> None:
    name = make_class(cluster, runtime_classes, "process")
    table = cluster.kubectl("get", "runtimeclass", name, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "HANDLER", "AGE"] and table[1].split()[:2] == [name, "process"]
    changed = cluster.kubectl("patch", "runtimeclass", name, "-p", '{"handler":"runc"}', check=False)
    assert changed.returncode != 0 and 'handler: Invalid value: "runc": field is immutable' in changed.stderr

    cluster.kubectl("create", "-f", "-", "-n", namespace, input=pod_manifest("chosen", name))
    eventually(lambda: running(cluster, namespace, "chosen"), timeout=30, what="the pod running")
    logs = eventually(lambda: cluster.kubectl("logs", "chosen", "-n", namespace).stdout.strip() == "hi" or None)
    assert logs


def test_a_pod_naming_a_missing_class_is_refused(cluster: Cluster, namespace: str) -> None:
    refused = cluster.kubectl("create", "-f", "-", "-n", namespace, input=pod_manifest("lost", "nope"), check=False)
    assert refused.returncode != 0
    assert 'pods "lost" is forbidden: pod rejected: RuntimeClass "nope" not found' in refused.stderr


def test_an_unknown_handler_leaves_the_pod_pending_with_a_warning(
    cluster: Cluster, namespace: str, runtime_classes: list[str]
) -> None:
    name = make_class(cluster, runtime_classes, "kata")
    cluster.kubectl("create", "-f", "-", "-n", namespace, input=pod_manifest("stuck", name))

    def warned() -> dict[str, Any]:
        events = as_json(cluster, "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=stuck")
        (event,) = [e for e in events["items"] if e["reason"] == "FailedCreatePodSandBox"]
        return dict(event)

    event = eventually(warned, timeout=30, what="the FailedCreatePodSandBox event")
    assert event["type"] == "Warning"
    assert 'no runtime for "kata" is configured' in event["message"]
    pod = as_json(cluster, "get", "pod", "stuck", "-n", namespace)
    assert pod["status"]["phase"] == "Pending"
    statuses = pod["status"].get("containerStatuses") or []
    assert all("running" not in s.get("state", {}) for s in statuses)


# ---- protobuf bodies (what client-go sends when told to) -----------------------------------


def test_protobuf_bodies_are_read(cluster: Cluster, namespace: str, runtime_classes: list[str]) -> None:
    from kuberya.resources import protobuf
    from tests.adminhttp import AdminHTTP

    http = AdminHTTP(cluster)
    rc_name = f"pb-{uuid.uuid4().hex[:6]}"
    runtime_classes.append(rc_name)
    bodies = [
        (
            f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "pb"},
             "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
        ),
        (
            "/apis/node.k8s.io/v1/runtimeclasses",
            {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": rc_name},
             "handler": "process"},
        ),
        (
            f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
            {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "pb.1"},
             "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "me", "reportingInstance": "me-1",
             "action": "Do", "reason": "Done", "type": "Normal", "note": "via protobuf",
             "regarding": {"kind": "Lease", "name": "pb", "namespace": namespace}},
        ),
    ]  # fmt: skip
    try:
        for path, obj in bodies:
            status, answer = http("POST", path, protobuf.encode_object(obj), "application/vnd.kubernetes.protobuf")
            assert status == 201, (path, answer)
            assert answer["apiVersion"] == obj["apiVersion"] and answer["metadata"]["name"] == obj["metadata"]["name"]
    finally:
        http.close()
    assert as_json(cluster, "get", "event", "pb.1", "-n", namespace)["message"] == "via protobuf"
