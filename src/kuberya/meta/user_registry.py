"""``kuberya user``'s record: the client certificates it issued, and the ones it revoked.

One JSON file, ``DATA_DIR/pki/users.json``, written by the CLI (``kuberya user add|remove``) and read
by the API server's authenticator, which refuses (401) a certificate whose serial is revoked::

    {"users": [{"name": "bob", "groups": ["dev"], "serial": "1f…", "role": "view",
                "namespace": "", "created": "2026-…Z", "expires": "2027-…Z", "kubeconfig": "/…"}],
     "revoked": [{"name": "bob", "serial": "1f…", "revoked": "2026-…Z"}]}

Serials are lower-case hex without leading zeros, the form Python's ``ssl`` gives a peer's
``serialNumber`` in (upper case there; compared case-insensitively). Upstream has no revocation for
client certificates; a denylist the authenticator honours is the smallest thing that makes
``kuberya user remove`` mean something before the certificate expires.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class IssuedUser:
    name: str
    groups: tuple[str, ...]
    serial: str
    role: str
    namespace: str
    created: str
    expires: str
    kubeconfig: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "groups": list(self.groups), "serial": self.serial, "role": self.role,
            "namespace": self.namespace, "created": self.created, "expires": self.expires,
            "kubeconfig": self.kubeconfig,
        }  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> IssuedUser:
        return cls(
            name=str(doc.get("name", "")),
            groups=tuple(str(g) for g in doc.get("groups") or ()),
            serial=normalize_serial(str(doc.get("serial", ""))),
            role=str(doc.get("role", "")),
            namespace=str(doc.get("namespace", "")),
            created=str(doc.get("created", "")),
            expires=str(doc.get("expires", "")),
            kubeconfig=str(doc.get("kubeconfig", "")),
        )


@dataclass(slots=True)
class Registry:
    users: list[IssuedUser]
    revoked: list[dict[str, str]]

    def revoked_serials(self) -> frozenset[str]:
        return frozenset(normalize_serial(r.get("serial", "")) for r in self.revoked)


def normalize_serial(serial: str) -> str:
    return serial.strip().lower().lstrip("0") or "0"


def load(path: Path) -> Registry:
    """The record; empty when the file does not exist. ValueError when it is not the format above."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return Registry([], [])
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a kuberya user record")
    users = [IssuedUser.from_json(u) for u in doc.get("users") or () if isinstance(u, dict)]
    revoked = [{k: str(v) for k, v in r.items()} for r in doc.get("revoked") or () if isinstance(r, dict)]
    return Registry(users, revoked)


def save(path: Path, registry: Registry) -> None:
    """Write atomically (the API server may be reading it at any moment)."""
    doc = {"users": [u.to_json() for u in registry.users], "revoked": registry.revoked}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


class RevocationList:
    """The revoked serials, re-read whenever the file changes (one ``stat`` per check)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._identity: tuple[int, int, int] | None = None
        self._serials: frozenset[str] = frozenset()

    def is_revoked(self, serial: str) -> bool:
        if self._path is None:
            return False
        try:
            st = self._path.stat()
            identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            identity = (0, 0, 0)
        if identity != self._identity:
            try:
                self._serials = load(self._path).revoked_serials()
            except (OSError, ValueError):
                # A record that cannot be read keeps the last good list: fail closed for what was
                # revoked, never open a hole because of a half-written file.
                pass
            else:
                self._identity = identity
        return normalize_serial(serial) in self._serials
