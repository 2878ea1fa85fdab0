"""What the four rbac.authorization.k8s.io/v1 kinds share: rule and subject checks, binding Tables.

As upstream (``pkg/apis/rbac/validation/validation.go``, ``pkg/apis/rbac/v1/defaults.go``,
``pkg/printers/internalversion/printers.go``):

* names are path segments (``system:aggregate-to-edit`` is a valid role name), not DNS names;
* a rule has verbs, and either resources with API groups, or non-resource URLs (never both, and
  never in a namespaced Role);
* a binding's ``roleRef`` names a Role or ClusterRole in ``rbac.authorization.k8s.io`` and never
  changes; a subject is a ``User``, ``Group`` (both in the RBAC group, its default) or
  ``ServiceAccount`` (no group; a ClusterRoleBinding must name its namespace);
* a binding's Table is ``NAME ROLE AGE``, wide ``USERS GROUPS SERVICEACCOUNTS``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS
from kuberya.resources.names import dns1123_subdomain_errors, path_segment_errors
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.selectors import SelectorError, selector_from_spec
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import invalid, not_supported, required

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_V1 = "io.k8s.api.rbac.v1"

SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def rbac_type(resource: str, kind: str, *, namespaced: bool) -> ResourceType:
    return ResourceType(
        group=RBAC_GROUP,
        version="v1",
        resource=resource,
        kind=kind,
        singular=kind.lower(),
        namespaced=namespaced,
        verbs=ALL_VERBS,
    )


def rbac_name_errors(value: str) -> list[str]:
    """Upstream's ``ValidateRBACName``: any path segment (``.``, ``..``, ``/`` and ``%`` are not)."""
    return path_segment_errors(value)


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def validate_rules(obj: JSONObject, *, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    for i, rule in enumerate(_list(obj, "rules")):
        path = f"rules[{i}]"
        if not _list(rule, "verbs"):
            causes.append(required(f"{path}.verbs", "verbs must contain at least one value"))
        urls = _list(rule, "nonResourceURLs")
        if urls:
            if namespaced:
                causes.append(
                    invalid(f"{path}.nonResourceURLs", urls, "namespaced rules cannot apply to non-resource URLs")
                )
            if _list(rule, "apiGroups") or _list(rule, "resources") or _list(rule, "resourceNames"):
                causes.append(
                    invalid(
                        f"{path}.nonResourceURLs",
                        urls,
                        "rules cannot apply to both regular resources and non-resource URLs",
                    )
                )
            continue
        if not _list(rule, "apiGroups"):
            causes.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
        if not _list(rule, "resources"):
            causes.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return causes


def validate_aggregation(obj: JSONObject) -> list[Cause]:
    rule = obj.get("aggregationRule")
    if rule is None:
        return []
    selectors = _list(rule, "clusterRoleSelectors")
    if not selectors:
        return [
            required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            )
        ]
    causes = []
    for i, selector in enumerate(selectors):
        try:
            selector_from_spec(selector)
        except SelectorError as e:
            causes.append(invalid(f"aggregationRule.clusterRoleSelectors[{i}]", selector, str(e)))
    return causes


def default_binding(binding: JSONObject) -> None:
    """``SetDefaults_RoleBinding``/``Subject``: the RBAC group for roleRef, users and groups."""
    ref = binding.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in _list(binding, "subjects"):
        if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
            subject["apiGroup"] = RBAC_GROUP


def validate_binding(
    binding: JSONObject, old: JSONObject | None, *, role_kinds: tuple[str, ...], namespaced: bool
) -> list[Cause]:
    causes: list[Cause] = []
    ref = binding.get("roleRef")
    ref = ref if isinstance(ref, dict) else {}
    if ref.get("apiGroup", "") != RBAC_GROUP:
        causes.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), (RBAC_GROUP,)))
    if ref.get("kind", "") not in role_kinds:
        causes.append(not_supported("roleRef.kind", ref.get("kind", ""), role_kinds))
    role_name = ref.get("name", "")
    if not role_name:
        causes.append(required("roleRef.name"))
    else:
        causes.extend(invalid("roleRef.name", role_name, msg) for msg in rbac_name_errors(str(role_name)))
    for i, subject in enumerate(_list(binding, "subjects")):
        causes.extend(_validate_subject(subject if isinstance(subject, dict) else {}, f"subjects[{i}]", namespaced))
    if old is not None and binding.get("roleRef") != old.get("roleRef"):
        message = f"Invalid value: {_role_ref_repr(ref)}: cannot change roleRef"
        causes.append(Cause("roleRef", "FieldValueInvalid", message))
    return causes


def _role_ref_repr(ref: JSONObject) -> str:
    """Go's ``%v`` of a RoleRef struct, as upstream's message shows it."""
    return "rbac.RoleRef{" + ", ".join(f'{k}:"{ref.get(k, "")}"' for k in ("APIGroup", "Kind", "Name")) + "}"


def _validate_subject(subject: JSONObject, path: str, namespaced: bool) -> list[Cause]:
    causes: list[Cause] = []
    subject_name = str(subject.get("name", ""))
    if not subject_name:
        causes.append(required(f"{path}.name"))
    kind, group = subject.get("kind", ""), subject.get("apiGroup", "")
    if kind == "ServiceAccount":
        if subject_name:
            problems = _service_account_name_errors(subject_name)
            causes.extend(invalid(f"{path}.name", subject_name, msg) for msg in problems)
        if group:
            causes.append(not_supported(f"{path}.apiGroup", group, ("",)))
        if not namespaced and not subject.get("namespace"):
            causes.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != RBAC_GROUP:
            causes.append(not_supported(f"{path}.apiGroup", group, (RBAC_GROUP,)))
    else:
        causes.append(not_supported(f"{path}.kind", kind, SUBJECT_KINDS))
    return causes


def _service_account_name_errors(value: str) -> list[str]:
    """Upstream's ``ValidateServiceAccountName``: a DNS-1123 subdomain."""
    return dns1123_subdomain_errors(value)


BINDING_COLUMNS = (
    NAME,
    column(
        "Role",
        "string",
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. "
        "If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
    ),
    AGE,
    column("Users", "string", "Users in the roleBinding", priority=1),
    column("Groups", "string", "Groups in the roleBinding", priority=1),
    column("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", priority=1),
)


def print_binding(binding: JSONObject, now: datetime) -> list[Any]:
    ref = binding.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in _list(binding, "subjects"):
        if not isinstance(subject, dict):
            continue
        kind, subject_name = subject.get("kind"), str(subject.get("name", ""))
        if kind == "User":
            users.append(subject_name)
        elif kind == "Group":
            groups.append(subject_name)
        elif kind == "ServiceAccount":
            namespace = subject.get("namespace")
            accounts.append(f"{namespace}/{subject_name}" if namespace else subject_name)
    return [
        name(binding),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(binding, now),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]
