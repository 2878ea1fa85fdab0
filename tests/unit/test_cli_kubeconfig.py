"""Merging the cluster's context into the user's kubeconfig (``kuberya.cli.kubeconfig``)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from kuberya.cli.kubeconfig import KubeconfigMergeError, merge_kubeconfig, user_kubeconfig_path

SOURCE = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "kuberya", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "kuberya-admin", "user": {"client-key-data": "a2V5"}}],
    "contexts": [{"name": "kuberya", "context": {"cluster": "kuberya", "user": "kuberya-admin"}}],
    "current-context": "kuberya",
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "kubeconfig"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(SOURCE))
    return path


def test_user_kubeconfig_path_follows_kubectl(tmp_path: Path) -> None:
    home = tmp_path
    assert user_kubeconfig_path({}, home) == home / ".kube" / "config"
    assert user_kubeconfig_path({"KUBECONFIG": ""}, home) == home / ".kube" / "config"
    assert user_kubeconfig_path({"KUBECONFIG": "/a:/b"}, home) == Path("/a")
    assert user_kubeconfig_path({"KUBECONFIG": ":/b"}, home) == Path("/b")


def test_into_a_missing_file(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "home" / ".kube" / "config"
    result = merge_kubeconfig(source, target, context="kuberya")
    assert result.set_current and result.current_context == "kuberya"
    doc = yaml.safe_load(target.read_text())
    assert doc["clusters"] == SOURCE["clusters"] and doc["users"] == SOURCE["users"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_keeps_other_entries_and_the_current_context(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "config"
    target.write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {"name": "prod", "cluster": {"server": "https://prod"}},
                    {"name": "kuberya", "cluster": {"server": "https://127.0.0.1:1"}},
                ],
                "users": [{"name": "me", "user": {}}],
                "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "me"}}],
                "current-context": "prod",
                "extensions": [{"name": "x", "extension": {}}],
            }
        )
    )
    target.chmod(0o644)
    result = merge_kubeconfig(source, target, context="kuberya")
    assert not result.set_current and result.current_context == "prod"
    doc = yaml.safe_load(target.read_text())
    assert [c["name"] for c in doc["clusters"]] == ["prod", "kuberya"]
    assert doc["clusters"][1]["cluster"]["server"] == "https://127.0.0.1:6443"  # replaced in place
    assert [u["name"] for u in doc["users"]] == ["me", "kuberya-admin"]
    assert doc["extensions"] == [{"name": "x", "extension": {}}]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_an_empty_file_is_an_empty_kubeconfig(tmp_path: Path, source: Path) -> None:
    target = tmp_path / "config"
    target.write_text("")
    assert merge_kubeconfig(source, target, context="kuberya").set_current


@pytest.mark.parametrize("content", ["clusters: [unclosed", "- a list\n- at the top\n", "clusters: 3\n"])
def test_a_broken_target_is_refused_with_advice(tmp_path: Path, source: Path, content: str) -> None:
    target = tmp_path / "config"
    target.write_text(content)
    with pytest.raises(KubeconfigMergeError, match=r"--no-kubeconfig|fix or move"):
        merge_kubeconfig(source, target, context="kuberya")
    assert target.read_text() == content
