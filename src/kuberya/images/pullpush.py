"""Whole images in and out of a registry: :func:`pull_image` and :func:`push_image`.

Built on :class:`~kuberya.images.registry.RegistryClient`, which moves one manifest or blob at a
time. A pull resolves the manifest, fetches the config and the missing layers, checks that the
config's ``diff_ids`` match the layers and names the image in the store; a push sends each blob
(mounting it from other repositories of the same registry that the store knows hold it) and the
manifest last.

Everything here blocks; a transfer's blobs move on threads of its own (:func:`_run_all`). The
first failure, or a :class:`~kuberya.images.transfer.Cancel` set from outside, stops the others:
their sockets are shut, and a partial blob stays to be resumed. Blobs are moved under a store
lease, so a concurrent garbage collection leaves them alone.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from kuberya.images.auth import registry_key
from kuberya.images.errors import ImageError
from kuberya.images.image import Image
from kuberya.images.oci import Descriptor, Digest, Manifest, load_json
from kuberya.images.reference import Reference
from kuberya.images.registry import RegistryClient
from kuberya.images.store import ImageStore
from kuberya.images.transfer import Progress


def pull_image(client: RegistryClient, ref: Reference, store: ImageStore, *, progress: Progress) -> Image:
    """Pull ``ref`` into ``store`` and name it; blobs already stored are not fetched again."""
    resolved = client.resolve(ref)
    manifest = cast(Manifest, load_json(resolved.data, f"manifest of {ref.familiar}"))
    blobs = [manifest["config"], *manifest["layers"]]
    for descriptor in manifest["layers"]:
        if descriptor.get("urls") and not descriptor["mediaType"].startswith("application/vnd.oci"):
            raise ImageError(f"{ref.familiar} has foreign (non-distributable) layers, which are not supported")
    with store.lease():
        missing = [d for d in blobs if not store.has_blob(d["digest"])]
        for d in blobs:
            if d not in missing:
                progress.start(d["digest"], label=d["digest"][7:19], total=d["size"])
                progress.finish(d["digest"], note="already here")
        _run_all(client, [functools.partial(client.fetch_blob, ref, d, store, progress) for d in missing])
        config = load_json(store.read_blob(manifest["config"]["digest"]), "image config")
        diff_ids = config.get("rootfs", {}).get("diff_ids", []) if isinstance(config, dict) else []
        if len(diff_ids) != len(manifest["layers"]):
            raise ImageError(
                f"{ref.familiar} is inconsistent: {len(manifest['layers'])} layers, {len(diff_ids)} diff_ids"
            )
        return store.add_image(resolved.data, names=(ref.name,))


def push_image(
    client: RegistryClient, image: Image, ref: Reference, store: ImageStore, *, progress: Progress
) -> Digest:
    """Push ``image`` as ``ref``; returns the manifest digest the registry holds it by."""
    same_registry = [
        other for name in _names_with_blobs(store)
        if (other := _safe_parse(name)) is not None and registry_key(other.domain) == registry_key(ref.domain)
        and other.path != ref.path
    ]  # fmt: skip

    def push(descriptor: Descriptor) -> None:
        sources = _mount_sources(store, same_registry, descriptor["digest"])
        client.push_blob(ref, descriptor, store.blob_path(descriptor["digest"]), mount_from=sources, progress=progress)

    with store.lease():
        _run_all(client, [functools.partial(push, d) for d in [*image.manifest["layers"], image.manifest["config"]]])
        data = store.read_blob(image.digest)
    return client.put_manifest(ref, data, image.media_type)


def _run_all(client: RegistryClient, jobs: Sequence[Callable[[], object]]) -> None:
    """Run ``jobs`` on up to ``concurrency`` threads; the first failure cancels the rest and is raised.

    The calling thread only waits: an interrupt there (Ctrl-C in the CLI) cancels the transfer,
    and the threads are joined before anything is raised, so none outlives the operation.
    """
    pending = list(jobs)
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                if not pending or failures:
                    return
                job = pending.pop(0)
            try:
                job()
            except BaseException as e:
                with lock:
                    failures.append(e)
                client.cancel.set()
                return

    threads = [threading.Thread(target=work, name="kuberya-registry", daemon=True)
               for _ in range(min(len(pending), max(1, client.settings.concurrency)))]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        client.cancel.set()
        for thread in threads:
            thread.join()
        raise
    if failures:
        # The first failure is the cause; the others were the cancel it set (unless the caller cancelled).
        raise failures[0]


def _names_with_blobs(store: ImageStore) -> list[str]:
    return list(store.names())


def _safe_parse(name: str) -> Reference | None:
    from kuberya.images.reference import parse_reference

    try:
        return parse_reference(name)
    except ImageError:
        return None


def _mount_sources(store: ImageStore, candidates: Sequence[Reference], digest: str) -> list[str]:
    """Repositories of the target registry whose images (by our index) contain blob ``digest``."""
    names = store.names()
    sources: list[str] = []
    for candidate in candidates:
        manifest_digest = names.get(candidate.name)
        if manifest_digest is None or candidate.path in sources:
            continue
        try:
            manifest = json.loads(store.read_blob(manifest_digest))
        except (ImageError, ValueError, OSError):
            continue
        if any(d.get("digest") == digest for d in (manifest.get("config", {}), *manifest.get("layers", []))):
            sources.append(candidate.path)
    return sources[:3]


def partial_downloads(store: ImageStore) -> list[Path]:
    """Partial blob downloads waiting to be resumed (for diagnostics)."""
    return sorted(p for p in store.tmp.iterdir() if p.suffix == ".partial" and p.is_file() and os.access(p, os.R_OK))
