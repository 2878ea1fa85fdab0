"""The replication manager: ReplicationControllers, kept by the ReplicaSet controller.

As upstream (``pkg/controller/replication``), this is not a second controller but the ReplicaSet
controller (:mod:`kuberya.controllers.replicaset`) run over ReplicationControllers through an
adapter: an RC reads as a ReplicaSet whose LabelSelector is the RC's label map
(``matchLabels``). Everything else — claiming pods, slow-start creates, deletion order, the
status with its ``ReplicaFailure`` condition — is the ReplicaSet controller's. Pods it creates
are owned by the RC (``v1``/``ReplicationController``), and its Events come from
``replication-controller``.
"""

from __future__ import annotations

import copy
from typing import Unpack

from kuberya.client import KubeClient
from kuberya.client.resources import REPLICATIONCONTROLLERS
from kuberya.controllers.base import Wiring
from kuberya.controllers.replicaset import ReplicaSetController, Replicated
from kuberya.meta.types import Obj

COMPONENT = "replication-controller"


def rc_as_replica_set(rc: Obj) -> Obj:
    """A copy of ``rc`` whose ``spec.selector`` is a LabelSelector; a malformed selector stays as it is."""
    out = copy.deepcopy(rc)
    spec = out.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("selector"), dict):
        spec["selector"] = {"matchLabels": spec["selector"]}
    return out


REPLICATION_CONTROLLERS = Replicated(
    REPLICATIONCONTROLLERS, "replicationmanager", COMPONENT, as_replica_set=rc_as_replica_set
)


class ReplicationManager(ReplicaSetController):
    """The ReplicaSet controller over ReplicationControllers (see the module docstring)."""

    def __init__(self, client: KubeClient, *, workers: int = 4, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, workers=workers, replicated=REPLICATION_CONTROLLERS, **wiring)
