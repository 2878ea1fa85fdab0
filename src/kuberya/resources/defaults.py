"""Server-side defaulting: fill in what upstream fills in, so stored objects look like upstream's.

Real clients compare and display what the server returns: ``kubectl apply`` diffs against it,
``rollout`` compares the Deployment template with each ReplicaSet's, the Python client refuses
objects missing required fields. So kuberya defaults exactly the fields upstream defaults, and no
others — an extra field is as visible as a missing one.

The rules are those of k8s ``pkg/apis/{core,apps,autoscaling,discovery}/v1*/defaults.go`` plus the
few defaults upstream applies elsewhere at create time and that every stored object shows:

* Namespace ``spec.finalizers: [kubernetes]`` and the ``kubernetes.io/metadata.name`` label;
* a bare Pod's ``status.phase: Pending`` and ``qosClass`` (the pod strategy's PrepareForCreate);
* a bare Pod's ``serviceAccountName``/``serviceAccount: default``, ``priority: 0``,
  ``preemptionPolicy`` and the not-ready/unreachable tolerations (the ServiceAccount, Priority
  and DefaultTolerationSeconds admission plugins; no token volume is injected);
* Service ``ipFamilies``/``ipFamilyPolicy`` (the Service REST allocator, single-stack IPv4).

Pod *templates* (in Deployments and ReplicaSets) get the PodSpec defaults but not the Pod-only
ones above, as upstream: ``enableServiceLinks`` for instance appears on Pods, not on templates.

Status fields that upstream always serializes (non-omitempty) are filled in too — ReplicaSet
``status.replicas``, HPA ``status.desiredReplicas``, Service ``status.loadBalancer`` — since the
Python client rejects objects without them. The API server should therefore default *after* it
has reset a created object's status.

Objects are defaulted in their storage version (HPA: ``autoscaling/v2``), in place, idempotently.
"""

from __future__ import annotations

import base64
from typing import Any

from kuberya.resources.types import JSONObject

DEFAULT_CPU_UTILIZATION = 80


def secret_string_data_to_data(obj: JSONObject) -> None:
    """Merge a Secret's write-only ``stringData`` into base64 ``data`` (stringData wins), then drop it."""
    string_data = obj.pop("stringData", None)
    if not string_data:
        return
    data = obj.get("data") or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode("ascii")
    obj["data"] = data


def set_default(obj: JSONObject, key: str, value: Any) -> None:
    """Set ``key`` when absent or null — Go's "if obj.X == nil" — leaving explicit values alone."""
    if obj.get(key) is None:
        obj[key] = value


def child(obj: JSONObject, key: str) -> JSONObject:
    """``obj[key]``, made an empty object first when it is missing (or not an object)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


# ---- core/v1: pods and pod templates ----------------------------------------------------------


def image_pull_policy(image: str) -> str:
    """Return ``Always`` for an untagged or ``:latest`` image, else ``IfNotPresent``, like upstream."""
    if "@" in image:  # pinned by digest: never "latest"
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    set_default(probe, "timeoutSeconds", 1)
    set_default(probe, "periodSeconds", 10)
    set_default(probe, "successThreshold", 1)
    set_default(probe, "failureThreshold", 3)
    _default_handler(probe)


def _default_handler(handler: Any) -> None:
    """HTTPGet path ``/`` and scheme ``HTTP``, for probes and lifecycle hooks alike."""
    if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
        http_get = handler["httpGet"]
        if not http_get.get("path"):
            http_get["path"] = "/"
        if not http_get.get("scheme"):
            http_get["scheme"] = "HTTP"


def _default_field_ref(source: Any) -> None:
    field_ref = source.get("fieldRef") if isinstance(source, dict) else None
    if isinstance(field_ref, dict) and not field_ref.get("apiVersion"):
        field_ref["apiVersion"] = "v1"


def _default_container(container: JSONObject) -> None:
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = image_pull_policy(container.get("image") or "")
    if not container.get("terminationMessagePath"):
        container["terminationMessagePath"] = "/dev/termination-log"
    if not container.get("terminationMessagePolicy"):
        container["terminationMessagePolicy"] = "File"
    set_default(container, "resources", {})
    for port in container.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for env in container.get("env") or []:
        _default_field_ref(env.get("valueFrom"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))


_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)


def _default_volume(volume: JSONObject) -> None:
    if not any(volume.get(source) is not None for source in _VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(volume.get(source), dict):
            set_default(volume[source], "defaultMode", 0o644)
    for item in (volume.get("downwardAPI") or {}).get("items") or []:
        _default_field_ref(item)
    for projection in (volume.get("projected") or {}).get("sources") or []:
        for item in (projection.get("downwardAPI") or {}).get("items") or []:
            _default_field_ref(item)


def default_pod_spec(spec: JSONObject) -> None:
    """PodSpec defaults, shared by Pods and pod templates."""
    if not spec.get("dnsPolicy"):
        spec["dnsPolicy"] = "ClusterFirst"
    if not spec.get("restartPolicy"):
        spec["restartPolicy"] = "Always"
    set_default(spec, "terminationGracePeriodSeconds", 30)
    set_default(spec, "securityContext", {})
    if not spec.get("schedulerName"):
        spec["schedulerName"] = "default-scheduler"
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            _default_container(container)
            if spec.get("hostNetwork"):  # host networking: the host port is the container port
                for port in container.get("ports") or []:
                    set_default(port, "hostPort", port.get("containerPort"))
    for volume in spec.get("volumes") or []:
        _default_volume(volume)


def _default_template(owner: JSONObject) -> None:
    template = child(child(owner, "spec"), "template")
    default_pod_spec(child(template, "spec"))


def qos_class(spec: JSONObject) -> str:
    """Return the pod's QoS class from its containers' requests and limits (``GetPodQOS``, simplified)."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: list[dict[str, Any]] = [(c.get("resources") or {}).get("requests") or {} for c in containers]
    limits: list[dict[str, Any]] = [(c.get("resources") or {}).get("limits") or {} for c in containers]
    if not any(r.get(k) for r in requests + limits for k in ("cpu", "memory")):
        return "BestEffort"
    guaranteed = all(
        lim.get(k) is not None and str(req.get(k, lim.get(k))) == str(lim.get(k))
        for req, lim in zip(requests, limits, strict=True)
        for k in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def default_pod(pod: JSONObject) -> None:
    spec = child(pod, "spec")
    # SetDefaults_Pod: requests default to limits, before the PodSpec defaults.
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            resources = container.get("resources") or {}
            if resources.get("limits"):
                requests = resources.setdefault("requests", {})
                for name, quantity in resources["limits"].items():
                    requests.setdefault(name, quantity)
                container["resources"] = resources
    default_pod_spec(spec)
    set_default(spec, "enableServiceLinks", True)
    # Admission plugins upstream (ServiceAccount, Priority): every stored pod carries these.
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
    if not spec.get("serviceAccount"):
        spec["serviceAccount"] = spec["serviceAccountName"]
    set_default(spec, "priority", 0)
    set_default(spec, "preemptionPolicy", "PreemptLowerPriority")
    _default_toleration_seconds(spec)
    status = child(pod, "status")
    if not status.get("phase"):
        status["phase"] = "Pending"
    if not status.get("qosClass"):
        status["qosClass"] = qos_class(spec)


def _default_toleration_seconds(spec: JSONObject) -> None:
    """DefaultTolerationSeconds admission: tolerate a not-ready/unreachable node for 300 s."""
    tolerations = spec.get("tolerations") or []
    for taint in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == taint and t.get("effect") in ("NoExecute", None, "") for t in tolerations):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
    spec["tolerations"] = tolerations


# ---- core/v1: everything else ----------------------------------------------------------------


def default_service(svc: JSONObject) -> None:
    spec = child(svc, "spec")
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "ClientIP":
        client_ip = child(child(spec, "sessionAffinityConfig"), "clientIP")
        set_default(client_ip, "timeoutSeconds", 10800)
    for port in spec.get("ports") or []:
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    svc_type = spec["type"]
    if svc_type in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if svc_type == "LoadBalancer":
        set_default(spec, "allocateLoadBalancerNodePorts", True)
    if svc_type != "ExternalName":
        if not spec.get("internalTrafficPolicy"):
            spec["internalTrafficPolicy"] = "Cluster"
        # Normally the IP allocator's work; kuberya is single-stack IPv4.
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
    child(svc, "status").setdefault("loadBalancer", {})


def default_namespace(ns: JSONObject) -> None:
    metadata = child(ns, "metadata")
    if metadata.get("name"):
        child(metadata, "labels")["kubernetes.io/metadata.name"] = metadata["name"]
    spec = child(ns, "spec")
    set_default(spec, "finalizers", ["kubernetes"])
    status = child(ns, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def default_secret(secret: JSONObject) -> None:
    secret_string_data_to_data(secret)
    if not secret.get("type"):
        secret["type"] = "Opaque"


def default_endpoints(ep: JSONObject) -> None:
    for subset in ep.get("subsets") or []:
        for port in subset.get("ports") or []:
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def default_endpoint_slice(slice_: JSONObject) -> None:
    for port in slice_.get("ports") or []:
        set_default(port, "name", "")
        set_default(port, "protocol", "TCP")


def default_node(node: JSONObject) -> None:
    status = node.get("status")
    if isinstance(status, dict) and status.get("capacity") and status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


# ---- apps/v1 ---------------------------------------------------------------------------------


def default_deployment(deploy: JSONObject) -> None:
    spec = child(deploy, "spec")
    set_default(spec, "replicas", 1)
    strategy = child(spec, "strategy")
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = child(strategy, "rollingUpdate")
        set_default(rolling, "maxUnavailable", "25%")
        set_default(rolling, "maxSurge", "25%")
    set_default(spec, "revisionHistoryLimit", 10)
    set_default(spec, "progressDeadlineSeconds", 600)
    _default_template(deploy)
    child(deploy, "status")


def default_replica_set(rs: JSONObject) -> None:
    set_default(child(rs, "spec"), "replicas", 1)
    _default_template(rs)
    # `replicas` is the one non-omitempty status field; the Python client requires it.
    set_default(child(rs, "status"), "replicas", 0)


# ---- autoscaling/v2 --------------------------------------------------------------------------


def _scale_up_rules() -> JSONObject:
    return {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    }


def _scale_down_rules() -> JSONObject:
    # No stabilizationWindowSeconds: upstream leaves it to the controller's command-line default.
    return {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _merge_rules(given: Any, defaults: JSONObject) -> JSONObject:
    """Upstream ``copyHPAScalingRules``: the given non-null fields over the defaults."""
    if isinstance(given, dict):
        for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
            if given.get(key) is not None:
                defaults[key] = given[key]
    return defaults


def default_hpa_v2(hpa: JSONObject) -> None:
    spec = child(hpa, "spec")
    set_default(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    # desiredReplicas is non-omitempty upstream and required by the Python client's model.
    set_default(child(hpa, "status"), "desiredReplicas", 0)
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        behavior["scaleUp"] = _merge_rules(behavior.get("scaleUp"), _scale_up_rules())
        behavior["scaleDown"] = _merge_rules(behavior.get("scaleDown"), _scale_down_rules())


def cpu_utilization_metric(percent: int) -> JSONObject:
    """Return the v2 metric spec of a v1 ``targetCPUUtilizationPercentage``."""
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}},
    }
