"""``ImageService``: the one entry point to images for the CLI and the node agent.

It composes the store, the registry client, archives and builds, and adds what callers need on
top: pull policies (Kubernetes' ``Always``/``IfNotPresent``/``Never``), per-call credentials (an
``imagePullSecret`` decoded by the node agent) merged over the configured ones, and de-duplication
of concurrent pulls of the same image in one process (ten pods starting from one image make one
pull). All settings are passed in (:class:`ImageSettings`); nothing here reads the environment.

Pulls and pushes block (:mod:`kuberya.images.pullpush`): the CLI calls :meth:`ImageService.pull_blocking`
and never imports asyncio (~60 ms of its start-up); the server awaits :meth:`ImageService.pull`, which
runs the same code on a thread of its own - not the loop's default executor, which a slow pull
would hold for minutes - and cancels it (sockets shut, partial blobs kept) when its task is cancelled.

For the runc runtime, :meth:`ImageService.rootfs` returns the image's unpacked layer directories
(lowest first; :attr:`UnpackedImage.lower_dirs` in overlayfs order) and its config; layers are
unpacked on first use, in a worker thread, and shared between images by diff_id.
"""

from __future__ import annotations

import enum
import threading
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from kuberya.images.auth import Credentials, registry_key
from kuberya.images.errors import ImageError, ImageNotFoundError
from kuberya.images.image import Image, UnpackedImage
from kuberya.images.oci import Digest
from kuberya.images.reference import DEFAULT_TAG, Reference, parse_reference
from kuberya.images.store import GcResult, ImageStore
from kuberya.images.transfer import Cancel, NoProgress, Progress, RegistrySettings

if TYPE_CHECKING:
    import asyncio

    # Imported where used: archives, builds and app detection cost a `kuberya pull` ~20 ms of
    # start-up it has no use for (the CLI's start-up is on the clock, see bench/pull_bench.py).
    from kuberya.images import build, detect

_T = TypeVar("_T")


class PullPolicy(enum.Enum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


def default_pull_policy(image: str) -> PullPolicy:
    """Kubernetes' default: ``Always`` for ``:latest`` or no tag, else ``IfNotPresent``."""
    ref = parse_reference(image, default_tag=False)
    if ref.digest is None and ref.tag in (None, DEFAULT_TAG):
        return PullPolicy.ALWAYS
    return PullPolicy.IF_NOT_PRESENT


@dataclass(frozen=True, slots=True)
class ImageSettings:
    root: Path
    """The store directory (``DATA_DIR/images``)."""
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    build: build.BuildSettings | None = None
    """None: buildah with storage under ``root/buildah``."""


@dataclass(frozen=True, slots=True)
class RemoveResult:
    untagged: tuple[str, ...]
    gc: GcResult | None


class ImageService:
    def __init__(self, settings: ImageSettings) -> None:
        self.settings = settings
        self.store = ImageStore(settings.root)
        self._pulls: dict[str, asyncio.Future[Image]] = {}

    # -- local ---------------------------------------------------------------------------------------

    def images(self) -> list[Image]:
        return self.store.images()

    def get(self, ref: str) -> Image:
        return self.store.get(ref)

    def find(self, ref: str) -> Image | None:
        return self.store.find(ref)

    def tag(self, source: str, target: str) -> Image:
        image = self.store.get(source)
        self.store.tag_digest(image.digest, (target,))
        return self.store.load(image.digest)

    def remove(self, ref: str, *, prune: bool = True) -> RemoveResult:
        """Untag ``ref`` (every name of the image when ``ref`` is an id); then gc unless ``prune`` is off."""
        with self.store.lease():
            image = self.store.get(ref)
            try:
                key = parse_reference(ref).name
            except ImageError:
                key = ""
            if key in image.names:
                self.store.untag(key)
                untagged: tuple[str, ...] = (key,)
            else:
                untagged = self.store.untag_digest(image.digest)
        return RemoveResult(untagged=untagged, gc=self.store.gc() if prune else None)

    def gc(self) -> GcResult:
        return self.store.gc()

    def load(self, path: Path, *, names: tuple[str, ...] = ()) -> list[Image]:
        from kuberya.images import archive

        return archive.load_archive(path, self.store, names=names, platform=self.settings.registry.platform)

    def save(self, refs: list[str], out: Path) -> list[Image]:
        from kuberya.images import archive

        named = []
        for ref in refs:
            image = self.store.get(ref)
            name = parse_reference(ref).name if _is_name(ref) else (image.names[0] if image.names else "")
            if not name:
                raise ImageError(f"image {ref} has no name to record in the archive: tag it first")
            named.append(archive.Named(image, name))
        archive.save_archive(self.store, named, out)
        return [n.image for n in named]

    async def rootfs(self, ref: str | Image) -> UnpackedImage:
        """The image's unpacked layers (unpacking what is missing) and config, for a runtime."""
        import asyncio  # already loaded by whoever awaits this; the CLI's pull never does

        image = ref if isinstance(ref, Image) else self.store.get(ref)

        def unpack() -> UnpackedImage:
            with self.store.lease():
                return self.store.unpack(image)

        return await asyncio.to_thread(unpack)

    # -- registries ----------------------------------------------------------------------------------

    def _registry(self, auth: Mapping[str, Credentials] | None) -> RegistrySettings:
        settings = self.settings.registry
        if not auth:
            return settings
        # A ChainMap, not a merged copy: the configured auths may run credential helpers on lookup
        # (kuberya.images.auth), and copying them would run every one of them.
        # (ChainMap only ever writes to its first map, so the cast is safe.)
        configured = cast("MutableMapping[str, Credentials]", settings.auths)
        return replace(settings, auths=ChainMap({registry_key(k): v for k, v in auth.items()}, configured))

    async def ensure(
        self,
        ref: str,
        *,
        policy: PullPolicy,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
    ) -> Image:
        """The image ``ref`` by ``policy``: what the node agent calls before creating a container."""
        local = self._local_by_policy(ref, policy)
        if local is not None:
            return local
        return await self.pull(ref, auth=auth, progress=progress)

    def ensure_blocking(
        self,
        ref: str,
        *,
        policy: PullPolicy,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Image:
        """:meth:`ensure` for blocking callers (a build's base images)."""
        local = self._local_by_policy(ref, policy)
        if local is not None:
            return local
        return self.pull_blocking(ref, auth=auth, progress=progress, cancel=cancel)

    def _local_by_policy(self, ref: str, policy: PullPolicy) -> Image | None:
        """The local image ``policy`` settles for; None: pull. Raises for ``Never`` without one."""
        local = self.store.find(ref)
        if policy is PullPolicy.NEVER:
            if local is None:
                raise ImageNotFoundError(
                    f"image {ref!r} is not present and the pull policy is Never (ErrImageNeverPull): "
                    "load or build it first"
                )
            return local
        return local if policy is PullPolicy.IF_NOT_PRESENT else None

    def pull_blocking(
        self,
        ref: str,
        *,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Image:
        """Pull ``ref`` from its registry (blocks; blobs move on threads of their own)."""
        parsed = parse_reference(ref)
        from kuberya.images.pullpush import pull_image  # the HTTP client, only when needed
        from kuberya.images.registry import RegistryClient

        with RegistryClient(self._registry(auth), cancel=cancel) as client:
            return pull_image(client, parsed, self.store, progress=progress or NoProgress())

    async def pull(
        self, ref: str, *, auth: Mapping[str, Credentials] | None = None, progress: Progress | None = None
    ) -> Image:
        """:meth:`pull_blocking` for the server; concurrent pulls of one image in this process share one."""
        import asyncio

        key = parse_reference(ref).name
        running = self._pulls.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Image] = asyncio.get_running_loop().create_future()
        self._pulls[key] = future
        try:
            image = await _on_own_thread(
                lambda cancel: self.pull_blocking(ref, auth=auth, progress=progress, cancel=cancel), f"pull {key}"
            )
            future.set_result(image)
            return image
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters get it, nobody is warned about an unread exception
            raise
        finally:
            del self._pulls[key]

    async def push(
        self,
        ref: str,
        *,
        dest: str | None = None,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
    ) -> Digest:
        """:meth:`push_blocking` on a thread of its own."""
        return await _on_own_thread(
            lambda cancel: self.push_blocking(ref, dest=dest, auth=auth, progress=progress, cancel=cancel),
            f"push {ref}",
        )

    def push_blocking(
        self,
        ref: str,
        *,
        dest: str | None = None,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> Digest:
        """Push the local image ``ref`` to its registry (or as ``dest``, which is then tagged locally)."""
        image = self.store.get(ref)
        target: Reference = parse_reference(dest or ref)
        if target.digest and not target.tag:
            raise ImageError(f"push needs a tag to push to, not a digest: {dest or ref}")
        from kuberya.images.pullpush import push_image  # the HTTP client, only when needed
        from kuberya.images.registry import RegistryClient

        with RegistryClient(self._registry(auth), cancel=cancel) as client:
            digest = push_image(client, image, target, self.store, progress=progress or NoProgress())
        if dest is not None:
            self.store.tag_digest(image.digest, (target.name,))
        return digest

    # -- builds --------------------------------------------------------------------------------------

    def build_settings(self) -> build.BuildSettings:
        from kuberya.images.build import BuildSettings

        if self.settings.build is not None:
            return self.settings.build
        return BuildSettings(storage_root=self.settings.root / "buildah" / "root",
                                   run_root=self.settings.root / "buildah" / "run")  # fmt: skip

    def build_blocking(
        self,
        request: build.BuildRequest,
        *,
        log: build.Log,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> build.BuildResult:
        """Build with buildah; base images come from the store, pulled first if missing.

        (Defined before :meth:`build`: in the class body that name would hide the module in the annotations.)
        """
        from kuberya.images.build import build as run_build

        def ensure_base(name: str) -> Image:
            return self.ensure_blocking(name, policy=PullPolicy.IF_NOT_PRESENT, auth=auth, progress=progress,
                                        cancel=cancel)  # fmt: skip

        return run_build(self.store, request, self.build_settings(), ensure_base=ensure_base, log=log, cancel=cancel)

    async def build(
        self,
        request: build.BuildRequest,
        *,
        log: build.Log,
        auth: Mapping[str, Credentials] | None = None,
        progress: Progress | None = None,
    ) -> build.BuildResult:
        """:meth:`build_blocking` on a thread of its own (``log`` is called from it); cancelling stops buildah."""
        return await _on_own_thread(
            lambda cancel: self.build_blocking(request, log=log, auth=auth, progress=progress, cancel=cancel), "build"
        )

    @staticmethod
    def detect(context: Path, *, base: str | None = None) -> detect.DetectedApp:
        from kuberya.images.detect import detect

        return detect(context, base=base)


async def _on_own_thread(work: Callable[[Cancel], _T], name: str) -> _T:
    """Run ``work(cancel)`` on a new thread; cancelling the awaiting task sets ``cancel`` and waits for the thread.

    The thread is joined (its sockets shut by the cancel) before :class:`asyncio.CancelledError`
    propagates, so no transfer outlives the task that asked for it.
    """
    import asyncio

    loop = asyncio.get_running_loop()
    done: asyncio.Future[_T] = loop.create_future()  # shielded below: never cancelled, only settled
    cancel = Cancel()

    def run() -> None:
        try:
            result = work(cancel)
        except BaseException as e:  # handed to the awaiting task, which raises it
            loop.call_soon_threadsafe(done.set_exception, e)
        else:
            loop.call_soon_threadsafe(done.set_result, result)

    thread = threading.Thread(target=run, name=f"kuberya-{name}", daemon=True)
    thread.start()
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([done])
        done.exception()  # retrieved: the cancellation is what the caller gets
        raise
    finally:
        if done.done():
            # The thread settles ``done`` as its last statement, so this join returns at once;
            # without it the caller could still see the thread alive for a moment.
            thread.join(timeout=1)


def _is_name(ref: str) -> bool:
    try:
        parse_reference(ref)
    except ImageError:
        return False
    return not all(c in "0123456789abcdef" for c in ref) or len(ref) < 4
