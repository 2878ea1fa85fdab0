"""Escalation prevention: nobody grants through RBAC what they may not do themselves.

As upstream (``pkg/registry/rbac/role/policybased/storage.go``, ``clusterrole/policybased``,
``rolebinding/policybased``, ``escalation_check.go`` and ``validation/rule.go``
``ConfirmNoEscalation``), on create and update:

* a Role or ClusterRole passes when the writer is ``system:masters``, may ``escalate`` it, or
  already holds every rule it lists (in the role's namespace; cluster-wide for a ClusterRole); an
  update whose rules did not change passes. Setting an ``aggregationRule`` needs full authority;
* a RoleBinding or ClusterRoleBinding passes when the writer is ``system:masters``, may ``bind``
  the role it names, or holds every rule of that role (a missing role is a refusal).

A refusal is upstream's 403: ``clusterroles.rbac.authorization.k8s.io "x" is forbidden: user
"alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not
currently held:`` followed by the missing rules, one a line. The writer is the
:data:`~kuberya.apiserver.authorization.WRITER` of the request; the server's own writes (bootstrap)
have none and pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from kuberya.apiserver import errors
from kuberya.apiserver.authorization import WRITER
from kuberya.apiserver.rbac_index import EVERYTHING, RBAC_GROUP, RBACIndex
from kuberya.apiserver.rbac_rules import Attributes, Rule, describe_rule, uncovered_rules
from kuberya.apiserver.users import SYSTEM_MASTERS, UserInfo
from kuberya.resources.types import JSONObject, ResourceType

_ROLE_KINDS = {"roles": "Role", "clusterroles": "ClusterRole"}
_BINDING_KINDS = ("rolebindings", "clusterrolebindings")
_RULE_LISTS = ("apiGroups", "resources", "resourceNames", "nonResourceURLs")


def _go_quoted_list(values: Sequence[str]) -> str:
    """Go's ``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "]"


def compact(rules: Sequence[Rule]) -> list[Rule]:
    """Upstream's ``CompactRules``: single-resource rules differing only in verb merged into one."""
    merged: dict[tuple[object, ...], dict[str, list[str]]] = {}
    out: list[Rule] = []
    for rule in rules:
        key = tuple((k, tuple(rule.get(k) or ())) for k in _RULE_LISTS)
        if key in merged:
            verbs = merged[key]["verbs"]
            verbs.extend(v for v in rule.get("verbs") or () if v not in verbs)
            continue
        copy = {k: list(v) for k, v in rule.items()}
        merged[key] = copy
        out.append(copy)
    return out


def confirm_no_escalation(index: RBACIndex, user: UserInfo, namespace: str, rules: Sequence[Rule]) -> str:
    """Upstream's ``ConfirmNoEscalation``: "" when ``user`` holds ``rules`` in ``namespace``, else why not."""
    missing = uncovered_rules(index.rules_for(user, namespace), rules)
    if not missing:
        return ""
    described = sorted({describe_rule(rule) for rule in compact(missing)})
    return (
        f'user "{user.name}" (groups={_go_quoted_list(user.groups)}) is attempting to grant RBAC permissions '
        "not currently held:\n" + "\n".join(described)
    )


def _forbidden(rt: ResourceType, name: str, why: str) -> errors.StatusError:
    return errors.forbidden(
        f'{rt.group_resource} "{name}" is forbidden: {why}',
        details={"name": name, "group": rt.group, "kind": rt.resource},
    )


def _may(index: RBACIndex, user: UserInfo, verb: str, resource: str, namespace: str, name: str) -> bool:
    attrs = Attributes(
        user, verb, True, namespace=namespace, api_group=RBAC_GROUP, api_version="v1", resource=resource, name=name
    )
    return index.authorize(attrs)[0]


def _role_rules(index: RBACIndex, ref: JSONObject, namespace: str) -> list[Rule] | str:
    """``GetRoleReferenceRules``: the rules of the referenced role, or the not-found message."""
    name = str(ref.get("name", ""))
    if ref.get("kind") == "ClusterRole":
        rules = index.cluster_roles.get(name)
        return list(rules) if rules is not None else f'clusterroles.rbac.authorization.k8s.io "{name}" not found'
    role_rules = index.roles.get((namespace, name))
    return list(role_rules) if role_rules is not None else f'roles.rbac.authorization.k8s.io "{name}" not found'


def confirm_write(rt: ResourceType, obj: JSONObject, old: JSONObject | None) -> None:
    """Raise upstream's 403 when the request's writer would escalate through ``obj``."""
    if rt.group != RBAC_GROUP:
        return
    writer = WRITER.get()
    if writer is None:
        return  # the server itself (bootstrap)
    user, index = writer
    if SYSTEM_MASTERS in user.groups:
        return  # upstream's EscalationAllowed
    meta = obj.get("metadata") or {}
    name, namespace = str(meta.get("name") or ""), str(meta.get("namespace") or "")
    if rt.resource in _ROLE_KINDS:
        _confirm_role(rt, obj, old, index, user, name, namespace)
    elif rt.resource in _BINDING_KINDS:
        ref = obj.get("roleRef") or {}
        role_resource = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
        if _may(index, user, "bind", role_resource, namespace, str(ref.get("name", ""))):
            return
        rules = _role_rules(index, ref, namespace)
        if isinstance(rules, str):
            raise _forbidden(rt, name, rules)
        why = confirm_no_escalation(index, user, namespace, rules)
        if why:
            raise _forbidden(rt, name, why)


def _confirm_role(
    rt: ResourceType,
    obj: JSONObject,
    old: JSONObject | None,
    index: RBACIndex,
    user: UserInfo,
    name: str,
    namespace: str,
) -> None:
    if _may(index, user, "escalate", rt.resource, namespace, name):
        return
    rules: list[Rule] = list(obj.get("rules") or [])
    if old is None or rules != list(old.get("rules") or []):
        why = confirm_no_escalation(index, user, namespace, rules)
        if why:
            raise _forbidden(rt, name, why)
    aggregation = obj.get("aggregationRule")
    changed = aggregation and (old is None or aggregation != old.get("aggregationRule"))
    if changed and confirm_no_escalation(index, user, namespace, EVERYTHING):
        raise _forbidden(rt, name, "must have cluster-admin privileges to use the aggregationRule")
