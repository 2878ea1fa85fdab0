"""rbac.authorization.k8s.io/v1 Role: rules that a RoleBinding grants within one namespace.

Validation as upstream's ``ValidateRole``: every rule has verbs, API groups and resources; a
namespaced rule cannot name non-resource URLs. Its Table is upstream's ``NAME CREATED AT``
(the default Table). Who may write one is checked by the escalation rule
(:mod:`kuberya.apiserver.rbac_escalation`).
"""

from __future__ import annotations

from kuberya.resources.kinds.rbac_common import RBAC_V1, rbac_name_errors, rbac_type, validate_rules
from kuberya.resources.kinds.spec import KindSpec
from kuberya.resources.types import Cause, JSONObject


def _validate(role: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old
    return validate_rules(role, namespaced=True)


SPEC = KindSpec(
    resource_types=(rbac_type("roles", "Role", namespaced=True),),
    schema_packages={"v1": RBAC_V1},
    protobuf=True,  # kubectl create role sends protobuf
    validate=_validate,
    name_rule=rbac_name_errors,
)
