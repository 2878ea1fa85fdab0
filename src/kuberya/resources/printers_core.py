"""Table printers for the core/v1 kinds, after upstream ``printers.go`` (v1.32)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.printers_base import (
    AGE,
    NAME,
    age,
    column,
    dig,
    format_labels,
    human_duration,
    name,
    parse_time,
    since,
)
from kuberya.resources.types import JSONObject

# ---- pods -----------------------------------------------------------------------------------

POD_COLUMNS = [
    NAME,
    column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    column("Status", "string", "The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container "
        "in this pod has restarted.",
    ),
    AGE,
    column("IP", "string", "podIP address allocated to the pod.", priority=1),
    column("Node", "string", "NodeName indicates in which node this pod is scheduled.", priority=1),
    column(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods.",
        priority=1,
    ),
    column(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        priority=1,
    ),
]


def _condition_true(status: JSONObject, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True" for c in status.get("conditions") or [])


def _is_sidecar(container: JSONObject | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _terminated_reason(terminated: JSONObject, prefix: str) -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def pod_status_reason(pod: JSONObject) -> tuple[str, int, int, int, datetime | None]:
    """Return (STATUS, ready, total containers, restarts, last restart) as upstream ``printPod``."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs.values() if _is_sidecar(c))
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    def later(current: datetime | None, cstatus: JSONObject) -> datetime | None:
        finished = parse_time(dig(cstatus, "lastState", "terminated", "finishedAt"))
        return finished if finished and (current is None or finished > current) else current

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cstatus in enumerate(init_statuses):
        restarts += int(cstatus.get("restartCount") or 0)
        last_restart = later(last_restart, cstatus)
        sidecar = _is_sidecar(init_specs.get(cstatus.get("name")))
        if sidecar:
            sidecar_restarts += int(cstatus.get("restartCount") or 0)
            last_sidecar_restart = later(last_sidecar_restart, cstatus)
        state = cstatus.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and not terminated.get("exitCode"):
            continue
        if sidecar and cstatus.get("started"):
            ready += 1 if cstatus.get("ready") else 0
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cstatus in reversed(status.get("containerStatuses") or []):
            restarts += int(cstatus.get("restartCount") or 0)
            last_restart = later(last_restart, cstatus)
            state = cstatus.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated, "")
            elif cstatus.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose last-listed container completed but another still runs is not "Completed".
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def print_pod(pod: JSONObject, now: datetime) -> list[Any]:
    reason, ready, total, restarts, last_restart = pod_status_reason(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    readiness = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        passed = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        readiness = f"{passed}/{len(gates)}"
    return [
        name(pod),
        f"{ready}/{total}",
        reason,
        restarts_text,
        age(pod, now),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]


# ---- services and endpoints ------------------------------------------------------------------

SERVICE_COLUMNS = [
    NAME,
    column("Type", "string", "type determines how the Service is exposed."),
    column("Cluster-IP", "string", "clusterIP is the IP address of the service."),
    column(
        "External-IP",
        "string",
        "externalIPs is a list of IP addresses for which nodes will also accept traffic.",
    ),
    column("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    column(
        "Selector",
        "string",
        "Route service traffic to pods with label keys and values matching this selector.",
        priority=1,
    ),
]

_LOAD_BALANCER_WIDTH = 16


def _load_balancer_ips(svc: JSONObject) -> str:
    ingress = dig(svc, "status", "loadBalancer", "ingress") or []
    found = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
    return ",".join(found)


def service_external_ip(svc: JSONObject, *, wide: bool = True) -> str:
    """Upstream ``getServiceExternalIP``: ``<none>``, ``<pending>``, the LB and external IPs."""
    spec = svc.get("spec") or {}
    external = spec.get("externalIPs") or []
    svc_type = spec.get("type")
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = _load_balancer_ips(svc)
        if not wide and len(lb) > _LOAD_BALANCER_WIDTH:
            lb = lb[: _LOAD_BALANCER_WIDTH - 3] + "..."
        if external:
            return ",".join(([*lb.split(",")] if lb else []) + list(external))
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def service_ports(svc: JSONObject) -> str:
    """``80/TCP``, ``80:30080/TCP`` with a node port, comma-joined; ``<none>`` without ports."""
    pieces = []
    for port in dig(svc, "spec", "ports") or []:
        protocol = port.get("protocol", "TCP")
        node_port = port.get("nodePort")
        pieces.append(f"{port.get('port')}:{node_port}/{protocol}" if node_port else f"{port.get('port')}/{protocol}")
    return ",".join(pieces) or "<none>"


def print_service(svc: JSONObject, now: datetime) -> list[Any]:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [
        name(svc),
        spec.get("type", ""),
        cluster_ips[0] if cluster_ips else "<none>",
        service_external_ip(svc),
        service_ports(svc),
        age(svc, now),
        format_labels(spec.get("selector")),
    ]


def _join_host_port(host: str, port: Any) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_endpoints(ep: JSONObject) -> str:
    """Upstream ``formatEndpoints``: up to three ``ip:port``, then ``+ N more...``."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        # Headless services may have no ports: list bare addresses.
        entries = addresses if not ports else [_join_host_port(a, p.get("port")) for p in ports for a in addresses]
        for entry in entries:
            if len(shown) < 3:
                shown.append(entry)
            count += 1
    text = ",".join(shown)
    return f"{text} + {count - 3} more..." if count > 3 else text


def print_endpoints(ep: JSONObject, now: datetime) -> list[Any]:
    return [name(ep), format_endpoints(ep), age(ep, now)]


# ---- namespaces, config, secrets, service accounts -------------------------------------------


def print_namespace(ns: JSONObject, now: datetime) -> list[Any]:
    return [name(ns), dig(ns, "status", "phase") or "", age(ns, now)]


def print_config_map(cm: JSONObject, now: datetime) -> list[Any]:
    return [name(cm), len(cm.get("data") or {}) + len(cm.get("binaryData") or {}), age(cm, now)]


def print_secret(secret: JSONObject, now: datetime) -> list[Any]:
    return [name(secret), secret.get("type", ""), len(secret.get("data") or {}), age(secret, now)]


def print_service_account(sa: JSONObject, now: datetime) -> list[Any]:
    return [name(sa), len(sa.get("secrets") or []), age(sa, now)]


# ---- events ----------------------------------------------------------------------------------

EVENT_COLUMNS = [
    column("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    column("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    column(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for "
        "the transition into the object's current status.",
    ),
    column("Object", "string", "The object that this event is about."),
    column(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string "
        "should contain a valid JSON/Go field access statement.",
        priority=1,
    ),
    column(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
        priority=1,
    ),
    column("Message", "string", "A human-readable description of the status of this operation."),
    column(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
        priority=1,
    ),
    column("Count", "string", "The number of times this event has occurred.", priority=1),
    column("Name", "string", "name", fmt="name", priority=1),
]


def print_event(ev: JSONObject, now: datetime) -> list[Any]:
    first = since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if isinstance(series, dict):
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1  # singleton events of the new API carry no count
    involved = ev.get("involvedObject") or {}
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = dig(ev, "source", "component") or ev.get("reportingComponent") or ""
    host = dig(ev, "source", "host") or ev.get("reportingInstance") or ""
    source = f"{component}, {host}" if host else component
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        source,
        str(ev.get("message", "")).strip(),
        first,
        int(count),
        name(ev),
    ]


# ---- nodes -----------------------------------------------------------------------------------

NODE_COLUMNS = [
    NAME,
    column("Status", "string", "The status of the node"),
    column("Roles", "string", "The roles of the node"),
    AGE,
    column("Version", "string", "Kubelet Version reported by the node."),
    column("Internal-IP", "string", "List of addresses reachable to the node.", priority=1),
    column("External-IP", "string", "List of addresses reachable to the node.", priority=1),
    column(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
        priority=1,
    ),
    column(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
        priority=1,
    ),
    column(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
        priority=1,
    ),
]


def _node_address(node: JSONObject, type_: str) -> str:
    for address in dig(node, "status", "addresses") or []:
        if address.get("type") == type_:
            return str(address.get("address", ""))
    return "<none>"


def _node_roles(node: JSONObject) -> str:
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and key != "node-role.kubernetes.io/":
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(roles)) or "<none>"


def print_node(node: JSONObject, now: datetime) -> list[Any]:
    ready = next((c for c in dig(node, "status", "conditions") or [] if c.get("type") == "Ready"), None)
    status = ["Unknown"] if ready is None else ["Ready" if ready.get("status") == "True" else "NotReady"]
    if dig(node, "spec", "unschedulable"):
        status.append("SchedulingDisabled")
    info = dig(node, "status", "nodeInfo") or {}
    return [
        name(node),
        ",".join(status),
        _node_roles(node),
        age(node, now),
        info.get("kubeletVersion", ""),
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


# ---- resource quotas -------------------------------------------------------------------------


def print_resource_quota(quota: JSONObject, now: datetime) -> list[Any]:
    hard = dig(quota, "status", "hard") or {}
    used = dig(quota, "status", "used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        entry = f"{resource}: {used.get(resource, '0')}/{hard[resource]}"
        (limits if resource.split(".")[0] == "limits" and "." in resource else requests).append(entry)
    return [name(quota), age(quota, now), ", ".join(requests), ", ".join(limits)]


ENDPOINTS_COLUMNS = [
    NAME,
    column("Endpoints", "string", "The set of all endpoints is the union of all subsets."),
    AGE,
]


NAMESPACE_COLUMNS = [NAME, column("Status", "string", "The status of the namespace"), AGE]


CONFIG_MAP_COLUMNS = [NAME, column("Data", "string", "Data contains the configuration data."), AGE]


SECRET_COLUMNS = [
    NAME,
    column("Type", "string", "Used to facilitate programmatic handling of secret data."),
    column("Data", "string", "Data contains the secret data."),
    AGE,
]


SERVICE_ACCOUNT_COLUMNS = [
    NAME,
    column(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running "
        "using this ServiceAccount are allowed to use.",
    ),
    AGE,
]


RESOURCE_QUOTA_COLUMNS = [
    NAME,
    AGE,
    column(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    column(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use "
        "independent of contention on the node.",
    ),
]
