"""Raw HTTPS to a test cluster with its admin certificate, for bodies no client library sends."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlparse

from tests.conftest import Cluster


class AdminHTTP:
    """One keep-alive connection; after an error it reconnects (the error is raised to the caller)."""

    def __init__(self, cluster: Cluster) -> None:
        pki = cluster.data_dir / "pki"
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        url = urlparse(cluster.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 443
        self.conn = self._connect()

    def _connect(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)

    def __call__(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        """Send ``body`` (bytes as they are, anything else as JSON); the status and the parsed answer."""
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            self.conn.request(method, path, body=raw, headers={"Content-Type": content_type})
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._connect()
            raise
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()
