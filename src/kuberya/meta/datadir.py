"""The files of one data directory, and the ``ready`` file: the CLI's contract with the server.

``kuberya up`` (the CLI) starts ``python -m kuberya.server`` and may not import the server's
package, yet both must agree on where the server keeps what; so the names are defined here, once:

``kuberya.pid``
    the server's pid, under an exclusive ``flock`` for the server's whole life. A held lock —
    not the file's existence — is what "running" means.
``ready``
    JSON (:class:`ReadyInfo`) written atomically once the API listens: the readiness signal
    ``up`` waits for, with what the CLI needs to probe ``/readyz`` itself.
``kubeconfig``, ``kuberya.log``, ``pki/``, ``state.db``
    the admin kubeconfig, the server's output when it runs in the background, its PKI and its
    database.

Only the standard library is imported: the CLI reads these on ``up``'s critical path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DataDirLayout:
    """The files of one data directory. One running server owns one data directory."""

    root: Path

    @property
    def pid_file(self) -> Path:
        """Holds the server's pid and an exclusive ``flock`` for as long as the server runs."""
        return self.root / "kuberya.pid"

    @property
    def ready_file(self) -> Path:
        """:class:`ReadyInfo` as JSON; written once the API listens."""
        return self.root / "ready"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def log_file(self) -> Path:
        return self.root / "kuberya.log"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def database(self) -> Path:
        return self.root / "state.db"


@dataclass(frozen=True, slots=True)
class ReadyInfo:
    """The server's ``ready`` file."""

    pid: int
    port: int
    url: str
    started_at: dt.datetime
    kubeconfig: Path
    context: str
    ca_file: Path
    """The cluster CA, the admin's certificate and key: so that the CLI can check ``/readyz``
    itself without knowing the PKI's layout."""
    client_cert_file: Path
    client_key_file: Path
    runtime: str = ""
    """The container runtime the server chose (``runc`` or ``process``)."""
    runtime_reason: str = ""
    """Why, in one line (``runc: running as root with runc at /usr/sbin/runc``)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReadyInfo:
        """Read the file's JSON; KeyError, ValueError or TypeError when it is not a ready file."""
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            url=str(data["url"]),
            started_at=dt.datetime.fromisoformat(str(data["started_at"])),
            kubeconfig=Path(data["kubeconfig"]),
            context=str(data["context"]),
            ca_file=Path(data["ca_file"]),
            client_cert_file=Path(data["client_cert_file"]),
            client_key_file=Path(data["client_key_file"]),
            runtime=str(data.get("runtime") or ""),
            runtime_reason=str(data.get("runtime_reason") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        """The file's JSON, as :meth:`from_json` reads it back."""
        return {
            "pid": self.pid,
            "port": self.port,
            "url": self.url,
            "started_at": self.started_at.isoformat(timespec="milliseconds"),
            "kubeconfig": str(self.kubeconfig),
            "context": self.context,
            "ca_file": str(self.ca_file),
            "client_cert_file": str(self.client_cert_file),
            "client_key_file": str(self.client_key_file),
            "runtime": self.runtime,
            "runtime_reason": self.runtime_reason,
        }
