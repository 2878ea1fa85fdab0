"""Discovery: how clients learn which resources exist, legacy and aggregated.

kubectl asks ``/api`` and ``/apis`` for the aggregated ``APIGroupDiscoveryList`` (v2) first
and uses it only when both answer in that form; otherwise it walks the per-group-version
``APIResourceList`` documents, which the Python client always does. Both are generated from
:mod:`kuberya.resources.kinds`, so they cannot disagree. The resource metrics API
(:mod:`kuberya.apiserver.metrics`, not stored, so not a kind) is listed last, as an aggregated
API is upstream: ``kubectl top`` looks for it here first.
"""

from __future__ import annotations

from kuberya.apiserver import metrics
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType


def _api_groups() -> tuple[kinds.APIGroup, ...]:
    return (*kinds.api_groups(), metrics.API_GROUP)


def _resources_in(group: str, version: str) -> tuple[ResourceType, ...]:
    return kinds.resources_in(group, version) or metrics.resources_in(group, version)


def _resource_entry(rt: ResourceType) -> list[JSONObject]:
    entry: JSONObject = {
        "name": rt.resource,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entries = [entry]
    for sub in rt.subresources:
        sub_entry: JSONObject = {
            "name": f"{rt.resource}/{sub.name}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group or sub.version != rt.version:
            sub_entry["group"] = sub.group
            sub_entry["version"] = sub.version
        entries.append(sub_entry)
    return entries


def resource_list(group: str, version: str) -> JSONObject | None:
    types = _resources_in(group, version)
    if not types:
        return None
    group_version = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [e for rt in types for e in _resource_entry(rt)],
    }


def core_versions(server_address: str) -> JSONObject:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def group_list() -> JSONObject:
    groups = []
    for group in _api_groups():
        versions = [{"groupVersion": f"{group.name}/{v}", "version": v} for v in group.versions]
        groups.append({"name": group.name, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str) -> JSONObject | None:
    for group in _api_groups():
        if group.name == name:
            versions = [{"groupVersion": f"{group.name}/{v}", "version": v} for v in group.versions]
            return {
                "kind": "APIGroup",
                "apiVersion": "v1",
                "name": name,
                "versions": versions,
                "preferredVersion": versions[0],
            }
    return None


def _aggregated_resource(rt: ResourceType) -> JSONObject:
    entry: JSONObject = {
        "resource": rt.resource,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": {"group": sub.group, "version": sub.version, "kind": sub.kind},
                "verbs": list(sub.verbs),
            }
            for sub in rt.subresources
        ]
    return entry


def _aggregated_group(name: str, versions: tuple[str, ...], api_version: str) -> JSONObject:
    return {
        "metadata": {"name": name, "creationTimestamp": None},
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(rt) for rt in _resources_in(name, v)],
                "freshness": "Current",
            }
            for v in versions
        ],
    }


def aggregated(*, core: bool, version: str) -> JSONObject:
    """The ``APIGroupDiscoveryList`` for ``/api`` (core) or ``/apis`` (every named group)."""
    api_version = f"apidiscovery.k8s.io/{version}"
    if core:
        items = [_aggregated_group("", ("v1",), api_version)]
    else:
        items = [_aggregated_group(g.name, g.versions, api_version) for g in _api_groups()]
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
