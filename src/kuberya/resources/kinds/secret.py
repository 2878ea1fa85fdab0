"""core/v1 Secret: ``stringData`` is folded into base64 ``data`` on every write, as upstream."""

from __future__ import annotations

from kuberya.resources import defaults, printers_core, validation
from kuberya.resources.kinds.spec import CORE_V1, KindSpec, at_path
from kuberya.resources.types import JSONObject, ResourceType


def _fold_string_data(new: JSONObject, old: JSONObject) -> None:
    del old
    defaults.secret_string_data_to_data(new)


SPEC = KindSpec(
    resource_types=(
        ResourceType(group="", version="v1", resource="secrets", kind="Secret", singular="secret", namespaced=True),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=defaults.default_secret,
    validate=validation.validate_secret,
    columns=tuple(printers_core.SECRET_COLUMNS),
    printer=printers_core.print_secret,
    fields={"type": at_path("type")},
    prepare_create=defaults.secret_string_data_to_data,
    prepare_update=_fold_string_data,
    allow_create_on_update=False,  # upstream strategy: a PUT of a missing one is a 404
)
