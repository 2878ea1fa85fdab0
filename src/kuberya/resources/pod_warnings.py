"""The ``Warning`` headers of pod and pod-template writes: upstream's ``GetWarningsForPod``/``…PodTemplate``.

``pkg/api/pod/warnings.go`` warns, without refusing, about what is valid but almost certainly a
mistake: deprecated node labels in selectors, affinity and spread constraints; annotations that
stopped working (critical-pod, the alpha sysctls, seccomp without the field); removed volume
plugins; duplicate host aliases, pull secrets, environment variables and ports; fractional byte
quantities; a negative grace period; affinity terms whose null selector matches nothing.

The strategies run it on create and, for the workload kinds, on every update that changes the
spec (a new ``metadata.generation``): :func:`template_warnings` makes that rule for a kind whose
template sits at a path. Paths are printed as Go's ``field.Path``: ``spec.template.spec.nodeSelector[k]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from kuberya.meta.quantity import format_quantity, is_binary_quantity, parse_quantity
from kuberya.resources.names import dns1123_label_errors
from kuberya.resources.printers_base import dig
from kuberya.resources.types import JSONObject

Warnings = Callable[[JSONObject, JSONObject | None], list[str]]

DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": 'deprecated since v1.17; use "topology.kubernetes.io/region" instead',
    "failure-domain.beta.kubernetes.io/zone": 'deprecated since v1.17; use "topology.kubernetes.io/zone" instead',
    "beta.kubernetes.io/instance-type": 'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
    "app.kubernetes.io/created-by": "deprecated since v1.9",
    "scheduler.alpha.kubernetes.io/preferAvoidPods": "deprecated since v1.22; use Taints and Tolerations instead",
    "node-role.kubernetes.io/master": 'use "node-role.kubernetes.io/control-plane" instead',
}
"""``pkg/api/node``'s ``deprecatedNodeLabels``."""

DEPRECATED_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/critical-pod": 'non-functional in v1.16+; use the "priorityClassName" field instead',
    "security.alpha.kubernetes.io/sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
    "security.alpha.kubernetes.io/unsafe-sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
}

REMOVED_VOLUME_PLUGINS = {
    "photonPersistentDisk": "deprecated in v1.11, non-functional in v1.16+",
    "gitRepo": "deprecated in v1.11",
    "scaleIO": "deprecated in v1.16, non-functional in v1.22+",
    "flocker": "deprecated in v1.22, non-functional in v1.25+",
    "storageos": "deprecated in v1.22, non-functional in v1.25+",
    "quobyte": "deprecated in v1.22, non-functional in v1.25+",
    "glusterfs": "deprecated in v1.25, non-functional in v1.26+",
    "cephfs": "deprecated in v1.28, non-functional in v1.31+",
    "rbd": "deprecated in v1.28, non-functional in v1.31+",
}
"""Volume source (JSON name) → upstream's message. Its path names ``storageOS`` as the Go field does."""
_GO_FIELD = {"storageos": "storageOS"}

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"
APPARMOR_CONTAINER_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
_SECCOMP_MESSAGE = 'non-functional in v1.27+; use the "seccompProfile" field instead'
_APPARMOR_MESSAGE = 'deprecated since v1.30; use the "appArmorProfile" field instead'
_APPLY_MAY_DROP = "which may be dropped when using apply"
_NULL_SELECTOR = "a null labelSelector results in matching no pod"
POD_NAME_WARNING = (
    "metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; "
    "a DNS label is recommended: "
)


def _dict(value: Any) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _join(prefix: str, child: str) -> str:
    return f"{prefix}.{child}" if prefix else child


def _node_selector_term(term: Any, path: str) -> Iterator[str]:
    for i, expression in enumerate(_list(_dict(term).get("matchExpressions"))):
        key = str(_dict(expression).get("key") or "")
        if key in DEPRECATED_NODE_LABELS:
            yield f"{path}.matchExpressions[{i}].key: {key} is {DEPRECATED_NODE_LABELS[key]}"


def _node_labels(spec: JSONObject, at: str) -> Iterator[str]:
    for key in _dict(spec.get("nodeSelector")):
        if key in DEPRECATED_NODE_LABELS:
            yield f"{at}.nodeSelector[{key}]: {DEPRECATED_NODE_LABELS[key]}"
    node_affinity = _dict(_dict(spec.get("affinity")).get("nodeAffinity"))
    required = _dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))
    terms_path = f"{at}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
    for i, term in enumerate(_list(required.get("nodeSelectorTerms"))):
        yield from _node_selector_term(term, f"{terms_path}[{i}]")
    preferred_path = f"{at}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution"
    for i, weighted in enumerate(_list(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        yield from _node_selector_term(_dict(weighted).get("preference"), f"{preferred_path}[{i}].preference")
    for i, constraint in enumerate(_list(spec.get("topologySpreadConstraints"))):
        constraint = _dict(constraint)
        key = str(constraint.get("topologyKey") or "")
        if key in DEPRECATED_NODE_LABELS:
            yield f"{at}.topologySpreadConstraints[{i}].topologyKey: {key} is {DEPRECATED_NODE_LABELS[key]}"
        if constraint.get("labelSelector") is None:
            yield f"{at}.topologySpreadConstraints[{i}].labelSelector: {_NULL_SELECTOR}"


def _volumes(spec: JSONObject, at: str) -> Iterator[str]:
    volumes = [_dict(v) for v in _list(spec.get("volumes"))]
    for i, volume in enumerate(volumes):
        for plugin, message in REMOVED_VOLUME_PLUGINS.items():
            if volume.get(plugin) is not None:
                yield f"{at}.volumes[{i}].{_GO_FIELD.get(plugin, plugin)}: {message}"
    token_paths = {
        str(_dict(source.get("serviceAccountToken")).get("path") or "")
        for volume in volumes
        for source in map(_dict, _list(_dict(volume.get("projected")).get("sources")))
        if source.get("serviceAccountToken") is not None
    }
    if not token_paths:
        return
    for i, volume in enumerate(volumes):
        for source in map(_dict, _list(_dict(volume.get("projected")).get("sources"))):
            # upstream's paths name the list "secrets" and index items, not sources
            for name, path_name in (("configMap", "configMap"), ("secret", "secrets"), ("downwardAPI", "downwardAPI")):
                for j, item in enumerate(_list(_dict(source.get(name)).get("items"))):
                    item_path = str(_dict(item).get("path") or "")
                    if item_path in token_paths:
                        yield (
                            f"{at}.volumes[{i}].projected.sources.{path_name}[{j}]: "
                            f'has duplicated path with ServiceAccountToken "{item_path}"'
                        )


def _duplicates(spec: JSONObject, at: str) -> Iterator[str]:
    aliases = _list(spec.get("hostAliases"))
    seen: set[str] = set()
    for i, alias in enumerate(aliases):
        ip = str(_dict(alias).get("ip") or "")
        if len(aliases) > 1 and ip in seen:
            yield f'{at}.hostAliases[{i}].ip: duplicate ip "{ip}"'
        seen.add(ip)
    secrets = _list(spec.get("imagePullSecrets"))
    seen = set()
    for i, secret in enumerate(secrets):
        name = str(_dict(secret).get("name") or "")
        if len(secrets) > 1 and name in seen:
            yield f'{at}.imagePullSecrets[{i}].name: duplicate name "{name}"'
        seen.add(name)
    for i, secret in enumerate(secrets):
        if not _dict(secret).get("name"):
            yield f'{at}.imagePullSecrets[{i}].name: invalid empty name ""'


def _fractional_bytes(value: Any, path: str) -> Iterator[str]:
    try:
        quantity = parse_quantity(value)
    except (ValueError, TypeError):
        return
    if quantity.denominator != 1:
        yield (
            f'{path}: fractional byte value "{format_quantity(quantity, binary=is_binary_quantity(value))}" '
            "is invalid, must be an integer"
        )


def _containers(spec: JSONObject, at: str) -> Iterator[tuple[JSONObject, str]]:
    """Every container with its path, in upstream's ``VisitContainersWithPath`` order."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in enumerate(_list(spec.get(field))):
            yield _dict(container), f"{at}.{field}[{i}]"


def _go_port(port: JSONObject) -> str:
    """``%+v`` of a ContainerPort, as upstream's hostIP warning prints it."""
    return (
        f"{{Name:{port.get('name') or ''} HostPort:{port.get('hostPort') or 0} "
        f"ContainerPort:{port.get('containerPort') or 0} Protocol:{port.get('protocol') or ''} "
        f"HostIP:{port.get('hostIP') or ''}}}"
    )


def _container_warnings(
    spec: JSONObject, annotations: JSONObject, at: str, meta_path: str, *, is_template: bool
) -> Iterator[str]:
    pod_apparmor = _dict(spec.get("securityContext")).get("appArmorProfile") is not None
    for container, path in _containers(spec, at):
        name = str(container.get("name") or "")
        security = _dict(container.get("securityContext"))
        if security.get("seccompProfile") is None and SECCOMP_CONTAINER_PREFIX + name in annotations:
            yield f"{meta_path}.annotations[{SECCOMP_CONTAINER_PREFIX}{name}]: {_SECCOMP_MESSAGE}"
        has_apparmor = pod_apparmor or security.get("appArmorProfile") is not None
        if is_template and not has_apparmor and APPARMOR_CONTAINER_PREFIX + name in annotations:
            yield f"{meta_path}.annotations[{APPARMOR_CONTAINER_PREFIX}{name}]: {_APPARMOR_MESSAGE}"
        resources = _dict(container.get("resources"))
        for kind in ("limits", "requests"):
            for resource in ("memory", "ephemeral-storage"):
                values = _dict(resources.get(kind))
                if resource in values:
                    yield from _fractional_bytes(values[resource], f"{path}.resources.{kind}[{resource}]")
        env = [_dict(e) for e in _list(container.get("env"))]
        defined: set[str] = set()
        for i, item in enumerate(env):
            env_name = str(item.get("name") or "")
            if env_name in defined:
                ref, value = f"$({env_name})", str(item.get("value") or "")
                if item.get("valueFrom") is not None or value == ref or ref not in value:
                    yield f'{path}.env[{i}]: hides previous definition of "{env_name}", {_APPLY_MAY_DROP}'
            defined.add(env_name)


def _ports(spec: JSONObject, at: str) -> Iterator[str]:
    seen: dict[str, list[tuple[str, JSONObject]]] = {}
    for container, path in _containers(spec, at):
        for i, port in enumerate(map(_dict, _list(container.get("ports")))):
            here = f"{path}.ports[{i}]"
            host_ip, host_port = str(port.get("hostIP") or ""), port.get("hostPort") or 0
            if host_ip and not host_port:
                yield f"{here}: hostIP set without hostPort: {_go_port(port)}"
            key = f"{port.get('containerPort')}/{port.get('protocol') or ''}"
            for other_path, other in seen.get(key, []):
                other_ip, other_port = str(other.get("hostIP") or ""), other.get("hostPort") or 0
                if host_ip == other_ip and host_port == other_port:
                    yield f"{here}: duplicate port definition with {other_path}"
                elif not host_port or not other_port:
                    yield f"{here}: overlapping port definition with {other_path}"
                elif host_port == other_port and (not host_ip) != (not other_ip):
                    yield f"{here}: dangerously ambiguous port definition with {other_path}"
            seen.setdefault(key, []).append((here, port))


def _affinity_terms(spec: JSONObject, at: str) -> Iterator[str]:
    affinity = _dict(spec.get("affinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = _dict(affinity.get(kind))
        required_path = f"{at}.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
        for i, term in enumerate(_list(terms.get("requiredDuringSchedulingIgnoredDuringExecution"))):
            if _dict(term).get("labelSelector") is None:
                yield f"{required_path}[{i}].labelSelector: {_NULL_SELECTOR}"
        preferred_path = f"{at}.affinity.{kind}.preferredDuringSchedulingIgnoredDuringExecution"
        for i, weighted in enumerate(_list(terms.get("preferredDuringSchedulingIgnoredDuringExecution"))):
            if _dict(_dict(weighted).get("podAffinityTerm")).get("labelSelector") is None:
                yield f"{preferred_path}[{i}].podAffinityTerm.labelSelector: {_NULL_SELECTOR}"


def pod_spec_warnings(spec: JSONObject, meta: JSONObject, prefix: str = "") -> list[str]:
    """``warningsForPodSpecAndMeta`` for the pod spec and metadata under ``prefix`` ("" for a pod)."""
    at, meta_at = _join(prefix, "spec"), _join(prefix, "metadata")
    annotations = _dict(meta.get("annotations"))
    warnings = list(_node_labels(spec, at))
    warnings += [
        f"{meta_at}.annotations[{key}]: {msg}" for key, msg in DEPRECATED_ANNOTATIONS.items() if key in annotations
    ]
    warnings += _volumes(spec, at)
    warnings += _duplicates(spec, at)
    overhead = _dict(spec.get("overhead"))
    for resource in ("memory", "ephemeral-storage"):
        if resource in overhead:
            warnings += _fractional_bytes(overhead[resource], f"{at}.overhead[{resource}]")
    if _dict(spec.get("securityContext")).get("seccompProfile") is None and SECCOMP_POD_ANNOTATION in annotations:
        warnings.append(f"{meta_at}.annotations[{SECCOMP_POD_ANNOTATION}]: {_SECCOMP_MESSAGE}")
    warnings += _container_warnings(spec, annotations, at, meta_at, is_template=bool(prefix))
    warnings += _ports(spec, at)
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        warnings.append(
            f"{at}.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
        )
    warnings += _affinity_terms(spec, at)
    return warnings


def pod_warnings(pod: JSONObject, old: JSONObject | None) -> list[str]:
    """The Pod strategy's ``WarningsOnCreate``/``…Update``: the name on create, the spec always."""
    meta = _dict(pod.get("metadata"))
    warnings: list[str] = []
    if old is None and (errors := dns1123_label_errors(str(meta.get("name") or ""))):
        warnings.append(POD_NAME_WARNING + "[" + " ".join(errors) + "]")
    return warnings + pod_spec_warnings(_dict(pod.get("spec")), meta)


def template_warnings(path: str) -> Warnings:
    """Warnings of the pod template at ``path``: on create, and on updates that change the spec.

    Upstream's workload and PodTemplate strategies compare generations, which move with the spec.
    """

    def warnings(obj: JSONObject, old: JSONObject | None) -> list[str]:
        if old is not None and _dict(obj.get("metadata")).get("generation") == _dict(old.get("metadata")).get(
            "generation"
        ):
            return []
        template = _dict(dig(obj, *path.split(".")))
        return pod_spec_warnings(_dict(template.get("spec")), _dict(template.get("metadata")), path)

    return warnings
