"""A DaemonSet's ControllerRevisions: one per template it has run, as upstream's ``update.go``.

Each revision holds, in ``data``, the strategic-merge patch that restores its template
(``{"spec": {"template": {..., "$patch": "replace"}}}``) — exactly what ``kubectl rollout undo
daemonset/x`` sends back — and is named ``<ds>-<hash>`` after ``controller.ComputeHash`` of the
template and ``status.collisionCount``; the hash is also its ``controller-revision-hash`` label
and the label of the pods made from it.

:meth:`DaemonSetHistory.construct` finds (adopting orphans) the DaemonSet's revisions, tells the
current one from the old ones by comparing data, creates the current one if it is missing (a name
taken by other data bumps ``collisionCount`` and fails the sync, to retry under the new hash),
renumbers it past the old ones when an old template comes back (a rollback is a new revision
number), and removes duplicates of it. :meth:`DaemonSetHistory.cleanup` deletes the oldest old
revisions beyond ``revisionHistoryLimit`` that no pod still runs.

The shared mechanics (listing from the cache, adopting, renumbering, deleting) are
:class:`kuberya.controllers.history.History`'s.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from typing import Any

from kuberya.client import AlreadyExistsError, KubeClient
from kuberya.client.resources import CONTROLLERREVISIONS, DAEMONSETS, PODS
from kuberya.controllers.daemonset_placement import REVISION_HASH_LABEL, name_of, spec_of, template_of
from kuberya.controllers.history import History, compute_hash, next_revision, revision_number, sort_revisions
from kuberya.controllers.ownership import controller_ref, meta, owner_reference
from kuberya.meta import gojson
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


class StaleCollisionCountError(Exception):
    """A revision name was taken by other data: ``collisionCount`` was bumped; sync again."""


def revision_data(ds: Obj) -> dict[str, Any]:
    """``getPatch``: the patch that restores ``ds``'s current template."""
    template = copy.deepcopy(template_of(ds))
    template["$patch"] = "replace"
    # Keys in order, as Go marshals the map: served as stored, these are the bytes kubectl
    # compares its own patch with (``daemonSetMatch``).
    data: dict[str, Any] = gojson.sorted_keys({"spec": {"template": template}})
    return data


def matches(ds: Obj, revision: Obj) -> bool:
    """``Match``: ``revision`` holds ``ds``'s current template."""
    return revision.get("data") == revision_data(ds)


def collision_count(ds: Obj) -> int | None:
    value = (ds.get("status") or {}).get("collisionCount")
    return None if value is None else int(value)


def template_hash(ds: Obj) -> str:
    return compute_hash(template_of(ds), collision_count(ds))


class DaemonSetHistory:
    """Reads and writes the ControllerRevisions of DaemonSets."""

    def __init__(self, client: KubeClient, history: History) -> None:
        self.client = client
        self.history = history

    async def construct(self, ds: Obj, pods: Iterable[Obj]) -> tuple[Obj, list[Obj]]:
        """``constructHistory``: (the current revision, the old ones); ``pods`` are the claimed ones."""
        current: list[Obj] = []
        old: list[Obj] = []
        for revision in await self._controlled(ds):
            if REVISION_HASH_LABEL not in (meta(revision).get("labels") or {}):
                # Upstream's unique label, named after the revision when an old one lacks it.
                revision = await self.client.patch(
                    CONTROLLERREVISIONS,
                    name_of(revision),
                    {"metadata": {"labels": {REVISION_HASH_LABEL: name_of(revision)}}},
                    namespace=meta(revision).get("namespace"),
                    patch_type="merge",
                )
            (current if matches(ds, revision) else old).append(revision)
        number = next_revision(old)
        if not current:
            return await self._snapshot(ds, number), old
        keep = await self._dedup(ds, current, pods)
        if revision_number(keep) < number:
            keep = await self.history.update_revision(keep, number)
        return keep, old

    async def _controlled(self, ds: Obj) -> list[Obj]:
        """``controlledHistories``: the DaemonSet's revisions, orphans its selector matches adopted."""
        owned: list[Obj] = []
        can_adopt: bool | None = None
        for revision in self.history.list(ds, spec_of(ds).get("selector")):
            if controller_ref(revision) is not None:
                owned.append(revision)
                continue
            if can_adopt is None:
                can_adopt = await self._still_exists(ds)
            if can_adopt and not meta(revision).get("deletionTimestamp"):
                owned.append(await self.history.adopt(ds, DAEMONSETS, revision))
        return owned

    async def _still_exists(self, ds: Obj) -> bool:
        # Adoption needs a live read: a stale cache must not make a deleted DaemonSet adopt.
        fresh = await self.client.get(DAEMONSETS, name_of(ds), namespace=meta(ds).get("namespace"))
        return meta(fresh).get("uid") == meta(ds).get("uid") and not meta(fresh).get("deletionTimestamp")

    async def _snapshot(self, ds: Obj, number: int) -> Obj:
        """``snapshot``: create the revision of the current template, numbered ``number``."""
        hash_ = template_hash(ds)
        namespace = meta(ds).get("namespace")
        labels = {**((template_of(ds).get("metadata") or {}).get("labels") or {}), REVISION_HASH_LABEL: hash_}
        revision_meta: dict[str, Any] = {
            "name": f"{name_of(ds)}-{hash_}",
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(ds, api_version=DAEMONSETS.api_version, kind=DAEMONSETS.kind)],
        }
        if meta(ds).get("annotations"):
            revision_meta["annotations"] = copy.deepcopy(meta(ds)["annotations"])
        body = {
            "apiVersion": CONTROLLERREVISIONS.api_version,
            "kind": CONTROLLERREVISIONS.kind,
            "metadata": revision_meta,
            "data": revision_data(ds),
            "revision": number,
        }
        try:
            return await self.client.create(CONTROLLERREVISIONS, body, namespace=namespace)
        except AlreadyExistsError:
            existing = await self.client.get(CONTROLLERREVISIONS, revision_meta["name"], namespace=namespace)
            if matches(ds, existing):
                return existing
            await self._bump_collision_count(ds)
            raise

    async def _bump_collision_count(self, ds: Obj) -> None:
        fresh = await self.client.get(DAEMONSETS, name_of(ds), namespace=meta(ds).get("namespace"))
        if collision_count(fresh) != collision_count(ds):
            raise StaleCollisionCountError(
                f"found a stale collision count ({collision_count(ds)}, expected {collision_count(fresh)}) of "
                f"DaemonSet {name_of(ds)!r} while processing; will retry until it is updated"
            )
        count = (collision_count(fresh) or 0) + 1
        await self.client.patch(
            DAEMONSETS,
            name_of(ds),
            {"metadata": {"resourceVersion": meta(fresh).get("resourceVersion")}, "status": {"collisionCount": count}},
            namespace=meta(ds).get("namespace"),
            patch_type="merge",
            subresource="status",
        )
        logger.info("daemonset %s: hash collision, collisionCount bumped to %d", name_of(ds), count)

    async def _dedup(self, ds: Obj, current: list[Obj], pods: Iterable[Obj]) -> Obj:
        """``dedupCurHistories``: keep the highest-numbered current revision, relabel pods, delete the rest."""
        if len(current) == 1:
            return current[0]
        keep = sort_revisions(current)[-1]
        keep_hash = (meta(keep).get("labels") or {}).get(REVISION_HASH_LABEL)
        for pod in pods:
            if (meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL) != keep_hash:
                await self.client.patch(
                    PODS,
                    name_of(pod),
                    {"metadata": {"labels": {REVISION_HASH_LABEL: keep_hash}}},
                    namespace=meta(pod).get("namespace"),
                    patch_type="merge",
                )
        for revision in current:
            if name_of(revision) != name_of(keep):
                await self.history.delete(revision)
        return keep

    async def cleanup(self, ds: Obj, old: list[Obj], pods: Iterable[Obj]) -> None:
        """``cleanupHistory``: delete the oldest unused old revisions beyond ``revisionHistoryLimit``."""
        limit = spec_of(ds).get("revisionHistoryLimit")
        to_kill = len(old) - (10 if limit is None else int(limit))
        if to_kill <= 0:
            return
        live = {h for p in pods if (h := (meta(p).get("labels") or {}).get(REVISION_HASH_LABEL))}
        for revision in sort_revisions(old):
            if to_kill <= 0:
                break
            if (meta(revision).get("labels") or {}).get(REVISION_HASH_LABEL) in live:
                continue
            await self.history.delete(revision)
            to_kill -= 1
