"""The few facts about the cluster and the image store that planning needs, without doing I/O.

Planning is pure; the CLI, which owns the API client and the image store, answers these
questions. Because the client is async and planning is not, the CLI is expected to look the facts
up first — :func:`facts_needed` says exactly which — and hand them over as a :class:`StaticFacts`.
Anything else implementing :class:`ClusterFacts` works too (tests use :class:`StaticFacts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kuberya.nl.plan import NODE_INTENTS, STORAGE_INTENTS, STORAGE_KINDS, Intent, Request

_IMAGE_INTENTS = (Intent.RUN_APP, Intent.RUN_POD, Intent.RUN_JOB, Intent.RUN_CRONJOB, Intent.RUN_STATEFULSET)


@dataclass(frozen=True)
class ImageFacts:
    reference: str
    """The full reference in the local store, e.g. ``payment:v1``."""
    exposed_ports: tuple[int, ...] = ()
    """TCP ports from the image config's ``ExposedPorts``: a Service is made for these."""


@dataclass(frozen=True)
class DeploymentFacts:
    replicas: int
    containers: tuple[str, ...] = ()
    """Container names, so ``set image`` patches the right container."""
    images: tuple[str, ...] = ()
    """The containers' images, in the same order."""
    container_ports: tuple[int, ...] = ()
    """Declared container ports, the default for ``expose`` when no port was said."""


class ClusterFacts(Protocol):
    @property
    def default_namespace(self) -> str:
        """The namespace of the kubeconfig context (``default`` on a fresh cluster)."""
        ...

    @property
    def default_registry(self) -> str | None:
        """Where unknown images come from (``REGISTRY/X:latest``), if configured."""
        ...

    @property
    def nodes(self) -> tuple[str, ...]:
        """The cluster's node names (looked up only for node requests: drain, cordon, uncordon)."""
        ...

    def namespace_exists(self, namespace: str) -> bool: ...

    def deployment(self, namespace: str, name: str) -> DeploymentFacts | None: ...

    def local_image(self, name: str) -> ImageFacts | None:
        """The local image for a repository name (its most recent tag) or an exact reference."""
        ...


@dataclass(frozen=True)
class StaticFacts:
    """Facts looked up beforehand: the CLI's answer, and the tests' stage."""

    default_namespace: str = "default"
    default_registry: str | None = None
    namespaces: frozenset[str] = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
    deployments: Mapping[tuple[str, str], DeploymentFacts] = field(default_factory=dict)
    """Keyed by ``(namespace, name)``."""
    images: Mapping[str, ImageFacts] = field(default_factory=dict)
    """Keyed by repository name and/or full reference, as the CLI looked them up."""
    nodes: tuple[str, ...] = ()

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self.namespaces

    def deployment(self, namespace: str, name: str) -> DeploymentFacts | None:
        return self.deployments.get((namespace, name))

    def local_image(self, name: str) -> ImageFacts | None:
        return self.images.get(name)


@dataclass(frozen=True)
class FactsNeeded:
    """What :func:`kuberya.nl.build.build_plan` will ask for this request."""

    namespace: str | None
    """Check this namespace exists (``None``: the context's own namespace, assumed to exist)."""
    deployment: str | None
    """Look up this Deployment (in ``namespace`` or the context's namespace)."""
    images: tuple[str, ...]
    """Look these names up in the local image store."""
    nodes: bool = False
    """List the cluster's nodes (a node request that may not name its node)."""


def facts_needed(request: Request) -> FactsNeeded:
    images: tuple[str, ...] = ()
    if request.intent in _IMAGE_INTENTS:
        images = (request.image,) if request.image else (request.app or "",)
    nodes = request.intent in NODE_INTENTS
    deployment = request.app if request.intent not in _IMAGE_INTENTS[2:] else None
    if request.intent in STORAGE_INTENTS or request.kind in STORAGE_KINDS:
        deployment = None  # a claim's name is not a Deployment's
    return FactsNeeded(namespace=request.namespace, deployment=deployment, images=images, nodes=nodes)
