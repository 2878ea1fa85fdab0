"""The generic registry's lists against hostile client input (found by the fuzz tier).

Continue tokens and limits come from the query string: anything a client sends must be a 4xx,
never an exception from the token decoder or a storage driver.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kuberya.apiserver import errors
from kuberya.apiserver.objectstore import ObjectFilter, ObjectStore
from kuberya.resources import kinds
from kuberya.resources.types import ResourceType
from kuberya.storage import Backend, MemoryBackend, SQLiteBackend

pytestmark = pytest.mark.unit


def configmaps() -> ResourceType:
    rt = kinds.lookup("", "v1", "configmaps")
    assert rt is not None
    return rt


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    backend: Backend = MemoryBackend() if request.param == "memory" else SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    store = ObjectStore(backend)
    for name in ("a", "b", "c"):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "ns"}}
        await store.create(configmaps(), cm)
    yield store
    await backend.close()


def token(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


async def test_a_limit_beyond_any_machine_integer_lists_everything(store: ObjectStore) -> None:
    # Was a 500: itertools.islice (memory) refuses a stop above sys.maxsize.
    for limit in (2**63, 10**20):
        page = await store.list(configmaps(), selection=ObjectFilter(namespace="ns"), limit=limit)
        assert [o["metadata"]["name"] for o in page.items] == ["a", "b", "c"]
        assert page.continue_token == ""


async def test_a_real_continue_token_still_pages(store: ObjectStore) -> None:
    first = await store.list(configmaps(), selection=ObjectFilter(namespace="ns"), limit=2)
    assert first.continue_token
    rest = await store.list(
        configmaps(), selection=ObjectFilter(namespace="ns"), limit=2, continue_token=first.continue_token
    )
    assert [o["metadata"]["name"] for o in rest.items] == ["c"]


@pytest.mark.parametrize(
    "bad",
    [
        "garbage",
        token("[1]"),
        token('"x"'),
        token('{"v": "meta.k8s.io/v1", "rv": 1e999, "start": ""}'),  # was a 500: OverflowError
        token('{"v": "meta.k8s.io/v1", "rv": NaN, "start": ""}'),
        token('{"v": "meta.k8s.io/v1", "rv": "3", "start": ""}'),
        token('{"v": "meta.k8s.io/v1", "rv": true, "start": ""}'),
        token('{"v": "meta.k8s.io/v1", "rv": 0, "start": ""}'),
        token('{"v": "meta.k8s.io/v1", "rv": -5, "start": ""}'),
        token('{"v": "meta.k8s.io/v1", "rv": 2, "start": {"a": 1}}'),
        token('{"v": "meta.k8s.io/v2", "rv": 2, "start": ""}'),
        token('{"rv": 2, "start": ""}'),
    ],
)
async def test_a_forged_continue_token_is_a_400(store: ObjectStore, bad: str) -> None:
    with pytest.raises(errors.StatusError) as refused:
        await store.list(configmaps(), selection=ObjectFilter(namespace="ns"), limit=1, continue_token=bad)
    assert refused.value.code == 400
    assert refused.value.status()["message"].startswith("invalid continue token: ")


def test_tokens_are_what_the_decoder_takes() -> None:
    from kuberya.apiserver.objectstore import _decode_continue, _encode_continue

    made = _encode_continue(revision=7, start_after="/registry/core/configmaps/ns/a")
    assert json.loads(base64.urlsafe_b64decode(made + "=" * (-len(made) % 4)))["v"] == "meta.k8s.io/v1"
    assert _decode_continue(made) == (7, "/registry/core/configmaps/ns/a")
