"""JSON Merge Patch (RFC 7386): :func:`kuberya.meta.patch.json_merge_patch`, re-exported.

The algorithm lives in the shared leaf package so that the fake client patches exactly as the
API server does.
"""

from kuberya.meta.patch import json_merge_patch

__all__ = ["json_merge_patch"]
