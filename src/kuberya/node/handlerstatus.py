"""The node's ``status.runtimeHandlers``: which RuntimeClass handlers this node runs (v1.30+).

Upstream's kubelet copies them from the CRI's ``RuntimeStatus.runtime_handlers``; containerd
lists its default handler under the name ``""`` and then every named one. kuberya does the same
for the handlers the agent opened (:class:`~kuberya.runtime.handlers.HandlerRuntime`): ``""``
(the default, the server's ``--runtime``), then ``process`` and/or ``runc``. Neither supports a
pod's ``hostUsers: false`` or recursive read-only mounts, so both features are false.

The node controller writes the rest of the status with merge patches that leave this field alone;
the agent writes it once the Node exists and checks it again every :data:`CHECK_SECONDS` (a Node
deleted and registered again has lost it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kuberya.client import ApiError, Clock, KubeClient, NotFoundError
from kuberya.client.resources import NODES
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

CHECK_SECONDS = 30.0
MISSING_NODE_RETRY_SECONDS = 1.0


def runtime_handlers(handlers: Iterable[str]) -> list[Obj]:
    """``status.runtimeHandlers`` for these handler names: the default ``""`` first, then by name."""
    features = {"recursiveReadOnlyMounts": False, "userNamespaces": False}
    return [{"name": name, "features": dict(features)} for name in ["", *sorted(set(handlers) - {""})]]


async def publish_runtime_handlers(client: KubeClient, *, node_name: str, handlers: list[Obj], clock: Clock) -> None:
    """Keep ``handlers`` in the Node's ``status.runtimeHandlers``; runs until cancelled."""
    while True:
        delay = CHECK_SECONDS
        try:
            node = await client.get(NODES, node_name)
            if (node.get("status") or {}).get("runtimeHandlers") != handlers:
                await client.patch(
                    NODES,
                    node_name,
                    {"status": {"runtimeHandlers": handlers}},
                    patch_type="merge",
                    subresource="status",
                )
        except NotFoundError:
            delay = MISSING_NODE_RETRY_SECONDS  # the node controller registers it shortly
        except (ApiError, OSError) as exc:
            logger.warning("status.runtimeHandlers of node %s not written: %s", node_name, exc)
        await clock.sleep(delay)
