"""apps/v1 ControllerRevision: an immutable snapshot of a controller's pod template.

StatefulSets and DaemonSets record each template they have run as a ControllerRevision
(``data`` holds the serialized state, ``revision`` its number); ``kubectl rollout history`` and
``undo`` read and restore them. As upstream (``pkg/apis/apps/validation``): ``data`` is required
and never changes once created, ``revision`` is non-negative. Upstream defaults nothing in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.meta.objects import controller_ref
from kuberya.resources.kinds.spec import APPS_V1, KindSpec
from kuberya.resources.printers_base import AGE, NAME, age, column, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import invalid, non_negative, required


def _validate(cr: JSONObject, old: JSONObject | None) -> list[Cause]:
    causes: list[Cause] = []
    if cr.get("data") is None:
        causes.append(required("data", "data is mandatory"))
    causes.extend(non_negative("revision", cr.get("revision")))
    if old is not None and cr.get("data") != old.get("data"):
        causes.append(invalid("data", cr.get("data"), "field is immutable"))
    return causes


COLUMNS = (
    NAME,
    column("Controller", "string", "Controller of the object"),
    column("Revision", "string", "Revision indicates the revision of the state represented by Data."),
    AGE,
)


def controller_name(obj: JSONObject) -> str:
    """Upstream's ``formatResourceName`` of the controller: ``statefulset.apps/web``, or ``<none>``."""
    ref = controller_ref(obj)
    if ref is None:
        return "<none>"
    api_version = str(ref.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    kind = str(ref.get("kind") or "")
    group_kind = f"{kind}.{group}" if group else kind
    if not group_kind:
        return str(ref.get("name") or "")
    return f"{group_kind.lower()}/{ref.get('name') or ''}"


def _print(cr: JSONObject, now: datetime) -> list[Any]:
    return [name(cr), controller_name(cr), int(cr.get("revision") or 0), age(cr, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="apps",
            version="v1",
            resource="controllerrevisions",
            kind="ControllerRevision",
            singular="controllerrevision",
            namespaced=True,
        ),
    ),
    schema_packages={"v1": APPS_V1},
    protobuf=True,  # client-go (and kube components) may send it as protobuf
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
