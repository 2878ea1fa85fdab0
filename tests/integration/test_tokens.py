"""Who is calling: service-account tokens, TokenReview, OIDC discovery and ``kuberya user``.

Real kubectl (both binaries) mints a token with ``kubectl create token`` (a protobuf
TokenRequest), uses it as a bearer token, and the server tells the token's holder apart from a
tampered copy; the official client's TokenReview names the account; a legacy token Secret gets
filled by the tokens controller; PyJWT verifies the token against the served JWKS; ``kuberya
user add`` gives a kubeconfig that authenticates as the user until ``kuberya user remove``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import kubernetes

from tests.conftest import Cluster
from tests.waiting import eventually

ISSUER = "https://kubernetes.default.svc.cluster.local"


def _as_token(cluster: Cluster, token: str, *args: str, binary: Path | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl with nothing but the server, its CA and ``--token``."""
    return cluster.kubectl(
        "--kubeconfig", "/dev/null", "--server", cluster.url,
        "--certificate-authority", str(cluster.data_dir / "pki" / "ca.crt"),
        "--token", token, *args, binary=binary, check=False,
    )  # fmt: skip


def _api_client(cluster: Cluster) -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=config)
    return kubernetes.client.ApiClient(config)


def test_create_token_authenticates_and_tampering_does_not(
    cluster: Cluster, namespace: str, kubectl_binary: Path
) -> None:
    eventually(lambda: cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
               what="the default service account")  # fmt: skip
    token = cluster.kubectl(
        "create", "token", "default", "-n", namespace, "--duration", "20m", binary=kubectl_binary
    ).stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    assert claims["iss"] == ISSUER and claims["aud"] == [ISSUER]
    assert claims["exp"] - claims["iat"] == 20 * 60
    assert claims["kubernetes.io"]["namespace"] == namespace

    api = _as_token(cluster, token, "get", "--raw", "/api", binary=kubectl_binary)
    assert api.returncode == 0, api.stderr
    assert json.loads(api.stdout)["kind"] == "APIVersions"
    whoami = _as_token(cluster, token, "auth", "whoami", "-o", "json", binary=kubectl_binary)
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{namespace}:default"
    assert user["groups"] == ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]

    explained = cluster.kubectl("explain", "tokenreview.spec", binary=kubectl_binary).stdout
    assert "GROUP:      authentication.k8s.io" in explained and "audiences" in explained

    header, payload, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged["sub"] = "system:serviceaccount:kube-system:default"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for bad in (f"{header}.{forged_payload}.{signature}", token[:-4] + "AAAA"):
        refused = _as_token(cluster, bad, "get", "--raw", "/api", binary=kubectl_binary)
        assert refused.returncode != 0 and "Unauthorized" in refused.stderr


def test_token_review_audiences_and_bound_pod(cluster: Cluster, namespace: str) -> None:
    eventually(lambda: cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
               what="the default service account")  # fmt: skip
    token = cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()
    with _api_client(cluster) as client:
        auth = kubernetes.client.AuthenticationV1Api(client)
        review = auth.create_token_review(kubernetes.client.V1TokenReview(spec={"token": token}))
        assert review.status.authenticated is True
        assert review.status.user.username == f"system:serviceaccount:{namespace}:default"
        assert review.status.audiences == [ISSUER]
        other = auth.create_token_review(kubernetes.client.V1TokenReview(spec={"token": token, "audiences": ["vault"]}))
        assert other.status.authenticated is False
        assert "is invalid for the target audiences" in other.status.error

        pod = f"p-{uuid.uuid4().hex[:6]}"
        cluster.kubectl("run", pod, "-n", namespace, "--image=busybox", "--restart=Never", "--", "sleep", "30")
        bound = cluster.kubectl(
            "create", "token", "default", "-n", namespace, "--bound-object-kind=Pod", f"--bound-object-name={pod}"
        ).stdout.strip()
        assert jwt.decode(bound, options={"verify_signature": False})["kubernetes.io"]["pod"]["name"] == pod
        assert auth.create_token_review(kubernetes.client.V1TokenReview(spec={"token": bound})).status.authenticated
        cluster.kubectl("delete", "pod", pod, "-n", namespace, "--grace-period=0", "--force", "--wait=true")
        gone = auth.create_token_review(kubernetes.client.V1TokenReview(spec={"token": bound}))
        assert gone.status.authenticated is False and f'pods "{pod}" not found' in gone.status.error

    short = cluster.kubectl("create", "token", "default", "-n", namespace, "--duration=5m", check=False)
    assert short.returncode != 0 and "may not specify a duration less than 10 minutes" in short.stderr
    unknown = cluster.kubectl("create", "token", "nobody", "-n", namespace, check=False)
    assert unknown.returncode != 0 and 'serviceaccounts "nobody" not found' in unknown.stderr


def test_legacy_token_secret_is_filled(cluster: Cluster, namespace: str) -> None:
    eventually(lambda: cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
               what="the default service account")  # fmt: skip
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "legacy", "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": "kubernetes.io/service-account-token",
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(secret))

    def filled() -> dict[str, str] | None:
        got = json.loads(cluster.kubectl("get", "secret", "legacy", "-n", namespace, "-o", "json").stdout)
        data: dict[str, str] = got.get("data") or {}
        return data if {"token", "ca.crt", "namespace"} <= set(data) else None

    data = eventually(filled, what="the token Secret filled")
    assert base64.b64decode(data["namespace"]).decode() == namespace
    assert base64.b64decode(data["ca.crt"]) == (cluster.data_dir / "pki" / "ca.crt").read_bytes()
    token = base64.b64decode(data["token"]).decode()
    whoami = _as_token(cluster, token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:default"
    cluster.kubectl("delete", "secret", "legacy", "-n", namespace)
    assert _as_token(cluster, token, "get", "--raw", "/api").returncode != 0


def test_oidc_discovery_verifies_the_token(cluster: Cluster, namespace: str) -> None:
    eventually(lambda: cluster.kubectl("get", "sa", "default", "-n", namespace, check=False).returncode == 0,
               what="the default service account")  # fmt: skip
    config = json.loads(cluster.kubectl("get", "--raw", "/.well-known/openid-configuration").stdout)
    assert config["issuer"] == ISSUER and config["jwks_uri"].endswith("/openid/v1/jwks")
    assert config["id_token_signing_alg_values_supported"] == ["ES256"]
    keys = json.loads(cluster.kubectl("get", "--raw", "/openid/v1/jwks").stdout)["keys"]
    token = cluster.kubectl("create", "token", "default", "-n", namespace, "--audience", "vault").stdout.strip()
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in keys if k["kid"] == kid]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], audience="vault", issuer=ISSUER)
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    # A pod's own token may read them too (upstream's system:service-account-issuer-discovery binding).
    api_token = cluster.kubectl("create", "token", "default", "-n", namespace).stdout.strip()
    as_account = _as_token(cluster, api_token, "get", "--raw", "/openid/v1/jwks")
    assert as_account.returncode == 0, as_account.stderr
    assert json.loads(as_account.stdout)["keys"] == keys


def test_kuberya_user_add_and_remove(cluster: Cluster, tmp_path: Path) -> None:
    name = f"bob-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path / "bob.kubeconfig"

    def kuberya(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kuberya.cli", "user", *args, "--data-dir", str(cluster.data_dir)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip

    kuberya("add", name, "--group", "dev", "-o", str(kubeconfig))
    whoami = cluster.kubectl("--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json")
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == name and user["groups"] == ["dev", "system:authenticated"]
    listed = kuberya("list").stdout
    assert any(line.split()[:2] == [name, "dev"] and line.split()[-1] == "active" for line in listed.splitlines())

    kuberya("remove", name)
    refused = cluster.kubectl("--kubeconfig", str(kubeconfig), "get", "--raw", "/api", check=False)
    assert refused.returncode != 0 and "Unauthorized" in refused.stderr
    assert any(
        line.split()[0] == name and line.split()[-1] == "revoked" for line in kuberya("list").stdout.splitlines()[1:]
    )
