"""Images before containers: the kubelet's image manager (``EnsureImageExists``) for image runtimes.

Runtimes that run a container from its image (``runc``) get the image from kuberya's store; before
the agent creates a container it makes sure the image is there, by the container's
``imagePullPolicy`` (the API server defaults it; ``Always`` for ``:latest`` or no tag, else
``IfNotPresent``):

- present, and the policy is not ``Always``: event ``Pulled`` ("Container image "x" already
  present on machine");
- ``Never`` and missing: ``ErrImageNeverPull`` (event and waiting reason), retried on the back-off
  timer so that a ``kuberya load`` of the image lets the pod start;
- otherwise pull, with credentials from the pod's ``imagePullSecrets`` (``kubernetes.io/dockerconfigjson``
  secrets' ``.dockerconfigjson``, legacy ``kubernetes.io/dockercfg`` ones' ``.dockercfg``): events
  ``Pulling``, then ``Pulled`` ("Successfully pulled image "x" in 1.2s…") or ``Failed`` ("Failed to
  pull image "x": <what failed>") and the waiting reason ``ErrImagePull``. The next pull of that image
  waits out a back-off timed like CrashLoopBackOff (``backoff_base`` doubling up to ``backoff_cap``);
  meanwhile the container waits in ``ImagePullBackOff`` ("Back-off pulling image "x"").

An invalid reference is ``InvalidImageName``. The result is the image's ``imageID`` as
``repository@digest`` (``docker.io/library/busybox@sha256:…``), which containerd also reports.

The ``process`` runtime does not use images: the agent gives it no :class:`ImageManager` and only
notes that the image is "already present" (:mod:`kuberya.node.pods`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Protocol

from kuberya.client import Clock
from kuberya.images.auth import Credentials, parse_docker_config
from kuberya.images.errors import ImageError
from kuberya.images.reference import Reference, parse_reference
from kuberya.images.service import ImageService, PullPolicy, default_pull_policy
from kuberya.meta.timefmt import go_duration
from kuberya.meta.types import Obj
from kuberya.node.env import SourceLookup
from kuberya.node.events import EventRecorder
from kuberya.node.state import ContainerRecord, PodState

logger = logging.getLogger(__name__)


ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
INVALID_IMAGE_NAME = "InvalidImageName"
WAITING_REASONS = frozenset({ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF, ERR_IMAGE_NEVER_PULL, INVALID_IMAGE_NAME})
"""Waiting reasons of a container whose image is not there: no instance of it was made."""

PULL_ERROR_RESYNC = 1.0
"""Seconds after a failed pull before the container shows ``ImagePullBackOff`` instead of ``ErrImagePull``."""

_SECRET_KEYS = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}


class PulledImage(Protocol):
    """What the agent needs of an image in the store."""

    @property
    def digest(self) -> str:
        """The manifest's digest."""

    @property
    def size(self) -> int: ...


class ImageSource(Protocol):
    """Where images come from: :class:`StoreImages` (the node's store), or a fake in unit tests."""

    def find(self, ref: str) -> PulledImage | None: ...

    async def ensure(
        self, ref: str, *, policy: PullPolicy, auth: Mapping[str, Credentials] | None = None
    ) -> PulledImage: ...


class StoreImages:
    """The node's :class:`ImageService` as an :class:`ImageSource`.

    A registry on a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``) is reached over
    plain http, as Docker does by default: that is where local and test registries live, and
    the agent has no ``--insecure-registry`` of its own.
    """

    def __init__(self, service: ImageService) -> None:
        self.service = service

    def find(self, ref: str) -> PulledImage | None:
        return self.service.find(ref)

    async def ensure(
        self, ref: str, *, policy: PullPolicy, auth: Mapping[str, Credentials] | None = None
    ) -> PulledImage:
        self._allow_plain_http(parse_reference(ref))
        return await self.service.ensure(ref, policy=policy, auth=auth)

    def _allow_plain_http(self, ref: Reference) -> None:
        settings = self.service.settings
        if ref.domain in settings.registry.insecure or not _is_loopback(ref.domain):
            return
        registry = replace(settings.registry, insecure=settings.registry.insecure | {ref.domain})
        self.service.settings = replace(settings, registry=registry)


def _is_loopback(domain: str) -> bool:
    """``127.0.0.1:5000``, ``[::1]:5000``, ``localhost``: a registry domain on this machine."""
    host = domain[1:].split("]", 1)[0] if domain.startswith("[") else domain.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pull_policy(container: Obj) -> PullPolicy:
    """The container's ``imagePullPolicy``, or upstream's default for its image."""
    image = str(container.get("image") or "")
    try:
        return PullPolicy(str(container.get("imagePullPolicy") or ""))
    except ValueError:
        return default_pull_policy(image)


class ImageManager:
    """Ensures containers' images before they are created; see the module docstring."""

    def __init__(
        self,
        source: ImageSource,
        *,
        recorder: EventRecorder,
        lookup: SourceLookup,
        clock: Clock,
        wake: Callable[[str], None],
        backoff_base: float,
        backoff_cap: float,
    ) -> None:
        self.source = source
        self.recorder = recorder
        self.lookup = lookup
        self.clock = clock
        self.wake = wake
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    async def ensure(self, state: PodState, rec: ContainerRecord) -> str | None:
        """The ``imageID`` to create ``rec``'s next instance with; None: not now (``rec`` says why)."""
        image = str(rec.spec.get("image") or "")
        now = self.clock.now()
        waiting = rec.waiting_reason in (ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF)
        if waiting and rec.pull_failed_image == image and rec.pull_retry_at is not None and now < rec.pull_retry_at:
            self._back_off(state, rec, image)
            return None
        try:
            ref = parse_reference(image)
        except ImageError:
            message = (
                f'Failed to apply default image tag "{image}": '
                f'couldn\'t parse image name "{image}": invalid reference format'
            )
            self._fail(state, rec, image, INVALID_IMAGE_NAME, message, event_reason="InspectFailed")
            return None
        policy = pull_policy(rec.spec)
        present = self.source.find(image)
        if present is not None and policy is not PullPolicy.ALWAYS:
            self._event(state, rec, "Normal", "Pulled", f'Container image "{image}" already present on machine')
            return self._succeeded(rec, ref, present)
        if policy is PullPolicy.NEVER:
            message = f'Container image "{image}" is not present with pull policy of Never'
            self._fail(state, rec, image, ERR_IMAGE_NEVER_PULL, message, event_reason=ERR_IMAGE_NEVER_PULL)
            return None
        auth = await self._credentials(state)
        self._event(state, rec, "Normal", "Pulling", f'Pulling image "{image}"')
        started = self.clock.now()
        try:
            pulled = await self.source.ensure(image, policy=policy, auth=auth)
        except ImageError as exc:
            message = f'Failed to pull image "{image}": {exc}'
            self._fail(state, rec, image, ERR_IMAGE_PULL, message, event_reason="Failed")
            self._event(state, rec, "Warning", "Failed", f"Error: {ERR_IMAGE_PULL}")
            return None
        elapsed = go_duration(round(max(self.clock.now() - started, 0.001), 3))
        self._event(
            state,
            rec,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in {elapsed}. Image size: {pulled.size} bytes.',
        )
        return self._succeeded(rec, ref, pulled)

    def _succeeded(self, rec: ContainerRecord, ref: Reference, image: PulledImage) -> str:
        rec.pull_backoff, rec.pull_retry_at, rec.pull_failed_image = 0.0, None, ""
        return f"{ref.repository}@{image.digest}"

    def _fail(
        self, state: PodState, rec: ContainerRecord, image: str, reason: str, message: str, *, event_reason: str
    ) -> None:
        """The image is not there: wait in ``reason``, and try again once the back-off has passed."""
        self._event(state, rec, "Warning", event_reason, message)
        if rec.pull_failed_image != image or rec.pull_backoff <= 0:
            rec.pull_backoff = self.backoff_base
        else:
            rec.pull_backoff = min(rec.pull_backoff * 2, self.backoff_cap)
        rec.pull_failed_image = image
        rec.pull_retry_at = self.clock.now() + rec.pull_backoff
        rec.waiting_reason, rec.waiting_message = reason, message
        uid = state.uid
        if reason == ERR_IMAGE_PULL:
            self.clock.call_later(min(PULL_ERROR_RESYNC, rec.pull_backoff), lambda: self.wake(uid))
        self.clock.call_later(rec.pull_backoff, lambda: self.wake(uid))

    def _back_off(self, state: PodState, rec: ContainerRecord, image: str) -> None:
        if rec.waiting_reason != IMAGE_PULL_BACKOFF:
            self._event(state, rec, "Normal", "BackOff", f'Back-off pulling image "{image}"')
            self._event(state, rec, "Warning", "Failed", f"Error: {IMAGE_PULL_BACKOFF}")
            failure = rec.waiting_message.removeprefix(f'Failed to pull image "{image}": ')
            rec.waiting_reason = IMAGE_PULL_BACKOFF
            rec.waiting_message = f'Back-off pulling image "{image}": {ERR_IMAGE_PULL}: {failure}'

    def _event(self, state: PodState, rec: ContainerRecord, type_: str, reason: str, message: str) -> None:
        self.recorder.record(state.pod, type_, reason, message, container=rec.name)

    async def _credentials(self, state: PodState) -> dict[str, Credentials] | None:
        """The registries' credentials in the pod's ``imagePullSecrets`` (the first secret naming a host wins)."""
        auths: dict[str, Credentials] = {}
        missing: list[str] = []
        for entry in (state.pod.get("spec") or {}).get("imagePullSecrets") or []:
            name = str((entry or {}).get("name") or "")
            if not name:
                continue
            secret = await self.lookup.secret(state.namespace, name)
            if secret is None:
                missing.append(name)
                continue
            key = _SECRET_KEYS.get(str(secret.get("type") or ""))
            encoded = (secret.get("data") or {}).get(key) if key else None
            if not encoded:
                logger.warning("pull secret %s/%s has no %s: ignored", state.namespace, name, key or "docker config")
                continue
            try:
                found = parse_docker_config(base64.b64decode(str(encoded), validate=False))
            except (ImageError, binascii.Error, ValueError) as exc:
                logger.warning("pull secret %s/%s cannot be read: %s", state.namespace, name, exc)
                continue
            for host, credentials in found.items():
                auths.setdefault(host, credentials)
        if missing:
            self.recorder.record(
                state.pod,
                "Warning",
                "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
                "attempting to pull the image may not succeed.",
            )
        return auths or None
