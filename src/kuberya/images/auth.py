"""Registry credentials and auth challenges, without I/O: the pieces :mod:`.registry` builds on.

Credentials come from a Docker ``config.json`` (``auths`` with a base64 ``auth`` of ``user:pass``,
or ``username``/``password``, or an ``identitytoken``) or from a Kubernetes
``kubernetes.io/dockerconfigjson`` secret, which has the same shape: the node agent decodes an
``imagePullSecret`` with :func:`parse_docker_config` and passes the result down.

A config.json may instead name *credential helpers*: ``credHelpers`` (registry → helper) and
``credsStore`` (the helper for every other registry), as ``docker login`` writes on a desktop or
with a cloud's SDK. As docker does, :func:`load_docker_config` runs ``docker-credential-<helper>
get`` with the server URL on stdin and reads ``{"ServerURL", "Username", "Secret"}`` (a Username of
``<token>`` makes the Secret an identity token). Helpers run lazily, once per registry, only for a
registry that asks for credentials, with a timeout; the lookup blocks, which suits the CLI it is for.
A helper's "not found" falls back to the inline ``auths`` entry, if any. Pull secrets never run
helpers: :func:`parse_docker_config` ignores those keys, so a Secret cannot make the node run a program.

Config keys are matched to a registry host the way Docker does: ``https://index.docker.io/v1/``
means Docker Hub, schemes and paths are ignored, ``registry-1.docker.io`` is ``docker.io``.

A registry says how to authenticate in its ``WWW-Authenticate`` header: ``Basic realm=…`` (send the
credentials) or ``Bearer realm=…,service=…,scope=…`` (get a token from ``realm``, anonymously when
we have no credentials, as Docker Hub allows for public images).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kuberya.images.errors import ImageError, truncate
from kuberya.images.reference import DOCKER_HUB, DOCKER_HUB_API

HELPER_TIMEOUT = 15.0
"""Seconds a credential helper may take (some ask a cloud's metadata service or unlock a keyring)."""
HELPER_PREFIX = "docker-credential-"
HUB_SERVER_URL = "https://index.docker.io/v1/"
"""What docker calls Docker Hub in config.json and in credential helpers' stores."""
_TOKEN_USERNAME = "<token>"
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


class CredentialHelperError(ImageError):
    """A docker credential helper is missing, failed, timed out or answered nonsense."""


def parse_docker_config(data: bytes | str) -> dict[str, Credentials]:
    """Credentials by registry host from a config.json / ``.dockerconfigjson`` (or legacy ``.dockercfg``).

    Only what is written inline: ``credsStore``/``credHelpers`` are left to :func:`load_docker_config`.
    """
    return _inline_auths(_config_document(data))


def _config_document(data: bytes | str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ImageError(f"docker config is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ImageError("docker config must be a JSON object")
    return doc


def _inline_auths(doc: dict[str, Any]) -> dict[str, Credentials]:
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


def load_docker_config(path: Path, *, timeout: float = HELPER_TIMEOUT) -> DockerCredentials:
    """The credentials of a config.json file, helpers included; a missing file is no credentials."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return DockerCredentials({}, source=str(path))
    except OSError as e:
        raise ImageError(f"cannot read docker config {path}: {e}") from e
    doc = _config_document(data)
    helpers = doc.get("credHelpers") or {}
    store = doc.get("credsStore") or ""
    if not isinstance(helpers, dict) or not all(isinstance(v, str) for v in helpers.values()):
        raise ImageError(f"docker config {path}: `credHelpers` must map registry hosts to helper names")
    if not isinstance(store, str):
        raise ImageError(f"docker config {path}: `credsStore` must be a helper name")
    return DockerCredentials(_inline_auths(doc), helpers=helpers, store=store, source=str(path), timeout=timeout)


class DockerCredentials(Mapping[str, Credentials]):
    """Credentials by registry host: a config.json's inline ``auths``, and its helpers run when first asked.

    ``credHelpers[host]`` wins, then ``credsStore``; when the helper has nothing for the host, the inline
    entry (if it holds credentials). Each host's answer is kept, so one command runs a helper at most once
    per registry. Iterating lists the inline and ``credHelpers`` hosts only: a ``credsStore``'s are not
    known without asking it, and listing never runs a program.
    """

    def __init__(self, inline: Mapping[str, Credentials], *, helpers: Mapping[str, str] | None = None,
                 store: str = "", source: str = "config.json", timeout: float = HELPER_TIMEOUT) -> None:  # fmt: skip
        self._inline = {key: c for key, c in inline.items() if c.username or c.password or c.identity_token}
        self._helpers = {registry_key(host): name for host, name in (helpers or {}).items() if name}
        self._store = store
        self._source = source
        self._timeout = timeout
        self._answers: dict[str, Credentials | None] = {}

    def helper_for(self, host: str) -> str:
        """The helper that holds ``host``'s credentials ('' for none)."""
        key = registry_key(host)
        return self._helpers.get(key) or self._store

    def __getitem__(self, host: str) -> Credentials:
        key = registry_key(host)
        helper = self.helper_for(key)
        if helper:
            if key not in self._answers:
                self._answers[key] = run_credential_helper(
                    helper, HUB_SERVER_URL if key == DOCKER_HUB else key, timeout=self._timeout, source=self._source
                )
            found = self._answers[key]
            if found is not None:
                return found
        return self._inline[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self._inline), **dict.fromkeys(self._helpers)})

    def __len__(self) -> int:
        return len(self._inline.keys() | self._helpers.keys())

    def __repr__(self) -> str:  # hosts and helper names only: never a secret
        return f"DockerCredentials(inline={sorted(self._inline)}, helpers={self._helpers}, store={self._store!r})"


def run_credential_helper(name: str, server_url: str, *, timeout: float = HELPER_TIMEOUT,
                          source: str = "config.json") -> Credentials | None:  # fmt: skip
    """``docker-credential-<name> get`` for ``server_url``: its credentials, or None when it has none."""
    import shutil  # here, not at the top: only a configured helper needs them, and `kuberya pull` is timed
    import signal
    import subprocess

    binary = HELPER_PREFIX + name
    path = shutil.which(binary)
    if path is None:
        raise CredentialHelperError(
            f"{source} says the credentials for {server_url} are kept by the credential helper {name!r}, but "
            f"{binary} is not on PATH: install it (it comes with the helper's own package, such as "
            f"golang-docker-credential-helpers or a cloud SDK), or remove {name!r} from {source}"
        )
    try:
        # Its own session: on a timeout the whole group goes, not just a wrapper script leaving its children.
        helper = subprocess.Popen(
            [path, "get"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
    except OSError as e:
        raise CredentialHelperError(f"cannot run {path}: {e}") from e
    try:
        stdout, stderr = helper.communicate(server_url.encode(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(helper.pid, signal.SIGKILL)
        helper.communicate()
        raise CredentialHelperError(
            f"{binary} get did not answer within {timeout:g}s for {server_url} (is it waiting for a keyring to be "
            "unlocked or for a login?)"
        ) from e
    output = stdout.decode(errors="replace").strip()
    if helper.returncode != 0:
        # docker-credential-helpers' ErrCredentialsNotFound; docker treats it as "no credentials"
        if "credentials not found" in output.lower():
            return None
        detail = truncate(output or stderr.decode(errors="replace").strip()) or "no message"
        raise CredentialHelperError(f"{binary} get failed for {server_url} (exit status {helper.returncode}): {detail}")
    try:
        doc = json.loads(output)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):  # the output is not echoed: it may hold a secret
        raise CredentialHelperError(
            f"{binary} get answered for {server_url} with something other than a JSON object "
            '{"ServerURL", "Username", "Secret"}'
        )
    username, secret = str(doc.get("Username") or ""), str(doc.get("Secret") or "")
    if not username and not secret:
        return None
    if username == _TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=username, password=secret)


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
