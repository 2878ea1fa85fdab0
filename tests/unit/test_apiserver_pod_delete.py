"""The node agent's last word on a pod: a DELETE with grace 0 after the graceful one.

Upstream's kubelet, once the containers are stopped, deletes the pod with
``gracePeriodSeconds: 0`` and a UID precondition; the API server shortens the grace period to 0
and removes the pod, answering 200. That DELETE must remove the pod exactly once: it used to be
removed by the update that set the grace period to 0 and then deleted again, so the caller got a
404 for a pod it had just deleted. Handlers over an in-memory store, no sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from kuberya.apiserver import deletion, errors
from kuberya.apiserver.admission import Admission
from kuberya.apiserver.handlers import ResourceHandlers
from kuberya.apiserver.objectstore import ObjectStore
from kuberya.apiserver.settings import APIServerSettings
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType
from kuberya.storage import MemoryBackend

Obj = dict[str, Any]


def pods() -> ResourceType:
    rt = kinds.lookup("", "v1", "pods")
    assert rt is not None
    return rt


@pytest.fixture
async def handlers() -> AsyncIterator[ResourceHandlers]:
    backend = MemoryBackend()
    await backend.start()
    store = ObjectStore(backend)
    yield ResourceHandlers(store, Admission(store, APIServerSettings()))
    await backend.close()


async def running_pod(h: ResourceHandlers, name: str) -> Obj:
    """A pod bound to the node (what the scheduler leaves), so that DELETE is graceful."""
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "nodeName": "kuberya",
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "c", "image": "busybox"}],
        },
        "status": {"phase": "Running"},
    }
    return await h.store.create(pods(), pod)


async def delete(h: ResourceHandlers, name: str, options: Obj) -> tuple[Obj, int]:
    request = make_mocked_request("DELETE", f"/api/v1/namespaces/default/pods/{name}")
    return await deletion.delete_object(h, request, pods(), "default", name, options)


async def gone(h: ResourceHandlers, name: str) -> bool:
    return await h.store.get_or_none(pods(), "default", name) is None


async def test_graceful_delete_marks_the_pod_and_keeps_it(handlers: ResourceHandlers) -> None:
    await running_pod(handlers, "web")
    marked, status = await delete(handlers, "web", {})
    assert status == 200
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert not await gone(handlers, "web")


async def final_delete_removes(h: ResourceHandlers, pod: Obj) -> None:
    """The node agent's last word (grace 0, UID precondition): 200 with the pod, and the pod is gone."""
    final, status = await delete(h, "web", {"gracePeriodSeconds": 0, "preconditions": {"uid": pod["metadata"]["uid"]}})
    assert status == 200
    assert final["metadata"]["name"] == "web"
    assert await gone(h, "web")


async def test_the_final_grace_0_delete_answers_200_and_removes_the_pod(handlers: ResourceHandlers) -> None:
    pod = await running_pod(handlers, "web")
    await delete(handlers, "web", {})
    await final_delete_removes(handlers, pod)


async def test_grace_0_after_the_grace_period_ran_out_removes_the_pod_once(handlers: ResourceHandlers) -> None:
    # A deadline already in the past is not moved (timestamps have whole seconds), so the update
    # leaves the pod in place and the DELETE removes it itself.
    pod = await running_pod(handlers, "web")
    await delete(handlers, "web", {"gracePeriodSeconds": 1})
    await asyncio.sleep(2.1)  # the deadline must lie in the past: only time passing does that
    await final_delete_removes(handlers, pod)


async def test_grace_0_delete_of_a_replaced_pod_is_a_conflict(handlers: ResourceHandlers) -> None:
    await running_pod(handlers, "web")
    await delete(handlers, "web", {})
    with pytest.raises(errors.StatusError) as caught:
        await delete(handlers, "web", {"gracePeriodSeconds": 0, "preconditions": {"uid": "someone-else"}})
    assert caught.value.code == 409
    assert not await gone(handlers, "web")
