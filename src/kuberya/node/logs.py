"""Where container logs live, and how they are kept small.

Each container instance logs (CRI format, written by the runtime's shim) to
``DATA_DIR/pods/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`` — the kubelet's layout.
Two instances are kept per container: the current one and the last terminated one (what
``kubectl logs --previous`` reads); older files are pruned when a new instance starts.

Rotation is by size (:data:`DEFAULT_MAX_BYTES`): a file past it is copied to ``<n>.log.1`` (the
previous rotation is replaced) and truncated in place — "copytruncate", because the runtime has
no call to make its shim reopen the file. A line written between the copy and the truncation can
be lost; that is the price of not stopping the writer.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
ROTATE_CHECK_SECONDS = 10.0


def pod_log_dir(data_dir: Path, namespace: str, name: str, uid: str) -> Path:
    return data_dir / "pods" / f"{namespace}_{name}_{uid}"


def container_log_path(data_dir: Path, namespace: str, name: str, uid: str, container: str, restart: int) -> Path:
    return pod_log_dir(data_dir, namespace, name, uid) / container / f"{restart}.log"


def prune_container_logs(directory: Path, keep: set[int]) -> None:
    """Delete the instance logs of ``directory`` whose restart number is not in ``keep``."""
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for entry in entries:
        number = entry.name.split(".", 1)[0]
        if number.isdigit() and int(number) not in keep:
            try:
                entry.unlink()
            except OSError as exc:
                logger.debug("cannot prune %s: %s", entry, exc)


def rotate_if_large(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bool:
    """Copy-truncate ``path`` to ``path.1`` when it is past ``max_bytes``; True when rotated."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
        shutil.copyfile(path, path.with_name(path.name + ".1"))
        os.truncate(path, 0)
    except OSError as exc:
        logger.debug("cannot rotate %s: %s", path, exc)
        return False
    return True


def remove_pod_logs(data_dir: Path, namespace: str, name: str, uid: str) -> None:
    shutil.rmtree(pod_log_dir(data_dir, namespace, name, uid), ignore_errors=True)
