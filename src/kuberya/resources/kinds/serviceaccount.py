"""core/v1 ServiceAccount: an identity for pods; the namespace controller makes ``default``.

Its ``token`` subresource is TokenRequest (create only, never stored), served by
:mod:`kuberya.apiserver.tokens`: a bound, expiring JWT for the account.
"""

from __future__ import annotations

from kuberya.resources import printers_core
from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.patchmeta import BY_NAME
from kuberya.resources.types import ResourceType, SubresourceType

SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="serviceaccounts",
            kind="ServiceAccount",
            singular="serviceaccount",
            namespaced=True,
            short_names=("sa",),
            subresources=(
                SubresourceType(
                    name="token", kind="TokenRequest", group="authentication.k8s.io", version="v1", verbs=("create",)
                ),
            ),
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    columns=tuple(printers_core.SERVICE_ACCOUNT_COLUMNS),
    printer=printers_core.print_service_account,
    patch_meta={"secrets": BY_NAME},
    allow_create_on_update=True,
)
