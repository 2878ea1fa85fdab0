"""networking.k8s.io/v1 NetworkPolicy: which traffic may reach (and leave) a set of pods.

Stored, defaulted and validated as upstream (``pkg/apis/networking``): ``policyTypes`` defaults
to ``Ingress``, plus ``Egress`` when egress rules exist; a port's ``protocol`` to TCP. kuberya does
not enforce policies yet, and says so: every create and update answers with a Warning.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kuberya.resources.kinds.spec import ALL_VERBS, KindSpec
from kuberya.resources.printers_base import AGE, NAME, age, column, format_label_selector, name
from kuberya.resources.types import Cause, JSONObject, ResourceType
from kuberya.resources.validation_base import forbidden, invalid, not_supported, required
from kuberya.resources.validation_networking import (
    cidr_causes,
    label_selector_causes,
    parse_cidr,
    port_name_errors,
    port_number_errors,
)

NETWORKING_V1 = "io.k8s.api.networking.v1"
PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
NOT_ENFORCED = (
    "NetworkPolicy is stored but not yet enforced by kuberya: traffic to and from the selected pods is not restricted"
)


def _default(policy: JSONObject) -> None:
    spec = policy.setdefault("spec", {})
    for rule in [*(spec.get("ingress") or []), *(spec.get("egress") or [])]:
        for port in rule.get("ports") or []:
            port.setdefault("protocol", "TCP")
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _port_causes(port: JSONObject, path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPort``."""
    causes: list[Cause] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        causes.append(not_supported(f"{path}.protocol", protocol, PROTOCOLS))
    number, end = port.get("port"), port.get("endPort")
    if isinstance(number, int):
        causes += [invalid(f"{path}.port", number, m) for m in port_number_errors(number)]
        if end is not None:
            if isinstance(end, int) and end < number:
                causes.append(invalid(f"{path}.endPort", number, "must be greater than or equal to `port`"))
            causes += [invalid(f"{path}.endPort", end, m) for m in port_number_errors(end)]
    elif isinstance(number, str):
        if end is not None:
            causes.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is non-numeric"))
        causes += [invalid(f"{path}.port", number, m) for m in port_name_errors(number)]
    elif end is not None:
        causes.append(invalid(f"{path}.endPort", end, "may not be specified when `port` is not specified"))
    return causes


def _ip_block_causes(block: JSONObject, path: str) -> list[Cause]:
    """``ValidateIPBlock``: a CIDR, and ``except`` entries strictly inside it."""
    cidr = block.get("cidr") or ""
    if not cidr:
        return [required(f"{path}.cidr")]
    causes = cidr_causes(f"{path}.cidr", cidr)
    network = parse_cidr(str(cidr))
    if network is None:
        return causes
    for i, text in enumerate(block.get("except") or []):
        field = f"{path}.except[{i}]"
        found = cidr_causes(field, text)
        causes += found
        inner = parse_cidr(str(text))
        if found or inner is None:
            continue
        if (
            inner.version != network.version
            or inner.network_address not in network
            or network.prefixlen >= inner.prefixlen
        ):
            causes.append(invalid(field, text, "must be a strict subset of `cidr`"))
    return causes


def _peer_causes(peer: JSONObject, path: str) -> list[Cause]:
    """``ValidateNetworkPolicyPeer``: one kind of peer, or selectors together; ipBlock alone."""
    causes: list[Cause] = []
    given = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            given += 1
            causes += label_selector_causes(peer[key], f"{path}.{key}")
    if peer.get("ipBlock") is not None:
        given += 1
        causes += _ip_block_causes(peer["ipBlock"], f"{path}.ipBlock")
    if given == 0:
        causes.append(required(path, "must specify a peer"))
    elif given > 1 and peer.get("ipBlock") is not None:
        causes.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return causes


def _validate(policy: JSONObject, old: JSONObject | None) -> list[Cause]:
    del old  # an update is checked as a create (ValidateNetworkPolicyUpdate adds only metadata rules)
    spec = policy.get("spec") or {}
    causes = label_selector_causes(spec.get("podSelector") or {}, "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or []):
            path = f"spec.{direction}[{index}]"
            for i, port in enumerate(rule.get("ports") or []):
                causes += _port_causes(port, f"{path}.ports[{i}]")
            for i, peer in enumerate(rule.get(peers) or []):
                causes += _peer_causes(peer, f"{path}.{peers}[{i}]")
    types: list[Any] = spec.get("policyTypes") or []
    if len(types) > len(POLICY_TYPES):
        return [*causes, invalid("spec.policyTypes", types, "may not specify more than two policyTypes")]
    for i, policy_type in enumerate(types):
        if policy_type not in POLICY_TYPES:
            causes.append(not_supported(f"spec.policyTypes[{i}]", policy_type, POLICY_TYPES))
    return causes


def _warnings(policy: JSONObject, old: JSONObject | None) -> list[str]:
    del policy, old
    return [NOT_ENFORCED]


COLUMNS = (
    NAME,
    column(
        "Pod-Selector",
        "string",
        "Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to "
        "any pods selected by this field. Multiple network policies can select the same set of pods. In this "
        "case, the ingress rules for each are combined additively. This field is NOT optional and follows "
        "standard label selector semantics. An empty podSelector matches all pods in this namespace.",
    ),
    AGE,
)


def _print(policy: JSONObject, now: datetime) -> list[Any]:
    selector = (policy.get("spec") or {}).get("podSelector") or {}
    return [name(policy), format_label_selector(selector), age(policy, now)]


SPEC = KindSpec(
    resource_types=(
        ResourceType(
            group="networking.k8s.io",
            version="v1",
            resource="networkpolicies",
            kind="NetworkPolicy",
            singular="networkpolicy",
            namespaced=True,
            short_names=("netpol",),
            verbs=ALL_VERBS,
        ),
    ),
    schema_packages={"v1": NETWORKING_V1},
    protobuf=True,
    defaults=_default,
    validate=_validate,
    columns=COLUMNS,
    printer=_print,
    warnings=_warnings,
)
