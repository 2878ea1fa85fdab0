"""From the pod spec to the runtime's configs: :class:`SandboxConfig` and :class:`ContainerConfig`.

The sandbox gets the pod's hostname (``spec.hostname`` or the pod name), its DNS settings
(``dnsPolicy`` and ``dnsConfig``: ``ClusterFirst`` points at the cluster DNS Service and its
search domains, as :func:`kuberya.client.servicelinks.pod_dns_config` defines them), its host ports
and its TCP container ports (which a network without a bridge publishes on the pod IP).

A container's argv follows upstream's command/args rules where the runtime has no image config
(the ``process`` runtime): ``command + args``, or ``args`` alone; with neither there is nothing
to run, which is a :class:`~kuberya.node.env.ContainerConfigError` on that runtime.
Both runtime objects carry labels naming the pod and container, so a restarted agent can adopt
what it finds (:mod:`kuberya.node.state` names the labels).
"""

from __future__ import annotations

import signal
from pathlib import Path

from kuberya.client.servicelinks import CLUSTER_DOMAIN, pod_dns_config
from kuberya.meta.quantity import parse_quantity
from kuberya.meta.types import Obj
from kuberya.node.env import ContainerConfigError, PodFacts, SourceLookup, container_env, expand_command
from kuberya.node.state import (
    LABEL_CONTAINER_KIND,
    LABEL_CONTAINER_NAME,
    LABEL_IMAGE_ID,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_COUNT,
    ContainerRecord,
    PodState,
)
from kuberya.node.subpaths import container_mounts, read_only_volumes
from kuberya.node.termination import DEFAULT_PATH as DEFAULT_TERMINATION_PATH
from kuberya.runtime.base import ContainerConfig, Mount, PortMapping, Resources, SandboxConfig

NO_COMMAND = "process runtime needs a command: set spec.containers[].command"


def pod_labels(state: PodState) -> dict[str, str]:
    return {LABEL_POD_UID: state.uid, LABEL_POD_NAME: state.name, LABEL_POD_NAMESPACE: state.namespace}


def sandbox_config(state: PodState, *, runtime_handler: str = "") -> SandboxConfig:
    """The pod's sandbox; ``runtime_handler`` is its RuntimeClass's handler (empty: the default)."""
    spec = state.pod.get("spec") or {}
    policy = str(spec.get("dnsPolicy") or "ClusterFirst")
    host_network = state.host_network
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    if policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not host_network):
        cluster_nameservers, cluster_searches, cluster_options = pod_dns_config(state.namespace)
        nameservers, searches, options = list(cluster_nameservers), list(cluster_searches), list(cluster_options)
    dns = spec.get("dnsConfig") or {}
    nameservers += [str(n) for n in dns.get("nameservers") or []]
    searches += [str(s) for s in dns.get("searches") or [] if str(s) not in searches]
    for option in dns.get("options") or []:
        name = str(option.get("name") or "")
        text = f"{name}:{option['value']}" if option.get("value") is not None else name
        options = [o for o in options if o.split(":", 1)[0] != name] + [text]
    ports = tuple(
        PortMapping(
            container_port=int(port.get("containerPort") or 0),
            protocol=str(port.get("protocol") or "TCP"),
            host_port=int(port.get("hostPort") or 0),
            host_ip=str(port.get("hostIP") or ""),
        )
        for container in spec.get("containers") or []
        for port in container.get("ports") or []
        if port.get("hostPort")
    )
    container_ports = sorted(
        {
            int(port["containerPort"])
            for container in spec.get("containers") or []
            for port in container.get("ports") or []
            if str(port.get("protocol") or "TCP") == "TCP" and str(port.get("containerPort") or "").isdigit()
        }
    )
    meta = state.pod.get("metadata") or {}
    subdomain = str(spec.get("subdomain") or "")
    hostname = pod_hostname(spec, state.name)
    domain = f"{subdomain}.{state.namespace}.svc.{CLUSTER_DOMAIN}" if subdomain else ""
    return SandboxConfig(
        pod_uid=state.uid,
        name=state.name,
        namespace=state.namespace,
        hostname=hostname,
        hostname_domain=domain,
        kernel_hostname=kernel_hostname_of(hostname, domain, as_fqdn=spec.get("setHostnameAsFQDN") is True),
        host_aliases=tuple(
            (str(alias.get("ip") or ""), tuple(str(n) for n in alias.get("hostnames") or []))
            for alias in spec.get("hostAliases") or []
        ),
        labels={**(meta.get("labels") or {}), **pod_labels(state)},
        annotations=dict(meta.get("annotations") or {}),
        dns_nameservers=tuple(nameservers),
        dns_searches=tuple(searches),
        dns_options=tuple(options),
        host_network=host_network,
        ports=ports,
        container_ports=tuple(container_ports),
        cgroup_parent=f"kuberya/pod{state.uid}",
        runtime_handler=runtime_handler,
    )


class SandboxConfigError(ValueError):
    """The pod asks for a sandbox that cannot be made (the kubelet's ``generatePodSandboxConfig`` error)."""


KERNEL_HOSTNAME_LIMIT = 64
"""The kernel's ``HOST_NAME_MAX``: the longest a UTS hostname may be."""


def kernel_hostname_of(hostname: str, domain: str, *, as_fqdn: bool) -> str:
    """The pod's UTS hostname: its FQDN with ``setHostnameAsFQDN`` and a domain, as ``GetNodenameForKernel``.

    Raises :class:`SandboxConfigError` with the kubelet's message when that FQDN is too long.
    """
    if not as_fqdn or not domain:
        return ""
    fqdn = f"{hostname}.{domain}"
    if len(fqdn) > KERNEL_HOSTNAME_LIMIT:
        raise SandboxConfigError(
            f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long "
            f"({KERNEL_HOSTNAME_LIMIT} characters is the max, {len(fqdn)} characters requested)"
        )
    return fqdn


def pod_hostname(spec: Obj, pod_name: str) -> str:
    """``spec.hostname`` or the pod name, cut to a DNS label's 63 characters as the kubelet cuts it.

    As ``truncatePodHostnameIfNeeded``: no trailing ``-`` or ``.`` is left.
    """
    hostname = str(spec.get("hostname") or pod_name)
    return hostname[:63].rstrip("-.") if len(hostname) > 63 else hostname


def stop_signal(container: Obj) -> int:
    """``lifecycle.stopSignal`` (``SIGINT``…) as a number; SIGTERM by default."""
    name = str((container.get("lifecycle") or {}).get("stopSignal") or "SIGTERM")
    try:
        return int(signal.Signals[name if name.startswith("SIG") else f"SIG{name}"])
    except KeyError:
        return int(signal.SIGTERM)


def _amount(values: Obj, key: str, scale: int) -> int:
    value = values.get(key)
    if value is None:
        return 0
    try:
        return int(parse_quantity(str(value)) * scale)
    except ValueError:
        return 0


def resources(container: Obj) -> Resources:
    spec = container.get("resources") or {}
    requests, limits = spec.get("requests") or {}, spec.get("limits") or {}
    return Resources(
        cpu_request_millis=_amount(requests, "cpu", 1000),
        cpu_limit_millis=_amount(limits, "cpu", 1000),
        memory_request_bytes=_amount(requests, "memory", 1),
        memory_limit_bytes=_amount(limits, "memory", 1),
    )


async def container_config(
    state: PodState,
    rec: ContainerRecord,
    *,
    restart: int,
    log_path: Path,
    runtime_name: str,
    lookup: SourceLookup,
    facts: PodFacts,
    termination_log: Path | None = None,
    image_id: str = "",
) -> ContainerConfig:
    """The runtime config of the container's next instance; ContainerConfigError when it can't be made.

    ``termination_log`` (image runtimes) is mounted at the container's ``terminationMessagePath``;
    ``image_id`` (what the image was pulled as) goes into a label, for the status's ``imageID``.
    """
    spec = rec.spec
    env = await container_env(state.pod, spec, lookup=lookup, facts=facts)
    command, args = expand_command(spec, env)
    argv = [*command, *args] if command else args
    if not argv and runtime_name == "process":
        raise ContainerConfigError(NO_COMMAND)
    pod_security = (state.pod.get("spec") or {}).get("securityContext") or {}
    security = spec.get("securityContext") or {}
    capabilities = security.get("capabilities") or {}
    run_as_user = security.get("runAsUser", pod_security.get("runAsUser"))
    run_as_group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    mounts = container_mounts(spec, state.volume_paths, env=env, read_only_volumes=read_only_volumes(state.pod))
    if termination_log is not None:
        target = str(spec.get("terminationMessagePath") or DEFAULT_TERMINATION_PATH)
        mounts = (*mounts, Mount(termination_log, target))
    return ContainerConfig(
        name=rec.name,
        image=str(spec.get("image") or ""),
        command=tuple(argv),
        env=tuple(env),
        log_path=log_path,
        working_dir=str(spec.get("workingDir") or ""),
        mounts=mounts,
        tty=bool(spec.get("tty")),
        stdin=bool(spec.get("stdin")),
        stdin_once=bool(spec.get("stdinOnce")),
        resources=resources(spec),
        run_as_user=int(run_as_user) if run_as_user is not None else None,
        run_as_group=int(run_as_group) if run_as_group is not None else None,
        privileged=bool(security.get("privileged")),
        read_only_root_filesystem=bool(security.get("readOnlyRootFilesystem")),
        capabilities_add=tuple(str(c) for c in capabilities.get("add") or []),
        capabilities_drop=tuple(str(c) for c in capabilities.get("drop") or []),
        image_entrypoint_override=bool(command),
        stop_signal=stop_signal(spec),
        labels={
            **pod_labels(state),
            LABEL_CONTAINER_NAME: rec.name,
            LABEL_RESTART_COUNT: str(restart),
            LABEL_CONTAINER_KIND: "init" if rec.init else "app",
            **({LABEL_IMAGE_ID: image_id} if image_id else {}),
        },
    )


__all__ = ["NO_COMMAND", "ContainerConfigError", "container_config", "sandbox_config", "stop_signal"]
