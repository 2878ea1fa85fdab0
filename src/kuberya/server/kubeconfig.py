"""The admin kubeconfig the server writes into its data directory once the API listens.

It is self-contained (certificates inlined as ``*-data``), so it can be copied or merged anywhere:
cluster and context are named ``kuberya``, the user ``kuberya-admin``, and the context is
current. Merging it into the user's own kubeconfig is the CLI's job (``kuberya.cli.kubeconfig``):
this package never touches files outside the data dir.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from kuberya.server.pki import ADMIN_USER, ClusterPKI, write_file_atomic

CONTEXT = "kuberya"
"""The name of the cluster, and of the context that selects it."""


def build_kubeconfig(*, server_url: str, pki: ClusterPKI) -> dict[str, Any]:
    """Return the admin's kubeconfig (as plain data) for the cluster at ``server_url``."""

    def b64(pem: bytes) -> str:
        return base64.b64encode(pem).decode("ascii")

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server_url, "certificate-authority-data": b64(pki.ca_pem)},
            }
        ],
        "users": [
            {
                "name": ADMIN_USER,
                "user": {
                    "client-certificate-data": b64(pki.admin_cert_pem),
                    "client-key-data": b64(pki.admin_key_pem),
                },
            }
        ],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {
                    "cluster": CONTEXT,
                    "user": ADMIN_USER,
                    "namespace": "default",
                },
            }
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(path: Path, *, server_url: str, pki: ClusterPKI) -> None:
    """Write the admin kubeconfig to ``path`` (mode 0600: it holds the admin's private key)."""
    doc = build_kubeconfig(server_url=server_url, pki=pki)
    write_file_atomic(path, yaml.safe_dump(doc, sort_keys=False).encode(), mode=0o600)
