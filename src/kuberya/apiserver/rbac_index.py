"""The RBAC authorizer over an in-memory copy of every Role, ClusterRole and binding.

Upstream's RBAC authorizer reads roles and bindings from informers; kuberya's lives in the API
server, so :func:`follow` keeps :class:`RBACIndex` current from the store's own watch (no API
round trip). A check must cost microseconds, so the bindings are indexed by the subject they name
(user, group, service-account user; per namespace for RoleBindings) and a check visits only the
bindings that name the asking user or one of its groups. Writes mark the subject index stale; the
next check rebuilds it (milliseconds for thousands of bindings, and writes of RBAC objects are rare).

As upstream (``plugin/pkg/auth/authorizer/rbac/rbac.go``): ``system:masters`` is allowed everything
before RBAC is asked (the privileged-group authorizer), a RoleBinding grants its role's rules only
in its own namespace, and a binding whose role is missing grants nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.apiserver.rbac_rules import SERVICE_ACCOUNT_PREFIX, Attributes, Rule, rule_allows, service_account_user
from kuberya.apiserver.users import SYSTEM_MASTERS, UserInfo
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

log = logging.getLogger(__name__)

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings")
EVERYTHING: tuple[Rule, ...] = (
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
)
"""What the privileged group may do, as ``RulesFor`` reports it."""


@dataclass(frozen=True, slots=True)
class _Grant:
    """One binding's reach: the role it names and the subject it names it for."""

    binding_kind: str
    binding: str
    role_kind: str
    role: str
    namespace: str
    """The RoleBinding's namespace ("" for a ClusterRoleBinding)."""
    subject: str

    def reason(self) -> str:
        name = f"{self.binding}/{self.namespace}" if self.namespace else self.binding
        role = f"{self.role_kind} {_quote(self.role)}"
        return f"RBAC: allowed by {self.binding_kind} {_quote(name)} of {role} to {self.subject}"


def _quote(value: str) -> str:
    return '"' + value.replace('"', '\\"') + '"'


def _describe_subject(subject: JSONObject, binding_namespace: str) -> str:
    kind, name = str(subject.get("kind", "")), str(subject.get("name", ""))
    if kind == "ServiceAccount":
        return f"ServiceAccount {_quote(name + '/' + str(subject.get('namespace') or binding_namespace))}"
    return f"{kind} {_quote(name)}"


@dataclass(slots=True)
class RBACIndex:
    """Roles and bindings by key, and the bindings by the subjects they name."""

    roles: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)
    cluster_roles: dict[str, list[Rule]] = field(default_factory=dict)
    role_bindings: dict[tuple[str, str], JSONObject] = field(default_factory=dict)
    cluster_role_bindings: dict[str, JSONObject] = field(default_factory=dict)
    _by_user: dict[tuple[str, str], list[_Grant]] = field(default_factory=dict)
    _by_group: dict[tuple[str, str], list[_Grant]] = field(default_factory=dict)
    _stale: bool = True
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every kind has been listed: before that, only ``system:masters`` is allowed."""

    # -- keeping it current -----------------------------------------------------------------

    def put(self, resource: str, obj: JSONObject) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        rules: list[Rule] = [r for r in obj.get("rules") or [] if isinstance(r, dict)]
        if resource == "roles":
            self.roles[key] = rules
        elif resource == "clusterroles":
            self.cluster_roles[key[1]] = rules
        elif resource == "rolebindings":
            self.role_bindings[key] = obj
            self._stale = True
        elif resource == "clusterrolebindings":
            self.cluster_role_bindings[key[1]] = obj
            self._stale = True

    def remove(self, resource: str, obj: JSONObject) -> None:
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if resource == "roles":
            self.roles.pop(key, None)
        elif resource == "clusterroles":
            self.cluster_roles.pop(key[1], None)
        elif resource == "rolebindings":
            self.role_bindings.pop(key, None)
            self._stale = True
        elif resource == "clusterrolebindings":
            self.cluster_role_bindings.pop(key[1], None)
            self._stale = True

    def _rebuild(self) -> None:
        by_user: dict[tuple[str, str], list[_Grant]] = {}
        by_group: dict[tuple[str, str], list[_Grant]] = {}
        bindings: Iterable[tuple[str, str, JSONObject]] = (
            *(("ClusterRoleBinding", "", b) for b in self.cluster_role_bindings.values()),
            *(("RoleBinding", ns, b) for (ns, _), b in self.role_bindings.items()),
        )
        for kind, namespace, binding in bindings:
            ref = binding.get("roleRef") or {}
            for subject in binding.get("subjects") or []:
                if not isinstance(subject, dict):
                    continue
                grant = _Grant(
                    binding_kind=kind,
                    binding=str((binding.get("metadata") or {}).get("name", "")),
                    role_kind=str(ref.get("kind", "")),
                    role=str(ref.get("name", "")),
                    namespace=namespace,
                    subject=_describe_subject(subject, namespace),
                )
                name = str(subject.get("name", ""))
                if subject.get("kind") == "User":
                    by_user.setdefault((namespace, name), []).append(grant)
                elif subject.get("kind") == "Group":
                    by_group.setdefault((namespace, name), []).append(grant)
                elif subject.get("kind") == "ServiceAccount":
                    sa_namespace = str(subject.get("namespace") or namespace)
                    if sa_namespace:
                        by_user.setdefault((namespace, service_account_user(sa_namespace, name)), []).append(grant)
        self._by_user, self._by_group, self._stale = by_user, by_group, False

    # -- asking it --------------------------------------------------------------------------

    def _rules_of(self, grant: _Grant) -> Sequence[Rule]:
        if grant.role_kind == "ClusterRole":
            return self.cluster_roles.get(grant.role, ())
        if grant.role_kind == "Role" and grant.namespace:
            return self.roles.get((grant.namespace, grant.role), ())
        return ()

    def _grants_for(self, user: UserInfo, namespace: str) -> Iterable[_Grant]:
        if self._stale:
            self._rebuild()
        scopes = ("", namespace) if namespace else ("",)
        for scope in scopes:
            yield from self._by_user.get((scope, user.name), ())
            for group in user.groups:
                yield from self._by_group.get((scope, group), ())

    def authorize(self, attrs: Attributes) -> tuple[bool, str]:
        """(allowed, reason), as upstream's privileged-group authorizer then RBAC answer."""
        if SYSTEM_MASTERS in attrs.user.groups:
            return True, ""
        for grant in self._grants_for(attrs.user, attrs.namespace):
            for rule in self._rules_of(grant):
                if rule_allows(rule, attrs):
                    return True, grant.reason()
        return False, ""

    def rules_for(self, user: UserInfo, namespace: str) -> list[Rule]:
        """Every rule that applies to ``user`` in ``namespace`` (cluster-wide ones included)."""
        if SYSTEM_MASTERS in user.groups:
            return list(EVERYTHING)
        rules: list[Rule] = []
        for grant in self._grants_for(user, namespace):
            rules.extend(self._rules_of(grant))
        return rules

    def is_service_account(self, user: UserInfo) -> bool:
        return user.name.startswith(SERVICE_ACCOUNT_PREFIX)


def rbac_types() -> dict[str, ResourceType]:
    types = {}
    for resource in RBAC_RESOURCES:
        rt = kinds.lookup(RBAC_GROUP, "v1", resource)
        assert rt is not None, resource
        types[resource] = rt
    return types


async def load(store: ObjectStore, index: RBACIndex) -> dict[str, int]:
    """List every RBAC object into ``index``; return each resource's list revision."""
    revisions = {}
    for resource, rt in rbac_types().items():
        page = await store.list(rt, selection=ObjectFilter())
        for obj in page.items:
            index.put(resource, obj)
        revisions[resource] = page.resource_version
    index.loaded.set()
    return revisions


async def follow(store: ObjectStore, index: RBACIndex, revisions: dict[str, int]) -> None:
    """Apply the store's watch events to ``index`` until cancelled (relisting after compaction)."""
    await asyncio.gather(*(_follow_one(store, index, r, rt, revisions[r]) for r, rt in rbac_types().items()))


async def _follow_one(store: ObjectStore, index: RBACIndex, resource: str, rt: ResourceType, after: int) -> None:
    while True:
        try:
            async for event in store.watch(rt, selection=ObjectFilter(), after_revision=after):
                if event.type == "DELETED":
                    index.remove(resource, event.object)
                else:
                    index.put(resource, event.object)
                after = event.revision
        except errors.StatusError:
            # Compacted past our revision: relist, keeping what is still there.
            log.warning("RBAC watch of %s expired; relisting", resource)
            page = await store.list(rt, selection=ObjectFilter())
            current = {_key(o) for o in page.items}
            for key in [k for k in _keys(index, resource) if k not in current]:
                index.remove(resource, {"metadata": {"namespace": key[0], "name": key[1]}})
            for obj in page.items:
                index.put(resource, obj)
            after = page.resource_version
        except Exception:
            log.exception("RBAC watch of %s failed; retrying", resource)
            await asyncio.sleep(1)


def _key(obj: JSONObject) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _keys(index: RBACIndex, resource: str) -> list[tuple[str, str]]:
    source: Any = {
        "roles": index.roles,
        "clusterroles": {("", k): v for k, v in index.cluster_roles.items()},
        "rolebindings": index.role_bindings,
        "clusterrolebindings": {("", k): v for k, v in index.cluster_role_bindings.items()},
    }[resource]
    return list(source)
