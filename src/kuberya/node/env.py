"""A container's environment, as the kubelet builds it (``makeEnvironmentVariables``).

Order and precedence are upstream's: ``envFrom`` sources first, in order (later ones win), then
``env`` entries, in order. An ``env`` value may refer to variables defined before it with
``$(VAR)``; ``$$`` escapes a ``$``; an unknown reference stays as written. ``command`` and ``args``
are expanded the same way against the final environment.

A required ConfigMap, Secret or key that is missing makes the container unrunnable for now:
:class:`ContainerConfigError` carries upstream's message (``configmap "x" not found``,
``couldn't find key k in ConfigMap ns/x``) and the pod shows ``CreateContainerConfigError`` until
the source appears.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from kuberya.client.servicelinks import pod_service_env
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ContainerConfigError(Exception):
    """The container cannot be configured yet (``CreateContainerConfigError``); str() is the message."""


class SourceLookup(Protocol):
    """Where ConfigMaps and Secrets come from (the agent's informer caches, then the API)."""

    async def config_map(self, namespace: str, name: str) -> Obj | None: ...

    async def secret(self, namespace: str, name: str) -> Obj | None: ...

    async def services(self) -> list[Obj]:
        """Every Service (for the service-link variables); may be empty when unknown."""


@dataclass(frozen=True, slots=True)
class PodFacts:
    """What ``fieldRef`` and ``resourceFieldRef`` may read beyond the pod object."""

    pod_ip: str
    host_ip: str
    node_cpu_millis: int = 1000
    """Node allocatable CPU: the value of a CPU ``resourceFieldRef`` when the container has no limit."""
    node_memory_bytes: int = 0


def expand(text: str, mapping: Mapping[str, str]) -> str:
    """Upstream's ``$(VAR)`` expansion (``third_party/forked/golang/expansion``)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(text)
    while cursor < n:
        if text[cursor] == "$" and cursor + 1 < n:
            out.append(text[checkpoint:cursor])
            nxt = text[cursor + 1]
            if nxt == "$":
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = text.find(")", cursor + 2)
                if close == -1:
                    out.append("$(")
                    advance = 1
                else:
                    name = text[cursor + 2 : close]
                    out.append(mapping.get(name, f"$({name})"))
                    advance = close - cursor
            else:
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def _decode_secret(secret: Obj) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            data[key] = base64.b64decode(value or "").decode("utf-8", errors="replace")
        except ValueError:
            data[key] = ""
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = str(value)
    return data


def field_value(pod: Obj, path: str, facts: PodFacts) -> str:
    """The value of a downward-API ``fieldRef`` (env or volume); ValueError for an unsupported path."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": facts.pod_ip,
        "status.podIPs": facts.pod_ip,
        "status.hostIP": facts.host_ip,
        "status.hostIPs": facts.host_ip,
    }
    if path in simple:
        return str(simple[path] or "")
    for prefix in ("labels", "annotations"):
        values: Mapping[str, str] = meta.get(prefix) or {}
        if path == f"metadata.{prefix}":
            return "\n".join(f'{k}="{_escape(v)}"' for k, v in sorted(values.items()))
        match = re.fullmatch(rf"metadata\.{prefix}\['(.*)'\]", path)
        if match:
            return str(values.get(match.group(1), ""))
    raise ValueError(f"unsupported fieldRef fieldPath: {path!r}")


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def resource_value(pod: Obj, container_name: str, ref: Obj, facts: PodFacts) -> str:
    """A ``resourceFieldRef``: the container's request or limit (node allocatable for a missing limit)."""
    resource = str(ref.get("resource") or "")
    containers = [*((pod.get("spec") or {}).get("initContainers") or []), *(pod["spec"].get("containers") or [])]
    name = ref.get("containerName") or container_name
    container: Obj = next((c for c in containers if c.get("name") == name), {})
    resources = container.get("resources") or {}
    kind, _, what = resource.partition(".")
    declared = (resources.get(kind) or {}).get(what) if kind in ("limits", "requests") else None
    if declared is None and kind == "requests":
        declared = (resources.get("limits") or {}).get(what)
    if declared is not None:
        amount = parse_quantity(str(declared))
    elif what == "cpu":
        amount = Fraction(facts.node_cpu_millis, 1000) if kind == "limits" else Fraction(0)
    elif what == "memory":
        amount = Fraction(facts.node_memory_bytes) if kind == "limits" else Fraction(0)
    else:
        amount = Fraction(0)
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    if divisor == 0:
        divisor = Fraction(1)
    return str(math.ceil(amount / divisor))


async def container_env(pod: Obj, container: Obj, *, lookup: SourceLookup, facts: PodFacts) -> list[tuple[str, str]]:
    """The resolved ``(name, value)`` pairs; raises :class:`ContainerConfigError` for a missing source."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
    enable_links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
    # Service links come first so that the container's own env wins and may refer to them.
    env: dict[str, str] = dict(
        pod_service_env(await lookup.services(), namespace=namespace, enable_service_links=enable_links)
    )
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        data: Mapping[str, str] | None
        if (ref := source.get("configMapRef")) is not None:
            cm = await lookup.config_map(namespace, str(ref.get("name") or ""))
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'configmap "{ref.get("name")}" not found')
            data = cm.get("data") or {}
        elif (ref := source.get("secretRef")) is not None:
            secret = await lookup.secret(namespace, str(ref.get("name") or ""))
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f'secret "{ref.get("name")}" not found')
            data = _decode_secret(secret)
        else:
            continue
        for key, value in data.items():
            if _ENV_NAME.match(prefix + key):  # upstream skips invalid names (and reports them in an event)
                env[prefix + key] = str(value)
    for var in container.get("env") or []:
        name = str(var.get("name") or "")
        value = var.get("value")
        if value:
            env[name] = expand(str(value), env)
            continue
        value_from = var.get("valueFrom")
        if not value_from:
            env[name] = ""
            continue
        resolved = await _value_from(pod, container, value_from, namespace=namespace, lookup=lookup, facts=facts)
        if resolved is not None:
            env[name] = resolved
    return list(env.items())


async def _value_from(
    pod: Obj, container: Obj, value_from: Obj, *, namespace: str, lookup: SourceLookup, facts: PodFacts
) -> str | None:
    if (ref := value_from.get("fieldRef")) is not None:
        try:
            return field_value(pod, str(ref.get("fieldPath") or ""), facts)
        except ValueError as exc:
            raise ContainerConfigError(str(exc)) from None
    if (ref := value_from.get("resourceFieldRef")) is not None:
        try:
            return resource_value(pod, str(container.get("name")), ref, facts)
        except ValueError as exc:
            raise ContainerConfigError(str(exc)) from None
    for field, kind, getter, decode in (
        ("configMapKeyRef", "ConfigMap", lookup.config_map, False),
        ("secretKeyRef", "Secret", lookup.secret, True),
    ):
        ref = value_from.get(field)
        if ref is None:
            continue
        name, key, optional = str(ref.get("name") or ""), str(ref.get("key") or ""), bool(ref.get("optional"))
        source = await getter(namespace, name)
        if source is None:
            if optional:
                return None
            raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
        data: Mapping[str, str] = _decode_secret(source) if decode else (source.get("data") or {})
        if key not in data:
            if optional:
                return None
            raise ContainerConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return str(data[key])
    return None


def expand_command(container: Obj, env: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """``command`` and ``args`` with ``$(VAR)`` references expanded against the container's env."""
    mapping = dict(env)
    command = [expand(str(part), mapping) for part in container.get("command") or []]
    args = [expand(str(part), mapping) for part in container.get("args") or []]
    return command, args
