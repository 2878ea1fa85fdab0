"""Which kinds have schemas, under which upstream definition names, served at which URLs.

Derived from the kind registry (each ``KindSpec`` names its definition package per version):
``scripts/gen_schemas.py`` walks the models reachable from :data:`ROOT_DEFINITIONS` to write
``definitions.json``, and :mod:`kuberya.resources.schema.openapi` turns :data:`SERVED_RESOURCES`
into the ``paths`` of each group/version's OpenAPI v3 document.
"""

from __future__ import annotations

from kuberya.resources import kinds
from kuberya.resources.kinds.spec import APPS_V1, AUTOSCALING_V1, AUTOSCALING_V2, CORE_V1, DISCOVERY_V1
from kuberya.resources.types import GroupVersionKind, ResourceType

__all__ = [
    "APPS",
    "AUTOSCALING_V1",
    "AUTOSCALING_V2",
    "CORE",
    "DELETE_OPTIONS",
    "DISCOVERY",
    "EVICTION",
    "KNOWN_GROUP_VERSIONS",
    "META",
    "ROOT_DEFINITIONS",
    "SCALE",
    "SERVED_RESOURCES",
    "STATUS",
    "definition_name",
    "definition_package",
]

CORE = CORE_V1
APPS = APPS_V1
DISCOVERY = DISCOVERY_V1
META = "io.k8s.apimachinery.pkg.apis.meta.v1"

SERVED_RESOURCES: tuple[ResourceType, ...] = kinds.ALL_RESOURCE_TYPES
"""Every resource that appears in a ``paths`` section, with its scope and subresources."""

KNOWN_GROUP_VERSIONS: tuple[str, ...] = (
    "v1",
    *(f"{group.name}/{version}" for group in kinds.api_groups() for version in sorted(group.versions)),
)
"""The group/versions that get an OpenAPI v3 document, in discovery order (versions sorted)."""

_PACKAGES: dict[tuple[str, str], str] = {
    (rt.group, rt.version): spec.schema_packages[spec.schema_key(rt)]
    for spec in kinds.REGISTRY
    for rt in spec.resource_types
}


def definition_package(group: str, version: str) -> str:
    """``io.k8s.api.apps.v1`` for ``apps``/``v1``: the prefix of that GV's definition names."""
    return _PACKAGES[(group, version)]


def definition_name(gvk: GroupVersionKind) -> str:
    """Name a served kind's definition as upstream does: ``io.k8s.api.apps.v1.Deployment``."""
    return f"{definition_package(gvk.group, gvk.version)}.{gvk.kind}"


SCALE = f"{AUTOSCALING_V1}.Scale"
DELETE_OPTIONS = f"{META}.DeleteOptions"
STATUS = f"{META}.Status"
EVICTION = "io.k8s.api.policy.v1.Eviction"
"""The body of ``pods/eviction`` (its own path in ``api/v1``'s document)."""
TOKEN_REQUEST = "io.k8s.api.authentication.v1.TokenRequest"
"""The body of ``serviceaccounts/token`` (kuberya.apiserver.tokens decodes it as typed)."""

ROOT_DEFINITIONS: tuple[str, ...] = (
    *(definition_name(r.gvk) for r in SERVED_RESOURCES),
    # A create-only resource (an access review) has no List kind upstream.
    *(definition_name(r.gvk) + "List" for r in SERVED_RESOURCES if "list" in r.verbs),
    SCALE,
    EVICTION,
    TOKEN_REQUEST,
    DELETE_OPTIONS,
    STATUS,
)
"""The definitions the generator starts from; everything they reference comes along."""
