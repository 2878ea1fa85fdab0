"""Dict builders for the objects tests create most: small, valid as the API server decodes them.

Each builder takes the name first and the few fields tests vary as keywords; anything else is
changed on the returned dict. They carry no uid or resourceVersion: the fake client's
:meth:`~kuberya.client.fake.FakeApiClient.add` and the server fill those in.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def config_map(name: str, *, namespace: str = "default", data: dict[str, str] | None = None, **meta: Any) -> Obj:
    """A ConfigMap; ``meta`` goes into its metadata (``labels=…``, ``finalizers=…``)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "data": dict(data or {}),
    }


def pod_template(app: str, *, image: str = "web:v1", containers: list[Obj] | None = None) -> Obj:
    """A pod template labelled ``app=<app>`` running one container ``web``."""
    return {
        "metadata": {"labels": {"app": app}},
        "spec": {"containers": containers or [{"name": "web", "image": image}]},
    }


def deployment(name: str, *, namespace: str = "default", replicas: int = 1, image: str = "web:v1", **spec: Any) -> Obj:
    """A Deployment of ``replicas`` pods labelled ``app=<name>``; ``spec`` overrides its fields."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, image=image),
            **spec,
        },
    }


def replica_set(name: str, *, namespace: str = "default", replicas: Any = 1, app: str | None = None) -> Obj:
    """A ReplicaSet of ``replicas`` pods labelled ``app=<app or name>``."""
    label = app or name
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": label}},
            "template": pod_template(label),
        },
    }


def pod(name: str, *, namespace: str = "default", containers: Any = None, node: str | None = None) -> Obj:
    """A Pod, bound to ``node`` (and then Running) or unscheduled (Pending)."""
    spec: Obj = {"containers": containers if containers is not None else [{"name": "web", "image": "web:v1"}]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": {"phase": "Running" if node else "Pending"},
    }


def service(name: str, *, namespace: str = "default", **spec: Any) -> Obj:
    """A ClusterIP Service selecting ``app=<name>`` on port 80 (``http``); ``spec`` overrides its fields."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}], **spec},
    }


def controller_ref(api_version: str, kind: str, name: str, *, uid: str | None = None, block: bool = False) -> Obj:
    """An ownerReference to a controller (uid ``uid-<name>`` unless given, as :func:`with_uid` sets).

    ``block``: with ``blockOwnerDeletion``, as the references controllers write on what they create.
    """
    ref: Obj = {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid or f"uid-{name}", "controller": True}
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def with_uid(obj: Obj, uid: str | None = None) -> Obj:
    """``obj`` with ``metadata.uid`` set (``uid-<name>`` by default), for objects seeded into caches."""
    obj["metadata"]["uid"] = uid or f"uid-{obj['metadata']['name']}"
    return obj
