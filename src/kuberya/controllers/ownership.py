"""Controller references: who controls an object, and adopting or releasing objects by selector.

A controller (a ReplicaSet for pods, a Deployment for ReplicaSets) owns what its selector matches,
as upstream's ``ControllerRefManager.ClaimObject``:

* an object controlled by someone else is never touched;
* an object we control that no longer matches is *released* (our reference removed), unless we are
  being deleted;
* a matching orphan that is not being deleted is *adopted* (our reference added) — but only after a
  live GET confirmed that we still exist and are not being deleted (the cache may be stale, and an
  adoption by a dead owner would get the object garbage-collected).

Both writes are JSON merge patches of the whole ``ownerReferences`` list guarded by the object's
``resourceVersion``, so a concurrent change makes the claim fail (and the key retry) rather than
lose a reference.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kuberya.client import KubeClient, NotFoundError, ResourceRef
from kuberya.meta.objects import controller_ref as controller_ref  # re-exported
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


def meta(obj: Obj) -> dict[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def spec(obj: Obj) -> dict[str, Any]:
    """``obj["spec"]``, or an empty one when it is missing or malformed (as :func:`meta`)."""
    found = obj.get("spec")
    return found if isinstance(found, dict) else {}


def status(obj: Obj) -> dict[str, Any]:
    found = obj.get("status")
    return found if isinstance(found, dict) else {}


def replicas(obj: Obj) -> int:
    """``spec.replicas`` of a workload (1 when unset, the API default)."""
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def owner_reference(owner: Obj, *, api_version: str, kind: str) -> dict[str, Any]:
    """The controller reference a child of ``owner`` carries (blocks the owner's foreground deletion)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta(owner).get("name"),
        "uid": meta(owner).get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


NAMESPACE_INDEX = "namespace"
"""The name every controller files :func:`namespace_index` under (one index per shared informer)."""


def namespace_index(obj: Obj) -> list[str]:
    """Informer index function: the object's namespace."""
    return [str(meta(obj).get("namespace") or "")]


CONTROLLER_INDEX = "controller-uid"
"""The name every controller files :func:`controller_uid_index` under."""


def controller_uid_index(obj: Obj) -> list[str]:
    """Informer index function: the uid of the object's controller, if it has one."""
    ref = controller_ref(obj)
    return [str(ref["uid"])] if ref is not None and ref.get("uid") else []


Matcher = Callable[[Obj], bool]


class ControllerRefManager:
    """Claims the children of one controller object (see the module docstring)."""

    def __init__(
        self,
        client: KubeClient,
        *,
        owner: Obj,
        owner_ref: ResourceRef,
        child_ref: ResourceRef,
        match: Matcher,
        fetch_owner: Callable[[], Awaitable[Obj | None]] | None = None,
    ) -> None:
        self.client = client
        self.owner = owner
        self.owner_api = owner_ref
        self.child_ref = child_ref
        self.match = match
        self._fetch_owner = fetch_owner
        self._can_adopt: bool | None = None

    @property
    def _owner_uid(self) -> Any:
        return meta(self.owner).get("uid")

    async def claim(self, children: Iterable[Obj]) -> list[Obj]:
        """Return the children this owner controls after adopting and releasing as needed."""
        claimed: list[Obj] = []
        deleting = bool(meta(self.owner).get("deletionTimestamp"))
        for child in children:
            ref = controller_ref(child)
            if ref is not None:
                if ref.get("uid") != self._owner_uid:
                    continue
                if self.match(child):
                    claimed.append(child)
                elif not deleting:
                    await self._release(child)
                continue
            if deleting or meta(child).get("deletionTimestamp") or not self.match(child):
                continue
            if meta(child).get("namespace") != meta(self.owner).get("namespace"):
                continue
            adopted = await self._adopt(child)
            if adopted is not None:
                claimed.append(adopted)
        return claimed

    async def _owner_can_adopt(self) -> bool:
        if self._can_adopt is None:
            fresh = await self._fetch_live_owner()
            self._can_adopt = (
                fresh is not None
                and meta(fresh).get("uid") == self._owner_uid
                and not meta(fresh).get("deletionTimestamp")
            )
        return self._can_adopt

    async def _fetch_live_owner(self) -> Obj | None:
        if self._fetch_owner is not None:
            return await self._fetch_owner()
        try:
            return await self.client.get(
                self.owner_api, str(meta(self.owner).get("name")), namespace=meta(self.owner).get("namespace")
            )
        except NotFoundError:
            return None

    async def _adopt(self, child: Obj) -> Obj | None:
        if not await self._owner_can_adopt():
            return None
        mine = owner_reference(self.owner, api_version=self.owner_api.api_version, kind=self.owner_api.kind)
        return await self._set_references(child, add=mine, why="adopts")

    async def _release(self, child: Obj) -> None:
        await self._set_references(child, add=None, why="releases")

    async def _set_references(self, child: Obj, *, add: dict[str, Any] | None, why: str) -> Obj | None:
        """Write ``child``'s references without ours, plus ``add``; None if the child is gone."""
        refs = [copy.deepcopy(r) for r in meta(child).get("ownerReferences") or [] if r.get("uid") != self._owner_uid]
        if add is not None:
            refs.append(add)
        name = str(meta(child).get("name"))
        owner = f"{meta(self.owner).get('namespace')}/{meta(self.owner).get('name')}"
        note = "" if add is not None else " (its labels no longer match)"
        logger.info("%s %s %s %s %s%s", self.owner_api.kind, owner, why, self.child_ref.kind, name, note)
        try:
            return await self.client.patch(
                self.child_ref,
                name,
                {"metadata": {"ownerReferences": refs or None, "resourceVersion": meta(child).get("resourceVersion")}},
                namespace=meta(child).get("namespace"),
                patch_type="merge",
            )
        except NotFoundError:
            return None
