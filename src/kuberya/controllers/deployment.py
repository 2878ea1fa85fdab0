"""The Deployment controller: rolls a Deployment's pod template out through ReplicaSets.

Level-triggered as upstream's ``DeploymentController``: informers on Deployments, ReplicaSets and
Pods only enqueue ``namespace/name`` keys of Deployments; ``sync(key)`` then, from the caches,

1. claims the ReplicaSets the Deployment selects (adopting orphans, releasing strays);
2. finds the *new* ReplicaSet — the one whose template equals the Deployment's ignoring the
   ``pod-template-hash`` label — creating it (``<deploy>-<hash>``, revision max+1) when a rollout
   needs it, or bumping an old one to revision max+1 when a rollback made its template current;
3. does one step of what is needed: a *scaling event* (``spec.replicas`` changed, or paused)
   resizes the ReplicaSets in proportion; otherwise a **RollingUpdate** scales the new one up
   within ``maxSurge`` and the old ones down within ``maxUnavailable``, or a **Recreate** scales
   every old one to zero, waits for their pods to go, then scales the new one up;
4. prunes old, empty ReplicaSets beyond ``revisionHistoryLimit`` once the rollout is complete;
5. writes the status (counts, ``observedGeneration`` on every sync so ``kubectl rollout status``
   never waits on us, the ``Available`` and ``Progressing`` conditions including the progress
   deadline) and, when a rollout stalls, looks again when its deadline passes.

Each step writes what it changed and returns; the watch events those writes cause bring the key
back for the next step, exactly as upstream. The arithmetic lives in
:mod:`kuberya.controllers.rollout`.

Upstream writes the Deployment's revision annotation through ``UpdateStatus`` (its status strategy
lets metadata through); kuberya's status subresource keeps metadata, so the annotation is a merge
patch of the Deployment itself (metadata only: the generation does not move).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Unpack

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    KubeClient,
    NotFoundError,
    malformed,
    object_key,
    split_key,
)
from kuberya.client.resources import DEPLOYMENTS, PODS, REPLICASETS
from kuberya.controllers import deployment_status as ds
from kuberya.controllers import rollout as ro
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import (
    NAMESPACE_INDEX,
    ControllerRefManager,
    controller_ref,
    controller_uid_index,
    is_controlled_by,
    meta,
    namespace_index,
)
from kuberya.controllers.pods import phase
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)


COMPONENT = "deployment-controller"
CONTROLLER_INDEX = "controller-uid"


def _name(obj: Obj) -> str:
    return str(meta(obj).get("name") or "")


@dataclass
class _State:
    """One sync's working copies: the Deployment and its ReplicaSets, refreshed by every write."""

    d: Obj
    rss: list[Obj]


class DeploymentController(QueueController):
    """Rolls Deployments out, back and sideways through their ReplicaSets."""

    def __init__(self, client: KubeClient, *, workers: int = 4, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="deployment", component=COMPONENT, workers=workers, **wiring)
        self.deployments = self.primary(DEPLOYMENTS)
        self.replicasets = self.informer(REPLICASETS)
        self.pods = self.informer(PODS)
        self.deployments.add_index(NAMESPACE_INDEX, namespace_index)
        self.replicasets.add_index(NAMESPACE_INDEX, namespace_index)
        self.pods.add_index(CONTROLLER_INDEX, controller_uid_index)
        self.replicasets.add_handlers(
            on_add=self._on_rs_add, on_update=self._on_rs_update, on_delete=self._on_rs_delete
        )
        self.pods.add_handlers(on_delete=self._on_pod_delete)

    # -- event handlers: they only enqueue Deployment keys ------------------------------------

    def _owning_deployment(self, rs: Obj) -> Obj | None:
        return self.controller_of(rs, "Deployment", self.deployments)

    def _on_rs_add(self, rs: Obj) -> None:
        if meta(rs).get("deletionTimestamp"):
            self._on_rs_delete(rs)
            return
        d = self._owning_deployment(rs)
        if d is not None:
            self.enqueue(d)
        elif controller_ref(rs) is None:
            self.enqueue_selecting(rs, self.deployments)

    def _on_rs_update(self, old: Obj, new: Obj) -> None:
        if meta(old).get("resourceVersion") == meta(new).get("resourceVersion"):
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref is not None and (new_ref is None or old_ref.get("uid") != new_ref.get("uid")):
            old_d = self._owning_deployment(old)
            if old_d is not None:
                self.enqueue(old_d)
        d = self._owning_deployment(new)
        if d is not None:
            self.enqueue(d)
        elif new_ref is None and (meta(old).get("labels") != meta(new).get("labels") or old_ref is not None):
            self.enqueue_selecting(new, self.deployments)

    def _on_rs_delete(self, rs: Obj) -> None:
        d = self._owning_deployment(rs)
        if d is not None:
            self.enqueue(d)

    def _on_pod_delete(self, pod: Obj) -> None:
        # Recreate waits for the old pods to be gone before it scales the new ReplicaSet up.
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(f"{meta(pod).get('namespace')}/{ref.get('name')}")
        d = self._owning_deployment(rs) if rs is not None else None
        if d is not None and not ro.is_rolling_update(d):
            self.enqueue(d)

    # -- the reconciliation --------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Take Deployment ``key`` (as cached) one step closer to its spec, then write its status."""
        await self.sync_retrying_conflicts(key, self._sync)

    async def _sync(self, key: str) -> None:
        cached = self.deployments.get(key)
        if cached is None:
            return
        malformed.check(cached, malformed.DEPLOYMENT)
        d = copy.deepcopy(cached)
        d.setdefault("status", {})
        selector = ro.spec(d).get("selector")
        if selector is None or selectors.is_empty(selector):
            await self.events.record(
                d,
                type="Warning",
                reason="SelectingAll",
                message="This deployment is selecting all pods. A non-empty selector is required.",
            )
            if int(ro.status(d).get("observedGeneration") or 0) < int(meta(d).get("generation") or 0):
                d["status"]["observedGeneration"] = int(meta(d).get("generation") or 0)
                await self._write_status(d)
            return
        state = _State(d, [copy.deepcopy(rs) for rs in await self._claim_replica_sets(d, key)])
        if meta(d).get("deletionTimestamp"):
            new_rs, old_rss = await self._replica_sets_and_revision(state, create=False)
            await self._sync_status(state, [*old_rss, new_rs], new_rs)
            return
        await self._check_paused_conditions(state)
        if ro.spec(d).get("paused") or await self._is_scaling_event(state):
            await self._sync_scaling(state)
        elif ro.is_rolling_update(d):
            await self._rollout_rolling(state)
        else:
            await self._rollout_recreate(state)

    async def _claim_replica_sets(self, d: Obj, key: str) -> list[Obj]:
        namespace, _ = split_key(key)
        selector = ro.spec(d).get("selector")
        manager = ControllerRefManager(
            self.client,
            owner=d,
            owner_ref=DEPLOYMENTS,
            child_ref=REPLICASETS,
            match=lambda rs: selectors.matches(selector, meta(rs).get("labels")),
        )
        return await manager.claim(self.replicasets.by_index(NAMESPACE_INDEX, namespace or ""))

    # -- the new ReplicaSet and revisions ---------------------------------------------------------

    async def _replica_sets_and_revision(self, state: _State, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """``getAllReplicaSetsAndSyncRevision``: the new ReplicaSet (made if ``create``) and the old ones."""
        found = ro.find_new_replica_set(state.d, state.rss)
        old_rss = [rs for rs in state.rss if rs is not found]
        new_rs = await self._new_replica_set(state, found, old_rss, create=create)
        return new_rs, old_rss

    async def _new_replica_set(
        self, state: _State, existing: Obj | None, old_rss: list[Obj], *, create: bool
    ) -> Obj | None:
        d = state.d
        new_revision = max((ro.revision(rs) for rs in old_rss), default=0) + 1
        if existing is not None:
            wanted = copy.deepcopy(existing)
            changed = ro.set_new_replica_set_annotations(d, wanted, new_revision, exists=True)
            min_ready = ro.spec(d).get("minReadySeconds") or 0
            if changed or (ro.spec(wanted).get("minReadySeconds") or 0) != min_ready:
                wanted["spec"]["minReadySeconds"] = min_ready
                self._refresh(existing, await self.client.update(REPLICASETS, wanted, field_manager=COMPONENT))
            await self._set_deployment_revision(d, ro.revision(existing))
            if ro.has_progress_deadline(d) and ds.get_condition(d["status"], ro.PROGRESSING) is None:
                message = f'Found new replica set "{_name(existing)}"'
                ds.set_condition(
                    d["status"], ds.new_condition(ro.PROGRESSING, "True", ro.FOUND_NEW_RS, message, self._now())
                )
                await self._write_status(d)
            return existing
        if not create:
            return None
        return await self._create_new_replica_set(state, old_rss, new_revision)

    async def _create_new_replica_set(self, state: _State, old_rss: list[Obj], new_revision: int) -> Obj:
        d = state.d
        rs = ro.new_replica_set(d, old_rss, new_revision)
        count = ro.replicas(rs)
        collision = ro.status(d).get("collisionCount")
        already_existed = False
        try:
            created = await self.client.create(
                REPLICASETS, rs, namespace=meta(d).get("namespace"), field_manager=COMPONENT
            )
        except AlreadyExistsError:
            current = self.replicasets.get(f"{meta(d).get('namespace')}/{rs['metadata']['name']}")
            if current is None:
                current = await self.client.get(REPLICASETS, rs["metadata"]["name"], namespace=meta(d).get("namespace"))
            if not (is_controlled_by(current, d) and ro.equal_ignore_hash(ro.template_of(current), ro.template_of(d))):
                # A different template hashed to the same name: bump collisionCount and retry.
                d["status"]["collisionCount"] = int(collision or 0) + 1
                await self._write_status(d)
                raise
            created, already_existed = copy.deepcopy(current), True
        except ApiError as exc:
            message = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
            if ro.has_progress_deadline(d):
                cond = ds.new_condition(ro.PROGRESSING, "False", ro.FAILED_RS_CREATE, message, self._now())
                ds.set_condition(d["status"], cond)
                await self._write_status(d)
            await self.events.record(d, type="Warning", reason=ro.FAILED_RS_CREATE, message=message)
            raise
        state.rss.append(created)
        if not already_existed and count > 0:
            await self.events.record(
                d,
                type="Normal",
                reason="ScalingReplicaSet",
                message=f"Scaled up replica set {_name(created)} from 0 to {count}",
            )
        await self._set_deployment_revision(d, new_revision)
        if not already_existed and ro.has_progress_deadline(d):
            message = f'Created new replica set "{_name(created)}"'
            ds.set_condition(
                d["status"], ds.new_condition(ro.PROGRESSING, "True", ro.NEW_RS_CREATED, message, self._now())
            )
            await self._write_status(d)
        return created

    async def _set_deployment_revision(self, d: Obj, revision: int) -> None:
        if revision <= 0 or ro.annotations_of(d).get(ro.REVISION) == str(revision):
            return
        patch = {"metadata": {"annotations": {ro.REVISION: str(revision)}}}
        answer = await self.client.patch(
            DEPLOYMENTS,
            _name(d),
            patch,
            namespace=meta(d).get("namespace"),
            patch_type="merge",
            field_manager=COMPONENT,
        )
        d["metadata"]["annotations"] = meta(answer).get("annotations") or {}
        d["metadata"]["resourceVersion"] = meta(answer).get("resourceVersion")

    # -- scaling ----------------------------------------------------------------------------------

    @staticmethod
    def _refresh(rs: Obj, answer: Obj) -> None:
        # The working copy is updated in place so that every list holding it sees the write.
        rs.clear()
        rs.update(copy.deepcopy(answer))

    async def _scale(self, state: _State, rs: Obj, new_scale: int, operation: str) -> bool:
        """``scaleReplicaSet``: set size and replica annotations; tell whether the size changed."""
        d = state.d
        old_scale = ro.replicas(rs)
        size_changed = old_scale != new_scale
        desired, most = ro.replicas(d), ro.replicas(d) + ro.max_surge(d)
        if not size_changed and not ro.replicas_annotations_need_update(rs, desired, most):
            return False
        wanted = copy.deepcopy(rs)
        wanted["spec"]["replicas"] = new_scale
        ro.set_replicas_annotations(wanted, desired, most)
        self._refresh(rs, await self.client.update(REPLICASETS, wanted, field_manager=COMPONENT))
        if size_changed:
            await self.events.record(
                d,
                type="Normal",
                reason="ScalingReplicaSet",
                message=f"Scaled {operation} replica set {_name(rs)} from {old_scale} to {new_scale}",
            )
        return size_changed

    async def _scale_and_record(self, state: _State, rs: Obj, new_scale: int) -> bool:
        if ro.replicas(rs) == new_scale:
            return False
        return await self._scale(state, rs, new_scale, "up" if ro.replicas(rs) < new_scale else "down")

    async def _is_scaling_event(self, state: _State) -> bool:
        """``isScalingEvent``: an active ReplicaSet was sized for a different ``spec.replicas``."""
        new_rs, old_rss = await self._replica_sets_and_revision(state, create=False)
        for rs in ro.active([*old_rss, new_rs]):
            desired = ro.annotations_of(rs).get(ro.DESIRED_REPLICAS)
            if desired is not None and desired.isdigit() and int(desired) != ro.replicas(state.d):
                return True
        return False

    async def _sync_scaling(self, state: _State) -> None:
        """Upstream's ``sync``: resize without rolling out (a scaling event, or a paused Deployment)."""
        new_rs, old_rss = await self._replica_sets_and_revision(state, create=False)
        await self._scale_proportionally(state, new_rs, old_rss)
        if ro.spec(state.d).get("paused"):
            await self._cleanup(state, old_rss)
        await self._sync_status(state, [*old_rss, new_rs], new_rs)

    async def _scale_proportionally(self, state: _State, new_rs: Obj | None, old_rss: list[Obj]) -> None:
        """``scale``: one active ReplicaSet takes it all; several share the change by size."""
        d = state.d
        target = ro.find_active_or_latest(new_rs, old_rss)
        if target is not None:
            if ro.replicas(target) != ro.replicas(d):
                await self._scale_and_record(state, target, ro.replicas(d))
            return
        if ro.is_saturated(d, new_rs):
            for rs in ro.active(old_rss):
                await self._scale_and_record(state, rs, 0)
            return
        if not ro.is_rolling_update(d):
            return
        alive = ro.active([*old_rss, new_rs])
        allowed = ro.replicas(d) + ro.max_surge(d) if ro.replicas(d) > 0 else 0
        to_add = allowed - ro.total_replicas(alive)
        if to_add > 0:
            alive = ro.by_size_newer(alive)
        elif to_add < 0:
            alive = ro.by_size_older(alive)
        sizes: list[int] = []
        added = 0
        for rs in alive:
            share = ro.proportion(rs, d, to_add, added) if to_add != 0 else 0
            sizes.append(ro.replicas(rs) + share)
            added += share
        if to_add != 0 and alive:
            # What rounding left over goes to the largest ReplicaSet.
            sizes[0] = max(sizes[0] + to_add - added, 0)
        operation = "up" if to_add > 0 else "down" if to_add < 0 else ""
        for rs, size in zip(alive, sizes, strict=True):
            await self._scale(state, rs, size, operation)

    async def _cleanup(self, state: _State, old_rss: list[Obj]) -> None:
        """``cleanupDeployment``: delete the oldest empty ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = ro.spec(state.d).get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in old_rss if not meta(rs).get("deletionTimestamp")]
        surplus = len(cleanable) - int(limit)
        if surplus <= 0:
            return
        for rs in ro.by_revision(cleanable)[:surplus]:
            st = ro.status(rs)
            if (
                int(st.get("replicas") or 0) != 0
                or ro.replicas(rs) != 0
                or int(meta(rs).get("generation") or 0) > int(st.get("observedGeneration") or 0)
            ):
                continue
            logger.info(
                "deployment %s/%s: pruning old replica set %s", meta(rs).get("namespace"), _name(state.d), _name(rs)
            )
            try:
                await self.client.delete(REPLICASETS, _name(rs), namespace=meta(rs).get("namespace"))
            except NotFoundError:
                continue

    # -- strategies --------------------------------------------------------------------------------

    async def _rollout_rolling(self, state: _State) -> None:
        """``rolloutRolling``: surge the new ReplicaSet up, then let the old ones down."""
        new_rs, old_rss = await self._replica_sets_and_revision(state, create=True)
        assert new_rs is not None
        all_rss = [*old_rss, new_rs]
        if await self._reconcile_new(state, all_rss, new_rs):
            await self._sync_rollout_status(state, all_rss, new_rs)
            return
        if await self._reconcile_old(state, all_rss, ro.active(old_rss), new_rs):
            await self._sync_rollout_status(state, all_rss, new_rs)
            return
        if ds.deployment_complete(state.d, ro.status(state.d)):
            await self._cleanup(state, old_rss)
        await self._sync_rollout_status(state, all_rss, new_rs)

    async def _reconcile_new(self, state: _State, all_rss: list[Obj], new_rs: Obj) -> bool:
        want = ro.replicas(state.d)
        if ro.replicas(new_rs) == want:
            return False
        if ro.replicas(new_rs) > want:
            return await self._scale_and_record(state, new_rs, want)
        return await self._scale_and_record(state, new_rs, ro.new_rs_new_replicas(state.d, all_rss, new_rs))

    async def _reconcile_old(self, state: _State, all_rss: list[Obj], old_rss: list[Obj], new_rs: Obj) -> bool:
        """``reconcileOldReplicaSets``: scale old ReplicaSets down as far as maxUnavailable allows."""
        d = state.d
        if ro.total_replicas(old_rss) == 0:
            return False
        min_available = ro.replicas(d) - ro.max_unavailable(d)
        new_unavailable = ro.replicas(new_rs) - int(ro.status(new_rs).get("availableReplicas") or 0)
        max_scaled_down = ro.total_replicas(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        # First the pods that are not available anyway: scaling them away costs no availability.
        cleaned = 0
        for rs in ro.by_creation(old_rss):
            if cleaned >= max_scaled_down:
                break
            unhealthy = ro.replicas(rs) - int(ro.status(rs).get("availableReplicas") or 0)
            if ro.replicas(rs) == 0 or unhealthy <= 0:
                continue
            count = min(max_scaled_down - cleaned, unhealthy)
            await self._scale_and_record(state, rs, ro.replicas(rs) - count)
            cleaned += count
        # Then available ones, down to minAvailable.
        available = sum(int(ro.status(rs).get("availableReplicas") or 0) for rs in all_rss)
        budget = available - min_available
        scaled = 0
        for rs in ro.by_creation(old_rss):
            if scaled >= budget:
                break
            if ro.replicas(rs) == 0:
                continue
            count = min(ro.replicas(rs), budget - scaled)
            await self._scale_and_record(state, rs, ro.replicas(rs) - count)
            scaled += count
        return cleaned + max(scaled, 0) > 0

    async def _rollout_recreate(self, state: _State) -> None:
        """``rolloutRecreate``: old ReplicaSets to zero, wait for their pods to go, then the new one up."""
        new_rs, old_rss = await self._replica_sets_and_revision(state, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        scaled_down = False
        for rs in ro.active(old_rss):
            scaled_down = await self._scale_and_record(state, rs, 0) or scaled_down
        if scaled_down or self._old_pods_running(new_rs, old_rss):
            await self._sync_rollout_status(state, all_rss, new_rs)
            return
        if new_rs is None:
            new_rs, old_rss = await self._replica_sets_and_revision(state, create=True)
            all_rss = [*old_rss, new_rs]
        assert new_rs is not None
        await self._scale_and_record(state, new_rs, ro.replicas(state.d))
        if ds.deployment_complete(state.d, ro.status(state.d)):
            await self._cleanup(state, old_rss)
        await self._sync_rollout_status(state, all_rss, new_rs)

    def _old_pods_running(self, new_rs: Obj | None, old_rss: list[Obj]) -> bool:
        if sum(int(ro.status(rs).get("replicas") or 0) for rs in old_rss) > 0:
            return True
        for rs in old_rss:
            if new_rs is not None and meta(rs).get("uid") == meta(new_rs).get("uid"):
                continue
            for pod in self.pods.by_index(CONTROLLER_INDEX, str(meta(rs).get("uid"))):
                if phase(pod) not in ("Succeeded", "Failed"):
                    return True
        return False

    # -- status ------------------------------------------------------------------------------------

    async def _check_paused_conditions(self, state: _State) -> None:
        cond = ds.paused_condition(state.d, self._now())
        if cond is not None:
            ds.set_condition(state.d["status"], cond)
            await self._write_status(state.d)

    async def _sync_status(self, state: _State, all_rss: Sequence[Obj | None], new_rs: Obj | None) -> None:
        """``syncDeploymentStatus``: counts and availability, written only if changed."""
        new_status = ds.calculate_status(state.d, all_rss, new_rs, self._now())
        if not ds.status_equal(ro.status(state.d), new_status):
            state.d["status"] = new_status
            await self._write_status(state.d)

    async def _sync_rollout_status(self, state: _State, all_rss: Sequence[Obj | None], new_rs: Obj | None) -> None:
        """``syncRolloutStatus``; when nothing changed, look again when the progress deadline passes."""
        d = state.d
        now = self._now()
        new_status = ds.rollout_status(d, all_rss, new_rs, now)
        if ds.status_equal(d["status"], new_status):
            after = ds.stuck_requeue_after(d, new_status, now)
            if after is not None:
                self.queue.add_after(object_key(d), after)
            return
        d["status"] = new_status
        await self._write_status(d)

    async def _write_status(self, d: Obj) -> None:
        patch: dict[str, Any] = {field: None for field in ds.STATUS_FIELDS}
        patch.update(copy.deepcopy(d["status"]))
        answer = await self.patch_status(DEPLOYMENTS, d, patch, field_manager=COMPONENT)
        if answer is None:
            return
        d["metadata"]["resourceVersion"] = meta(answer).get("resourceVersion")
