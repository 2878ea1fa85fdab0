"""Which cluster a command talks to: kubeconfig files, contexts, and the local cluster as a fallback.

kuberya is both a local cluster and a client of any cluster (DESIGN: "multi-cloud is kubeconfig
contexts"), so a command resolves *targets* the way kubectl does, plus one kuberya rule:

* the files are ``--kubeconfig PATH`` when given (only that file, like kubectl), else every path of
  ``KUBECONFIG``, else ``~/.kube/config``;
* the context is the one named (``--context``, or several: ``--context aks,gke``), else the
  ``current-context`` of the first file that sets one;
* when the user's files do not exist, set no current context, or lack the named context, the local
  cluster's own ``DATA_DIR/kubeconfig`` is tried — so ``kuberya up --no-kubeconfig`` followed by
  ``kuberya ask …`` still works, and ``--context kuberya`` works before any merge.

A :class:`Target` also says whether it *is* the local cluster (its server is the one in
``DATA_DIR/kubeconfig``): only then are images from the local store usable by the cluster.
Everything comes in as arguments (environment, home, data dir); nothing here reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "default"


class TargetError(Exception):
    """No usable kubeconfig or context; the message says what was looked at and what to do."""


@dataclass(frozen=True, slots=True)
class Target:
    kubeconfig: Path
    """The file that holds the context (and, by kuberya's simplification, its cluster and user)."""
    context: str
    server: str
    namespace: str
    """The context's ``namespace``, else ``default``."""
    local: bool
    """True when the server is the local kuberya cluster of the data dir."""
    named: bool
    """True when the user named this context; the kubectl equivalents then carry ``--context``."""


@dataclass(frozen=True, slots=True)
class _Config:
    path: Path
    doc: dict[str, Any]

    @property
    def current_context(self) -> str | None:
        value = self.doc.get("current-context")
        return str(value) if value else None

    def context(self, name: str) -> dict[str, Any] | None:
        for entry in self.doc.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                ctx = entry.get("context")
                return ctx if isinstance(ctx, dict) else {}
        return None

    def context_names(self) -> list[str]:
        entries = self.doc.get("contexts") or []
        return [str(e.get("name")) for e in entries if isinstance(e, dict) and e.get("name")]

    def server(self, context: str) -> str:
        cluster_name = (self.context(context) or {}).get("cluster")
        for entry in self.doc.get("clusters") or []:
            if isinstance(entry, dict) and entry.get("name") == cluster_name:
                return str((entry.get("cluster") or {}).get("server") or "").rstrip("/")
        return ""


def kubeconfig_paths(env: Mapping[str, str], home: Path) -> list[Path]:
    """Kubectl's search list: every entry of ``KUBECONFIG``, else ``~/.kube/config``."""
    paths = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return paths or [home / ".kube" / "config"]


def split_contexts(values: Sequence[str | None]) -> list[str]:
    """``("aks,gke", None)`` → ``["aks", "gke"]``: commas and repeats both name several clusters."""
    names: list[str] = []
    for value in values:
        for name in (value or "").split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names


def resolve_targets(
    contexts: Sequence[str],
    *,
    kubeconfig: Path | None,
    env: Mapping[str, str],
    home: Path,
    data_dir: Path,
) -> list[Target]:
    """One :class:`Target` per named context, or the current context's when none is named."""
    local_file = data_dir / "kubeconfig"
    user_files = [kubeconfig.expanduser()] if kubeconfig is not None else kubeconfig_paths(env, home)
    configs = [c for c in (_read(p) for p in user_files) if c is not None]
    # An explicit --kubeconfig is the whole truth, as in kubectl; otherwise the local cluster backs it up.
    local = _read(local_file)
    fallback = [local] if kubeconfig is None and local is not None else []
    local_server = local.server(local.current_context or "") if local is not None else ""

    def target(config: _Config, name: str, *, named: bool) -> Target:
        ctx = config.context(name) or {}
        server = config.server(name)
        return Target(
            kubeconfig=config.path,
            context=name,
            server=server,
            namespace=str(ctx.get("namespace") or DEFAULT_NAMESPACE),
            local=bool(local_server) and server == local_server,
            named=named,
        )

    if not contexts:
        current = next((c.current_context for c in configs if c.current_context), None)
        if current is not None:
            for config in [*configs, *fallback]:
                if config.context(current) is not None:
                    return [target(config, current, named=False)]
        for config in fallback:
            if config.current_context and config.context(config.current_context) is not None:
                return [target(config, config.current_context, named=False)]
        looked = ", ".join(str(p) for p in [*user_files, *([local_file] if kubeconfig is None else [])])
        what = f"context {current!r} is not defined" if current else "no current context is set"
        raise TargetError(
            f"no cluster to talk to: {what} (looked in {looked}). Start the local cluster with "
            "`kuberya up`, or name a context with --context"
        )

    targets = []
    for name in contexts:
        found = next((c for c in [*configs, *fallback] if c.context(name) is not None), None)
        if found is None:
            known = sorted({n for c in [*configs, *fallback] for n in c.context_names()})
            raise TargetError(
                f"no kubeconfig context named {name!r}; known contexts: {', '.join(known) or 'none'} "
                "(`kubectl config get-contexts` lists them)"
            )
        targets.append(target(found, name, named=True))
    return targets


def _read(path: Path) -> _Config | None:
    """The parsed file, or None when it does not exist; a broken file is an error, not a skip."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TargetError(f"cannot read the kubeconfig {path}: {e}") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise TargetError(f"the kubeconfig {path} is not valid YAML: {e}") from e
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise TargetError(f"{path} is not a kubeconfig (expected a mapping at the top)")
    return _Config(path, doc)
