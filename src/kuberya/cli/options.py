"""Options of the ``kuberya`` group that commands share: which kubeconfig, which context(s).

``kuberya --context gke-prod ask …`` and ``kuberya ask --context gke-prod …`` mean the same; the
group stores its values in a :class:`GlobalOptions` on click's context object, and a command's own
option, when given, wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GlobalOptions:
    context: str | None = None
    """``--context``: one kubeconfig context, or several separated by commas (``aks,gke``)."""
    kubeconfig: Path | None = None
    """``--kubeconfig``: use only this file (no ``KUBECONFIG``, no local-cluster fallback)."""
