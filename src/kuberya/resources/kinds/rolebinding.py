"""rbac.authorization.k8s.io/v1 RoleBinding: grants a Role or ClusterRole to subjects in one namespace.

As upstream: ``roleRef`` (a Role or ClusterRole, group defaulted to ``rbac.authorization.k8s.io``)
is immutable; users and groups default to the RBAC group; a service account without a namespace
is the binding's own. Table ``NAME ROLE AGE``, wide ``USERS GROUPS SERVICEACCOUNTS``.
"""

from __future__ import annotations

from kuberya.resources.kinds.rbac_common import (
    BINDING_COLUMNS,
    RBAC_V1,
    default_binding,
    print_binding,
    rbac_name_errors,
    rbac_type,
    validate_binding,
)
from kuberya.resources.kinds.spec import KindSpec
from kuberya.resources.types import Cause, JSONObject


def _validate(binding: JSONObject, old: JSONObject | None) -> list[Cause]:
    return validate_binding(binding, old, role_kinds=("ClusterRole", "Role"), namespaced=True)


SPEC = KindSpec(
    resource_types=(rbac_type("rolebindings", "RoleBinding", namespaced=True),),
    schema_packages={"v1": RBAC_V1},
    protobuf=True,  # kubectl create rolebinding sends protobuf
    defaults=default_binding,
    validate=_validate,
    name_rule=rbac_name_errors,
    columns=BINDING_COLUMNS,
    printer=print_binding,
)
