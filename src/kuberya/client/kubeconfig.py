"""Reading a kubeconfig: which server, and how to trust it and prove who we are.

Only what kuberya's own kubeconfig and ordinary ones use: ``server``, the CA as
``certificate-authority-data`` (base64 PEM) or ``certificate-authority`` (a path, relative to the
kubeconfig's folder), ``insecure-skip-tls-verify``, a client certificate and key as inline data
or paths, and a bearer ``token`` or ``tokenFile``. Exec plugins and auth providers are refused
with a message, not ignored.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True, slots=True)
class ClusterCredentials:
    server: str
    """The API server's base URL, e.g. ``https://127.0.0.1:6443``."""
    ca_pem: bytes | None = None
    """The PEM CA bundle that signs the server's certificate; None: the system's trust store."""
    insecure: bool = False
    """Do not verify the server's certificate (``insecure-skip-tls-verify``)."""
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    token: str | None = None

    def ssl_context(self) -> ssl.SSLContext | None:
        """Build the TLS settings for an ``https`` server, or None for plain ``http``."""
        if not self.server.startswith("https"):
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_pem is not None:
            ctx.load_verify_locations(cadata=self.ca_pem.decode())
        if self.client_cert_pem is not None:
            if self.client_key_pem is None:
                raise KubeconfigError("a client certificate without a client key")
            _load_cert_chain(ctx, self.client_cert_pem, self.client_key_pem)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads a certificate chain from files: write them to a private temporary folder for
    # the length of the call.
    with tempfile.TemporaryDirectory(prefix="kuberya-tls-") as tmp:
        cert_path = Path(tmp, "client.crt")
        key_path = Path(tmp, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cert_path, key_path)


def _named(entries: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(what)
            return value if isinstance(value, dict) else {}
    raise KubeconfigError(f"{path}: no {what} named {name!r}")


def _data_or_file(section: dict[str, Any], key: str, base: Path, path: Path) -> bytes | None:
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise KubeconfigError(f"{path}: {key}-data is not base64") from exc
    file = section.get(key)
    if file:
        try:
            return (base / str(file)).read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"{path}: cannot read {key} {file}: {exc}") from exc
    return None


def load_kubeconfig(path: Path, *, context: str | None = None) -> ClusterCredentials:
    """Read the credentials of ``context`` (default: the kubeconfig's current-context) in ``path``."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path} is not a kubeconfig")
    context_name = context or config.get("current-context")
    if not context_name:
        raise KubeconfigError(f"{path} has no current-context; name a context")
    ctx = _named(config.get("contexts"), str(context_name), "context", path)
    cluster = _named(config.get("clusters"), str(ctx.get("cluster", "")), "cluster", path)
    user = _named(config.get("users"), str(ctx.get("user", "")), "user", path) if ctx.get("user") else {}
    if user.get("exec") or user.get("auth-provider"):
        raise KubeconfigError(f"{path}: context {context_name!r} uses an exec or auth-provider plugin, unsupported")
    server = cluster.get("server")
    if not server:
        raise KubeconfigError(f"{path}: cluster of context {context_name!r} has no server")
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        try:
            token = (base / str(user["tokenFile"])).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(f"{path}: cannot read tokenFile: {exc}") from exc
    return ClusterCredentials(
        server=str(server).rstrip("/"),
        ca_pem=_data_or_file(cluster, "certificate-authority", base, path),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        client_cert_pem=_data_or_file(user, "client-certificate", base, path),
        client_key_pem=_data_or_file(user, "client-key", base, path),
        token=str(token) if token else None,
    )
