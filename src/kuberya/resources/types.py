"""Shapes shared by every kind: raw objects, API causes, the description of a resource type.

Objects travel as plain JSON-shaped dicts (what the wire carries); the aliases below name what
a dict is meant to hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Re-exported: the one raw-object alias is kuberya.meta.types.Obj (JSONObject is its other name).
from kuberya.meta.types import JSONObject as JSONObject


@dataclass(frozen=True, slots=True)
class Cause:
    """One reason a request is invalid, as in a Status's ``details.causes``."""

    field: str
    """The JSON path of the offending field, e.g. ``spec.template.spec.containers[0].name``."""
    reason: str
    """``FieldValueRequired``, ``FieldValueInvalid``, ``FieldValueNotSupported``, ``FieldValueDuplicate``,
    ``FieldValueTooLong``, ``FieldValueForbidden``."""
    message: str
    """The upstream-style text: ``Required value``, ``Invalid value: "x": must be …``."""

    def as_dict(self) -> JSONObject:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class InvalidObjectError(Exception):
    """Validation failed; the API server answers 422 Invalid with these causes."""

    def __init__(self, causes: list[Cause]) -> None:
        super().__init__("; ".join(f"{c.field}: {c.message}" for c in causes))
        self.causes = causes


Scope = Literal["Namespaced", "Cluster"]


@dataclass(frozen=True, slots=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True, slots=True)
class SubresourceType:
    name: str
    """``status``, ``scale``, ``log``, ``exec``, ``portforward``."""
    kind: str
    """The kind its body has: the parent kind for status; ``Scale`` (autoscaling/v1) for scale."""
    group: str = ""
    version: str = "v1"
    verbs: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True, slots=True)
class ResourceType:
    """Everything the API server needs to know to serve one resource in one group/version."""

    group: str
    version: str
    resource: str
    """The plural, lower-case name used in URLs: ``deployments``."""
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    subresources: tuple[SubresourceType, ...] = ()
    storage_version: str = ""
    """The version objects are stored in when several versions serve one resource (HPA: v2).
    Empty means this version is the storage version."""
    storage_group: str | None = None
    """The group of ``storage_version`` when it is not this type's own (events.k8s.io/v1 Events are
    stored as core/v1 Events, ``""``); None means this type's group."""
    has_status: bool = field(default=False)
    """True when a ``status`` subresource exists: the main endpoint then ignores ``status``."""
    served_from_storage: bool = True
    """False for virtual resources (metrics) that are computed, not stored."""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` as in error messages; ``pods`` for the core group."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.group, self.version, self.kind)

    def subresource(self, name: str) -> SubresourceType | None:
        for sub in self.subresources:
            if sub.name == name:
                return sub
        return None
