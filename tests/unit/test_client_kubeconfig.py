import base64
import datetime
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kuberya.client import ApiClient
from kuberya.client.kubeconfig import KubeconfigError, load_kubeconfig


def self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_config(path: Path, *, cluster: dict[str, object], user: dict[str, object]) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "kuberya",
        "clusters": [
            {"name": "c", "cluster": cluster},
            {"name": "other", "cluster": {"server": "http://o:1"}},
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "kuberya", "context": {"cluster": "c", "user": "u"}},
            {"name": "plain", "context": {"cluster": "other"}},
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_inline_certificates_build_a_verifying_tls_context(tmp_path: Path) -> None:
    ca, _ = self_signed("ca")
    cert, key = self_signed("admin")
    path = write_config(
        tmp_path / "config",
        cluster={"server": "https://127.0.0.1:6443/", "certificate-authority-data": b64(ca)},
        user={"client-certificate-data": b64(cert), "client-key-data": b64(key)},
    )
    creds = load_kubeconfig(path)
    assert creds.server == "https://127.0.0.1:6443"
    assert (creds.ca_pem, creds.client_cert_pem, creds.client_key_pem) == (ca, cert, key)
    ctx = creds.ssl_context()
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ApiClient.from_kubeconfig(path).base_url == "https://127.0.0.1:6443"


def test_file_paths_are_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    ca, _ = self_signed("ca")
    (tmp_path / "ca.crt").write_bytes(ca)
    (tmp_path / "token").write_text("s3cret\n")
    path = write_config(
        tmp_path / "config",
        cluster={"server": "https://h:1", "certificate-authority": "ca.crt"},
        user={"tokenFile": "token"},
    )
    creds = load_kubeconfig(path)
    assert creds.ca_pem == ca
    assert creds.token == "s3cret"


def test_named_context_and_plain_http(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", cluster={"server": "https://h:1"}, user={"token": "t"})
    creds = load_kubeconfig(path, context="plain")
    assert creds.server == "http://o:1"
    assert creds.token is None
    assert creds.ssl_context() is None


def test_insecure_skip_verify(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config", cluster={"server": "https://h:1", "insecure-skip-tls-verify": True}, user={}
    )
    ctx = load_kubeconfig(path).ssl_context()
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE


def test_unusable_kubeconfigs_say_why(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config", cluster={"server": "https://h:1"}, user={"exec": {"command": "x"}})
    with pytest.raises(KubeconfigError, match="exec"):
        load_kubeconfig(path)
    with pytest.raises(KubeconfigError, match="no context named 'nope'"):
        load_kubeconfig(path, context="nope")
    with pytest.raises(KubeconfigError, match="cannot read"):
        load_kubeconfig(tmp_path / "missing")
