"""core/v1 Namespace: cluster-scoped, finalized through its spec, ``Terminating`` while it empties.

A deleted namespace keeps ``spec.finalizers: [kubernetes]`` until the namespace controller has
removed its content and finalized it (``PUT …/finalize``); only then does it go.
"""

from __future__ import annotations

from kuberya.resources import defaults, printers_core
from kuberya.resources.kinds.spec import CORE_V1, NO_COLLECTION_DELETE, KindSpec, at_path, status_of
from kuberya.resources.names import dns1123_label_errors
from kuberya.resources.patchmeta import BY_TYPE
from kuberya.resources.types import JSONObject, ResourceType


def _keep_status(new: JSONObject, old: JSONObject) -> None:
    # The phase is the server's: the main endpoint never changes it.
    new["status"] = old.get("status", {"phase": "Active"})


def _spec_finalizers(obj: JSONObject) -> list[str]:
    return list((obj.get("spec") or {}).get("finalizers") or [])


def _terminating(obj: JSONObject) -> None:
    obj.setdefault("status", {})["phase"] = "Terminating"


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="namespaces",
            kind="Namespace",
            singular="namespace",
            namespaced=False,
            short_names=("ns",),
            verbs=NO_COLLECTION_DELETE,
            subresources=(status_of("Namespace"),),
            has_status=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=defaults.default_namespace,
    name_rule=dns1123_label_errors,
    columns=tuple(printers_core.NAMESPACE_COLUMNS),
    printer=printers_core.print_namespace,
    fields={"status.phase": at_path("status", "phase")},
    patch_meta={"status.conditions": BY_TYPE},
    prepare_update=_keep_status,
    allow_create_on_update=True,
    spec_finalizers=_spec_finalizers,
    mark_deleting=_terminating,
)
