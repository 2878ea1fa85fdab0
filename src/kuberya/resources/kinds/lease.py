"""coordination.k8s.io/v1 Lease: a named, renewable claim held by one identity.

Nodes heartbeat through a Lease named after them in ``kube-node-lease`` (see
:mod:`kuberya.node.lease`); leader election uses them too. As upstream
(``pkg/apis/coordination/validation``): ``leaseDurationSeconds`` is positive, ``leaseTransitions``
non-negative, and ``preferredHolder`` needs a ``strategy``. Upstream defaults nothing in a Lease.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.printers_base import AGE, NAME, age, column, dig, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported

COORDINATION_V1 = "io.k8s.api.coordination.v1"
STRATEGIES = ("OldestEmulationVersion",)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _validate(lease: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # every field of a Lease may change
    spec = lease.get("spec") or {}
    causes: list[Cause] = []
    duration = _int(spec.get("leaseDurationSeconds"))
    if duration is not None and duration <= 0:
        causes.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = _int(spec.get("leaseTransitions"))
    if transitions is not None and transitions < 0:
        causes.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    strategy = spec.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        causes.append(not_supported("spec.strategy", strategy, STRATEGIES))
    if spec.get("preferredHolder") and not strategy:
        causes.append(forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return causes


COLUMNS = (
    NAME,
    column(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader "
        "Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
    ),
    AGE,
)


def _print(lease: JSONObject, now: datetime) -> list[Any]:
    return [name(lease), str(dig(lease, "spec", "holderIdentity") or ""), age(lease, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="coordination.k8s.io",
            version="v1",
            resource="leases",
            kind="Lease",
            singular="lease",
            namespaced=True,
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": COORDINATION_V1},
    protobuf=True,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
)
