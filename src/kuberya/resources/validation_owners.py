"""``metadata.ownerReferences``: what upstream's ``ValidateOwnerReferences`` checks on every write.

The garbage collector and every controller that adopts or releases objects read these
references; one with no kind or uid cannot be resolved, and the official clients' models refuse
to parse it (their ``kind``, ``name``, ``uid`` and ``apiVersion`` are required strings).
"""

from __future__ import annotations

from typing import Any

from kuberya.resources.types import Cause
from kuberya.resources.validation_base import invalid

FIELD = "metadata.ownerReferences"
"""Upstream reports every reference's errors at the list's path, with no index."""

BANNED_OWNERS = frozenset({("", "v1", "Event")})
"""Kinds that may not own anything (upstream's ``BannedOwners``)."""


def validate_owner_references(references: Any) -> list[Cause]:
    """Each reference names a version, kind, name and uid; at most one is the controller."""
    if not isinstance(references, list):
        return []
    causes: list[Cause] = []
    first_controller = ""
    for ref in references:
        if not isinstance(ref, dict):
            continue  # typed decoding has refused a reference that is not an object
        api_version, kind = ref.get("apiVersion") or "", ref.get("kind") or ""
        group, _, version = str(api_version).rpartition("/")
        if not version:
            causes.append(invalid(f"{FIELD}.apiVersion", api_version, "version must not be empty"))
        if not kind:
            causes.append(invalid(f"{FIELD}.kind", kind, "kind must not be empty"))
        if not ref.get("name"):
            causes.append(invalid(f"{FIELD}.name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            causes.append(invalid(f"{FIELD}.uid", ref.get("uid") or "", "uid must not be empty"))
        if (group, version, kind) in BANNED_OWNERS:
            gvk = f"{group}/{version}, Kind={kind}"
            causes.append(invalid(FIELD, ref, f"{gvk} is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{ref.get('name') or ''}"
            if first_controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in references for '
                    f"{first_controller} and {current}"
                )
                causes.append(invalid(FIELD, references, detail))
            else:
                first_controller = current
    return causes
