"""The built-in dynamic provisioner ``kuberya.io/local-path``: volumes as directories on this node.

Modelled on rancher's local-path-provisioner, run by the external provisioner library
(``sig-storage-lib-external-provisioner``) and the CSI external-resizer, with their names and
events; it runs beside the node agent, on the node whose disk it hands out. It watches claims,
volumes and classes and acts on three things:

Provision
    A claim the PV controller marked for us (``volume.kubernetes.io/storage-provisioner:
    kuberya.io/local-path``), unbound, of a class whose provisioner is ours, and - for
    ``WaitForFirstConsumer`` - whose ``volume.kubernetes.io/selected-node`` is this node: the
    directory ``DATA_DIR/volumes/pvc-<claim uid>`` is made and the PersistentVolume created,
    pre-bound to the claim (``claimRef``) as an external provisioner does; the PV controller
    completes the bind. Refused, with a ``ProvisioningFailed`` event and nothing left behind: a
    ``Block`` claim, a claim with a selector, access modes other than ``ReadWriteOnce`` and
    ``ReadWriteOncePod`` (rancher's rule for node-local paths: a directory on one node cannot be
    shared across nodes), and a request larger than the free space of the data dir's filesystem
    (retried with back-off: space may be freed). The PV's name is the claim's uid, so a retry after
    a crash between the directory and the PV finds the directory and creates the PV, and a PV
    already there is never made twice.
Delete
    A PV this provisioner made, ``Released``, reclaim policy ``Delete``: its directory is removed
    (only ever a directory under ``DATA_DIR/volumes``, see :mod:`kuberya.node.localpath`) and the
    PV deleted; failures are ``VolumeFailedDelete`` events on the PV. ``Retain`` keeps both.
Expand
    A bound claim of a class with ``allowVolumeExpansion: true`` whose request grew above its
    PV's capacity: ``Resizing``, the PV's ``spec.capacity.storage`` set, then the claim's
    ``status.capacity`` and ``status.allocatedResources``, and ``VolumeResizeSuccessful`` (a
    directory needs no filesystem resize, so there is no node-side step); growth beyond the free
    disk is refused with ``VolumeResizeFailed``.

The size of a directory volume is not enforced (as rancher's): the capacity is what the claim
asked for and what the free-space check reserved at the time.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from kuberya.client import (
    AlreadyExistsError,
    ApiError,
    Clock,
    KubeClient,
    NotFoundError,
    SharedInformerFactory,
    WorkQueue,
    run_controller,
)
from kuberya.client.events import EventCorrelator
from kuberya.client.resources import PERSISTENTVOLUMECLAIMS, PERSISTENTVOLUMES, STORAGECLASSES, object_key
from kuberya.meta.quantity import format_quantity, is_binary_quantity, parse_quantity
from kuberya.meta.timefmt import rfc3339
from kuberya.meta.types import Obj
from kuberya.node.localpath import UnsafePathError, VolumeDirectories, free_bytes

logger = logging.getLogger(__name__)

PROVISIONER_NAME = "kuberya.io/local-path"
ANN_STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
ANN_BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
HOSTNAME_LABEL = "kubernetes.io/hostname"
SUPPORTED_ACCESS_MODES = ("ReadWriteOnce", "ReadWriteOncePod")
RESIZER_COMPONENT = f"external-resizer {PROVISIONER_NAME}"
WORKERS = 2

Key = tuple[str, str]
"""``("claim", "namespace/name")`` or ``("volume", "name")``."""


class ProvisioningRefused(Exception):
    """A claim this provisioner cannot serve as it stands; the message is the event's."""


def claim_class(claim: Obj) -> str:
    """The claim's class, the beta annotation first (upstream's ``GetPersistentVolumeClaimClass``)."""
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if ANN_BETA_STORAGE_CLASS in annotations:
        return str(annotations[ANN_BETA_STORAGE_CLASS])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def requested_storage(claim: Obj) -> str | None:
    """The claim's ``spec.resources.requests.storage``, as written."""
    value = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    return None if value is None else str(value)


def volume_path(volume: Obj) -> str | None:
    """Where the PV's data lives on the node: ``hostPath.path`` or ``local.path``."""
    spec = volume.get("spec") or {}
    for source in ("hostPath", "local"):
        path = (spec.get(source) or {}).get("path")
        if path:
            return str(path)
    return None


def affinity_nodes(volume: Obj) -> list[str] | None:
    """The nodes the PV's required node affinity names by hostname, or None when it has none."""
    required = ((volume.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    nodes: list[str] = []
    for term in required.get("nodeSelectorTerms") or []:
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == HOSTNAME_LABEL and expression.get("operator") == "In":
                nodes.extend(str(v) for v in expression.get("values") or [])
    return nodes if required else None


def _size(text: str, value: Fraction) -> str:
    return format_quantity(value, binary=is_binary_quantity(text))


class LocalPathProvisioner:
    """Provisions, deletes and expands ``kuberya.io/local-path`` volumes of one node."""

    def __init__(
        self,
        client: KubeClient,
        *,
        node_name: str,
        data_dir: Path,
        informers: SharedInformerFactory | None = None,
        clock: Clock | None = None,
        free: Callable[[Path], int] = free_bytes,
        wall: Callable[[], float] = time.time,
        workers: int = WORKERS,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.directories = VolumeDirectories.of_data_dir(data_dir, free=free)
        factory = informers or SharedInformerFactory(client, clock=clock)
        self.claims = factory.informer(PERSISTENTVOLUMECLAIMS)
        self.volumes = factory.informer(PERSISTENTVOLUMES)
        self.classes = factory.informer(STORAGECLASSES)
        self.queue: WorkQueue[Key] = WorkQueue(name="local-path-provisioner", clock=clock)
        self._workers = workers
        self._wall = wall
        # Upstream's library names its event source "<provisioner>_<host>_<uuid>"; the node is unique here.
        self._provisioner_events = EventCorrelator(client, component=f"{PROVISIONER_NAME}_{node_name}", host=node_name)
        self._resizer_events = EventCorrelator(client, component=RESIZER_COMPONENT, host=node_name)
        self.claims.add_handlers(on_add=self._claim_changed, on_update=lambda _old, new: self._claim_changed(new))
        self.volumes.add_handlers(on_add=self._volume_changed, on_update=lambda _old, new: self._volume_changed(new))
        self.classes.add_handlers(on_add=self._class_changed, on_update=lambda _old, new: self._class_changed(new))

    async def run(self) -> None:
        await run_controller(
            name="local-path-provisioner",
            informers=[self.claims, self.volumes, self.classes],
            queue=self.queue,
            sync=self.sync,
            workers=self._workers,
        )

    # -- handlers: enqueue keys only ---------------------------------------------------------

    def _claim_changed(self, claim: Obj) -> None:
        self.queue.add(("claim", object_key(claim)))

    def _volume_changed(self, volume: Obj) -> None:
        self.queue.add(("volume", str((volume.get("metadata") or {}).get("name") or "")))

    def _class_changed(self, storage_class: Obj) -> None:
        # A claim that waited for its class (created after it, or fixed) is looked at again.
        name = (storage_class.get("metadata") or {}).get("name")
        for claim in self.claims.list():
            if claim_class(claim) == name:
                self._claim_changed(claim)

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self, key: Key) -> None:
        kind, name = key
        if kind == "claim":
            claim = self.claims.get(name)
            if claim is None:
                return
            if self.should_provision(claim):
                await self.provision(claim, key)
            else:
                await self.expand(claim, key)
        elif kind == "volume":
            volume = self.volumes.get(name)
            if volume is not None and self.should_delete(volume):
                await self.delete(volume, key)

    def _our_class(self, claim: Obj) -> Obj | None:
        storage_class = self.classes.get(claim_class(claim))
        if storage_class is None or storage_class.get("provisioner") != PROVISIONER_NAME:
            return None
        return storage_class

    def should_provision(self, claim: Obj) -> bool:
        """Upstream's ``shouldProvision``, for this node: see the module docstring."""
        meta = claim.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if (claim.get("spec") or {}).get("volumeName") or meta.get("deletionTimestamp"):
            return False
        provisioner = annotations.get(ANN_STORAGE_PROVISIONER, annotations.get(ANN_BETA_STORAGE_PROVISIONER))
        if provisioner != PROVISIONER_NAME:
            return False
        storage_class = self._our_class(claim)
        if storage_class is None:
            return False  # the class's arrival enqueues the claim again
        selected = annotations.get(ANN_SELECTED_NODE)
        if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer":
            return selected == self.node_name
        # Immediate: any node may serve it; a claim placed elsewhere is another node's.
        return not selected or selected == self.node_name

    def should_delete(self, volume: Obj) -> bool:
        """Upstream's ``shouldDelete``, for volumes this provisioner made on this node."""
        meta = volume.get("metadata") or {}
        if (meta.get("annotations") or {}).get(ANN_PROVISIONED_BY) != PROVISIONER_NAME:
            return False
        if meta.get("deletionTimestamp"):
            return False
        if (volume.get("status") or {}).get("phase") != "Released":
            return False
        if (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy") != "Delete":
            return False
        nodes = affinity_nodes(volume)
        return nodes is None or self.node_name in nodes

    # -- provision ----------------------------------------------------------------------------

    async def provision(self, claim: Obj, key: Key) -> None:
        meta = claim["metadata"]
        pv_name = f"pvc-{meta['uid']}"
        if self.volumes.get(pv_name) is not None:
            return  # provisioned already (a retry, or a claim update before the bind)
        spec = claim.get("spec") or {}
        if spec.get("volumeMode") == "Block":
            # canProvision: refused before "Provisioning", as the library does.
            await self._claim_event(claim, "Warning", "ProvisioningFailed", self._block_message())
            return
        storage_class = self._our_class(claim)
        if storage_class is None:
            return
        await self._claim_event(
            claim,
            "Normal",
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{meta["namespace"]}/{meta["name"]}"',
        )
        try:
            request = self._check_claim(claim)
            self._check_space(request)
        except ProvisioningRefused as refused:
            await self._claim_event(claim, "Warning", "ProvisioningFailed", str(refused))
            return
        except _NotEnoughSpace as short:
            await self._claim_event(claim, "Warning", "ProvisioningFailed", str(short))
            self.queue.add_rate_limited(key)  # space may be freed: retry with back-off
            return
        try:
            made = self.directories.make(pv_name)
        except (OSError, UnsafePathError) as exc:
            await self._claim_event(claim, "Warning", "ProvisioningFailed", f"failed to create volume {pv_name}: {exc}")
            self.queue.add_rate_limited(key)
            return
        volume = self._volume_for(claim, storage_class, pv_name, request)
        try:
            await self.client.create(PERSISTENTVOLUMES, volume)
        except AlreadyExistsError:
            logger.info("persistentvolume %s already exists, reusing", pv_name)
        except ApiError as exc:
            if made:
                self.directories.remove_if_empty(pv_name)
            await self._claim_event(
                claim,
                "Warning",
                "ProvisioningFailed",
                f"Error creating provisioned PV object for claim {meta['namespace']}/{meta['name']}: {exc.message}. "
                "Deleting the volume.",
            )
            raise
        logger.info("provisioned %s for claim %s/%s", pv_name, meta["namespace"], meta["name"])
        await self._claim_event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}")

    @staticmethod
    def _block_message() -> str:
        return f"{PROVISIONER_NAME} does not support block volume provisioning"

    def _check_claim(self, claim: Obj) -> str:
        """The claim's storage request, or :class:`ProvisioningRefused` for what this provisioner cannot give."""
        spec = claim.get("spec") or {}
        if spec.get("selector") is not None:
            raise ProvisioningRefused("claim Selector is not supported")
        unsupported = [m for m in spec.get("accessModes") or [] if m not in SUPPORTED_ACCESS_MODES]
        if unsupported:
            raise ProvisioningRefused(
                f"{PROVISIONER_NAME} only supports ReadWriteOnce and ReadWriteOncePod access modes "
                f"(a directory on one node), not {', '.join(unsupported)}"
            )
        request = requested_storage(claim)
        if request is None:
            raise ProvisioningRefused("claim has no storage request (spec.resources.requests.storage)")
        try:
            parse_quantity(request)
        except ValueError as exc:
            raise ProvisioningRefused(f"invalid storage request {request!r}: {exc}") from None
        return str(request)

    def _check_space(self, request: str, *, already: Fraction = Fraction(0)) -> None:
        needed = parse_quantity(request) - already
        free = self.directories.free_space()
        if needed > free:
            raise _NotEnoughSpace(
                f"not enough free space on node {self.node_name!r}: {request} requested, "
                f"{_size(request, Fraction(free))} free on the filesystem of {self.directories.root}"
            )

    def _volume_for(self, claim: Obj, storage_class: Obj, pv_name: str, request: str) -> Obj:
        """The PV as the contract of issue #14 says: pre-bound, on this node, a directory of the data dir."""
        meta, spec = claim["metadata"], claim.get("spec") or {}
        return {
            "apiVersion": PERSISTENTVOLUMES.api_version,
            "kind": PERSISTENTVOLUMES.kind,
            "metadata": {"name": pv_name, "annotations": {ANN_PROVISIONED_BY: PROVISIONER_NAME}},
            "spec": {
                "capacity": {"storage": request},
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "volumeMode": "Filesystem",
                "storageClassName": claim_class(claim),
                "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
                "hostPath": {"path": str(self.directories.path_of(pv_name)), "type": "DirectoryOrCreate"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": HOSTNAME_LABEL, "operator": "In", "values": [self.node_name]}
                                ]
                            }
                        ]
                    }
                },
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            },
        }

    # -- delete -------------------------------------------------------------------------------

    async def delete(self, volume: Obj, key: Key) -> None:
        name = str(volume["metadata"]["name"])
        path = volume_path(volume)
        try:
            if path is not None:
                removed = self.directories.remove(path)
                logger.info("volume %s: %s %s", name, "removed" if removed else "already gone:", path)
        except UnsafePathError as exc:
            # Never retried: no change of ours makes another path safe to remove.
            await self._volume_event(volume, f"refusing to delete the data of volume {name}: {exc}")
            return
        except OSError as exc:
            await self._volume_event(volume, f"failed to delete volume {name}: {exc}")
            self.queue.add_rate_limited(key)
            return
        with contextlib.suppress(NotFoundError):  # deleted meanwhile: the end we wanted
            await self.client.delete(PERSISTENTVOLUMES, name)

    # -- expand -------------------------------------------------------------------------------

    async def expand(self, claim: Obj, key: Key) -> None:
        """Grow the PV of a bound claim to its new request, then report it in the claim's status."""
        volume = self._expandable_volume(claim)
        if volume is None:
            return
        request = requested_storage(claim)
        capacity = ((volume.get("spec") or {}).get("capacity") or {}).get("storage")
        if request is None or capacity is None:
            return
        try:
            wanted, current = parse_quantity(request), parse_quantity(capacity)
        except ValueError:
            return
        pv_name = str(volume["metadata"]["name"])
        if wanted > current:
            await self._claim_event(
                claim, "Normal", "Resizing", f"External resizer is resizing volume {pv_name}", resizer=True
            )
            try:
                self._check_space(request, already=current)
            except _NotEnoughSpace as short:
                message = f'resize volume "{pv_name}" by resizer "{PROVISIONER_NAME}" failed: {short}'
                await self._claim_event(claim, "Warning", "VolumeResizeFailed", message, resizer=True)
                self.queue.add_rate_limited(key)
                return
            await self.client.patch(
                PERSISTENTVOLUMES, pv_name, {"spec": {"capacity": {"storage": request}}}, patch_type="merge"
            )
            capacity, current = request, wanted
        status = claim.get("status") or {}
        reported = (status.get("capacity") or {}).get("storage")
        try:
            behind = reported is not None and parse_quantity(reported) < current
        except ValueError:
            behind = True
        if not behind:
            return
        conditions = [c for c in status.get("conditions") or [] if c.get("type") not in ("Resizing",)]
        statuses = {k: v for k, v in (status.get("allocatedResourceStatuses") or {}).items() if k != "storage"}
        await self.client.patch(
            PERSISTENTVOLUMECLAIMS,
            claim["metadata"]["name"],
            {
                "status": {
                    "capacity": {"storage": capacity},
                    "allocatedResources": {"storage": capacity},
                    "conditions": conditions or None,
                    "allocatedResourceStatuses": statuses or None,
                }
            },
            namespace=claim["metadata"]["namespace"],
            subresource="status",
            patch_type="merge",
        )
        await self._claim_event(claim, "Normal", "VolumeResizeSuccessful", "Resize volume succeeded", resizer=True)

    def _expandable_volume(self, claim: Obj) -> Obj | None:
        """The claim's PV when it is ours, bound to this claim, of a class that allows expansion."""
        if (claim.get("status") or {}).get("phase") != "Bound":
            return None
        volume_name = (claim.get("spec") or {}).get("volumeName")
        volume = self.volumes.get(str(volume_name)) if volume_name else None
        if volume is None:
            return None
        if ((volume.get("metadata") or {}).get("annotations") or {}).get(ANN_PROVISIONED_BY) != PROVISIONER_NAME:
            return None
        claim_ref = (volume.get("spec") or {}).get("claimRef") or {}
        if claim_ref.get("uid") != claim["metadata"].get("uid"):
            return None
        nodes = affinity_nodes(volume)
        if nodes is not None and self.node_name not in nodes:
            return None
        storage_class = self._our_class(claim)
        if storage_class is None or storage_class.get("allowVolumeExpansion") is not True:
            return None
        return volume

    # -- events -------------------------------------------------------------------------------

    async def _claim_event(self, claim: Obj, type_: str, reason: str, message: str, *, resizer: bool = False) -> None:
        meta = claim.get("metadata") or {}
        involved = {
            "kind": "PersistentVolumeClaim",
            "namespace": meta.get("namespace"),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion"),
        }
        await self._write(
            self._resizer_events if resizer else self._provisioner_events, involved, type_, reason, message
        )

    async def _volume_event(self, volume: Obj, message: str) -> None:
        meta = volume.get("metadata") or {}
        involved = {
            "kind": "PersistentVolume",
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": "v1",
            "resourceVersion": meta.get("resourceVersion"),
        }
        await self._write(self._provisioner_events, involved, "Warning", "VolumeFailedDelete", message)

    async def _write(self, events: EventCorrelator, involved: Obj, type_: str, reason: str, message: str) -> None:
        # Best-effort, as upstream's recorder: a lost event must not fail (and so repeat) the work.
        if type_ == "Warning":
            logger.warning("%s %s: %s: %s", involved.get("kind"), involved.get("name"), reason, message)
        try:
            await events.write(
                involved,
                type=type_,
                reason=reason,
                message=message,
                stamp=rfc3339(self._wall()),
                name_ns=time.time_ns(),
            )
        except (ApiError, OSError) as exc:
            logger.warning("event %s about %s not written: %s", reason, involved.get("name"), exc)


class _NotEnoughSpace(Exception):
    """The filesystem cannot hold the request now; retried with back-off."""
