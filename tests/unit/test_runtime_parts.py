import ipaddress
from pathlib import Path

import pytest

from kuberya.runtime.base import Resources
from kuberya.runtime.cgroups import (
    PodLimits,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    shares_to_weight,
)
from kuberya.runtime.crilog import format_cri_line, parse_cri_line
from kuberya.runtime.network import PodNetwork, choose_subnet
from kuberya.runtime.shim import LogWriter, write_json_atomically


def test_upstream_cpu_conversions() -> None:
    assert [milli_cpu_to_shares(m) for m in (0, 1, 250, 1000, 10**9)] == [2, 2, 256, 1024, 262144]
    assert [milli_cpu_to_quota(m) for m in (0, 5, 500, 2000)] == [-1, 1000, 50000, 200000]
    assert (shares_to_weight(2), shares_to_weight(1024), shares_to_weight(262144)) == (1, 39, 10000)


def test_pod_limits_need_every_container_limited() -> None:
    limited = Resources(cpu_request_millis=100, cpu_limit_millis=200, memory_limit_bytes=64 << 20)
    unlimited = Resources(cpu_request_millis=150)
    assert PodLimits.for_containers([limited, limited]) == PodLimits(204, 40000, 128 << 20)
    assert PodLimits.for_containers([limited, unlimited]) == PodLimits(256, -1, -1)
    assert PodLimits.for_containers([]) == PodLimits(2, -1, -1)


def test_subnet_choice_avoids_routes() -> None:
    routes = [ipaddress.IPv4Network("192.0.2.0/24")]
    assert choose_subnet("10.88.0.0/16", routes=routes) == "10.88.0.0/16"
    routes.append(ipaddress.IPv4Network("10.88.0.0/16"))
    routes.append(ipaddress.IPv4Network("10.89.3.0/24"))
    assert choose_subnet("10.88.0.0/16", routes=routes) == "10.90.0.0/16"


def test_cni_config(tmp_path: Path) -> None:
    network = PodNetwork(state_dir=tmp_path, bridge="kuberya0")
    network.subnet = "10.88.0.0/16"
    config = network.config()
    assert (config["type"], config["bridge"], config["isGateway"], config["ipMasq"], config["hairpinMode"]) == (
        "bridge",
        "kuberya0",
        True,
        False,
        True,
    )
    assert config["ipam"] == {
        "type": "host-local",
        "ranges": [[{"subnet": "10.88.0.0/16"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "/run/kuberya/ipam/kuberya0",
    }


def test_cri_line_round_trip() -> None:
    line = format_cri_line(1767323045_123456789, "stderr", True, b"a b c")
    assert line == b"2026-01-02T03:04:05.123456789Z stderr P a b c\n"
    parsed = parse_cri_line(line)
    assert (parsed.timestamp, parsed.stream, parsed.partial, parsed.text) == (
        "2026-01-02T03:04:05.123456789Z",
        "stderr",
        True,
        b"a b c",
    )
    assert parse_cri_line(b"2026-01-02T03:04:05.1Z stdout F").text == b""
    with pytest.raises(ValueError):
        parse_cri_line(b"hello world")


def test_log_writer_splits_lines_and_reopens_after_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    writer = LogWriter(str(path))
    writer.feed("stdout", b"one\ntw")
    writer.feed("stderr", b"err\n")
    writer.feed("stdout", b"o\n" + b"x" * 20000)
    path.rename(tmp_path / "c.log.1")
    writer.reopen_requested = True  # what SIGHUP does
    writer.feed("stdout", b"y\n")
    writer.flush()
    old = [parse_cri_line(raw) for raw in (tmp_path / "c.log.1").read_bytes().splitlines()]
    assert [(r.stream, r.partial, r.text) for r in old] == [
        ("stdout", False, b"one"),
        ("stderr", False, b"err"),
        ("stdout", False, b"two"),
        ("stdout", True, b"x" * 16384),
    ]
    new = [parse_cri_line(raw) for raw in path.read_bytes().splitlines()]
    assert [(r.stream, r.partial, r.text) for r in new] == [("stdout", False, b"x" * (20000 - 16384) + b"y")]


def test_status_file_is_json(tmp_path: Path) -> None:
    import json

    write_json_atomically(str(tmp_path / "s.json"), {"code": 3, "reason": 'quote " and é', "at": 1.5, "sig": None})
    assert json.loads((tmp_path / "s.json").read_text()) == {
        "code": 3,
        "reason": 'quote " and é',
        "at": 1.5,
        "sig": None,
    }
