"""Service environment variables and pod DNS settings, as the kubelet makes them."""

from typing import Any

from kuberya.client.servicelinks import pod_dns_config, pod_service_env, render_resolv_conf, service_env


def svc(
    name: str, ns: str = "shop", ip: str | None = "10.96.0.12", ports: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": ports or [{"port": 80, "protocol": "TCP"}]}
    if ip is not None:
        spec["clusterIP"] = ip
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_variables_of_one_service_as_upstream() -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "UDP"}]
    assert service_env([svc("payment-api", ports=ports)]) == [
        ("PAYMENT_API_SERVICE_HOST", "10.96.0.12"),
        ("PAYMENT_API_SERVICE_PORT", "80"),
        ("PAYMENT_API_SERVICE_PORT_HTTP", "80"),
        ("PAYMENT_API_SERVICE_PORT_METRICS", "9090"),
        ("PAYMENT_API_PORT", "tcp://10.96.0.12:80"),
        ("PAYMENT_API_PORT_80_TCP", "tcp://10.96.0.12:80"),
        ("PAYMENT_API_PORT_80_TCP_PROTO", "tcp"),
        ("PAYMENT_API_PORT_80_TCP_PORT", "80"),
        ("PAYMENT_API_PORT_80_TCP_ADDR", "10.96.0.12"),
        ("PAYMENT_API_PORT_9090_UDP", "udp://10.96.0.12:9090"),
        ("PAYMENT_API_PORT_9090_UDP_PROTO", "udp"),
        ("PAYMENT_API_PORT_9090_UDP_PORT", "9090"),
        ("PAYMENT_API_PORT_9090_UDP_ADDR", "10.96.0.12"),
    ]


def test_headless_and_external_name_services_give_nothing() -> None:
    assert service_env([svc("db", ip="None"), svc("ext", ip=None), svc("empty", ip="")]) == []


def test_which_services_a_pod_sees() -> None:
    services = [
        svc("kubernetes", ns="default", ip="10.96.0.1", ports=[{"name": "https", "port": 443}]),
        svc("payment", ns="shop"),
        svc("other", ns="elsewhere", ip="10.96.0.30"),
        svc("default-only", ns="default", ip="10.96.0.31"),
    ]
    names = {k for k, _ in pod_service_env(services, namespace="shop")}
    assert "PAYMENT_SERVICE_HOST" in names and "KUBERNETES_SERVICE_HOST" in names
    assert "OTHER_SERVICE_HOST" not in names and "DEFAULT_ONLY_SERVICE_HOST" not in names
    linked_off = {k for k, _ in pod_service_env(services, namespace="shop", enable_service_links=False)}
    assert "KUBERNETES_SERVICE_HOST" in linked_off and "PAYMENT_SERVICE_HOST" not in linked_off
    in_default = dict(pod_service_env(services, namespace="default"))
    assert in_default["DEFAULT_ONLY_SERVICE_HOST"] == "10.96.0.31"
    # A service of the pod's own namespace named like a master service wins.
    shadow = dict(pod_service_env([*services, svc("kubernetes", ns="shop", ip="10.96.0.99")], namespace="shop"))
    assert shadow["KUBERNETES_SERVICE_HOST"] == "10.96.0.99"


def test_pod_dns_config_and_resolv_conf() -> None:
    nameservers, searches, options = pod_dns_config("shop")
    assert nameservers == ["10.96.0.10"]
    assert searches == ["shop.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert options == ["ndots:5"]
    assert render_resolv_conf(nameservers, searches, options) == (
        "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
    )
