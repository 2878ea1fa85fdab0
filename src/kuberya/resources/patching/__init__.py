"""The patch engines: pure functions from (object, patch) to a new object, no I/O.

- :func:`json_merge_patch`: RFC 7386 (``application/merge-patch+json``).
- :func:`json_patch`: RFC 6902 (``application/json-patch+json``).
- :func:`strategic_merge_patch`: upstream's strategic merge patch, driven by :mod:`.schema`.
- :func:`server_side_apply` and :func:`record_update_manager`: ``managedFields`` for
  ``application/apply-patch+yaml`` and for every other write.

None of them mutates its inputs except :func:`record_update_manager`, which fills in the
``managedFields`` of the object about to be stored.
"""

from kuberya.resources.patching.apply import BEFORE_FIRST_APPLY, record_update_manager, server_side_apply
from kuberya.resources.patching.errors import ApplyConflictError, PatchError
from kuberya.resources.patching.fieldpath import decode_fields_v1, encode_fields_v1
from kuberya.resources.patching.jsonpatch import json_patch
from kuberya.resources.patching.merge import json_merge_patch
from kuberya.resources.patching.schema import KNOWN_KINDS, PatchMeta, is_known_kind, lookup
from kuberya.resources.patching.strategic import strategic_merge_patch

__all__ = [
    "BEFORE_FIRST_APPLY",
    "KNOWN_KINDS",
    "ApplyConflictError",
    "PatchError",
    "PatchMeta",
    "decode_fields_v1",
    "encode_fields_v1",
    "is_known_kind",
    "json_merge_patch",
    "json_patch",
    "lookup",
    "record_update_manager",
    "server_side_apply",
    "strategic_merge_patch",
]
