"""The ClusterRole aggregation controller: an aggregated ClusterRole holds the rules of those it selects.

As upstream's ``pkg/controller/clusterroleaggregation``: a ClusterRole with an ``aggregationRule``
gets, as its ``rules``, the union of the rules of every other ClusterRole matched by one of its
``clusterRoleSelectors`` - selectors in order, the matched roles by name, each rule once (the
first time it appears). This is how ``admin``, ``edit`` and ``view`` grow: a ClusterRole labelled
``rbac.authorization.k8s.io/aggregate-to-view: "true"`` extends ``view``. Any change of any
ClusterRole enqueues every aggregated one (a label may have been added or removed); a role whose
rules are already right is not written.
"""

from __future__ import annotations

import logging
from typing import Any, Unpack

from kuberya.client import KubeClient, NotFoundError
from kuberya.client.resources import CLUSTERROLES
from kuberya.controllers.base import QueueController, Wiring
from kuberya.controllers.ownership import meta
from kuberya.meta import labels as selectors
from kuberya.meta.types import Obj

logger = logging.getLogger(__name__)

COMPONENT = "clusterrole-aggregation-controller"


def aggregated_rules(role: Obj, roles: list[Obj]) -> list[Any]:
    """Upstream's ``syncClusterRole`` rules: the union of what the selectors match, in its order."""
    name = meta(role).get("name")
    rules: list[Any] = []
    for selector in (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []:
        try:
            matched = [r for r in roles if selectors.matches(selector, meta(r).get("labels"))]
        except selectors.SelectorError:
            continue  # validation refuses such a selector; one stored before selects nothing
        for other in sorted(matched, key=lambda r: str(meta(r).get("name") or "")):
            if meta(other).get("name") == name:
                continue
            for rule in other.get("rules") or []:
                if rule not in rules:
                    rules.append(rule)
    return rules


class ClusterRoleAggregationController(QueueController):
    """Keeps the ``rules`` of every ClusterRole with an ``aggregationRule`` the union of those it selects."""

    def __init__(self, client: KubeClient, *, workers: int = 1, **wiring: Unpack[Wiring]) -> None:
        super().__init__(client, name="clusterrole-aggregation", component=COMPONENT, workers=workers, **wiring)
        self.cluster_roles = self.informer(CLUSTERROLES)
        self.cluster_roles.add_handlers(
            on_add=self.enqueue_aggregated,
            on_update=lambda _old, new: self.enqueue_aggregated(new),
            on_delete=self.enqueue_aggregated,
        )

    def enqueue_aggregated(self, _changed: Obj) -> None:
        """Any ClusterRole's change may change what any aggregated one selects."""
        for role in self.cluster_roles.list():
            if role.get("aggregationRule") is not None:
                self.enqueue(role)

    async def sync(self, key: str) -> None:
        role = self.cluster_roles.get(key)
        if role is None or role.get("aggregationRule") is None:
            return
        rules = aggregated_rules(role, self.cluster_roles.list())
        if rules == (role.get("rules") or []):
            return
        logger.info("clusterrole-aggregation: %s now has %d rules", key, len(rules))
        try:
            # An update with the cached resourceVersion: a conflict is retried from a fresher cache.
            await self.client.update(CLUSTERROLES, {**role, "rules": rules})
        except NotFoundError:
            return
