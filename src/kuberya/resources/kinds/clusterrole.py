"""rbac.authorization.k8s.io/v1 ClusterRole: rules for the whole cluster, or for any namespace.

Validation as upstream's ``ValidateClusterRole``: rules as a Role's, but non-resource URLs are
allowed; an ``aggregationRule`` needs at least one valid label selector, and then its rules are
kept by the ClusterRole aggregation controller (:mod:`kuberya.controllers.clusterroleaggregation`).
Its Table is upstream's ``NAME CREATED AT`` (the default Table).
"""

from __future__ import annotations

from kuberya.resources.kinds.rbac_common import (
    RBAC_V1,
    rbac_name_errors,
    rbac_type,
    validate_aggregation,
    validate_rules,
)
from kuberya.resources.kinds.spec import KindSpec
from kuberya.resources.types import Cause, JSONObject


def _validate(role: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old
    return validate_rules(role, namespaced=False) + validate_aggregation(role)


SPEC = KindSpec(
    resource_types=(rbac_type("clusterroles", "ClusterRole", namespaced=False),),
    schema_packages={"v1": RBAC_V1},
    protobuf=True,  # kubectl create clusterrole sends protobuf
    validate=_validate,
    name_rule=rbac_name_errors,
)
