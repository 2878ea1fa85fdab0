"""The ``runc`` runtime: real OCI containers, one bundle per container, under the same shims.

Sandboxes are :class:`~kuberya.runtime.supervised.ShimRuntime`'s (a network namespace on the pod
bridge, the pod cgroups) plus the pod's ``hosts``, ``resolv.conf`` and ``hostname`` files
(:mod:`kuberya.runtime.podfiles`). There is no pause container: the network namespace is a bind
mount that lives as long as the sandbox, and every container joins it by path.

A container is a bundle in its state directory::

    containers/<id>/bundle/config.json   the OCI spec (:mod:`kuberya.runtime.oci_spec`)
    containers/<id>/bundle/rootfs        overlayfs: the image's layers + upper/ (:mod:`kuberya.runtime.rootfs`)
    containers/<id>/runc.log             runc's own log (its error, when a start fails)
    containers/<id>/container.pid        the container's init pid, written by runc

Starting it is the shim (:mod:`kuberya.runtime.shim`) running ``runc run --detach --pid-file …``
as its *launcher*: the shim is a child subreaper, so once runc has started the container and
exited, the container's init is the shim's child. The shim then writes the CRI log and the exit
status exactly as for a host process, and like one it outlives the agent. runc's state lives in a
root of our own (``state_dir/runc``), so ``runc list`` there shows only kuberya's containers; their
ids are ``<prefix><container id>``. One runc start is one ``runc`` process, not create + start.

Re-adoption after an agent crash reads the shims' files (as the process runtime does) and
``runc list``: a runc container with our prefix that has no record (the agent died between runc
starting it and the record being written cannot happen: the record comes first, but a state dir
restored from elsewhere can) is deleted.

Stopping sends the signal to the container's init by pid (what ``runc kill`` does, without a
runc process each time); a pid 1 without a handler ignores SIGTERM, as under any runtime, and the
grace period ends in SIGKILL, which takes the whole pid namespace with it. ``exec`` is ``runc exec``
(``-t`` with a tty, run on a pty of ours). Removal is ``runc delete --force``, the rootfs unmount
and the bundle's removal; the sandbox's removal also removes the cgroup directories runc made in
hierarchies kuberya does not use itself.

The image's unpacked layers are the overlay's lower dirs, so they must outlive any image name:
before mounting, a container takes a lease on its image and layers in the image store
(:class:`kuberya.images.leases.Lease`, held by the container's state directory), and the lease is
dropped after the unmount when the container is removed. ``kuberya rmi`` + gc while a pod runs
then untags the image but keeps its content until the pod is gone.

A container with ``tty`` gets the shim's pty as its stdin/stdout/stderr (``process.terminal`` stays
false: runc would want a console socket), so ``isatty`` holds; it has no controlling terminal.
Pods' containers share the network namespace but not IPC or UTS namespaces (no pause process holds
those); each sets the pod's hostname.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kuberya.runtime.base import ContainerConfig, ContainerRuntime, RuntimeError_, kernel_hostname
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.execution import ExecContext
from kuberya.runtime.network import PodNetwork
from kuberya.runtime.oci_spec import PodContext, build_spec, own_capabilities
from kuberya.runtime.podfiles import pod_files, write_pod_files
from kuberya.runtime.rootfs import mount_overlay, unmount
from kuberya.runtime.statefiles import ContainerRecord, PreparedContainer, SandboxRecord
from kuberya.runtime.supervised import DEFAULT_PATH, ShimRuntime

if TYPE_CHECKING:
    from kuberya.images.service import ImageService
    from kuberya.images.store import ImageStore

log = logging.getLogger(__name__)

__all__ = ["ImageResolver", "ImageRootfs", "RuncRuntime", "image_service_resolver", "open_runc_runtime"]

DEFAULT_ID_PREFIX = "kuberya-"


@dataclass(frozen=True, slots=True)
class ImageRootfs:
    """What a container needs of its image."""

    layers: tuple[Path, ...]
    """Unpacked layer directories, bottom first (whiteouts already in overlayfs form)."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """The image config's ``config`` object: ``Entrypoint``, ``Cmd``, ``Env``, ``WorkingDir``, ``User``…"""
    image_id: str = ""
    """Reported as the container's ``imageID`` (the config digest, Docker's image id)."""
    store: ImageStore | None = None
    """The image store ``layers`` live in: containers lease their content there, so gc keeps it while they
    exist. None for layers that no store collects (tests' own directories)."""
    image_digest: str = ""
    """The manifest digest, for the lease."""
    diff_ids: tuple[str, ...] = ()
    """The layers' diff_ids (bottom first, like ``layers``), for the lease."""


ImageResolver = Callable[[str], Awaitable[ImageRootfs]]
"""An image reference → its rootfs; raise :class:`RuntimeError_` with a message when it can't."""


def image_service_resolver(service: ImageService) -> ImageResolver:
    """Images from kuberya's own store; one that is not there is pulled (``IfNotPresent``).

    Pull policies and pull secrets are the node agent's business: an agent that pulls before it
    creates a container only ever hits the store here.
    """

    async def resolve(image: str) -> ImageRootfs:
        from kuberya.images.errors import ImageError
        from kuberya.images.service import PullPolicy

        try:
            found = await service.ensure(image, policy=PullPolicy.IF_NOT_PRESENT)
            unpacked = await service.rootfs(found)
        except ImageError as error:
            raise RuntimeError_(f"image {image}: {error}") from error
        if not all(layer.overlay_ready for layer in unpacked.layers):
            raise RuntimeError_(f"image {image} has layers that overlayfs cannot stack (unpack them again as root)")
        return ImageRootfs(
            layers=tuple(layer.path for layer in unpacked.layers),
            config=dict(unpacked.config.get("config") or {}),
            image_id=str(unpacked.image.id),
            store=service.store,
            image_digest=str(unpacked.image.digest),
            diff_ids=tuple(layer.diff_id for layer in unpacked.layers),
        )

    return resolve


def open_runc_runtime(
    *,
    state_dir: Path,
    pod_cidr: str | None = None,
    image_resolver: ImageResolver | None = None,
    plugin_path: str | None = None,
) -> RuncRuntime:
    """The registry's factory.

    Without a resolver, images come from ``<state_dir>/../images`` (the data directory's image
    store, where ``kuberya image`` puts them).
    """
    if image_resolver is None:
        from kuberya.images.service import ImageService, ImageSettings

        image_resolver = image_service_resolver(ImageService(ImageSettings(root=state_dir.parent / "images")))
    network = (
        PodNetwork(state_dir=state_dir / "network", subnet=pod_cidr, plugin_path=plugin_path)
        if PodNetwork.available()
        else None
    )
    return RuncRuntime(
        state_dir=state_dir, network=network, cgroups=CgroupManager.detect(), image_resolver=image_resolver
    )


class RuncRuntime(ShimRuntime):
    """OCI containers through runc; see the module docstring."""

    name = "runc"

    def __init__(
        self,
        *,
        state_dir: Path,
        network: PodNetwork | None,
        cgroups: CgroupManager | None,
        image_resolver: ImageResolver,
        runc: str = "runc",
        id_prefix: str = DEFAULT_ID_PREFIX,
    ) -> None:
        super().__init__(state_dir=state_dir, network=network, cgroups=cgroups)
        found = shutil.which(runc)
        if found is None:
            raise RuntimeError_(f"runc not found (looked for {runc!r} on PATH): install runc or use --runtime process")
        self.runc = found
        self.runc_root = state_dir / "runc"
        self.image_resolver = image_resolver
        self.id_prefix = id_prefix
        self._capabilities = own_capabilities()

    # ---- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.runc_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        await super().start()
        await self._delete_orphans()

    async def _delete_orphans(self) -> None:
        """``runc list``: containers of ours that no record knows are deleted."""
        known = {self.runc_id(c) for c in self._containers.values()}
        for entry in await self.runc_list():
            runc_id = str(entry.get("id", ""))
            if runc_id.startswith(self.id_prefix) and runc_id not in known:
                log.warning("deleting runc container %s: no kuberya container record names it", runc_id)
                await self._runc("delete", "--force", runc_id, check=False)

    async def runc_list(self) -> list[dict[str, Any]]:
        """``runc list`` in our root: id, pid, status, bundle… of every container runc knows."""
        output = await self._runc("list", "--format", "json")
        entries: list[dict[str, Any]] = json.loads(output or "null") or []
        return entries

    async def runc_state(self, container_id: str) -> dict[str, Any] | None:
        """``runc state`` of one container (None when runc does not know it)."""
        try:
            state: dict[str, Any] = json.loads(await self._runc("state", self.runc_id(self._container(container_id))))
        except RuntimeError_:
            return None
        return state

    # ---- sandboxes ------------------------------------------------------------------------

    async def _sandbox_created(self, sandbox: SandboxRecord, directory: Path) -> None:
        write_pod_files(directory, sandbox.config, ip=sandbox.ip)

    async def _teardown(self, sandbox: SandboxRecord) -> None:
        await super()._teardown(sandbox)
        if self.cgroups is not None and sandbox.cgroup is not None:
            await asyncio.to_thread(self.cgroups.remove_everywhere, sandbox.cgroup_relative)

    # ---- containers -----------------------------------------------------------------------

    def runc_id(self, container: ContainerRecord) -> str:
        return str(container.runtime_data.get("runc_id") or self.id_prefix + container.id)

    async def _prepare_container(
        self, container_id: str, sandbox: SandboxRecord, config: ContainerConfig, directory: Path
    ) -> PreparedContainer:
        image = await self.image_resolver(config.image)
        bundle = directory / "bundle"
        lease = await self._lease_image(container_id, sandbox, config, directory, image)
        try:
            rootfs = await asyncio.to_thread(mount_overlay, image.layers, bundle)
        except BaseException:
            await self._release_lease(lease)
            raise
        try:
            pod_cgroup = sandbox.pod_cgroup
            cgroups_path = f"{sandbox.cgroup_relative}/{container_id}" if pod_cgroup is not None else ""
            files = pod_files(self.state_dir / "sandboxes" / sandbox.id)
            pod = PodContext(
                hostname=kernel_hostname(sandbox.config),
                netns_path=sandbox.netns_path,
                files=files.mounts(),
                cgroups_path=cgroups_path,
            )
            spec = build_spec(config, image.config, pod, rootfs=rootfs, available_capabilities=self._capabilities)
            (bundle / "config.json").write_text(json.dumps(spec))
        except BaseException:
            unmount(rootfs)
            await self._release_lease(lease)
            raise
        runc_id = self.id_prefix + container_id
        oom_files = []
        if pod_cgroup is not None and pod_cgroup.oom_file is not None:
            oom_file = Path(pod_cgroup.oom_file)
            oom_files = [str(oom_file), str(oom_file.parent / container_id / oom_file.name)]
        shim_spec = {
            "argv": [
                *self._runc_argv(log_file=directory / "runc.log"),
                "run",
                "--detach",
                "--pid-file",
                str(directory / "container.pid"),
                "--bundle",
                str(bundle),
                runc_id,
            ],
            "env": {"PATH": DEFAULT_PATH},
            "cwd": str(bundle),
            "uid": None,
            "gid": None,
            "tty": config.tty,
            "log_path": str(config.log_path),
            "cgroup_procs": [],
            "oom_files": oom_files,
            "launcher": {"pid_file": str(directory / "container.pid"), "log": str(directory / "runc.log")},
        }
        return PreparedContainer(
            shim_spec=shim_spec,
            image_id=image.image_id or config.image,
            runtime_data={"runc_id": runc_id, "bundle": str(bundle), "rootfs": str(rootfs),
                          **({"image_lease": lease} if lease else {})},
        )  # fmt: skip

    async def _lease_image(
        self, container_id: str, sandbox: SandboxRecord, config: ContainerConfig, directory: Path, image: ImageRootfs
    ) -> dict[str, str] | None:
        """Lease the image's content for this container (see the module docstring); where to drop it later."""
        if image.store is None:
            return None
        from kuberya.images.errors import ImageError
        from kuberya.images.leases import Lease
        from kuberya.images.oci import check_digest

        pod = f"{sandbox.config['namespace']}/{sandbox.config['name']}"
        try:
            lease = Lease(
                id=f"runc-{container_id}",
                holder=directory.absolute(),
                image=image.image_digest,
                image_id=image.image_id,
                layers=tuple(check_digest(d) for d in image.diff_ids),
                reference=config.image,
                description=f"container {config.name} of pod {pod}",
                created=time.time(),
            )
            await asyncio.to_thread(image.store.add_lease, lease)
        except ImageError as error:
            raise RuntimeError_(f"image {config.image}: {error}") from error
        return {"store": str(image.store.root), "id": lease.id}

    @staticmethod
    async def _release_lease(lease: Mapping[str, str] | None) -> None:
        if lease:
            from kuberya.images.leases import release_lease

            await asyncio.to_thread(release_lease, Path(lease["store"]), lease["id"])

    async def _release_container(self, container: ContainerRecord) -> None:
        await self._runc("delete", "--force", self.runc_id(container), check=False)
        rootfs = container.runtime_data.get("rootfs")
        if rootfs:
            await asyncio.to_thread(unmount, Path(rootfs))
        # Only once nothing is mounted from the layers may gc take them.
        await self._release_lease(container.runtime_data.get("image_lease"))

    def _exec_command(
        self, container: ContainerRecord, command: Sequence[str], *, tty: bool
    ) -> tuple[ExecContext, list[str]]:
        argv = [*self._runc_argv(), "exec", *(["--tty"] if tty else []), self.runc_id(container), *command]
        return ExecContext(netns_path=None, env={"PATH": DEFAULT_PATH}, cwd="/"), argv

    # ---- runc -----------------------------------------------------------------------------

    def _runc_argv(self, *, log_file: Path | None = None) -> list[str]:
        argv = [self.runc, "--root", str(self.runc_root)]
        if log_file is not None:
            argv += ["--log", str(log_file), "--log-format", "text"]
        return argv

    async def _runc(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            *self._runc_argv(),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0 and check:
            detail = stderr.decode(errors="replace").strip()
            raise RuntimeError_(f"runc {' '.join(args)} failed: {detail or f'exit status {process.returncode}'}")
        return stdout.decode(errors="replace")


def _conforms(runtime: RuncRuntime) -> ContainerRuntime:
    """Never called: makes mypy check that the runtime really implements the protocol."""
    return runtime
