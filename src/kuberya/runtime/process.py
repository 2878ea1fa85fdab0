"""The ``process`` runtime: containers are host processes, each supervised by a detached shim.

The image's filesystem is not used (the image is only recorded; ``image_id`` is
``process://<image>``): command, args, env, workingDir, runAsUser/Group and resources are.
As root each pod gets its own network namespace on the kuberya bridge
(:mod:`kuberya.runtime.network`) and its own cgroups (:mod:`kuberya.runtime.cgroups`);
otherwise its own user and network namespace with a loopback pod IP, its ports published there
(:mod:`kuberya.runtime.rootless`), and it is accounted from ``/proc``. Where user namespaces are
not allowed either, pods share the host network (pod IP ``127.0.0.1``).

Sandboxes, containers, their state on disk and the watching of exits are
:class:`~kuberya.runtime.supervised.ShimRuntime`'s (shared with the runc runtime); this module
says only how a container is a host process.

A pod with a network of its own also gets the files a runc pod has (:mod:`kuberya.runtime.podfiles`:
``/etc/hosts`` with its IP and hostname, ``/etc/resolv.conf`` naming the cluster DNS with the
namespace's search path, ``/etc/hostname``), written once per sandbox. Each container's shim
makes mount and UTS namespaces of its own, binds the files over the host's there and sets the
pod's hostname (so ``gethostname()`` is the name ``/etc/hosts`` gives; see
:mod:`kuberya.runtime.shim`), and ``exec`` joins both. So ``http://payment:8080`` resolves in a
process pod as in a runc one. Without a network namespace of its own (host network, or no pod
network on this machine) a pod keeps the host's files, as upstream's ``hostNetwork`` pods do;
namespaces that cannot be made are a warning, never a failed pod. A rootless pod's cluster DNS
answers inside its network namespace (:mod:`kuberya.proxy.dns`): its sandbox is ready only once
it does.

A container's volume mounts are bound at their ``mountPath`` by its shim, in the same mount
namespace (recursive binds, parents first; ``readOnly`` remounted read-only), so an app finds
``/data`` where its manifest says. Every container with volume mounts gets a mount namespace of its
own, a host-network one too (a mount namespace needs no network namespace; it gets no UTS one, its
hostname is the host's). A mount point missing on the host is made there, empty, recorded, and
removed once no container of this runtime needs it (:mod:`kuberya.runtime.mountplan` says why
that and not a tmpfs over an ancestor); rootless, where the user cannot make it (``/data``) or the
bind is refused, the container does not start (``ContainerCannotRun`` with the reason, which the
node agent reports as a ``Failed`` event, as a runc container that cannot mount its volume): a
container writing at the host's path instead of its volume would lose its data. An unprivileged
shim with no user namespace of the pod's (a rootless host-network pod) makes one that maps only its
own ids, which is enough for binds. Everything else on the host stays visible.

What a container cannot have here: its image's filesystem, capabilities, a read-only root,
privileged mode and stdin/attach (stdin is ``/dev/null``) are accepted and ignored; the ``runc``
runtime is for isolation. The hostname is also passed as ``HOSTNAME``.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kuberya.runtime.base import ContainerConfig, ContainerRuntime, RuntimeError_, kernel_hostname
from kuberya.runtime.cgroups import CgroupManager
from kuberya.runtime.execution import ExecContext, namespace_options
from kuberya.runtime.mountplan import make_mount_points, plan_binds, release_mount_points
from kuberya.runtime.network import PodNetwork, SandboxNetwork
from kuberya.runtime.nsconnect import namespace_ready
from kuberya.runtime.podfiles import PodFiles, pod_files, write_pod_files
from kuberya.runtime.rootless import RootlessNetwork
from kuberya.runtime.statefiles import ContainerRecord, PreparedContainer, SandboxRecord, read_json
from kuberya.runtime.supervised import DEFAULT_PATH, ShimRuntime

log = logging.getLogger(__name__)

__all__ = ["ProcessRuntime", "open_process_runtime"]

NAMESPACE_SETUP_TIMEOUT = 5.0
"""How long a new sandbox waits for what is made inside its network namespace (its DNS listener)."""


def open_process_runtime(
    *, state_dir: Path, pod_cidr: str | None = None, rootless_network: bool = False, plugin_path: str | None = None
) -> ProcessRuntime:
    """The registry's factory: a pod network and cgroups where this machine allows them.

    The bridge as root; else the rootless network where user namespaces are allowed; else none
    (the host's). ``rootless_network`` picks the rootless one even as root (tests).
    """
    network: SandboxNetwork | None = None
    if not rootless_network and PodNetwork.available():
        network = PodNetwork(state_dir=state_dir / "network", subnet=pod_cidr, plugin_path=plugin_path)
    elif RootlessNetwork.available():
        network = RootlessNetwork(state_dir=state_dir / "rootless-network")
    elif rootless_network:
        raise RuntimeError_("the rootless pod network needs unshare, nsenter and user namespaces allowed for this user")
    return ProcessRuntime(state_dir=state_dir, network=network, cgroups=CgroupManager.detect())


class ProcessRuntime(ShimRuntime):
    """Host processes under shims; see the module docstring."""

    name = "process"

    def __init__(
        self, *, state_dir: Path, network: SandboxNetwork | None, cgroups: CgroupManager | None = None
    ) -> None:
        super().__init__(state_dir=state_dir, network=network, cgroups=cgroups)
        self._nsenter = shutil.which("nsenter") or "nsenter"

    async def _sandbox_created(self, sandbox: SandboxRecord, directory: Path) -> None:
        if not sandbox.netns_path:
            return  # the host's network: the host's files
        write_pod_files(directory, sandbox.config, ip=sandbox.ip)
        if not await namespace_ready(sandbox.netns_path, timeout=NAMESPACE_SETUP_TIMEOUT):
            log.warning("pod %s/%s: its network namespace is not set up after %.0fs (no cluster DNS in it yet?); "
                        "starting it anyway", sandbox.config["namespace"], sandbox.config["name"],
                        NAMESPACE_SETUP_TIMEOUT)  # fmt: skip

    def _pod_files(self, sandbox: SandboxRecord) -> PodFiles | None:
        """The files a container of the sandbox binds over the host's; None: it keeps the host's."""
        if not sandbox.netns_path:
            return None
        directory = self.state_dir / "sandboxes" / sandbox.id
        files = pod_files(directory)
        if not all(path.exists() for path, _ in files.mounts()):
            files = write_pod_files(directory, sandbox.config, ip=sandbox.ip)  # a sandbox from before pod files
        return files

    async def _prepare_container(
        self, container_id: str, sandbox: SandboxRecord, config: ContainerConfig, directory: Path
    ) -> PreparedContainer:
        if not config.command:
            raise RuntimeError_(
                f"container {config.name} has no command: the process runtime needs one (no image config)"
            )
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": kernel_hostname(sandbox.config), "HOME": "/root"}
        env.update(dict(config.env))
        pod_cgroup = sandbox.pod_cgroup
        context = ExecContext(
            netns_path=sandbox.netns_path,
            userns_path=sandbox.userns_path,
            env=env,
            cwd=config.working_dir or "/",
            uid=config.run_as_user,
            gid=config.run_as_group,
            cgroup_procs=tuple(pod_cgroup.procs_files) if pod_cgroup else (),
        )
        spec: dict[str, Any] = {
            "argv": list(config.command),
            "env": env,
            "cwd": context.cwd,
            "uid": config.run_as_user,
            "gid": config.run_as_group,
            "tty": config.tty,
            "log_path": str(config.log_path),
            "cgroup_procs": list(context.cgroup_procs),
            "oom_file": pod_cgroup.oom_file if pod_cgroup else None,
        }
        files = self._pod_files(sandbox)
        if files is not None:
            spec["pod_files"] = [[str(source), target] for source, target in files.mounts()]
            spec["hostname"] = kernel_hostname(sandbox.config)
        binds = plan_binds(config.mounts, working_dir=context.cwd)
        runtime_data: dict[str, Any] = {}
        if binds:
            made, errors = make_mount_points(binds, self.state_dir)
            spec["volumes"] = [[bind.source, bind.target, bind.read_only] for bind in made]
            spec["mount_errors"] = errors  # the shim fails the start with them, as a failed bind
            runtime_data["mount_points"] = [bind.host_mount_point for bind in binds]
        return PreparedContainer(
            shim_spec=spec,
            image_id="process://" + config.image,
            exec_context=asdict(context),
            runtime_data=runtime_data,
        )

    async def _release_container(self, container: ContainerRecord) -> None:
        # The mount points this container alone needed go; those another live container uses stay.
        if not container.runtime_data.get("mount_points"):
            return
        in_use = {
            point
            for other in self._containers.values()
            if other.id != container.id
            for point in other.runtime_data.get("mount_points", ())
        }
        release_mount_points(self.state_dir, in_use)

    def _shim_argv(self, container: ContainerRecord, argv: list[str]) -> list[str]:
        sandbox = self._sandboxes.get(container.sandbox_id)
        if sandbox is not None and sandbox.netns_path:
            # Python 3.11 has no os.setns: the shim starts inside the pod's network namespace.
            return [self._nsenter, *namespace_options(sandbox.netns_path, sandbox.userns_path), "--", *argv]
        return argv

    async def start_container(self, container_id: str) -> None:
        await super().start_container(container_id)
        warning = (read_json(self._dir(container_id) / "started.json") or {}).get("mount_warning")
        if warning:
            container = self._container(container_id)
            log.warning("container %s (%s): %s; where it sees the host's files, Service names may not resolve",
                        container.name, container_id, warning)  # fmt: skip

    def _exec_command(
        self, container: ContainerRecord, command: Sequence[str], *, tty: bool
    ) -> tuple[ExecContext, list[str]]:
        fields = dict(container.exec_context)
        fields["cgroup_procs"] = tuple(fields["cgroup_procs"])
        started = self._read_state(container.id)[1]
        if started and started.get("own_mounts"):
            # The container's own namespaces, by its (running: checked by the caller) process.
            fields["namespaces_pid"] = started["pid"]
            fields["join_uts"] = bool(started.get("own_uts", True))  # a record from before own_uts: both
            fields["join_user"] = bool(started.get("own_user"))
        return ExecContext(**fields), list(command)


def _conforms(runtime: ProcessRuntime) -> ContainerRuntime:
    """Never called: makes mypy check that the runtime really implements the protocol."""
    return runtime
