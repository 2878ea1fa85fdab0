"""authentication.k8s.io/v1 SelfSubjectReview: "who am I", as ``kubectl auth whoami`` asks.

As upstream's ``pkg/registry/authentication/selfsubjectreview``: created, never stored; the
answer's ``status.userInfo`` is the user authentication found for the request (name, uid,
groups, extra). Served with ``create`` only (:mod:`kuberya.apiserver.reviews` answers it).
"""

from __future__ import annotations

from kuberya.resources.kinds.accessreview import review_type
from kuberya.resources.kinds.spec import KindSpec

GROUP = "authentication.k8s.io"
AUTHENTICATION_V1 = "io.k8s.api.authentication.v1"

SPEC = KindSpec(
    resource_types=(review_type("selfsubjectreviews", "SelfSubjectReview", group=GROUP),),
    schema_packages={"v1": AUTHENTICATION_V1},
    protobuf=True,  # kubectl auth whoami sends protobuf
)
