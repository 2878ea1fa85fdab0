"""Checks the networking.k8s.io kinds share, worded as upstream's (``pkg/apis/networking/validation``).

Label selectors (``ValidateLabelSelector``), IANA port names (``IsValidPortName``), CIDRs
(``IsValidCIDR``), wildcard hosts (``IsWildcardDNS1123Subdomain``) and typed local object
references. The kinds' own rules live in their modules (``kinds/networkpolicy.py``,
``kinds/ingress.py``, ``kinds/ingressclass.py``).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kuberya.meta.names import (
    DNS1123_SUBDOMAIN_FMT,
    label_value_errors,
    max_len_error,
    path_segment_errors,
    qualified_name_errors,
    regex_error,
)
from kuberya.resources.names import dns1123_subdomain_errors
from kuberya.resources.types import Cause
from kuberya.resources.validation import validate_labels
from kuberya.resources.validation_base import forbidden, invalid, required

_PORT_NAME_CHARSET = re.compile(r"^[-a-z0-9]+$")
_ONE_LETTER = re.compile(r"[a-z]")
WILDCARD_DNS1123_SUBDOMAIN_FMT = r"\*\." + DNS1123_SUBDOMAIN_FMT
_WILDCARD_RE = re.compile(f"^{WILDCARD_DNS1123_SUBDOMAIN_FMT}$")
_CIDR_ERROR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


def port_name_errors(port: str) -> list[str]:
    """``IsValidPortName``: an IANA service name of at most 15 characters."""
    errs: list[str] = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _PORT_NAME_CHARSET.match(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _ONE_LETTER.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens (-)")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen (-)")
    return errs


def port_number_errors(port: Any) -> list[str]:
    """``IsValidPortNum``."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        return ["must be between 1 and 65535, inclusive"]
    return []


def wildcard_subdomain_errors(value: str) -> list[str]:
    """``IsWildcardDNS1123Subdomain``: ``*.`` then a DNS subdomain."""
    errs: list[str] = []
    if len(value) > 253:
        errs.append(max_len_error(253))
    if not _WILDCARD_RE.match(value):
        errs.append(
            regex_error(
                "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
                "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
                WILDCARD_DNS1123_SUBDOMAIN_FMT,
                "*.example.com",
            )
        )
    return errs


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as ``netutils.ParseCIDRSloppy`` reads it (host bits allowed), or None."""
    if "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def cidr_causes(field: str, value: Any) -> list[Cause]:
    if not isinstance(value, str) or parse_cidr(value) is None:
        return [invalid(field, value, _CIDR_ERROR)]
    return []


def label_selector_causes(selector: Any, field: str) -> list[Cause]:
    """``ValidateLabelSelector``: the keys and values of ``matchLabels`` and ``matchExpressions``."""
    if not isinstance(selector, dict):
        return []
    causes = validate_labels(selector.get("matchLabels") or {}, f"{field}.matchLabels")
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        path = f"{field}.matchExpressions[{i}]"
        operator, values = expr.get("operator"), expr.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                causes.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                causes.append(
                    forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
                )
        else:
            causes.append(invalid(f"{path}.operator", operator, "not a valid selector operator"))
        key = str(expr.get("key") or "")
        causes += [invalid(f"{path}.key", key, msg) for msg in qualified_name_errors(key)]
        for j, value in enumerate(values):
            causes += [invalid(f"{path}.values[{j}]", value, msg) for msg in label_value_errors(str(value))]
    return causes


def typed_local_object_reference_causes(ref: Any, field: str) -> list[Cause]:
    """``validateTypedLocalObjectReference``: ``apiGroup`` a DNS subdomain, ``kind`` and ``name`` set."""
    if not isinstance(ref, dict):
        return []
    causes: list[Cause] = []
    group = ref.get("apiGroup")
    if group is not None:
        causes += [invalid(f"{field}.apiGroup", group, msg) for msg in dns1123_subdomain_errors(str(group))]
    for key in ("kind", "name"):
        value = str(ref.get(key) or "")
        if not value:
            causes.append(required(f"{field}.{key}", f"{key} is required"))
        else:
            causes += [invalid(f"{field}.{key}", value, msg) for msg in path_segment_errors(value)]
    return causes
