"""RBAC's rules, as upstream's ``pkg/apis/rbac/v1/evaluation_helpers.go`` and ``rule.go`` read them.

A request is described by :class:`Attributes` (who, which verb, on what). A ``PolicyRule`` allows
it when every one of its lists matches: ``verbs``; for a resource request ``apiGroups``,
``resources`` (``pods``, ``pods/log``, ``*``, ``*/scale``) and ``resourceNames`` (empty: any name);
for a non-resource request ``nonResourceURLs`` (exact, or a prefix ending in ``*``). A subject of a
binding applies to a user by name (``User``), by group (``Group``), or as the service account's user
``system:serviceaccount:NS:NAME`` (``ServiceAccount``, its namespace defaulting to the binding's).

:func:`uncovered_rules` is the escalation check (``ConfirmNoEscalation``): a rule is broken into
single (verb, group, resource, name) grants and every one must be allowed by some rule the writer
holds, so nobody grants what they cannot do themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kuberya.apiserver.users import UserInfo

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ALL = "*"

Rule = Mapping[str, Any]
"""A ``PolicyRule`` as JSON: ``verbs``, ``apiGroups``, ``resources``, ``resourceNames``, ``nonResourceURLs``."""


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a request asks, as upstream's ``authorizer.AttributesRecord``."""

    user: UserInfo
    verb: str
    resource_request: bool
    namespace: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""


def _strings(rule: Rule, key: str) -> Sequence[str]:
    value = rule.get(key)
    return value if isinstance(value, list) else ()


def verb_matches(rule: Rule, verb: str) -> bool:
    verbs = _strings(rule, "verbs")
    return ALL in verbs or verb in verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    groups = _strings(rule, "apiGroups")
    return ALL in groups or group in groups


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    """``*`` matches all; ``pods/log`` its subresource only; ``*/scale`` every resource's scale."""
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in _strings(rule, "resources"):
        if candidate in (ALL, combined):
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    names = _strings(rule, "resourceNames")
    return not names or name in names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for url in _strings(rule, "nonResourceURLs"):
        if url in (ALL, path):
            return True
        if url.endswith(ALL) and path.startswith(url[:-1]):
            return True
    return False


def rule_allows(rule: Rule, attrs: Attributes) -> bool:
    """Upstream's ``RuleAllows``."""
    if attrs.resource_request:
        return (
            verb_matches(rule, attrs.verb)
            and api_group_matches(rule, attrs.api_group)
            and resource_matches(rule, attrs.resource, attrs.subresource)
            and resource_name_matches(rule, attrs.name)
        )
    return verb_matches(rule, attrs.verb) and non_resource_url_matches(rule, attrs.path)


def subject_applies(subject: Mapping[str, Any], user: UserInfo, binding_namespace: str) -> bool:
    """Upstream's ``appliesToUser``."""
    kind = subject.get("kind")
    name = subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return bool(namespace) and user.name == service_account_user(namespace, name)
    return False


def service_account_user(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def _grants(rule: Rule) -> Iterable[Attributes]:
    """One rule broken into single grants (upstream's ``BreakdownRule``), for a nameless user."""
    nobody = UserInfo("", ())
    for verb in _strings(rule, "verbs"):
        for group in _strings(rule, "apiGroups"):
            for resource in _strings(rule, "resources"):
                main, _, sub = resource.partition("/")
                for name in _strings(rule, "resourceNames") or ("",):
                    yield Attributes(nobody, verb, True, api_group=group, resource=main, subresource=sub, name=name)
        for url in _strings(rule, "nonResourceURLs"):
            yield Attributes(nobody, verb, False, path=url)


def _grant_covered(owner: Rule, grant: Attributes) -> bool:
    """Whether ``owner`` includes the whole of ``grant`` (a wildcard only by a wildcard)."""
    if grant.resource_request:
        if not _strings(owner, "resources"):
            return False
        combined = f"{grant.resource}/{grant.subresource}" if grant.subresource else grant.resource
        owner_names = _strings(owner, "resourceNames")
        return (
            (ALL in _strings(owner, "verbs") or grant.verb in _strings(owner, "verbs"))
            and (ALL in _strings(owner, "apiGroups") or grant.api_group in _strings(owner, "apiGroups"))
            and _resource_covered(owner, combined)
            and (not owner_names or (bool(grant.name) and grant.name in owner_names))
        )
    if not (ALL in _strings(owner, "verbs") or grant.verb in _strings(owner, "verbs")):
        return False
    for url in _strings(owner, "nonResourceURLs"):
        if url in (ALL, grant.path):
            return True
        if url.endswith(ALL) and grant.path.startswith(url[:-1]):
            return True
    return False


def _resource_covered(owner: Rule, combined: str) -> bool:
    resources = _strings(owner, "resources")
    if ALL in resources or combined in resources:
        return True
    main, _, sub = combined.partition("/")
    return bool(sub) and main != ALL and f"*/{sub}" in resources


def uncovered_rules(owned: Sequence[Rule], requested: Sequence[Rule]) -> list[Rule]:
    """The single grants of ``requested`` no rule of ``owned`` covers (empty: no escalation)."""
    missing: list[Rule] = []
    for rule in requested:
        for grant in _grants(rule):
            if not any(_grant_covered(owner, grant) for owner in owned):
                missing.append(_as_rule(grant))
    return missing


def _as_rule(grant: Attributes) -> Rule:
    if not grant.resource_request:
        return {"verbs": [grant.verb], "nonResourceURLs": [grant.path]}
    resource = f"{grant.resource}/{grant.subresource}" if grant.subresource else grant.resource
    rule: dict[str, Any] = {"verbs": [grant.verb], "apiGroups": [grant.api_group], "resources": [resource]}
    if grant.name:
        rule["resourceNames"] = [grant.name]
    return rule


def describe_rule(rule: Rule) -> str:
    """Upstream's ``PolicyRule.CompactString``: ``{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}``."""
    parts = []
    for key, label in (
        ("apiGroups", "APIGroups"),
        ("resources", "Resources"),
        ("resourceNames", "ResourceNames"),
        ("nonResourceURLs", "NonResourceURLs"),
        ("verbs", "Verbs"),
    ):
        values = _strings(rule, key)
        if values:
            parts.append(f"{label}:[{', '.join(chr(34) + v + chr(34) for v in values)}]")
    return "{" + ", ".join(parts) + "}"
