"""Raw objects, and typed views of the parts every kind shares.

An object read from the API is a ``dict`` decoded from JSON: :data:`Obj`. Code that only passes
objects along keeps that alias; code that reads the common parts can say what it expects with the
``TypedDict`` views below (as kopf's ``bodies.py`` does). They are views, not validation: the API
server has already decoded every stored object against its schema (DESIGN.md, decision 9), so a
reader may trust the shapes, and every key is optional (``total=False``) as in the API itself.
"""

from __future__ import annotations

from typing import Any, TypedDict

Obj = dict[str, Any]
"""One raw Kubernetes object (or any JSON object): what the API sends and stores."""

JSONObject = Obj
"""The same alias under the name the API server's packages use."""


class OwnerReference(TypedDict, total=False):
    """``metav1.OwnerReference``: who owns an object, for garbage collection and adoption."""

    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ManagedFieldsEntry(TypedDict, total=False):
    """``metav1.ManagedFieldsEntry``: one manager's share of an object's fields."""

    manager: str
    operation: str
    apiVersion: str
    time: str
    fieldsType: str
    fieldsV1: dict[str, Any]
    subresource: str


class ObjectMeta(TypedDict, total=False):
    """``metav1.ObjectMeta``: the ``metadata`` of every object."""

    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    deletionGracePeriodSeconds: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    finalizers: list[str]
    managedFields: list[ManagedFieldsEntry]


class ListMeta(TypedDict, total=False):
    """``metav1.ListMeta``: the ``metadata`` of a list."""

    resourceVersion: str
    # ``continue`` is a Python keyword, so the key cannot be declared here; read it with .get().
    remainingItemCount: int


class Condition(TypedDict, total=False):
    """One entry of a ``status.conditions`` list (``metav1.Condition`` and the older per-kind ones)."""

    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    lastUpdateTime: str
    lastProbeTime: str
    lastHeartbeatTime: str
    observedGeneration: int


class ObjectReference(TypedDict, total=False):
    """``core/v1.ObjectReference``: what an Event's ``involvedObject`` names."""

    kind: str
    namespace: str
    name: str
    uid: str
    apiVersion: str
    resourceVersion: str
    fieldPath: str


def metadata(obj: Obj) -> ObjectMeta:
    """The object's ``metadata`` as a typed view (an empty one when it has none)."""
    meta: ObjectMeta = obj.get("metadata") or {}
    return meta
