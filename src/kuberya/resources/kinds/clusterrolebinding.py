"""rbac.authorization.k8s.io/v1 ClusterRoleBinding: grants a ClusterRole to subjects cluster-wide.

As upstream: ``roleRef`` must be a ClusterRole and is immutable; a service-account subject must
name its namespace. Table ``NAME ROLE AGE``, wide ``USERS GROUPS SERVICEACCOUNTS``.
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
    return validate_binding(binding, old, role_kinds=("ClusterRole",), namespaced=False)


SPEC = KindSpec(
    resource_types=(rbac_type("clusterrolebindings", "ClusterRoleBinding", namespaced=False),),
    schema_packages={"v1": RBAC_V1},
    protobuf=True,  # kubectl create clusterrolebinding sends protobuf
    defaults=default_binding,
    validate=_validate,
    name_rule=rbac_name_errors,
    columns=BINDING_COLUMNS,
    printer=print_binding,
)
