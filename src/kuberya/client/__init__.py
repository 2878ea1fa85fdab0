"""kuberya.client: the asyncio Kubernetes API client, informers and the controllers' work queue.

This package imports nothing else of kuberya: every other component (controllers, node agent,
proxy, CLI) reaches the API server only through it.
"""

from kuberya.client.api import ApiClient
from kuberya.client.clock import Clock, FakeClock, LoopClock
from kuberya.client.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    GoneError,
    InvalidError,
    MethodNotAllowedError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
)
from kuberya.client.factory import SharedInformer, SharedInformerFactory
from kuberya.client.informer import HandlerRegistration, Informer, Store
from kuberya.client.interface import KubeClient
from kuberya.client.resources import ResourceRef, object_key, split_key
from kuberya.client.watch import WatchEvent
from kuberya.client.workqueue import ExponentialBackoff, WorkQueue, run_controller, run_workers

__all__ = [
    "AlreadyExistsError",
    "ApiClient",
    "ApiError",
    "BadRequestError",
    "Clock",
    "ConflictError",
    "ExpiredError",
    "ExponentialBackoff",
    "FakeClock",
    "ForbiddenError",
    "GoneError",
    "HandlerRegistration",
    "Informer",
    "InvalidError",
    "KubeClient",
    "LoopClock",
    "MethodNotAllowedError",
    "NotFoundError",
    "ResourceRef",
    "SharedInformer",
    "SharedInformerFactory",
    "Store",
    "TooManyRequestsError",
    "UnauthorizedError",
    "WatchEvent",
    "WorkQueue",
    "object_key",
    "run_controller",
    "run_workers",
    "split_key",
]
