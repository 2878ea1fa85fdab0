"""Answering the planner's questions: the cluster's state and the local image store, looked up first.

Planning (:mod:`kuberya.nl`) is pure and synchronous; the API client is async. So the CLI asks
:func:`kuberya.nl.facts_needed` what the plan will want to know, fetches exactly that — does the
namespace exist, what is the Deployment's scale, containers and ports, which local image a name
means and which ports it exposes — and hands it over as a :class:`kuberya.nl.StaticFacts`.

Lookups that the user's credentials may not allow (``get namespace`` on a shared cluster) count
as "exists": the plan then fails at the step that needs it, with the server's own message, rather
than creating a namespace that may already be there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kuberya.nl import DeploymentFacts, ImageFacts, Request, StaticFacts, facts_needed

if TYPE_CHECKING:
    from kuberya.client import KubeClient
    from kuberya.images.image import Image


class ImageLookup(Protocol):
    def local_image(self, name: str) -> ImageFacts | None: ...


class NoImages:
    """No local store applies (a remote cluster cannot run the local store's images)."""

    def local_image(self, name: str) -> ImageFacts | None:
        return None


@dataclass(frozen=True)
class StoreImages:
    """The local OCI store in ``DATA_DIR/images`` (the one the local node agent runs from)."""

    root: Path

    def local_image(self, name: str) -> ImageFacts | None:
        if not (self.root / "index.json").exists():
            return None  # never create a store just to look into it
        from kuberya.images.errors import ImageError
        from kuberya.images.reference import parse_reference
        from kuberya.images.store import ImageStore

        try:
            wanted = parse_reference(name, default_tag=False)
            store = ImageStore(self.root)
            if wanted.tag or wanted.digest:
                image = store.find(name)
                return None if image is None else _facts(image, parse_reference(name).familiar)
            # A bare repository name ("payment") means its most recently created tag, the one
            # just built, rather than insisting on ":latest".
            candidates = []
            for image in store.images():
                for ref in image.names:
                    parsed = parse_reference(ref)
                    if parsed.repository == wanted.repository:
                        candidates.append((image.created.timestamp() if image.created else 0.0, parsed.familiar, image))
            if not candidates:
                return None
            _, familiar, image = max(candidates, key=lambda c: (c[0], c[1]))
            return _facts(image, familiar)
        except (ImageError, OSError, ValueError):
            return None


def _facts(image: Image, reference: str) -> ImageFacts:
    exposed = (image.config.get("config") or {}).get("ExposedPorts") or {}
    ports = []
    for key in exposed:
        port, _, proto = str(key).partition("/")
        if (proto or "tcp").lower() == "tcp" and port.isdigit():
            ports.append(int(port))
    return ImageFacts(reference=reference, exposed_ports=tuple(sorted(ports)))


def deployment_facts(obj: dict[str, Any]) -> DeploymentFacts:
    """The planner's view of a Deployment object."""
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    ports = [
        int(p["containerPort"])
        for c in containers
        for p in (c.get("ports") or [])
        if isinstance(p, dict) and isinstance(p.get("containerPort"), int)
    ]
    return DeploymentFacts(
        replicas=int(spec.get("replicas", 1)),
        containers=tuple(str(c.get("name", "")) for c in containers),
        images=tuple(str(c.get("image", "")) for c in containers),
        container_ports=tuple(ports),
    )


async def gather_facts(
    client: KubeClient,
    request: Request,
    *,
    default_namespace: str,
    default_registry: str | None,
    images: ImageLookup,
) -> StaticFacts:
    """Look up what :func:`facts_needed` asks for this request; nothing else is read."""
    from kuberya.client import ForbiddenError, NotFoundError
    from kuberya.client.resources import DEPLOYMENTS, NAMESPACES

    needed = facts_needed(request)
    namespace = needed.namespace or default_namespace
    namespaces = {default_namespace}
    if needed.namespace is not None and needed.namespace != default_namespace:
        try:
            await client.get(NAMESPACES, needed.namespace)
            namespaces.add(needed.namespace)
        except ForbiddenError:
            namespaces.add(needed.namespace)
        except NotFoundError:
            pass
    deployments: dict[tuple[str, str], DeploymentFacts] = {}
    if needed.deployment is not None and namespace in namespaces:
        try:
            obj = await client.get(DEPLOYMENTS, needed.deployment, namespace=namespace)
            deployments[(namespace, needed.deployment)] = deployment_facts(obj)
        except NotFoundError:
            pass
    found: dict[str, ImageFacts] = {}
    for name in needed.images:
        if name and (facts := images.local_image(name)) is not None:
            found[name] = facts
    return StaticFacts(
        default_namespace=default_namespace,
        default_registry=default_registry,
        namespaces=frozenset(namespaces),
        deployments=deployments,
        images=found,
    )
