"""authorization.k8s.io/v1 access reviews: questions to the authorizer, answered and never stored.

Four kinds, as upstream's ``pkg/registry/authorization``: a ``SubjectAccessReview`` asks whether
a named user (or group) may do one thing, a ``LocalSubjectAccessReview`` asks the same within
its own namespace, a ``SelfSubjectAccessReview`` asks it for whoever sends it (``kubectl auth
can-i``), and a ``SelfSubjectRulesReview`` lists what the sender may do in a namespace
(``kubectl auth can-i --list``). Each is served with ``create`` only and has no ``List`` kind;
the API server answers them in :mod:`kuberya.apiserver.reviews`.

The validation is upstream's (``pkg/apis/authorization/validation``), messages included: exactly
one of ``resourceAttributes`` and ``nonResourceAttributes``, a user or a group for the reviews
that name one, an empty ``metadata`` (a namespace only for the local review, and it must be the
one the attributes name).
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.kinds.spec import KindSpec
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import invalid

GROUP = "authorization.k8s.io"
AUTHORIZATION_V1 = "io.k8s.api.authorization.v1"
CREATE_ONLY = ("create",)
"""The one verb every review resource is served with, as upstream's ``rest.Creater``-only storage."""


def review_type(resource: str, kind: str, *, group: str = GROUP, namespaced: bool = False) -> ResourceType:
    """A create-only, never-stored review resource (no singular name, as upstream's discovery)."""
    return ResourceType(
        group=group,
        version="v1",
        resource=resource,
        kind=kind,
        singular="",
        namespaced=namespaced,
        verbs=CREATE_ONLY,
        served_from_storage=False,
    )


def _metadata_set(metadata: Any, *, allowed: tuple[str, ...] = ()) -> bool:
    """Whether ``metadata`` holds anything but ``managedFields`` (and ``allowed``).

    Upstream's ``DeepEqual(metav1.ObjectMeta{}, meta)``: kubectl's ``creationTimestamp: null`` is empty.
    """
    if not isinstance(metadata, dict):
        return False
    ignored = ("managedFields", *allowed)
    return any(value not in (None, "", {}, [], 0) for key, value in metadata.items() if key not in ignored)


def _attribute_causes(spec: JSONObject) -> list[Cause]:
    """Upstream's ``ValidateSelfSubjectAccessReviewSpec``: exactly one kind of attributes."""
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    causes: list[Cause] = []
    if resource is not None and non_resource is not None:
        causes.append(
            invalid(
                "spec.nonResourceAttributes", non_resource, "cannot be specified in combination with resourceAttributes"
            )
        )
    if resource is None and non_resource is None:
        causes.append(
            invalid(
                "spec.resourceAttributes",
                non_resource,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    return causes


def _subject_causes(spec: JSONObject) -> list[Cause]:
    """Upstream's ``ValidateSubjectAccessReviewSpec``: the attributes, and a user or a group."""
    causes = _attribute_causes(spec)
    if not spec.get("user") and not spec.get("groups"):
        causes.append(invalid("spec.user", spec.get("user", ""), "at least one of user or group must be specified"))
    return causes


def _spec_of(review: JSONObject) -> JSONObject:
    spec = review.get("spec")
    return spec if isinstance(spec, dict) else {}


def _empty_metadata_causes(review: JSONObject) -> list[Cause]:
    """A cluster-wide review names nothing: upstream's ``metadata: must be empty``."""
    metadata = review.get("metadata")
    return [invalid("metadata", metadata, "must be empty")] if _metadata_set(metadata) else []


def validate_subject_access_review(review: JSONObject, old: JSONObject | None = None) -> list[Cause]:
    del old
    return _subject_causes(_spec_of(review)) + _empty_metadata_causes(review)


def validate_self_subject_access_review(review: JSONObject, old: JSONObject | None = None) -> list[Cause]:
    del old
    return _attribute_causes(_spec_of(review)) + _empty_metadata_causes(review)


def validate_local_subject_access_review(review: JSONObject, old: JSONObject | None = None) -> list[Cause]:
    del old
    spec = _spec_of(review)
    metadata = review.get("metadata")
    causes = _subject_causes(spec)
    if _metadata_set(metadata, allowed=("namespace",)):
        causes.append(invalid("metadata", metadata, "must be empty except for namespace"))
    namespace = metadata.get("namespace", "") if isinstance(metadata, dict) else ""
    attributes = spec.get("resourceAttributes")
    if isinstance(attributes, dict) and (attributes.get("namespace") or "") != (namespace or ""):
        causes.append(
            invalid(
                "spec.resourceAttributes.namespace", attributes.get("namespace") or "", "must match metadata.namespace"
            )
        )
    if spec.get("nonResourceAttributes") is not None:
        causes.append(
            invalid("spec.nonResourceAttributes", spec["nonResourceAttributes"], "disallowed on this kind of request")
        )
    return causes


SUBJECT_ACCESS_REVIEW = KindSpec(
    resource_types=(review_type("subjectaccessreviews", "SubjectAccessReview"),),
    schema_packages={"v1": AUTHORIZATION_V1},
    protobuf=True,  # kubectl auth can-i sends protobuf
    validate=validate_subject_access_review,
)
LOCAL_SUBJECT_ACCESS_REVIEW = KindSpec(
    resource_types=(review_type("localsubjectaccessreviews", "LocalSubjectAccessReview", namespaced=True),),
    schema_packages={"v1": AUTHORIZATION_V1},
    protobuf=True,  # kubectl auth can-i sends protobuf
    validate=validate_local_subject_access_review,
)
SELF_SUBJECT_ACCESS_REVIEW = KindSpec(
    resource_types=(review_type("selfsubjectaccessreviews", "SelfSubjectAccessReview"),),
    schema_packages={"v1": AUTHORIZATION_V1},
    protobuf=True,  # kubectl auth can-i sends protobuf
    validate=validate_self_subject_access_review,
)
SELF_SUBJECT_RULES_REVIEW = KindSpec(
    # Upstream validates nothing here; a missing spec.namespace is a 400 from the REST storage.
    resource_types=(review_type("selfsubjectrulesreviews", "SelfSubjectRulesReview"),),
    schema_packages={"v1": AUTHORIZATION_V1},
    protobuf=True,  # kubectl auth can-i sends protobuf
)
