"""A pod's ``/etc/hosts`` as the kubelet writes it: its FQDN line under a subdomain, its host aliases."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from kuberya.node.containers import SandboxConfigError, sandbox_config
from kuberya.node.state import PodState
from kuberya.runtime.base import kernel_hostname
from kuberya.runtime.podfiles import host_network_hosts_file, hosts_file, write_pod_files

MANAGED_TOP = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def state_of(spec: dict[str, Any], *, name: str = "web-0", namespace: str = "shop") -> PodState:
    pod = {"metadata": {"name": name, "namespace": namespace}, "spec": {"containers": [{"name": "c"}], **spec}}
    return PodState(uid="uid-1", namespace=namespace, name=name, pod=pod)


def test_a_pod_under_a_subdomain_gets_its_fqdn_line() -> None:
    text = hosts_file(ip="10.88.0.7", hostname="web-0", domain="nginx.shop.svc.cluster.local")
    assert text == MANAGED_TOP + "10.88.0.7\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n"
    assert hosts_file(ip="10.88.0.7", hostname="web-0") == MANAGED_TOP + "10.88.0.7\tweb-0\n"


def test_host_aliases_follow_one_line_per_ip() -> None:
    aliases = [("127.0.0.1", ["foo.local", "bar.local"]), ("10.1.2.3", ["foo.remote"])]
    assert hosts_file(ip="10.88.0.7", hostname="p", aliases=aliases) == (
        MANAGED_TOP + "10.88.0.7\tp\n"
        "\n# Entries added by HostAliases.\n"
        "127.0.0.1\tfoo.local\tbar.local\n"
        "10.1.2.3\tfoo.remote\n"
    )


def test_a_host_network_pod_gets_the_nodes_file_under_its_header(tmp_path: Path) -> None:
    node = tmp_path / "hosts"
    node.write_text("127.0.0.1\tlocalhost\n192.0.2.9\tnode1\n")
    text = host_network_hosts_file(hostname="agent", aliases=[("10.1.2.3", ["db"])], host_hosts=node)
    assert text == (
        "# Kubernetes-managed hosts file (host network).\n"
        "127.0.0.1\tlocalhost\n192.0.2.9\tnode1\n"
        "\n# Entries added by HostAliases.\n10.1.2.3\tdb\n"
    )


def test_the_node_passes_hostname_subdomain_and_aliases_to_the_sandbox(tmp_path: Path) -> None:
    spec = {
        "hostname": "web-0",
        "subdomain": "nginx",
        "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["db", "db.local"]}],
    }
    config = sandbox_config(state_of(spec))
    assert config.hostname == "web-0"
    assert config.hostname_domain == "nginx.shop.svc.cluster.local"
    assert config.host_aliases == (("10.1.2.3", ("db", "db.local")),)
    # The runtime records the config as JSON-able fields and writes the files from that record.
    files = write_pod_files(tmp_path, asdict(config), ip="10.88.0.7")
    lines = files.hosts.read_text().splitlines()
    assert "10.88.0.7\tweb-0.nginx.shop.svc.cluster.local\tweb-0" in lines
    assert lines[-1] == "10.1.2.3\tdb\tdb.local"
    assert files.hostname.read_text() == "web-0\n"  # the kernel hostname stays the short one


def test_a_pod_without_a_subdomain_has_no_domain_and_a_long_name_is_cut_as_the_kubelet_cuts_it() -> None:
    assert sandbox_config(state_of({})).hostname_domain == ""
    long_name = "a" * 62 + "-b"  # cut at 63 leaves a trailing '-', which goes too
    assert sandbox_config(state_of({}, name=long_name)).hostname == "a" * 62


def test_a_record_from_before_host_aliases_still_writes_its_files(tmp_path: Path) -> None:
    files = write_pod_files(tmp_path, {"hostname": "old"}, ip="10.88.0.8")
    assert files.hosts.read_text() == MANAGED_TOP + "10.88.0.8\told\n"


def test_set_hostname_as_fqdn_gives_the_kernel_the_fqdn_and_hosts_keeps_the_short_line(tmp_path: Path) -> None:
    spec = {"hostname": "web-0", "subdomain": "nginx", "setHostnameAsFQDN": True}
    config = sandbox_config(state_of(spec))
    assert config.kernel_hostname == "web-0.nginx.shop.svc.cluster.local"
    record = asdict(config)
    assert kernel_hostname(record) == "web-0.nginx.shop.svc.cluster.local"
    files = write_pod_files(tmp_path, record, ip="10.88.0.7")
    assert files.hostname.read_text() == "web-0.nginx.shop.svc.cluster.local\n"
    assert "10.88.0.7\tweb-0.nginx.shop.svc.cluster.local\tweb-0" in files.hosts.read_text().splitlines()
    # without a subdomain there is no domain: the short name, as upstream
    assert sandbox_config(state_of({"setHostnameAsFQDN": True})).kernel_hostname == ""
    assert kernel_hostname(asdict(sandbox_config(state_of({"setHostnameAsFQDN": True})))) == "web-0"


def test_an_fqdn_longer_than_the_kernel_allows_refuses_the_sandbox_with_the_kubelets_message() -> None:
    spec = {"hostname": "h" * 40, "subdomain": "nginx", "setHostnameAsFQDN": True}
    with pytest.raises(SandboxConfigError) as refused:
        sandbox_config(state_of(spec))
    fqdn = "h" * 40 + ".nginx.shop.svc.cluster.local"
    assert str(refused.value) == (
        f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long "
        f"(64 characters is the max, {len(fqdn)} characters requested)"
    )
