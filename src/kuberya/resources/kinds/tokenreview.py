"""authentication.k8s.io/v1 TokenReview: "who holds this token?", answered and never stored.

As upstream's ``pkg/registry/authentication/tokenreview``: created only, cluster-scoped, no List;
the API server runs ``spec.token`` through its token authenticator (:mod:`kuberya.apiserver.tokens`)
and answers ``status.authenticated``, ``status.user``, ``status.audiences`` and ``status.error``.
"""

from __future__ import annotations

from kuberya.resources.kinds.accessreview import review_type
from kuberya.resources.kinds.spec import KindSpec

GROUP = "authentication.k8s.io"
AUTHENTICATION_V1 = "io.k8s.api.authentication.v1"

SPEC = KindSpec(
    resource_types=(review_type("tokenreviews", "TokenReview", group=GROUP),),
    schema_packages={"v1": AUTHENTICATION_V1},
    # An authentication/v1 body kubectl or client-go may send as protobuf.
    protobuf=True,
)
