"""RBAC enforced, through real kubectl: a user with a certificate of her own may do what she is bound to.

A client certificate for ``alice-…`` (group ``dev``) is minted with the cluster CA, as ``kuberya
user add`` will: CN the user, O the group. She is refused with upstream's 403 until a RoleBinding
to ``view`` lets her read, and still refused delete; the admin acts as her with ``--as``; she
cannot grant more than she holds; a ClusterRole labelled ``aggregate-to-view`` extends ``view``;
discovery works for a user bound to nothing (``system:discovery``); ``/healthz`` and ``/version``
answer without credentials (``system:public-info-viewer``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

from kuberya.server import certificates
from tests.conftest import Cluster
from tests.waiting import eventually


def user_kubeconfig(cluster: Cluster, user: str, group: str | None = None) -> Path:
    """A kubeconfig for ``user`` (``group`` as its O) with a certificate signed by the cluster CA."""
    pki = cluster.data_dir / "pki"
    ca = certificates.load_pair((pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes())
    assert ca is not None
    cert, key = certificates.make_leaf(
        ca,
        common_name=user,
        organization=group,
        usage="client",
        now=dt.datetime.now(dt.UTC),
        validity=dt.timedelta(hours=1),
    )
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    doc["users"] = [
        {
            "name": doc["contexts"][0]["context"]["user"],
            "user": {
                "client-certificate-data": base64.b64encode(certificates.cert_pem(cert)).decode(),
                "client-key-data": base64.b64encode(certificates.key_pem(key)).decode(),
            },
        }
    ]
    path = cluster.data_dir / f"kubeconfig-{user}"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def as_user(cluster: Cluster, kubeconfig: Path, *args: str, binary: Path) -> tuple[int, str, str]:
    result = cluster.kubectl("--kubeconfig", str(kubeconfig), *args, binary=binary, check=False)
    return result.returncode, result.stdout, result.stderr


def test_a_user_is_refused_then_allowed_what_her_binding_grants(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    config = user_kubeconfig(cluster, alice, "dev")
    cluster.kubectl("run", "web", "-n", namespace, "--image=busybox", "--restart=Never", "--", "sleep", "1")

    code, _, err = as_user(cluster, config, "get", "pods", "-n", namespace, binary=kubectl_binary)
    assert code != 0
    assert (
        f'Error from server (Forbidden): pods is forbidden: User "{alice}" cannot list resource "pods" '
        f'in API group "" in the namespace "{namespace}"'
    ) in err

    cluster.kubectl("create", "rolebinding", "alice-view", "--clusterrole=view", f"--user={alice}", "-n", namespace)

    def lists_pods() -> str:
        code, out, err = as_user(cluster, config, "get", "pods", "-n", namespace, binary=kubectl_binary)
        assert code == 0, err
        return out

    assert "web" in eventually(lists_pods)
    code, _, err = as_user(cluster, config, "delete", "pod", "web", "-n", namespace, binary=kubectl_binary)
    assert code != 0
    assert (
        f'pods "web" is forbidden: User "{alice}" cannot delete resource "pods" in API group "" '
        f'in the namespace "{namespace}"'
    ) in err
    # Bound in this namespace only.
    code, _, err = as_user(cluster, config, "get", "pods", "-n", "default", binary=kubectl_binary)
    assert code != 0 and 'in the namespace "default"' in err

    # The admin acts as her: allowed what she is, refused what she is not.
    assert "web" in cluster.kubectl("get", "pods", "-n", namespace, "--as", alice, binary=kubectl_binary).stdout
    impersonated = cluster.kubectl(
        "delete", "pod", "web", "-n", namespace, "--as", alice, "--as-group", "dev", binary=kubectl_binary, check=False
    )
    assert impersonated.returncode != 0 and f'User "{alice}" cannot delete resource "pods"' in impersonated.stderr
    # She may not impersonate anyone herself.
    code, _, err = as_user(cluster, config, "get", "pods", "-n", namespace, "--as", "bob", binary=kubectl_binary)
    assert code != 0
    assert (
        f'users "bob" is forbidden: User "{alice}" cannot impersonate resource "users" in API group "" '
        "at the cluster scope"
    ) in err


def test_nobody_grants_more_than_they_hold(cluster: Cluster, namespace: str, kubectl_binary: Path) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    config = user_kubeconfig(cluster, alice, "dev")
    cluster.kubectl("create", "rolebinding", "alice-admin", "--clusterrole=admin", f"--user={alice}", "-n", namespace)

    def creates_role() -> str:
        code, out, err = as_user(
            cluster, config, "create", "role", "pod-reader", "--verb=get", "--resource=pods", "-n", namespace,
            binary=kubectl_binary,
        )  # fmt: skip
        assert code == 0, err
        return out

    assert "role.rbac.authorization.k8s.io/pod-reader created" in eventually(creates_role)
    code, _, err = as_user(
        cluster, config, "create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", namespace,
        binary=kubectl_binary,
    )  # fmt: skip
    assert code != 0
    assert (
        f'roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "{alice}" '
        '(groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}'
    ) in err
    code, _, err = as_user(
        cluster, config, "create", "rolebinding", "bob-root", "--clusterrole=cluster-admin", "--user=bob",
        "-n", namespace, binary=kubectl_binary,
    )  # fmt: skip
    assert code != 0
    assert 'rolebindings.rbac.authorization.k8s.io "bob-root" is forbidden: user' in err
    code, _, err = as_user(
        cluster, config, "create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob", "-n", namespace,
        binary=kubectl_binary,
    )  # fmt: skip
    assert code == 0, err


def test_an_aggregate_to_view_role_extends_view(cluster: Cluster) -> None:
    name = f"widgets-{uuid.uuid4().hex[:6]}"
    widget_rule: dict[str, Any] = {
        "apiGroups": [f"{name}.example.com"],
        "resources": ["widgets"],
        "verbs": ["get", "list"],
    }
    manifest = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [widget_rule],
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:

        def rules_of(role: str) -> list[dict[str, Any]]:
            rules: list[dict[str, Any]] = json.loads(cluster.kubectl("get", "clusterrole", role, "-o", "json").stdout)[
                "rules"
            ]
            return rules

        def aggregated() -> bool:
            for role in ("view", "edit", "admin"):  # view is aggregated into edit, edit into admin
                assert widget_rule in rules_of(role), role
            return True

        eventually(aggregated)
        assert any("pods" in r.get("resources", []) for r in rules_of("view"))  # upstream's own still there
    finally:
        cluster.kubectl("delete", "clusterrole", name)

    def gone() -> bool:
        return widget_rule not in rules_of("view")

    eventually(gone)


def test_discovery_and_public_paths_for_users_bound_to_nothing(cluster: Cluster, kubectl_binary: Path) -> None:
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    config = user_kubeconfig(cluster, carol)
    code, out, err = as_user(cluster, config, "api-resources", binary=kubectl_binary)
    assert code == 0, err
    assert "rolebindings" in out and "deployments" in out
    code, _, err = as_user(cluster, config, "get", "namespaces", binary=kubectl_binary)
    assert code != 0 and f'User "{carol}" cannot list resource "namespaces" in API group "" at the cluster scope' in err

    context = ssl.create_default_context(cafile=str(cluster.data_dir / "pki" / "ca.crt"))
    context.check_hostname = False
    for path in ("/healthz", "/version"):
        with urllib.request.urlopen(cluster.url + path, context=context, timeout=10) as response:
            assert response.status == 200
    try:
        urllib.request.urlopen(cluster.url + "/api/v1/namespaces", context=context, timeout=10)
        raise AssertionError("an anonymous list was answered")
    except urllib.error.HTTPError as e:
        assert e.code == 401
