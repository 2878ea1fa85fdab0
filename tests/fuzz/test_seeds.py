"""The fuzzer covers what the server serves: every group/version, and a seed of every kind."""

from __future__ import annotations

from kuberya.resources import kinds
from tests.fuzz import harness, seeds
from tests.fuzz.conftest import FuzzServer


def test_every_stored_kind_has_a_seed() -> None:
    """A kind served without a ``fuzz-a`` would see only 404s for its get, update, patch and delete."""
    seeded = {path for path, _ in seeds.seed_objects()}
    stored = {
        seeds.collection_path(rt)
        for rt in kinds.ALL_RESOURCE_TYPES
        if not rt.storage_version and rt.served_from_storage  # a review is answered, never stored
    }
    assert sorted(stored - seeded) == [], "served kinds with no seed object"
    assert sorted(seeded - stored) == [], "seeds of no stored kind"


def test_every_served_version_maps_to_a_seed() -> None:
    """Versions that are stored as another (autoscaling/v1, events.k8s.io/v1) reuse that one's seed."""
    seeded = {path for path, _ in seeds.seed_objects()}
    for rt in (rt for rt in kinds.ALL_RESOURCE_TYPES if rt.served_from_storage):
        template = "/namespaces/{namespace}/".join(seeds.collection_path(rt, "\0").split("/namespaces/\0/"))
        assert seeds.stored_collection(template + "/{name}") in seeded, rt.group_resource
    assert seeds.stored_collection("/apis/autoscaling/v1/namespaces/{namespace}/horizontalpodautoscalers") == (
        "/apis/autoscaling/v2/namespaces/fuzz/horizontalpodautoscalers"
    )
    assert seeds.stored_collection("/api/v1/namespaces/{name}/status") == "/api/v1/namespaces"
    assert seeds.stored_collection("/version/") is None


def test_every_served_group_version_is_fuzzed(fuzz_server: FuzzServer) -> None:
    index = fuzz_server.session.get(f"{fuzz_server.url}/openapi/v3", timeout=30).json()["paths"]
    served = {key for key in index if key == "api/v1" or (key.startswith("apis/") and key.count("/") == 2)}
    assert served == set(harness.GROUP_VERSIONS)


def test_every_seed_is_stored(fuzz_server: FuzzServer) -> None:
    for path, obj in seeds.seed_objects():
        answer = fuzz_server.session.get(f"{fuzz_server.url}{path}/{obj['metadata']['name']}", timeout=30)
        assert answer.status_code == 200, (path, answer.text[:300])
