"""The DefaultIngressClass admission plugin: a new Ingress without a class gets the default one.

As upstream's (``plugin/pkg/admission/network/defaultingressclass``): on create only, an Ingress
with neither ``spec.ingressClassName`` nor the deprecated ``kubernetes.io/ingress.class``
annotation gets the name of the IngressClass annotated
``ingressclass.kubernetes.io/is-default-class: "true"``; when several are, the newest wins (ties
by name).
"""

from __future__ import annotations

from collections.abc import Callable

from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.resources import kinds
from kuberya.resources.types import JSONObject, ResourceType

IS_DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def newest_default(classes: list[JSONObject], is_default: Callable[[JSONObject], bool]) -> str:
    """``getDefaultClass`` of both class kinds: the newest class marked default (ties: the first name), or ``""``."""
    marked = [c for c in classes if is_default(c)]
    if not marked:
        return ""
    # RFC 3339 timestamps in UTC order as strings; newest first, then by name
    newest = max(str(c["metadata"].get("creationTimestamp") or "") for c in marked)
    return min(
        str(c["metadata"]["name"]) for c in marked if str(c["metadata"].get("creationTimestamp") or "") == newest
    )


def default_class(classes: list[JSONObject]) -> str:
    """The default IngressClass (annotated ``ingressclass.kubernetes.io/is-default-class: "true"``)."""
    return newest_default(
        classes, lambda c: ((c.get("metadata") or {}).get("annotations") or {}).get(IS_DEFAULT_CLASS) == "true"
    )


async def default_ingress_class(store: ObjectStore, rt: ResourceType, ingress: JSONObject) -> None:
    """Set a new Ingress's ``spec.ingressClassName`` to the default class, if it names none."""
    if (rt.group, rt.resource) != ("networking.k8s.io", "ingresses"):
        return
    spec = ingress.setdefault("spec", {})
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    if spec.get("ingressClassName") is not None or INGRESS_CLASS_ANNOTATION in annotations:
        return
    class_type = kinds.lookup("networking.k8s.io", "v1", "ingressclasses")
    if class_type is None:
        return
    name = default_class((await store.list(class_type, selection=ObjectFilter())).items)
    if name:
        spec["ingressClassName"] = name
