"""core/v1 PodTemplate: a stored pod template other objects (and people) can refer to.

As upstream (``pkg/apis/core/validation.ValidatePodTemplate``): the template's labels and pod spec
are checked as a pod's, with any restart policy; the template's pod spec is defaulted as a pod's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources import defaults, validation
from kuberya.resources.kinds.spec import CORE_V1, KindSpec
from kuberya.resources.patchmeta import template
from kuberya.resources.pod_warnings import template_warnings
from kuberya.resources.printers_base import NAME, column, dig, format_labels, layout_template, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_pods import validate_pod_spec


def _default(pt: JSONObject) -> None:
    defaults.default_pod_spec(defaults.child(defaults.child(pt, "template"), "spec"))


def _validate(pt: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # a template may change entirely
    tmpl = pt.get("template") or {}
    causes = validation.validate_labels((tmpl.get("metadata") or {}).get("labels") or {}, "template.metadata.labels")
    causes.extend(validate_pod_spec(tmpl.get("spec"), "template.spec"))
    return causes


COLUMNS = (
    NAME,
    column("Containers", "string", "containers"),
    column("Images", "string", "images"),
    column("Pod Labels", "string", "The labels for the pod template."),
)


def _print(pt: JSONObject, now: datetime) -> list[Any]:
    del now
    names, images = layout_template(pt)
    return [name(pt), names, images, format_labels(dig(pt, "template", "metadata", "labels"))]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="",
            version="v1",
            resource="podtemplates",
            kind="PodTemplate",
            singular="podtemplate",
            namespaced=True,
        ),
    ),
    schema_packages={"v1": CORE_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    warnings=template_warnings("template"),
    columns=COLUMNS,
    printer=_print,
    patch_meta=template("template"),
)
