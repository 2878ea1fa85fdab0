"""Every package's field table, by the alias other tables use for it.

The tables are data, not code: ``tables.json`` beside this module, written by
``scripts/gen_protobuf.py`` from upstream's vendored facts (never edited by hand). It lists the
packages so that each comes after its dependencies. Reading it costs a few milliseconds, paid on
the first protobuf body a process sees, not at startup.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

from ._schema import Package

TABLES = "tables.json"


@functools.cache
def packages() -> dict[str, Package]:
    """Alias (``core``, ``batchv1``…) → its :class:`Package`, in dependency order."""
    text = resources.files(__package__).joinpath(TABLES).read_text(encoding="utf-8")
    return {
        entry["alias"]: Package(
            proto_package=entry["proto_package"],
            file_name=entry["file_name"],
            dependencies=tuple(entry["dependencies"]),
            messages={name: tuple(fields) for name, fields in entry["messages"].items()},
            json_lists=tuple(entry["json_lists"]),
        )
        for entry in json.loads(text)["packages"]
    }
