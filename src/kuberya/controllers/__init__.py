"""kuberya.controllers: one level-triggered reconciler per concern, talking to the API via kuberya.client."""

from kuberya.controllers.garbage_collector import GarbageCollector, ObjectKey
from kuberya.controllers.namespace import NamespaceController
from kuberya.controllers.node import HostInfo, NodeController, read_host_info

__all__ = [
    "GarbageCollector",
    "HostInfo",
    "NamespaceController",
    "NodeController",
    "ObjectKey",
    "read_host_info",
]
