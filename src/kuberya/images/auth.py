"""Registry credentials and auth challenges, without I/O: the pieces :mod:`.registry` builds on.

Credentials come from a Docker ``config.json`` (``auths`` with a base64 ``auth`` of ``user:pass``,
or ``username``/``password``, or an ``identitytoken``) or from a Kubernetes
``kubernetes.io/dockerconfigjson`` secret, which has the same shape: the node agent decodes an
``imagePullSecret`` with :func:`parse_docker_config` and passes the result down. Credential helpers
(``credsStore``, ``credHelpers``) run external programs and are deliberately not supported.

Config keys are matched to a registry host the way Docker does: ``https://index.docker.io/v1/``
means Docker Hub, schemes and paths are ignored, ``registry-1.docker.io`` is ``docker.io``.

A registry says how to authenticate in its ``WWW-Authenticate`` header: ``Basic realm=…`` (send the
credentials) or ``Bearer realm=…,service=…,scope=…`` (get a token from ``realm``, anonymously when
we have no credentials, as Docker Hub allows for public images).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kuberya.images.errors import ImageError
from kuberya.images.reference import DOCKER_HUB, DOCKER_HUB_API

_HUB_ALIASES = frozenset({"index.docker.io", DOCKER_HUB_API, DOCKER_HUB, "registry.hub.docker.com"})
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    """An OAuth2 refresh token (``identitytoken`` in config.json), exchanged for access tokens."""

    def __repr__(self) -> str:  # never print secrets in logs or tracebacks
        token = "***" if self.identity_token else ""
        return f"Credentials(username={self.username!r}, password=***, identity_token={token!r})"


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str
    """``basic`` or ``bearer`` (lowercase)."""
    params: Mapping[str, str]


def registry_key(text: str) -> str:
    """The host a config.json key or registry name stands for (``docker.io`` for every Hub alias)."""
    host = text.strip()
    host = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", host).split("/", 1)[0].lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def parse_docker_config(data: bytes | str) -> dict[str, Credentials]:
    """Credentials by registry host from a config.json / ``.dockerconfigjson`` (or legacy ``.dockercfg``)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"docker config is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ImageError("docker config must be a JSON object")
    auths = doc.get("auths", doc if "auths" not in doc and all(isinstance(v, dict) for v in doc.values()) else {})
    result: dict[str, Credentials] = {}
    for key, entry in (auths or {}).items():
        if isinstance(entry, dict):
            result[registry_key(key)] = _credentials(key, entry)
    return result


def _credentials(key: str, entry: dict[str, object]) -> Credentials:
    username, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=False).decode()
        except (binascii.Error, UnicodeDecodeError) as e:
            raise ImageError(f"docker config: the `auth` of {key!r} is not base64 of user:password") from e
        username, sep, password = decoded.partition(":")
        if not sep:
            raise ImageError(f"docker config: the `auth` of {key!r} decodes to no ':' (expected user:password)")
    return Credentials(username=username, password=password, identity_token=str(entry.get("identitytoken") or ""))


def load_docker_config(path: Path) -> dict[str, Credentials]:
    """:func:`parse_docker_config` of a file; a missing file is no credentials."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ImageError(f"cannot read docker config {path}: {e}") from e
    return parse_docker_config(data)


def credentials_for(auths: Mapping[str, Credentials], domain: str) -> Credentials | None:
    return auths.get(registry_key(domain))


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header (registries send one)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in
              _CHALLENGE_PARAM.finditer(rest)}  # fmt: skip
    return Challenge(scheme=scheme.lower(), params={k: v.replace('\\"', '"') for k, v in params.items()})


def basic_header(creds: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
