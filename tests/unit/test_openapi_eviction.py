"""``pods/eviction`` has its OpenAPI v3 path in ``api/v1``, as upstream's."""

from kuberya.resources.schema import openapi

EVICTION_REF = "#/components/schemas/io.k8s.api.policy.v1.Eviction"


def test_the_eviction_path_takes_a_policy_v1_eviction() -> None:
    document = openapi.openapi_v3_document("api/v1")
    assert document is not None
    path = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]
    assert set(path) == {"parameters", "post"}
    post = path["post"]
    assert post["operationId"] == "createCoreV1NamespacedPodEviction"
    assert post["x-kubernetes-action"] == "post"
    assert post["x-kubernetes-group-version-kind"] == {"group": "policy", "kind": "Eviction", "version": "v1"}
    assert post["requestBody"]["content"]["application/json"]["schema"] == {"$ref": EVICTION_REF}
    assert "io.k8s.api.policy.v1.Eviction" in document["components"]["schemas"]
    assert [p["name"] for p in path["parameters"]] == ["name", "namespace", "pretty"]
