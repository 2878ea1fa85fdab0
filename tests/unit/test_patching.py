"""The patch engines, checked against what real kubectl sends and what upstream's engines return."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kuberya.resources.patching import (
    ApplyConflictError,
    PatchError,
    decode_fields_v1,
    encode_fields_v1,
    json_merge_patch,
    json_patch,
    lookup,
    record_update_manager,
    server_side_apply,
    strategic_merge_patch,
)

pytestmark = pytest.mark.unit

T0, T1, T2 = "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "2025-01-01T00:02:00Z"


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web"},
            "annotations": {"deployment.kubernetes.io/revision": "2"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.24",
                            "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "MODE", "value": "prod"}],
                            "resources": {"limits": {"cpu": "500m"}},
                        },
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "3600"]},
                    ],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                },
            },
        },
    }


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


# -- JSON merge patch ---------------------------------------------------------------------------------


def test_scale_merge_patch_sets_replicas_only() -> None:
    # kubectl scale: PATCH …/scale with {"spec":{"replicas":N}} (merge-patch+json).
    result = json_merge_patch(deployment(), {"spec": {"replicas": 5}})
    expected = deployment()
    expected["spec"]["replicas"] = 5
    assert result == expected


def test_merge_patch_rfc7386_examples() -> None:
    original = {"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["a", "b"]}
    patch = {"title": "Hello!", "phoneNumber": "+01-123", "author": {"familyName": None}, "tags": ["c"]}
    assert json_merge_patch(original, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["c"],
        "phoneNumber": "+01-123",
    }
    assert json_merge_patch({"a": "b"}, {"a": {"b": None, "c": {"d": None}}}) == {"a": {"c": {}}}
    assert json_merge_patch({"a": "b"}, ["c"]) == ["c"]
    assert json_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}


# -- JSON patch ---------------------------------------------------------------------------------------


def test_rollout_undo_json_patch() -> None:
    # kubectl rollout undo: replace the template with the old RS's and replace the annotations.
    old_template = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "v1"}]},
    }
    annotations = {"deployment.kubernetes.io/revision": "3"}
    ops = [
        {"op": "replace", "path": "/spec/template", "value": old_template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]
    result = json_patch(deployment(), ops)
    assert result["spec"]["template"] == old_template
    assert result["metadata"]["annotations"] == annotations
    assert result["spec"]["replicas"] == 2


def test_json_patch_replace_of_missing_member_fails() -> None:
    obj = deployment()
    del obj["metadata"]["annotations"]
    with pytest.raises(PatchError, match="replace"):
        json_patch(obj, [{"op": "replace", "path": "/metadata/annotations", "value": {}}])


def test_json_patch_operations_and_pointer_escapes() -> None:
    doc = {"metadata": {"labels": {"a/b": "1", "m~n": "2"}}, "items": [1, 2]}
    result = json_patch(
        doc,
        [
            {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
            {"op": "remove", "path": "/metadata/labels/m~0n"},
            {"op": "add", "path": "/items/-", "value": 3},
            {"op": "add", "path": "/items/0", "value": 0},
            {"op": "copy", "from": "/items/3", "path": "/last"},
            {"op": "move", "from": "/metadata/labels/a~1b", "path": "/moved"},
        ],
    )
    assert result == {"metadata": {"labels": {}}, "items": [0, 1, 2, 3], "last": 3, "moved": "1"}
    assert doc["items"] == [1, 2]
    with pytest.raises(PatchError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/items/0", "value": True}])  # 1 is not true in JSON
    with pytest.raises(PatchError, match="own children"):
        json_patch(doc, [{"op": "move", "from": "/metadata", "path": "/metadata/x"}])
    for bad in (
        [{"op": "frobnicate", "path": "/a"}],
        [{"op": "add", "path": "a", "value": 1}],
        [{"op": "add"}],
    ):
        with pytest.raises(PatchError):
            json_patch(doc, bad)


# -- strategic merge patch ------------------------------------------------------------------------------


def test_set_image_keeps_other_container_fields() -> None:
    # kubectl set image deployment/web web=nginx:1.25 sends exactly this patch.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}
    result = strategic_merge_patch(deployment(), patch, kind="Deployment")
    expected = deployment()
    pod_spec(expected)["containers"][0]["image"] = "nginx:1.25"
    assert result == expected


def test_json_merge_patch_would_have_wiped_the_container() -> None:
    # The reason SMP exists: the same body as a merge patch replaces the whole list.
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}}
    assert pod_spec(json_merge_patch(deployment(), patch))["containers"] == [{"name": "web", "image": "nginx:1.25"}]


def test_three_way_patch_with_set_element_order_adds_a_container() -> None:
    # kubectl apply after adding "metrics" between web and sidecar in the manifest.
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [
                        {"name": "web"},
                        {"name": "metrics"},
                        {"name": "sidecar"},
                    ],
                    "containers": [{"name": "metrics", "image": "prom/exporter"}],
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), patch, kind="Deployment")
    assert names(pod_spec(result)["containers"]) == ["web", "metrics", "sidecar"]
    assert pod_spec(result)["containers"][0] == pod_spec(deployment())["containers"][0]


def test_set_element_order_reorders_and_keeps_server_only_items() -> None:
    live = deployment()
    pod_spec(live)["containers"].append({"name": "injected", "image": "proxy"})  # added by a webhook
    patch = {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}}}
    result = strategic_merge_patch(live, patch, kind="Deployment")
    assert names(pod_spec(result)["containers"]) == ["sidecar", "web", "injected"]


def test_patch_delete_directive_removes_a_container() -> None:
    # kubectl apply after deleting the sidecar from the manifest.
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"$patch": "delete", "name": "sidecar"}],
                }
            }
        }
    }
    result = strategic_merge_patch(deployment(), patch, kind="Deployment")
    assert names(pod_spec(result)["containers"]) == ["web"]


def test_retain_keys_switches_rolling_update_to_recreate() -> None:
    # kubectl apply after changing strategy.type to Recreate and deleting rollingUpdate.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None, "type": "Recreate"}}}
    result = strategic_merge_patch(deployment(), patch, kind="Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    # Without the null the directive alone still clears rollingUpdate.
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(deployment(), patch, kind="Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    with pytest.raises(PatchError, match="retainKeys"):
        bad = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
        strategic_merge_patch(deployment(), bad, kind="Deployment")


def test_rollout_restart_patch_adds_a_template_annotation() -> None:
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": T0}}}}}
    result = strategic_merge_patch(deployment(), patch, kind="Deployment")
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": T0},
    }


def test_nested_keyed_lists_merge_by_their_own_keys() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [{"name": "MODE", "value": "dev"}, {"name": "NEW", "value": "1"}],
                            "ports": [{"containerPort": 443}],
                        }
                    ]
                }
            }
        }
    }
    web = pod_spec(strategic_merge_patch(deployment(), patch, kind="Deployment"))["containers"][0]
    assert web["env"] == [{"name": "MODE", "value": "dev"}, {"name": "NEW", "value": "1"}]
    # A new item of a two-way patch with no $setElementOrder lands first, as upstream's mergeSortedSlice does.
    assert web["ports"] == [{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}]


def test_untagged_lists_are_replaced_and_nulls_delete() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "sidecar", "args": None}]}}
        }
    }
    result = pod_spec(strategic_merge_patch(deployment(), patch, kind="Deployment"))
    assert result["tolerations"] == [{"key": "b"}]
    assert result["containers"][1] == {"name": "sidecar", "image": "busybox"}


def test_patch_replace_directive_on_maps_and_lists() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}
    assert pod_spec(strategic_merge_patch(deployment(), patch, kind="Deployment"))["containers"] == [
        {"name": "only", "image": "x"}
    ]
    patch = {"metadata": {"labels": {"$patch": "replace", "tier": "front"}}}
    assert strategic_merge_patch(deployment(), patch, kind="Deployment")["metadata"]["labels"] == {"tier": "front"}
    patch = {"spec": {"strategy": {"$patch": "delete"}}}
    assert strategic_merge_patch(deployment(), patch, kind="Deployment")["spec"]["strategy"] == {}


def test_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    obj = {"kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a", "b"]}}
    merged = strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "c"]}}, kind="ConfigMap")
    # Upstream's order: live-only "a" keeps its place before "b"; the new "c" follows the patch.
    assert merged["metadata"]["finalizers"] == ["a", "b", "c"]
    merged = strategic_merge_patch(obj, {"metadata": {"finalizers": ["c"]}}, kind="ConfigMap")
    assert merged["metadata"]["finalizers"] == ["c", "a", "b"]  # a new item of a two-way patch goes first
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(obj, patch, kind="ConfigMap")["metadata"]["finalizers"] == ["b"]
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}}
    assert strategic_merge_patch(obj, patch, kind="ConfigMap")["metadata"]["finalizers"] == ["b", "a", "c"]


def test_other_keyed_lists_from_the_schema() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    result = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, kind="Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]

    owner = {"uid": "u1", "kind": "ReplicaSet", "name": "rs"}
    pod = {
        "kind": "Pod",
        "metadata": {"ownerReferences": [owner]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }
    patch = {
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        "metadata": {"ownerReferences": [{"uid": "u1", "controller": True}]},
    }
    result = strategic_merge_patch(pod, patch, kind="Pod")
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert result["metadata"]["ownerReferences"] == [{**owner, "controller": True}]

    assert lookup("Endpoints", ("subsets",)).strategy == ""
    assert lookup("HorizontalPodAutoscaler", ("spec", "metrics")).strategy == ""
    assert lookup("Pod", ("status", "containerStatuses")).strategy == ""
    assert lookup("Node", ("status", "addresses")).merge_key == "type"
    assert lookup("StatefulSet", ("spec", "template", "spec", "containers", "volumeMounts")).merge_key == "mountPath"
    assert lookup("Deployment", ("spec", "strategy")).retain_keys


def test_unknown_kinds_fall_back_to_json_merge_patch() -> None:
    obj = {"kind": "Widget", "spec": {"items": [{"name": "a", "size": 1}]}}
    patch = {"spec": {"items": [{"name": "a", "size": 2}]}}
    assert strategic_merge_patch(obj, patch, kind="Widget") == json_merge_patch(obj, patch)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"spec": {"strategy": {"$patch": "explode"}}}, "unknown patch directive"),
        (
            {"spec": {"template": {"spec": {"containers": [{"$patch": "explode", "name": "web"}]}}}},
            "unknown patch directive",
        ),
        ({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}, "merge key"),
        ({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}, "merge key"),
        ({"spec": {"template": {"spec": {"$setElementOrder/containers": "web"}}}}, "must be a list"),
        (
            {
                "spec": {
                    "template": {
                        "spec": {
                            "$setElementOrder/containers": [{"name": "web"}],
                            "containers": [{"name": "x"}],
                        }
                    }
                }
            },
            "does not match",
        ),
        ({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}, "must be a list"),
        ({"spec": {"strategy": {"$retainKeys": "type"}}}, "retainKeys"),
    ],
)
def test_malformed_strategic_patches_raise(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(PatchError, match=message):
        strategic_merge_patch(deployment(), patch, kind="Deployment")


# -- properties --------------------------------------------------------------------------------------

_keys = st.sampled_from(["a", "b", "c", "d"])
_scalars = st.one_of(st.booleans(), st.integers(-3, 3), st.text(max_size=3))
# JSON values without nulls (a merge patch cannot put a null into its result).
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)
_objects = st.dictionaries(_keys, _values, max_size=4)
# Objects and patches with no lists at all, patches with nulls.
_maps_only = st.recursive(_scalars, lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=10)
_map_objects = st.dictionaries(_keys, _maps_only, max_size=4)
_map_patches = st.recursive(
    st.one_of(_scalars, st.none()), lambda inner: st.dictionaries(_keys, inner, max_size=3), max_leaves=10
)


def merge_diff(a: Any, b: Any) -> Any:
    """The merge patch that turns ``a`` into ``b`` (``b`` free of nulls)."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return b
    patch: dict[str, Any] = {key: None for key in a if key not in b}
    for key, value in b.items():
        if key not in a:
            patch[key] = value
        elif a[key] != value or type(a[key]) is not type(value):
            patch[key] = merge_diff(a[key], value)
    return patch


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(_objects, _objects)
def test_merge_patch_of_a_diff_reproduces_the_target(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert json_merge_patch(a, merge_diff(a, b)) == b


@given(_map_objects, st.dictionaries(_keys, _map_patches, max_size=4))
def test_smp_without_lists_equals_merge_patch(obj: dict[str, Any], patch: dict[str, Any]) -> None:
    assert strategic_merge_patch(obj, patch, kind="Deployment") == json_merge_patch(obj, patch)


@given(_objects, st.text(max_size=4), _values)
def test_json_patch_add_then_remove_round_trips(obj: dict[str, Any], key: str, value: Any) -> None:
    doc = {"root": obj, "list": [1, 2, 3]}
    pointer = "/root/" + key.replace("~", "~0").replace("/", "~1")
    if key in obj:
        return
    ops = [{"op": "add", "path": pointer, "value": value}, {"op": "remove", "path": pointer}]
    assert json_patch(doc, ops) == doc
    ops = [{"op": "add", "path": "/list/1", "value": value}, {"op": "remove", "path": "/list/1"}]
    assert json_patch(doc, ops) == doc


@settings(max_examples=50)
@given(_objects, st.dictionaries(_keys, _map_patches, max_size=4))
def test_inputs_are_never_mutated(obj: dict[str, Any], patch: dict[str, Any]) -> None:
    obj = {**obj, "metadata": {"name": "x"}}
    frozen_obj, frozen_patch = copy.deepcopy(obj), copy.deepcopy(patch)
    json_merge_patch(obj, patch)
    strategic_merge_patch(obj, patch, kind="Deployment")
    json_patch(obj, [{"op": "add", "path": "/metadata/x", "value": patch}])
    server_side_apply(
        obj,
        {**patch, "metadata": {"name": "x"}},
        kind="ConfigMap",
        manager="m",
        force=True,
        operation_time=T0,
    )
    assert obj == frozen_obj
    assert patch == frozen_patch


def test_kubectl_patches_do_not_mutate_inputs() -> None:
    live = deployment()
    patch = {
        "spec": {
            "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"$patch": "delete", "name": "sidecar"}],
                }
            },
        }
    }
    frozen_patch = copy.deepcopy(patch)
    strategic_merge_patch(live, patch, kind="Deployment")
    assert live == deployment()
    assert patch == frozen_patch


# -- server-side apply -----------------------------------------------------------------------------------


def applied(**overrides: Any) -> dict[str, Any]:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }
    obj["spec"].update(overrides)
    return obj


def entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    found = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    assert len(found) == 1, obj["metadata"]["managedFields"]
    result: dict[str, Any] = found[0]
    return result


def test_apply_creates_from_nothing() -> None:
    result = server_side_apply(None, applied(), kind="Deployment", manager="kubectl", force=False, operation_time=T0)
    managed = result["metadata"].pop("managedFields")
    assert result == applied()
    assert managed == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}, "f:tier": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"web"}': {
                                    ".": {},
                                    "f:env": {'k:{"name":"A"}': {".": {}, "f:name": {}, "f:value": {}}},
                                    "f:image": {},
                                    "f:name": {},
                                }
                            }
                        },
                    },
                },
            },
        }
    ]


def test_reapply_without_a_field_removes_it() -> None:
    first = server_side_apply(None, applied(), kind="Deployment", manager="kubectl", force=False, operation_time=T0)
    config = applied()
    del config["metadata"]["labels"]["tier"]
    config["spec"]["template"]["spec"]["containers"][0].pop("env")
    second = server_side_apply(first, config, kind="Deployment", manager="kubectl", force=False, operation_time=T1)
    assert second["metadata"]["labels"] == {"app": "web"}
    assert "env" not in pod_spec(second)["containers"][0]
    fields = decode_fields_v1(entry(second, "kubectl")["fieldsV1"])
    assert ("f:metadata", "f:labels", "f:tier") not in fields
    assert entry(second, "kubectl")["time"] == T1


def test_fields_another_manager_shares_survive_removal() -> None:
    first = server_side_apply(None, applied(), kind="Deployment", manager="a", force=False, operation_time=T0)
    both = server_side_apply(first, applied(), kind="Deployment", manager="b", force=False, operation_time=T1)
    config = applied()
    del config["spec"]["replicas"]
    result = server_side_apply(both, config, kind="Deployment", manager="a", force=False, operation_time=T2)
    assert result["spec"]["replicas"] == 3  # same value applied by b: shared, so kept


def test_conflict_between_two_managers() -> None:
    first = server_side_apply(None, applied(), kind="Deployment", manager="a", force=False, operation_time=T0)
    with pytest.raises(ApplyConflictError) as caught:
        server_side_apply(first, applied(replicas=5), kind="Deployment", manager="b", force=False, operation_time=T1)
    assert caught.value.conflicts == [("a", ".spec.replicas")]
    assert str(caught.value) == 'Apply failed with 1 conflict: conflict with "a": .spec.replicas'
    assert caught.value.causes == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "a"', "field": ".spec.replicas"}
    ]


def test_force_takes_ownership() -> None:
    first = server_side_apply(None, applied(), kind="Deployment", manager="a", force=False, operation_time=T0)
    config = applied(replicas=5)
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    result = server_side_apply(first, config, kind="Deployment", manager="b", force=True, operation_time=T1)
    assert result["spec"]["replicas"] == 5
    a_fields = decode_fields_v1(entry(result, "a")["fieldsV1"])
    b_fields = decode_fields_v1(entry(result, "b")["fieldsV1"])
    assert ("f:spec", "f:replicas") not in a_fields
    assert ("f:spec", "f:replicas") in b_fields
    image = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"web"}', "f:image")
    assert image in b_fields and image not in a_fields


def test_update_manager_takes_changed_fields_and_apply_then_conflicts() -> None:
    created = server_side_apply(None, applied(), kind="Deployment", manager="kubectl", force=False, operation_time=T0)
    scaled = json_merge_patch(created, {"spec": {"replicas": 7}})
    record_update_manager(created, scaled, manager="kubectl-scale", api_version="apps/v1", operation_time=T1)
    assert decode_fields_v1(entry(scaled, "kubectl-scale")["fieldsV1"]) == {("f:spec", "f:replicas")}
    assert ("f:spec", "f:replicas") not in decode_fields_v1(entry(scaled, "kubectl")["fieldsV1"])
    with pytest.raises(ApplyConflictError, match='conflict with "kubectl-scale" using apps/v1 at'):
        server_side_apply(scaled, applied(), kind="Deployment", manager="kubectl", force=False, operation_time=T2)
    # Applying without replicas leaves the scaled value alone.
    config = applied()
    del config["spec"]["replicas"]
    result = server_side_apply(scaled, config, kind="Deployment", manager="kubectl", force=False, operation_time=T2)
    assert result["spec"]["replicas"] == 7


def test_update_manager_on_create_and_status_subresource() -> None:
    obj = applied()
    obj["status"] = {"replicas": 1}
    record_update_manager(None, obj, manager="kubectl-create", api_version="apps/v1", operation_time=T0)
    fields = decode_fields_v1(entry(obj, "kubectl-create")["fieldsV1"])
    assert ("f:spec", "f:replicas") in fields
    assert not any(path[0] == "f:status" for path in fields)
    new = copy.deepcopy(obj)
    new["status"] = {"replicas": 3, "readyReplicas": 3}
    record_update_manager(obj, new, manager="kcm", api_version="apps/v1", operation_time=T1, subresource="status")
    status_entry = entry(new, "kcm")
    assert status_entry["subresource"] == "status"
    assert decode_fields_v1(status_entry["fieldsV1"]) == {
        ("f:status", "f:replicas"),
        ("f:status", "f:readyReplicas"),
    }
    # An explicit [{}] resets tracking.
    reset = copy.deepcopy(new)
    reset["metadata"]["managedFields"] = [{}]
    record_update_manager(new, reset, manager="x", api_version="apps/v1", operation_time=T2)
    assert "managedFields" not in reset["metadata"]


def test_first_apply_over_an_untracked_object_conflicts_with_before_first_apply() -> None:
    live = applied()
    with pytest.raises(ApplyConflictError) as caught:
        server_side_apply(
            live, applied(replicas=4), kind="Deployment", manager="kubectl", force=False, operation_time=T0
        )
    assert caught.value.conflicts == [("before-first-apply", ".spec.replicas")]


def test_apply_merges_finalizers_as_a_set_and_keeps_other_items() -> None:
    live = server_side_apply(None, applied(), kind="Deployment", manager="a", force=False, operation_time=T0)
    config = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["x"]}}
    config["spec"] = {"template": {"spec": {"containers": [{"name": "log", "image": "fluent"}]}}}
    result = server_side_apply(live, config, kind="Deployment", manager="b", force=False, operation_time=T1)
    assert result["metadata"]["finalizers"] == ["x"]
    assert names(pod_spec(result)["containers"]) == ["web", "log"]
    assert ("f:metadata", "f:finalizers", 'v:"x"') in decode_fields_v1(entry(result, "b")["fieldsV1"])


def test_fields_v1_round_trip() -> None:
    paths = {
        ("f:spec", "f:replicas"),
        ("f:spec", "f:c", 'k:{"name":"a"}'),
        ("f:spec", "f:c", 'k:{"name":"a"}', "f:image"),
    }
    encoded = encode_fields_v1(paths)
    assert encoded == {"f:spec": {"f:c": {'k:{"name":"a"}': {".": {}, "f:image": {}}}, "f:replicas": {}}}
    assert decode_fields_v1(encoded) == paths


@pytest.mark.parametrize(
    "garbled",
    [
        [{"manager": "", "operation": "", "fieldsType": "x"}],  # found by the fuzz tier: a PUT answered 500
        [{"manager": "m", "fieldsType": "FieldsV2"}],
        [{"manager": "m", "fieldsV1": []}],
        [5],
        "x",
        7,
    ],
)
def test_garbled_managed_fields_in_a_write_are_replaced_by_the_live_ones(garbled: Any) -> None:
    live: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    record_update_manager(None, live, manager="kubectl-create", api_version="v1", operation_time=T0)
    sent = copy.deepcopy(live)
    sent["data"]["a"] = "2"
    sent["metadata"]["managedFields"] = garbled
    record_update_manager(live, sent, manager="kubectl-edit", api_version="v1", operation_time=T1)
    managers = [entry["manager"] for entry in sent["metadata"]["managedFields"]]
    assert managers == ["kubectl-create", "kubectl-edit"] or managers == ["kubectl-edit"]
    assert all(entry["fieldsType"] == "FieldsV1" for entry in sent["metadata"]["managedFields"])
