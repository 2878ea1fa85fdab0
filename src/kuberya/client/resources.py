"""Which resource a request is about, and the URL paths that follow from it.

A :class:`ResourceRef` is the client's view of one resource in one group/version (what discovery
lists): enough to build ``/api/v1/namespaces/ns/pods/name/status`` or
``/apis/apps/v1/deployments``. The constants below name the built-in kinds the controllers use;
anything else comes from :meth:`kuberya.client.ApiClient.discover`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Re-exported: caches and work queues key objects this way.
from kuberya.meta.objects import object_key as object_key
from kuberya.meta.objects import split_key as split_key


@dataclass(frozen=True, slots=True)
class ResourceRef:
    group: str
    """The API group; ``""`` for the core group (``/api/v1``)."""
    version: str
    resource: str
    """The plural, lower-case name used in URLs: ``replicasets``."""
    namespaced: bool
    kind: str
    verbs: frozenset[str] = field(default=frozenset(), compare=False, hash=False, repr=False)
    """The verbs discovery listed (empty for the constants below: assume all)."""

    @property
    def api_version(self) -> str:
        """``apps/v1``, or ``v1`` for the core group: what objects carry in ``apiVersion``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``replicasets.apps``, or ``pods`` for the core group: as the server names it in errors."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def supports(self, *verbs: str) -> bool:
        """Tell whether every verb is served (always true when discovery did not say)."""
        return not self.verbs or all(v in self.verbs for v in verbs)

    def path(self, name: str | None = None, *, namespace: str | None = None, subresource: str | None = None) -> str:
        """Build the URL path of the collection, or of one object and optionally its subresource.

        A namespaced resource without ``namespace`` gives the all-namespaces collection (list and
        watch only). A cluster-scoped resource ignores ``namespace``.
        """
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.resource)
        if name is not None:
            if not name:
                raise ValueError(f"an empty name for {self.group_resource}")
            parts.append(name)
            if subresource:
                parts.append(subresource)
        elif subresource:
            raise ValueError("a subresource needs an object name")
        return "/".join(parts)

    def object_key(self, obj: dict[str, Any]) -> str:
        """Return the cache key of ``obj``: ``namespace/name`` when namespaced, else ``name``."""
        return object_key(obj) if self.namespaced else str(obj.get("metadata", {}).get("name", ""))


PODS = ResourceRef("", "v1", "pods", True, "Pod")
SERVICES = ResourceRef("", "v1", "services", True, "Service")
ENDPOINTS = ResourceRef("", "v1", "endpoints", True, "Endpoints")
NAMESPACES = ResourceRef("", "v1", "namespaces", False, "Namespace")
NODES = ResourceRef("", "v1", "nodes", False, "Node")
EVENTS = ResourceRef("", "v1", "events", True, "Event")
EVENTS_V1 = ResourceRef("events.k8s.io", "v1", "events", True, "Event")
REPLICATIONCONTROLLERS = ResourceRef("", "v1", "replicationcontrollers", True, "ReplicationController")
PODTEMPLATES = ResourceRef("", "v1", "podtemplates", True, "PodTemplate")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases", True, "Lease")
RUNTIMECLASSES = ResourceRef("node.k8s.io", "v1", "runtimeclasses", False, "RuntimeClass")
CONFIGMAPS = ResourceRef("", "v1", "configmaps", True, "ConfigMap")
SECRETS = ResourceRef("", "v1", "secrets", True, "Secret")
SERVICEACCOUNTS = ResourceRef("", "v1", "serviceaccounts", True, "ServiceAccount")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments", True, "Deployment")
REPLICASETS = ResourceRef("apps", "v1", "replicasets", True, "ReplicaSet")
DAEMONSETS = ResourceRef("apps", "v1", "daemonsets", True, "DaemonSet")
STATEFULSETS = ResourceRef("apps", "v1", "statefulsets", True, "StatefulSet")
CONTROLLERREVISIONS = ResourceRef("apps", "v1", "controllerrevisions", True, "ControllerRevision")
PERSISTENTVOLUMECLAIMS = ResourceRef("", "v1", "persistentvolumeclaims", True, "PersistentVolumeClaim")
PERSISTENTVOLUMES = ResourceRef("", "v1", "persistentvolumes", False, "PersistentVolume")
STORAGECLASSES = ResourceRef("storage.k8s.io", "v1", "storageclasses", False, "StorageClass")
ENDPOINTSLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", True, "EndpointSlice")
HPA = ResourceRef("autoscaling", "v2", "horizontalpodautoscalers", True, "HorizontalPodAutoscaler")
JOBS = ResourceRef("batch", "v1", "jobs", True, "Job")
CRONJOBS = ResourceRef("batch", "v1", "cronjobs", True, "CronJob")
PODDISRUPTIONBUDGETS = ResourceRef("policy", "v1", "poddisruptionbudgets", True, "PodDisruptionBudget")
PRIORITYCLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", False, "PriorityClass")
RESOURCEQUOTAS = ResourceRef("", "v1", "resourcequotas", True, "ResourceQuota")
LIMITRANGES = ResourceRef("", "v1", "limitranges", True, "LimitRange")
NETWORKPOLICIES = ResourceRef("networking.k8s.io", "v1", "networkpolicies", True, "NetworkPolicy")
INGRESSES = ResourceRef("networking.k8s.io", "v1", "ingresses", True, "Ingress")
INGRESSCLASSES = ResourceRef("networking.k8s.io", "v1", "ingressclasses", False, "IngressClass")
CLUSTERROLES = ResourceRef("rbac.authorization.k8s.io", "v1", "clusterroles", False, "ClusterRole")

BUILTIN: tuple[ResourceRef, ...] = (
    PODS,
    SERVICES,
    ENDPOINTS,
    NAMESPACES,
    NODES,
    EVENTS,
    CONFIGMAPS,
    SECRETS,
    SERVICEACCOUNTS,
    DEPLOYMENTS,
    REPLICASETS,
    REPLICATIONCONTROLLERS,
    PODTEMPLATES,
    LEASES,
    RUNTIMECLASSES,
    EVENTS_V1,
    DAEMONSETS,
    STATEFULSETS,
    CONTROLLERREVISIONS,
    PERSISTENTVOLUMECLAIMS,
    ENDPOINTSLICES,
    HPA,
    JOBS,
    CRONJOBS,
    PODDISRUPTIONBUDGETS,
    PRIORITYCLASSES,
    RESOURCEQUOTAS,
    LIMITRANGES,
    NETWORKPOLICIES,
    INGRESSES,
    INGRESSCLASSES,
)
