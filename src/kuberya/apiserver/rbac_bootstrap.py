"""Upstream's bootstrap RBAC policy: the ClusterRoles and ClusterRoleBindings every cluster starts with.

The data is upstream's ``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata/cluster-roles.yaml``
and ``cluster-role-bindings.yaml`` (kubernetes/kubernetes at 025f2834, the output of
``policy.go``), in flow style, restricted to the roles a single-node kuberya has a use for (the
node, controller-manager and scheduler roles of components kuberya runs in-process as
``system:masters`` are left out). Every object is labelled ``kubernetes.io/bootstrapping:
rbac-defaults`` and annotated ``rbac.authorization.kubernetes.io/autoupdate: "true"``.

At start the API server reconciles them as upstream's ``EnsureRBACPolicy`` does
(``pkg/registry/rbac/rest/storage_rbac.go``): a missing object is created; an existing one whose
autoupdate annotation is not ``"false"`` gets the rules (or subjects) it lacks added, keeping what a
user added. An aggregated role (``aggregationRule``) is left for the aggregation controller to fill.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from typing import TYPE_CHECKING, Any

import yaml

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.rbac_rules import uncovered_rules
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

if TYPE_CHECKING:
    from kuberya.apiserver.admission import Admission

log = logging.getLogger(__name__)

BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AUTOUPDATE_ANNOTATION = "rbac.authorization.kubernetes.io/autoupdate"
_RW = "[create, delete, deletecollection, patch, update]"
_RO = "[get, list, watch]"

_CLUSTER_ROLES = f"""
- name: admin
  aggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{rbac.authorization.k8s.io/aggregate-to-admin: "true"}}}}]}}
- name: cluster-admin
  rules:
  - {{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}
  - {{nonResourceURLs: ["*"], verbs: ["*"]}}
- name: edit
  labels: {{rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
  aggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{rbac.authorization.k8s.io/aggregate-to-edit: "true"}}}}]}}
- name: system:aggregate-to-admin
  labels: {{rbac.authorization.k8s.io/aggregate-to-admin: "true"}}
  rules:
  - {{apiGroups: [authorization.k8s.io], resources: [localsubjectaccessreviews], verbs: [create]}}
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [rolebindings, roles]
    verbs: [create, delete, deletecollection, get, list, patch, update, watch]
- name: system:aggregate-to-edit
  labels: {{rbac.authorization.k8s.io/aggregate-to-edit: "true"}}
  rules:
  - apiGroups: [""]
    resources: [pods/attach, pods/exec, pods/portforward, pods/proxy, secrets, services/proxy]
    verbs: {_RO}
  - {{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}}
  - apiGroups: [""]
    resources: [pods, pods/attach, pods/exec, pods/portforward, pods/proxy]
    verbs: {_RW}
  - {{apiGroups: [""], resources: [pods/eviction], verbs: [create]}}
  - apiGroups: [""]
    resources: [configmaps, events, persistentvolumeclaims, replicationcontrollers, replicationcontrollers/scale,
      secrets, serviceaccounts, services, services/proxy]
    verbs: {_RW}
  - {{apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}}
  - apiGroups: [apps]
    resources: [daemonsets, deployments, deployments/rollback, deployments/scale, replicasets, replicasets/scale,
      statefulsets, statefulsets/scale]
    verbs: {_RW}
  - {{apiGroups: [autoscaling], resources: [horizontalpodautoscalers], verbs: {_RW}}}
  - {{apiGroups: [batch], resources: [cronjobs, jobs], verbs: {_RW}}}
  - apiGroups: [extensions]
    resources: [daemonsets, deployments, deployments/rollback, deployments/scale, ingresses, networkpolicies,
      replicasets, replicasets/scale, replicationcontrollers/scale]
    verbs: {_RW}
  - {{apiGroups: [policy], resources: [poddisruptionbudgets], verbs: {_RW}}}
  - {{apiGroups: [networking.k8s.io], resources: [ingresses, networkpolicies], verbs: {_RW}}}
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create, delete, deletecollection, get, list, patch, update, watch]
- name: system:aggregate-to-view
  labels: {{rbac.authorization.k8s.io/aggregate-to-view: "true"}}
  rules:
  - apiGroups: [""]
    resources: [configmaps, endpoints, persistentvolumeclaims, persistentvolumeclaims/status, pods,
      replicationcontrollers, replicationcontrollers/scale, serviceaccounts, services, services/status]
    verbs: {_RO}
  - apiGroups: [""]
    resources: [bindings, events, limitranges, namespaces/status, pods/log, pods/status,
      replicationcontrollers/status, resourcequotas, resourcequotas/status]
    verbs: {_RO}
  - {{apiGroups: [""], resources: [namespaces], verbs: {_RO}}}
  - {{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: {_RO}}}
  - apiGroups: [apps]
    resources: [controllerrevisions, daemonsets, daemonsets/status, deployments, deployments/scale,
      deployments/status, replicasets, replicasets/scale, replicasets/status, statefulsets, statefulsets/scale,
      statefulsets/status]
    verbs: {_RO}
  - {{apiGroups: [autoscaling], resources: [horizontalpodautoscalers, horizontalpodautoscalers/status], verbs: {_RO}}}
  - {{apiGroups: [batch], resources: [cronjobs, cronjobs/status, jobs, jobs/status], verbs: {_RO}}}
  - apiGroups: [extensions]
    resources: [daemonsets, daemonsets/status, deployments, deployments/scale, deployments/status, ingresses,
      ingresses/status, networkpolicies, replicasets, replicasets/scale, replicasets/status,
      replicationcontrollers/scale]
    verbs: {_RO}
  - {{apiGroups: [policy], resources: [poddisruptionbudgets, poddisruptionbudgets/status], verbs: {_RO}}}
  - {{apiGroups: [networking.k8s.io], resources: [ingresses, ingresses/status, networkpolicies], verbs: {_RO}}}
- name: system:auth-delegator
  rules:
  - {{apiGroups: [authentication.k8s.io], resources: [tokenreviews], verbs: [create]}}
  - {{apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}}
- name: system:basic-user
  rules:
  - apiGroups: [authorization.k8s.io]
    resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]
    verbs: [create]
  - {{apiGroups: [authentication.k8s.io], resources: [selfsubjectreviews], verbs: [create]}}
- name: system:discovery
  rules:
  - nonResourceURLs: [/api, /api/*, /apis, /apis/*, /healthz, /livez, /openapi, /openapi/*, /readyz, /version,
      /version/]
    verbs: [get]
- name: system:kube-dns
  rules:
  - {{apiGroups: [""], resources: [endpoints, services], verbs: [list, watch]}}
- name: system:monitoring
  rules:
  - nonResourceURLs: [/healthz, /healthz/*, /livez, /livez/*, /metrics, /metrics/slis, /readyz, /readyz/*]
    verbs: [get]
- name: system:node-proxier
  rules:
  - {{apiGroups: [""], resources: [endpoints, services], verbs: [list, watch]}}
  - {{apiGroups: [""], resources: [nodes], verbs: {_RO}}}
  - {{apiGroups: ["", events.k8s.io], resources: [events], verbs: [create, patch, update]}}
  - {{apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}}
- name: system:persistent-volume-provisioner
  rules:
  - {{apiGroups: [""], resources: [persistentvolumes], verbs: [create, delete, get, list, watch]}}
  - {{apiGroups: [""], resources: [persistentvolumeclaims], verbs: [get, list, update, watch]}}
  - {{apiGroups: [storage.k8s.io], resources: [storageclasses], verbs: {_RO}}}
  - {{apiGroups: [""], resources: [events], verbs: [watch]}}
  - {{apiGroups: ["", events.k8s.io], resources: [events], verbs: [create, patch, update]}}
- name: system:public-info-viewer
  rules:
  - {{nonResourceURLs: [/healthz, /livez, /readyz, /version, /version/], verbs: [get]}}
- name: system:service-account-issuer-discovery
  rules:
  - {{nonResourceURLs: [/.well-known/openid-configuration, /openid/v1/jwks], verbs: [get]}}
- name: system:volume-scheduler
  rules:
  - {{apiGroups: [""], resources: [persistentvolumes], verbs: [get, list, patch, update, watch]}}
  - {{apiGroups: [storage.k8s.io], resources: [storageclasses], verbs: {_RO}}}
  - {{apiGroups: [""], resources: [persistentvolumeclaims], verbs: [get, list, patch, update, watch]}}
- name: view
  labels: {{rbac.authorization.k8s.io/aggregate-to-edit: "true"}}
  aggregationRule: {{clusterRoleSelectors: [{{matchLabels: {{rbac.authorization.k8s.io/aggregate-to-view: "true"}}}}]}}
"""

_CLUSTER_ROLE_BINDINGS = """
- {name: cluster-admin, subjects: [{kind: Group, name: "system:masters"}]}
- {name: "system:basic-user", subjects: [{kind: Group, name: "system:authenticated"}]}
- {name: "system:discovery", subjects: [{kind: Group, name: "system:authenticated"}]}
- {name: "system:kube-dns", subjects: [{kind: ServiceAccount, name: kube-dns, namespace: kube-system}]}
- {name: "system:monitoring", subjects: [{kind: Group, name: "system:monitoring"}]}
- {name: "system:node-proxier", subjects: [{kind: User, name: "system:kube-proxy"}]}
- name: "system:public-info-viewer"
  subjects: [{kind: Group, name: "system:authenticated"}, {kind: Group, name: "system:unauthenticated"}]
- {name: "system:service-account-issuer-discovery", subjects: [{kind: Group, name: "system:serviceaccounts"}]}
- {name: "system:volume-scheduler", subjects: [{kind: User, name: "system:kube-scheduler"}]}
"""
"""Each binding names the ClusterRole of its own name, as every bootstrap binding does."""


def _metadata(name: str, labels: dict[str, str] | None) -> JSONObject:
    return {
        "name": name,
        "labels": {BOOTSTRAP_LABEL: "rbac-defaults", **(labels or {})},
        "annotations": {AUTOUPDATE_ANNOTATION: "true"},
    }


@functools.cache
def _parsed() -> tuple[list[JSONObject], list[JSONObject]]:
    roles: list[JSONObject] = []
    for entry in yaml.safe_load(_CLUSTER_ROLES):
        role: JSONObject = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _metadata(entry["name"], entry.get("labels")),
        }
        if "aggregationRule" in entry:
            role["aggregationRule"] = entry["aggregationRule"]
        role["rules"] = entry.get("rules") or []
        roles.append(role)
    bindings: list[JSONObject] = []
    for entry in yaml.safe_load(_CLUSTER_ROLE_BINDINGS):
        subjects = []
        for subject in entry["subjects"]:
            if subject["kind"] != "ServiceAccount":
                subject = {"apiGroup": "rbac.authorization.k8s.io", **subject}
            subjects.append(subject)
        bindings.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": _metadata(entry["name"], None),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": entry["name"]},
                "subjects": subjects,
            }
        )
    return roles, bindings


def cluster_roles() -> list[JSONObject]:
    """Upstream's bootstrap ClusterRoles (fresh copies)."""
    return copy.deepcopy(_parsed()[0])


def cluster_role_bindings() -> list[JSONObject]:
    """Upstream's bootstrap ClusterRoleBindings (fresh copies)."""
    return copy.deepcopy(_parsed()[1])


def reconciled(existing: JSONObject, wanted: JSONObject) -> JSONObject | None:
    """``existing`` with what ``wanted`` has and it lacks (None: nothing to change or autoupdate off)."""
    annotations = (existing.get("metadata") or {}).get("annotations") or {}
    if annotations.get(AUTOUPDATE_ANNOTATION) == "false":
        return None
    updated: dict[str, Any] = copy.deepcopy(existing)
    changed = False
    if wanted["kind"] == "ClusterRole":
        if "aggregationRule" in wanted:
            if updated.get("aggregationRule") != wanted["aggregationRule"]:
                updated["aggregationRule"] = wanted["aggregationRule"]
                changed = True
        else:
            rules = list(updated.get("rules") or [])
            missing = uncovered_rules(rules, wanted["rules"])
            if missing:
                updated["rules"] = rules + [r for r in wanted["rules"] if uncovered_rules(rules, [r])]
                changed = True
    else:
        subjects = list(updated.get("subjects") or [])
        for subject in wanted["subjects"]:
            if subject not in subjects:
                subjects.append(subject)
                changed = True
        updated["subjects"] = subjects
    meta = updated.setdefault("metadata", {})
    for key, value in wanted["metadata"]["labels"].items():
        if (meta.get("labels") or {}).get(key) != value:
            meta.setdefault("labels", {})[key] = value
            changed = True
    return updated if changed else None


async def ensure_bootstrap_policy(store: ObjectStore, admission: Admission) -> None:
    """Create the bootstrap objects that are missing and add what autoupdate ones lack."""
    for resource, objects in (("clusterroles", cluster_roles()), ("clusterrolebindings", cluster_role_bindings())):
        rt = kinds.lookup("rbac.authorization.k8s.io", "v1", resource)
        assert rt is not None
        for wanted in objects:
            name = wanted["metadata"]["name"]
            if await store.get_or_none(rt, None, name) is None:
                await admission.prepare_create(rt, wanted)
                with contextlib.suppress(errors.StatusError):  # created meanwhile
                    await store.create(rt, wanted)
                continue

            async def reconcile(
                current: JSONObject, wanted: JSONObject = wanted, rt: ResourceType = rt
            ) -> JSONObject | None:
                updated = reconciled(current, wanted)
                if updated is None:
                    return None
                log.info("reconciling bootstrap %s %s", wanted["kind"], wanted["metadata"]["name"])
                return admission.prepare_update(rt, updated, current)

            with contextlib.suppress(errors.StatusError):  # deleted meanwhile: made at the next start
                await store.update(rt, None, name, reconcile)
