"""The two ways a patch can fail: it is malformed, or server-side apply found conflicting owners.

The API server maps :class:`PatchError` to a 400/422 (upstream answers a malformed strategic merge
patch with 400 BadRequest or 422 Invalid depending on where it fails) and
:class:`ApplyConflictError` to 409 Conflict with one ``FieldManagerConflict`` cause per field.
"""

from __future__ import annotations

from kuberya.resources.types import JSONObject


class PatchError(ValueError):
    """The patch cannot be applied: wrong types, a missing merge key, an unknown directive, a failed test."""


class ApplyConflictError(Exception):
    """Server-side apply would change fields that another field manager owns.

    ``conflicts`` holds ``(manager, path)`` pairs, the path in upstream notation
    (``.spec.replicas``, ``.spec.template.spec.containers[name="web"].image``). ``causes`` holds the
    ``StatusCause`` dicts upstream puts in the 409's ``details.causes``.
    """

    def __init__(self, conflicts: list[tuple[str, str]], *, managers: dict[str, str]) -> None:
        # ``managers`` maps a manager name to how upstream prints it (``"kubectl" using apps/v1``).
        self.conflicts = conflicts
        self.causes: list[JSONObject] = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {managers.get(manager, repr(manager))}",
                "field": path,
            }
            for manager, path in conflicts
        ]
        super().__init__(_conflict_message(conflicts, managers))


def _conflict_message(conflicts: list[tuple[str, str]], managers: dict[str, str]) -> str:
    """Word the error as the apiserver's ``getConflictMessage`` does, which kubectl shows verbatim."""

    def shown(manager: str) -> str:
        return managers.get(manager, f'"{manager}"')

    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {shown(manager)}: {path}"
    lines: list[str] = []
    for manager in sorted({m for m, _ in conflicts}):
        lines.append(f"conflicts with {shown(manager)}:")
        lines.extend(f"- {path}" for m, path in conflicts if m == manager)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
