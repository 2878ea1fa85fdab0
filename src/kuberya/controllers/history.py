"""Controller history: the ControllerRevisions a StatefulSet or DaemonSet keeps of its templates.

Upstream's ``pkg/controller/history``. A controller that rolls out templates in place (no
ReplicaSet in between) records each template it has run as an ``apps/v1`` ControllerRevision:
``data`` is a strategic-merge patch that, applied to the owner, restores that template (what
``kubectl rollout undo`` does), ``revision`` numbers them in order. Pods carry the revision they
were made from in the ``controller-revision-hash`` label, so the controller can tell old pods from
updated ones.

The pure half (no I/O):

* :func:`hash_revision` — ``HashControllerRevision``: FNV-32a of the serialized ``data``, then of
  the collision count written as decimal text, spelled with ``rand.SafeEncodeString``'s alphabet;
  :func:`compute_hash` — ``controller.ComputeHash`` of a pod template (what DaemonSets name their
  revisions and label their pods with), shared with the Deployment controller;
* :func:`new_revision` — ``NewControllerRevision``: named ``<parent>-<hash>``, labelled with the
  template's labels plus ``controller.kubernetes.io/hash``, controlled by the parent;
* :func:`equal_revision`, :func:`find_equal_revisions`, :func:`sort_revisions` (by revision, then
  creation time, then name), :func:`next_revision` (the last one plus one) and
  :func:`revisions_to_truncate` (the oldest revisions no pod or status names, beyond the limit).

The I/O half is :class:`History`, reading revisions from an informer's cache and writing through
a :class:`~kuberya.client.KubeClient`: list (owned by the parent, or orphans), create (retrying
under a bumped collision count when the name is taken by different data), renumber, delete, adopt
and release.

Serialization: upstream hashes the JSON bytes Go wrote; kuberya hashes the same value as compact
JSON with sorted keys, so equal data always hashes alike (the values differ from upstream's).
"""

from __future__ import annotations

import builtins
import contextlib
import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kuberya.client import AlreadyExistsError, KubeClient, NotFoundError, ResourceRef
from kuberya.client.informer import Informer
from kuberya.client.resources import CONTROLLERREVISIONS
from kuberya.controllers.ownership import controller_ref, meta, namespace_index, owner_reference
from kuberya.controllers.rollout import compute_hash as compute_hash  # re-exported for DaemonSets
from kuberya.controllers.rollout import fnv32a, safe_encode
from kuberya.controllers.wallclock import parse_time
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

POD_REVISION_LABEL = "controller-revision-hash"
"""``apps.ControllerRevisionHashLabelKey``: on a pod, the revision it was made from (a
StatefulSet writes the revision's name, a DaemonSet the template hash)."""
REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
"""``history.ControllerRevisionHashLabel``: on a revision, the hash of its data."""
NAMESPACE_INDEX = "namespace"
MAX_PREFIX = 223
"""A revision name is at most 253 bytes: the parent's name is cut to 223 before ``-<hash>``."""


class RevisionError(Exception):
    """A history write cannot proceed (adopting a revision another controller owns)."""


# -- the pure half -------------------------------------------------------------------------------


def _serialized(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def hash_revision(data: Any, collision_count: int | None) -> str:
    """``HashControllerRevision``: the safe-encoded FNV-32a of ``data`` and the collision count."""
    payload = _serialized(data) if data is not None else b""
    if collision_count is not None:
        payload += str(int(collision_count)).encode()
    return safe_encode(str(fnv32a(payload)))


def revision_name(prefix: str, hash_: str) -> str:
    """``ControllerRevisionName``: ``<prefix>-<hash>``, the prefix cut to fit 253 bytes."""
    return f"{prefix[:MAX_PREFIX]}-{hash_}"


def new_revision(
    parent: Obj,
    *,
    parent_ref: ResourceRef,
    template_labels: Mapping[str, str],
    data: Any,
    revision: int,
    collision_count: int | None,
) -> Obj:
    """``NewControllerRevision``: an unsaved revision of ``parent`` holding ``data``."""
    hash_ = hash_revision(data, collision_count)
    labels = {**dict(template_labels), REVISION_HASH_LABEL: hash_}
    return {
        "apiVersion": CONTROLLERREVISIONS.api_version,
        "kind": CONTROLLERREVISIONS.kind,
        "metadata": {
            "name": revision_name(str(meta(parent).get("name") or ""), hash_),
            "namespace": meta(parent).get("namespace"),
            "labels": labels,
            "ownerReferences": [owner_reference(parent, api_version=parent_ref.api_version, kind=parent_ref.kind)],
        },
        "data": copy.deepcopy(data),
        "revision": int(revision),
    }


def revision_number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


def equal_revision(a: Obj | None, b: Obj | None) -> bool:
    """``EqualRevision``: both absent, or the same data (hash labels, when both parse, must agree)."""
    if a is None or b is None:
        return a is b
    hash_a = (meta(a).get("labels") or {}).get(REVISION_HASH_LABEL)
    hash_b = (meta(b).get("labels") or {}).get(REVISION_HASH_LABEL)
    if hash_a is not None and hash_b is not None and hash_a != hash_b:
        return False
    return bool(_serialized(a.get("data")) == _serialized(b.get("data")))


def find_equal_revisions(revisions: Iterable[Obj], needle: Obj) -> list[Obj]:
    """``FindEqualRevisions``: the revisions equal to ``needle``, in their given order."""
    return [r for r in revisions if equal_revision(r, needle)]


def _sort_key(revision: Obj) -> tuple[int, float, str]:
    created = parse_time(meta(revision).get("creationTimestamp"))
    return (revision_number(revision), created.timestamp() if created else 0.0, str(meta(revision).get("name") or ""))


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """``SortControllerRevisions``: by revision; ties by creation time, then name."""
    return sorted(revisions, key=_sort_key)


def next_revision(revisions: Iterable[Obj]) -> int:
    """The number a new revision takes: one more than the highest (1 for an empty history)."""
    return max((revision_number(r) for r in revisions), default=0) + 1


def revisions_to_truncate(sorted_revisions: Iterable[Obj], *, live: Iterable[str], limit: int) -> list[Obj]:
    """The revisions to delete to keep ``limit`` historic ones (upstream's ``truncateHistory``).

    ``live`` names the revisions still in use (the current and update revisions, every pod's);
    those are never deleted and do not count. Of the rest, the oldest beyond ``limit`` go.
    """
    in_use = set(live)
    history = [r for r in sorted_revisions if meta(r).get("name") not in in_use]
    excess = len(history) - max(int(limit), 0)
    return history[:excess] if excess > 0 else []


# -- the I/O half --------------------------------------------------------------------------------


class History:
    """Reads a controller's revisions from the cache of ``revisions``; writes them through ``client``."""

    def __init__(self, client: KubeClient, revisions: Informer) -> None:
        self.client = client
        self.revisions = revisions
        revisions.add_index(NAMESPACE_INDEX, namespace_index)

    def list(self, parent: Obj, selector: Any) -> builtins.list[Obj]:
        """``ListControllerRevisions``: the revisions ``selector`` matches that ``parent`` controls or nobody does."""
        uid = meta(parent).get("uid")
        owned: builtins.list[Obj] = []
        for revision in self.revisions.by_index(NAMESPACE_INDEX, str(meta(parent).get("namespace") or "")):
            if not selectors.matches(selector, meta(revision).get("labels")):
                continue
            ref = controller_ref(revision)
            if ref is None or ref.get("uid") == uid:
                owned.append(revision)
        return owned

    async def create(self, parent: Obj, revision: Obj, collision_count: int) -> tuple[Obj, int]:
        """``CreateControllerRevision``: create ``revision``; return it and the collision count used.

        If its name is taken by a revision with other data, the count is bumped and the name
        recomputed until a create succeeds; a taken name with the same data is that revision.
        """
        namespace = str(meta(parent).get("namespace") or "")
        body = copy.deepcopy(revision)
        while True:
            hash_ = hash_revision(revision.get("data"), collision_count)
            body["metadata"]["name"] = revision_name(str(meta(parent).get("name") or ""), hash_)
            body["metadata"].setdefault("labels", {})[REVISION_HASH_LABEL] = hash_
            try:
                created = await self.client.create(CONTROLLERREVISIONS, body, namespace=namespace)
            except AlreadyExistsError:
                existing = await self.client.get(CONTROLLERREVISIONS, body["metadata"]["name"], namespace=namespace)
                if _serialized(existing.get("data")) == _serialized(body.get("data")):
                    return existing, collision_count
                collision_count += 1
                continue
            return created, collision_count

    async def update_revision(self, revision: Obj, new_revision: int) -> Obj:
        """``UpdateControllerRevision``: renumber ``revision`` (an old template rolled out again)."""
        if revision_number(revision) == new_revision:
            return revision
        return await self.client.patch(
            CONTROLLERREVISIONS,
            str(meta(revision).get("name")),
            {"revision": int(new_revision)},
            namespace=meta(revision).get("namespace"),
            patch_type="merge",
        )

    async def delete(self, revision: Obj) -> None:
        """``DeleteControllerRevision``; one already gone is fine."""
        with contextlib.suppress(NotFoundError):
            await self.client.delete(
                CONTROLLERREVISIONS, str(meta(revision).get("name")), namespace=meta(revision).get("namespace")
            )

    async def adopt(self, parent: Obj, parent_ref: ResourceRef, revision: Obj) -> Obj:
        """``AdoptControllerRevision``: make ``parent`` the controller of an orphan revision."""
        owner = controller_ref(revision)
        if owner is not None:
            raise RevisionError(f"attempt to adopt revision owned by {owner.get('kind')} {owner.get('name')}")
        refs = [*copy.deepcopy(meta(revision).get("ownerReferences") or [])]
        refs.append(owner_reference(parent, api_version=parent_ref.api_version, kind=parent_ref.kind))
        return await self._set_references(revision, refs)

    async def release(self, parent: Obj, revision: Obj) -> Obj | None:
        """``ReleaseControllerRevision``: drop ``parent``'s reference; None if the revision is gone."""
        uid = meta(parent).get("uid")
        refs = [copy.deepcopy(r) for r in meta(revision).get("ownerReferences") or [] if r.get("uid") != uid]
        try:
            return await self._set_references(revision, refs)
        except NotFoundError:
            return None

    async def _set_references(self, revision: Obj, refs: builtins.list[Any]) -> Obj:
        # A merge patch of the whole list, guarded by the uid and resourceVersion read: a revision
        # replaced or changed meanwhile makes the write fail rather than lose a reference.
        return await self.client.patch(
            CONTROLLERREVISIONS,
            str(meta(revision).get("name")),
            {
                "metadata": {
                    "ownerReferences": refs or None,
                    "uid": meta(revision).get("uid"),
                    "resourceVersion": meta(revision).get("resourceVersion"),
                }
            },
            namespace=meta(revision).get("namespace"),
            patch_type="merge",
        )
