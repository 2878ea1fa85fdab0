"""Container environment: envFrom, valueFrom, $(VAR) expansion and upstream's error messages."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kuberya.node.env import ContainerConfigError, PodFacts, container_env, expand, expand_command

FACTS = PodFacts(pod_ip="10.88.0.7", host_ip="192.168.5.5", node_cpu_millis=4000, node_memory_bytes=8 * 2**30)


class Sources:
    def __init__(
        self,
        config_maps: dict[str, Any] | None = None,
        secrets: dict[str, Any] | None = None,
        services: list[dict[str, Any]] | None = None,
    ) -> None:
        self.config_maps = config_maps or {}
        self.secrets = secrets or {}
        self.service_list = services or []

    async def services(self) -> list[dict[str, Any]]:
        return self.service_list

    async def config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        data = self.config_maps.get(f"{namespace}/{name}")
        return None if data is None else {"data": data}

    async def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        data = self.secrets.get(f"{namespace}/{name}")
        if data is None:
            return None
        return {"data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


POD: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": "hi"},
    },
    "spec": {"nodeName": "node-1", "serviceAccountName": "robot", "containers": []},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)-$(B)", "1-2"),
        ("$$(A)", "$(A)"),
        ("$(MISSING)", "$(MISSING)"),
        ("$(A", "$(A"),
        ("cost $5", "cost $5"),
        ("trailing $", "trailing $"),
        ("$(A)$(A)", "11"),
        ("$$$(A)", "$1"),
        ("", ""),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


async def test_order_precedence_and_expansion() -> None:
    sources = Sources(
        config_maps={"shop/conf": {"MODE": "fast", "PORT": "8080", "bad name": "x"}},
        secrets={"shop/creds": {"USER": "alice", "PASS": "s3cret"}},
    )
    container = {
        "name": "app",
        "envFrom": [{"configMapRef": {"name": "conf"}}, {"secretRef": {"name": "creds"}, "prefix": "DB_"}],
        "env": [
            {"name": "MODE", "value": "slow"},
            {"name": "URL", "value": "http://$(DB_USER):$(DB_PASS)@db:$(PORT)/$(NOPE)"},
            {"name": "EMPTY"},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "USER"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "MODE"}}},
        ],
    }
    env = await container_env(POD, container, lookup=sources, facts=FACTS)
    assert env == [
        ("MODE", "slow"),
        ("PORT", "8080"),
        ("DB_USER", "alice"),
        ("DB_PASS", "s3cret"),
        ("URL", "http://alice:s3cret@db:8080/$(NOPE)"),
        ("EMPTY", ""),
        ("KEY", "alice"),
        ("LEVEL", "fast"),
    ]


async def test_field_and_resource_refs() -> None:
    def field(path: str) -> dict[str, Any]:
        return {"name": path, "valueFrom": {"fieldRef": {"fieldPath": path}}}

    container = {
        "name": "app",
        "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
        "env": [
            field("metadata.name"),
            field("metadata.namespace"),
            field("metadata.uid"),
            field("metadata.labels['app']"),
            field("metadata.annotations['note']"),
            field("spec.nodeName"),
            field("spec.serviceAccountName"),
            field("status.podIP"),
            field("status.hostIP"),
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
            {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    pod = {**POD, "spec": {**POD["spec"], "containers": [container]}}
    env = dict(await container_env(pod, container, lookup=Sources(), facts=FACTS))
    assert env == {
        "metadata.name": "web",
        "metadata.namespace": "shop",
        "metadata.uid": "u-1",
        "metadata.labels['app']": "web",
        "metadata.annotations['note']": "hi",
        "spec.nodeName": "node-1",
        "spec.serviceAccountName": "robot",
        "status.podIP": "10.88.0.7",
        "status.hostIP": "192.168.5.5",
        "MEM": "64",
        "CPU_REQ": "250",
        "CPU_LIM": "4",
    }


@pytest.mark.parametrize(
    ("env", "env_from", "message"),
    [
        ([], [{"configMapRef": {"name": "gone"}}], 'configmap "gone" not found'),
        ([], [{"secretRef": {"name": "gone"}}], 'secret "gone" not found'),
        (
            [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "nope"}}}],
            [],
            "couldn't find key nope in ConfigMap shop/conf",
        ),
        (
            [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "nope"}}}],
            [],
            "couldn't find key nope in Secret shop/creds",
        ),
        (
            [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}],
            [],
            'configmap "gone" not found',
        ),
    ],
)
async def test_missing_sources(env: list[Any], env_from: list[Any], message: str) -> None:
    sources = Sources(config_maps={"shop/conf": {"a": "1"}}, secrets={"shop/creds": {"b": "2"}})
    container = {"name": "app", "env": env, "envFrom": env_from}
    with pytest.raises(ContainerConfigError) as info:
        await container_env(POD, container, lookup=sources, facts=FACTS)
    assert str(info.value) == message


async def test_optional_sources_are_skipped() -> None:
    container = {
        "name": "app",
        "envFrom": [{"configMapRef": {"name": "gone", "optional": True}}],
        "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": True}}},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k", "optional": True}}},
        ],
    }
    assert await container_env(POD, container, lookup=Sources(secrets={"shop/creds": {}}), facts=FACTS) == []


def test_command_and_args_expand_against_the_env() -> None:
    container = {"command": ["sh", "-c", "echo $(GREETING) $$(HOME)"], "args": ["$(WHO)", "$(UNSET)"]}
    command, args = expand_command(container, [("GREETING", "hello"), ("WHO", "world")])
    assert command == ["sh", "-c", "echo hello $(HOME)"]
    assert args == ["world", "$(UNSET)"]


async def test_service_links_come_first_and_the_container_env_wins() -> None:
    payment = {
        "metadata": {"name": "payment", "namespace": POD["metadata"]["namespace"]},
        "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80, "protocol": "TCP"}]},
    }
    other_ns = {
        "metadata": {"name": "x", "namespace": "elsewhere"},
        "spec": {"clusterIP": "10.96.0.21", "ports": [{"port": 81, "protocol": "TCP"}]},
    }
    container = {
        "name": "main",
        "env": [
            {"name": "URL", "value": "http://$(PAYMENT_SERVICE_HOST)"},
            {"name": "PAYMENT_SERVICE_PORT", "value": "9999"},
        ],
    }
    env = dict(await container_env(POD, container, lookup=Sources(services=[payment, other_ns]), facts=FACTS))
    assert env["PAYMENT_SERVICE_HOST"] == "10.96.0.20"
    assert env["URL"] == "http://10.96.0.20"
    assert env["PAYMENT_SERVICE_PORT"] == "9999"
    assert "X_SERVICE_HOST" not in env
