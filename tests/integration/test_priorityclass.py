"""scheduling.k8s.io/v1 PriorityClass through real kubectl: the kind added as one module.

``kubectl create priorityclass`` sends protobuf, prints upstream's Table columns, explains the
schema, refuses what upstream refuses (a reserved ``system-`` name, a value above one billion, a
changed value) and deletes it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.conftest import Cluster


def test_create_get_explain_delete(cluster: Cluster, kubectl_binary: Path) -> None:
    name = f"high-{uuid.uuid4().hex[:6]}"
    created = cluster.kubectl("create", "priorityclass", name, "--value=1000", binary=kubectl_binary)
    assert f"priorityclass.scheduling.k8s.io/{name} created" in created.stdout

    table = cluster.kubectl("get", "priorityclass", name, binary=kubectl_binary).stdout.splitlines()
    assert table[0].split() == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    name_cell, value, global_default, _age, policy = table[1].split()
    assert (name_cell, value, global_default, policy) == (name, "1000", "false", "PreemptLowerPriority")

    stored = json.loads(cluster.kubectl("get", "pc", name, "-o", "json", binary=kubectl_binary).stdout)
    assert stored["value"] == 1000 and stored["preemptionPolicy"] == "PreemptLowerPriority"
    assert "namespace" not in stored["metadata"]

    explained = cluster.kubectl("explain", "priorityclass.preemptionPolicy", binary=kubectl_binary).stdout
    assert "GROUP:      scheduling.k8s.io" in explained and "PreemptLowerPriority" in explained

    changed = cluster.kubectl("patch", "pc", name, "-p", '{"value":5}', check=False, binary=kubectl_binary)
    assert changed.returncode != 0 and "value: Forbidden: may not be changed in an update." in changed.stderr

    deleted = cluster.kubectl("delete", "priorityclass", name, binary=kubectl_binary)
    assert f'priorityclass.scheduling.k8s.io "{name}" deleted' in deleted.stdout
    gone = cluster.kubectl("get", "pc", name, check=False, binary=kubectl_binary)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_reserved_names_and_values_are_refused(cluster: Cluster) -> None:
    reserved = cluster.kubectl("create", "priorityclass", "system-mine", "--value=5", check=False)
    assert reserved.returncode != 0
    assert "priority class names with 'system-' prefix are reserved for system use only" in reserved.stderr
    assert "system-mine is not a known system priority class" in reserved.stderr

    huge = cluster.kubectl("create", "priorityclass", f"huge-{uuid.uuid4().hex[:6]}", "--value=2000000000", check=False)
    assert huge.returncode != 0
    assert "value: Forbidden: maximum allowed value of a user defined priority is 1000000000" in huge.stderr

    # The built-in classes exist from the start, as on any cluster; creating one again is a conflict.
    builtins = cluster.kubectl("get", "pc", "system-node-critical", "system-cluster-critical").stdout.splitlines()
    assert [line.split()[:3] for line in builtins[1:]] == [
        ["system-node-critical", "2000001000", "false"],
        ["system-cluster-critical", "2000000000", "false"],
    ]
    again = cluster.kubectl("create", "priorityclass", "system-node-critical", "--value=2000001000", check=False)
    assert again.returncode != 0
    assert 'priorityclasses.scheduling.k8s.io "system-node-critical" already exists' in again.stderr
