"""Object keys and controller references, as client-go computes them.

A cache key is ``namespace/name`` for a namespaced object and ``name`` for a cluster-scoped one
(``cache.MetaNamespaceKeyFunc``); :func:`split_key` undoes it. The controller of an object is the
owner reference marked ``controller: true`` (``metav1.GetControllerOf``).
"""

from __future__ import annotations

from typing import Any

from kuberya.meta.types import Obj, OwnerReference


def object_key(obj: Obj) -> str:
    """``namespace/name`` for an object with a namespace, else ``name`` (client-go's key function)."""
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = meta.get("namespace")
    return f"{namespace}/{name}" if namespace else name


def split_key(key: str) -> tuple[str | None, str]:
    """Split a cache key into ``(namespace, name)``; namespace is None for a cluster-scoped key."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, key)


def controller_ref(obj: Obj) -> OwnerReference | None:
    """The owner reference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
    meta: Any = obj.get("metadata")
    for ref in (meta.get("ownerReferences") if isinstance(meta, dict) else None) or []:
        if isinstance(ref, dict) and ref.get("controller"):
            found: OwnerReference = ref  # type: ignore[assignment]
            return found
    return None
