"""Merging the cluster's kubeconfig into the user's, the way ``kind`` and ``k3d`` do.

The server writes a self-contained ``DATA_DIR/kubeconfig``; ``kuberya up`` copies its context,
cluster and user (all found through the context's name) into the user's kubeconfig so that plain
``kubectl`` works. The target is the first path of ``KUBECONFIG`` when it is set — that is the
file kubectl itself writes to — else ``~/.kube/config``. Entries with the same names are
replaced, every other entry and key is kept; ``current-context`` is set only when the file has
none, so a user working against another cluster is never silently switched. The file is
rewritten atomically with mode 0600 (it now holds a private key).

The CLI owns this because it is the only layer that may read the environment and touch files
outside the data dir; the environment comes in as an argument.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeconfigMergeError(Exception):
    """The user's kubeconfig cannot be read or written; the message says which file and what to do."""


@dataclass(frozen=True, slots=True)
class MergeResult:
    path: Path
    """The kubeconfig that was written."""
    current_context: str | None
    """Its ``current-context`` after the merge."""
    set_current: bool
    """True when this merge made the context current (the file had none)."""


def user_kubeconfig_path(env: Mapping[str, str], home: Path) -> Path:
    """Kubectl's rule: the first entry of ``KUBECONFIG``, else ``~/.kube/config``."""
    for entry in env.get("KUBECONFIG", "").split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    return home / ".kube" / "config"


def merge_kubeconfig(source: Path, target: Path, *, context: str) -> MergeResult:
    """Copy ``context`` (and the cluster and user it names) from ``source`` into ``target``."""
    src = _load(source, missing_ok=False)
    ctx_entry = _find(src, "contexts", context, source)
    ctx = ctx_entry.get("context") or {}
    cluster_entry = _find(src, "clusters", ctx.get("cluster"), source)
    user_entry = _find(src, "users", ctx.get("user"), source)

    doc = _load(target, missing_ok=True)
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    doc.setdefault("preferences", {})
    for section, entry in (("clusters", cluster_entry), ("users", user_entry), ("contexts", ctx_entry)):
        doc[section] = _upsert(doc.get(section), entry, target, section)
    set_current = not doc.get("current-context")
    if set_current:
        doc["current-context"] = context

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise KubeconfigMergeError(
            f"cannot write the kubeconfig {target}: {e}. Fix its permissions, point KUBECONFIG "
            "elsewhere, or pass --no-kubeconfig"
        ) from e
    return MergeResult(path=target, current_context=doc.get("current-context"), set_current=set_current)


def _load(path: Path, *, missing_ok: bool) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise KubeconfigMergeError(f"the cluster's kubeconfig {path} is missing; is kuberya running?") from None
    except OSError as e:
        raise KubeconfigMergeError(f"cannot read the kubeconfig {path}: {e}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise KubeconfigMergeError(
            f"the kubeconfig {path} is not valid YAML ({e}); fix or move it, or pass --no-kubeconfig"
        ) from e
    if doc is None:  # an empty file is a valid, empty kubeconfig
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigMergeError(
            f"the kubeconfig {path} is not a kubeconfig (a mapping at the top); fix or move it, or pass --no-kubeconfig"
        )
    return doc


def _find(doc: dict[str, Any], section: str, name: Any, path: Path) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise KubeconfigMergeError(f"{path} has no entry named {name!r} in {section}")


def _upsert(entries: Any, new: dict[str, Any], path: Path, section: str) -> list[Any]:
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise KubeconfigMergeError(f"{section} in the kubeconfig {path} is not a list; fix or move the file")
    kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == new.get("name"))]
    # Replace in place when present, so that a diff of the user's file stays small.
    for i, e in enumerate(entries):
        if isinstance(e, dict) and e.get("name") == new.get("name"):
            return [*kept[:i], new, *kept[i:]]
    return [*kept, new]
