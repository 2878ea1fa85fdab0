"""Options of the ``kuberya`` group that commands share: which kubeconfig, which context(s), the data dir.

``kuberya --context gke-prod ask …`` and ``kuberya ask --context gke-prod …`` mean the same; the
group stores its values in a :class:`GlobalOptions` on click's context object, and a command's own
option, when given, wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GlobalOptions:
    context: str | None = None
    """``--context``: one kubeconfig context, or several separated by commas (``aks,gke``)."""
    kubeconfig: Path | None = None
    """``--kubeconfig``: use only this file (no ``KUBECONFIG``, no local-cluster fallback)."""


def default_data_dir(env: Mapping[str, str], home: Path) -> Path:
    """``$KUBERYA_DATA_DIR``, else ``$XDG_DATA_HOME/kuberya``, else ``~/.local/share/kuberya``.

    Here, not with the cluster's machinery (:mod:`kuberya.cli.cluster`): image commands need it too,
    and ``kuberya pull`` should not pay for importing what drives a server.
    """
    if env.get("KUBERYA_DATA_DIR"):
        return Path(env["KUBERYA_DATA_DIR"]).expanduser().absolute()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "kuberya"
