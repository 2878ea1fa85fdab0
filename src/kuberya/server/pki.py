"""The cluster's PKI: one CA, the API server's serving certificate, the admin's client certificate.

``kuberya up`` is secure by default (DESIGN.md, decision 7): the API listens with TLS, and every
request must carry either a client certificate signed by the cluster CA or a bearer token from
``tokens.csv``. This module makes that material on first start and reuses it afterwards, so a
kubeconfig merged into ``~/.kube/config`` keeps working across ``down``/``up``.

Layout under ``DATA_DIR/pki/`` (directory 0700, private keys and tokens 0600)::

    ca.crt  ca.key                 CN=kuberya-ca, 10 years
    apiserver.crt  apiserver.key   serverAuth; SANs = loopback, ``kubernetes.default…``, the bind host
    admin.crt  admin.key           clientAuth; CN=kuberya-admin, O=system:masters
    tokens.csv                     ``token,user,uid,"group1,group2"`` (upstream static token file)
    sa.key                         the service-account token signing key (ES256; kubeadm's name)
    checked.json                   what the last full check found (see below)

Keys are ECDSA P-256 (see :mod:`kuberya.server.certificates`): fast to make, so even a first
``kuberya up`` stays sub-second.

Reuse rules: the CA is kept while it parses, matches its key and is not about to expire —
otherwise everything is made anew (leaves signed by a lost CA are worthless). A leaf is kept
while it parses, matches its key, was issued by the current CA and is not about to expire; the
serving certificate is also remade when its SANs do not cover the host the server binds to.
Files are written to a temporary name and renamed, so a crash never leaves half a key.

The fast path: a full check needs ``cryptography``, whose import alone is a noticeable part of
``up``'s half-second budget. After a full check, ``checked.json`` records each file's identity
(inode, size, mtime) with the earliest renewal time and the serving SANs; while every file is
unchanged, the clock is before that renewal time and the SANs cover the host, the files are
used as they are, without importing ``cryptography``. Any change to any file means a full check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kuberya.server.certificates import Pair

CA_COMMON_NAME = "kuberya-ca"
SERVING_COMMON_NAME = "kuberya-apiserver"
ADMIN_USER = "kuberya-admin"
ADMIN_GROUP = "system:masters"

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=30)
"""A certificate with less than this left is remade on the next start rather than left to expire."""

DEFAULT_SERVING_HOSTS: tuple[str, ...] = (
    "127.0.0.1",
    "::1",
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
"""What in-cluster clients and local tools call the API server (upstream's defaults, minus the
service IP, which kuberya clients reach through loopback)."""

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class PKIError(Exception):
    """The PKI directory cannot be read or written."""


@dataclass(frozen=True, slots=True)
class PKIPaths:
    """Where each file of the PKI lives; all under one directory."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def tokens(self) -> Path:
        return self.dir / "tokens.csv"

    @property
    def service_account_key(self) -> Path:
        return self.dir / "sa.key"

    @property
    def users(self) -> Path:
        """``kuberya user``'s record of the certificates it issued and revoked (not PKI material)."""
        return self.dir / "users.json"

    @property
    def checked(self) -> Path:
        return self.dir / "checked.json"

    def material(self) -> tuple[Path, ...]:
        """Every file the PKI consists of (what ``checked.json`` vouches for)."""
        return (
            self.ca_cert, self.ca_key, self.serving_cert, self.serving_key,
            self.admin_cert, self.admin_key, self.tokens, self.service_account_key,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ClusterPKI:
    """The PKI as the server uses it: paths, the PEM bytes for the kubeconfig, the admin token."""

    paths: PKIPaths
    ca_pem: bytes
    admin_cert_pem: bytes
    admin_key_pem: bytes
    admin_token: str
    generated: tuple[str, ...]
    """Which parts were (re)made by this call (``"ca"``, ``"serving"``, ``"admin"``, ``"token"``)."""

    def server_ssl_context(self) -> ssl.SSLContext:
        """TLS for the API listener: our serving cert; client certs optional but verified.

        ``CERT_OPTIONAL`` (not ``CERT_REQUIRED``) so that a request without a certificate still
        reaches the API server, which answers it with a Kubernetes 401 ``Status`` — or accepts a
        bearer token instead. A certificate that *is* presented and fails verification still ends
        the handshake.
        """
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.paths.serving_cert, self.paths.serving_key)
        ctx.load_verify_locations(cafile=self.paths.ca_cert)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        # aiohttp speaks HTTP/1.1 only; say so, so that Go clients never try h2 on us.
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx


def serving_hosts(bind_host: str) -> list[str]:
    """List the names and addresses a serving cert must cover for a server bound to ``bind_host``.

    A wildcard bind (``0.0.0.0``) cannot list every interface's address; it adds the machine's
    host name, which is what a remote user would most likely type.
    """
    hosts = list(DEFAULT_SERVING_HOSTS)
    extra = socket.gethostname() if bind_host in WILDCARD_HOSTS else bind_host
    if extra and _normalize_host(extra) not in {_normalize_host(h) for h in hosts}:
        hosts.append(extra)
    return hosts


def ensure_pki(
    pki_dir: Path, *, hosts: Sequence[str] = DEFAULT_SERVING_HOSTS, now: dt.datetime | None = None
) -> ClusterPKI:
    """Load the PKI under ``pki_dir``, making whatever is missing, invalid or about to expire."""
    now = now or dt.datetime.now(dt.UTC)
    paths = PKIPaths(pki_dir)
    unchanged = _load_if_unchanged(paths, hosts, now)
    if unchanged is not None:
        return unchanged
    try:
        pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise PKIError(f"cannot create the PKI directory {pki_dir}: {e}") from e
    return _check_and_make(paths, hosts, now)


def ensure_pki_out_of_process(pki_dir: Path, *, hosts: Sequence[str]) -> ClusterPKI:
    """:func:`ensure_pki`, but any certificate work happens in a short-lived child process.

    Making or checking certificates needs ``cryptography`` (~8 MB resident, kept for the life of
    a process once imported); the server only ever needs the files. So when the PKI is not known
    to be current, a child makes it, and this process then takes the fast path that reads the
    recorded check.
    """
    generated: tuple[str, ...] = ()
    if _load_if_unchanged(PKIPaths(pki_dir), hosts, dt.datetime.now(dt.UTC)) is None:
        child = subprocess.run(
            [sys.executable, "-m", "kuberya.server.pki", str(pki_dir), *hosts],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            message = child.stderr.strip().splitlines()[-1] if child.stderr.strip() else "making the PKI failed"
            raise PKIError(message.removeprefix("error: "))
        generated = tuple(name for name in child.stdout.strip().split(",") if name)
    pki = ensure_pki(pki_dir, hosts=hosts)
    return dataclasses.replace(pki, generated=generated) if generated else pki


def _check_and_make(paths: PKIPaths, hosts: Sequence[str], now: dt.datetime) -> ClusterPKI:
    from kuberya.server import certificates as certs

    generated: list[str] = []
    ca = _load_pair(paths.ca_cert, paths.ca_key)
    if ca is None or not certs.is_current(ca[0], now=now, renew_before=RENEW_BEFORE):
        ca = certs.make_ca(CA_COMMON_NAME, now=now, validity=CA_VALIDITY)
        _write_pair(paths.ca_cert, paths.ca_key, ca)
        generated.append("ca")
    ca_cert = ca[0]

    def usable(pair: Pair | None) -> bool:
        return (
            pair is not None
            and certs.is_current(pair[0], now=now, renew_before=RENEW_BEFORE)
            and certs.issued_by(pair[0], ca_cert)
        )

    serving = None if "ca" in generated else _load_pair(paths.serving_cert, paths.serving_key)
    if serving is None or not usable(serving) or not certs.covers(serving[0], hosts):
        serving = certs.make_leaf(
            ca, common_name=SERVING_COMMON_NAME, usage="server", hosts=hosts, now=now, validity=LEAF_VALIDITY
        )
        _write_pair(paths.serving_cert, paths.serving_key, serving)
        generated.append("serving")

    admin = None if "ca" in generated else _load_pair(paths.admin_cert, paths.admin_key)
    if admin is None or not usable(admin):
        admin = certs.make_leaf(
            ca, common_name=ADMIN_USER, organization=ADMIN_GROUP, usage="client", now=now, validity=LEAF_VALIDITY
        )
        _write_pair(paths.admin_cert, paths.admin_key, admin)
        generated.append("admin")

    token = _read_admin_token(paths.tokens)
    if token is None:
        token = secrets.token_urlsafe(32)
        line = f'{token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n'
        _write_private(paths.tokens, line.encode())
        generated.append("token")

    if not _usable_signing_key(paths.service_account_key):
        from kuberya.meta import serviceaccount_jwt

        _write_private(paths.service_account_key, serviceaccount_jwt.key_pem(serviceaccount_jwt.new_key()))
        generated.append("service-account-key")

    renew_at = min(pair[0].not_valid_after_utc for pair in (ca, serving, admin)) - RENEW_BEFORE
    valid_from = max(pair[0].not_valid_before_utc for pair in (ca, serving, admin))
    _record_check(paths, renew_at=renew_at, valid_from=valid_from, sans=certs.san_hosts(serving[0]))
    return ClusterPKI(
        paths=paths,
        ca_pem=certs.cert_pem(ca_cert),
        admin_cert_pem=certs.cert_pem(admin[0]),
        admin_key_pem=certs.key_pem(admin[1]),
        admin_token=token,
        generated=tuple(generated),
    )


# -- the fast path: files unchanged since the last full check ----------------------------------------

_CHECK_FORMAT = 1


def _identity(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _record_check(paths: PKIPaths, *, renew_at: dt.datetime, valid_from: dt.datetime, sans: list[str]) -> None:
    record = {
        "format": _CHECK_FORMAT,
        "renew_at": renew_at.isoformat(),
        "valid_from": valid_from.isoformat(),
        "sans": sans,
        "files": {p.name: _identity(p) for p in paths.material()},
    }
    with contextlib.suppress(OSError):  # only an optimisation: the next start checks in full
        write_file_atomic(paths.checked, json.dumps(record, indent=1).encode(), mode=0o644)


def _load_if_unchanged(paths: PKIPaths, hosts: Sequence[str], now: dt.datetime) -> ClusterPKI | None:
    try:
        record: dict[str, Any] = json.loads(paths.checked.read_bytes())
        if record.get("format") != _CHECK_FORMAT:
            return None
        if any(record["files"].get(p.name) != _identity(p) for p in paths.material()):
            return None
        if not dt.datetime.fromisoformat(record["valid_from"]) <= now < dt.datetime.fromisoformat(record["renew_at"]):
            return None
        if not {_normalize_host(h) for h in hosts} <= set(record["sans"]):
            return None
        token = _read_admin_token(paths.tokens)
        if token is None:
            return None
        return ClusterPKI(
            paths=paths,
            ca_pem=paths.ca_cert.read_bytes(),
            admin_cert_pem=paths.admin_cert.read_bytes(),
            admin_key_pem=paths.admin_key.read_bytes(),
            admin_token=token,
            generated=(),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# -- files ---------------------------------------------------------------------------------------------


def _load_pair(cert_path: Path, key_path: Path) -> Pair | None:
    from kuberya.server import certificates as certs

    try:
        return certs.load_pair(cert_path.read_bytes(), key_path.read_bytes())
    except OSError:
        return None


def _usable_signing_key(path: Path) -> bool:
    """Whether the service-account signing key parses; tokens signed with a lost key are void anyway."""
    from kuberya.meta import serviceaccount_jwt

    try:
        serviceaccount_jwt.load_key(path.read_bytes())
    except (OSError, ValueError, TypeError):
        return False
    return True


def _read_admin_token(path: Path) -> str | None:
    """Read the admin's token from an existing ``tokens.csv`` (the first line naming the admin)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        fields = line.split(",", 2)
        if len(fields) >= 2 and fields[1] == ADMIN_USER and len(fields[0]) >= 16:
            return fields[0]
    return None


def _write_pair(cert_path: Path, key_path: Path, pair: Pair) -> None:
    from kuberya.server import certificates as certs

    # The key first: a crash in between leaves a cert that no longer matches it, which the next
    # start detects and remakes, instead of a cert whose key was never written.
    _write_private(key_path, certs.key_pem(pair[1]))
    try:
        write_file_atomic(cert_path, certs.cert_pem(pair[0]), mode=0o644)
    except OSError as e:
        raise PKIError(f"cannot write {cert_path}: {e}") from e


def _write_private(path: Path, data: bytes) -> None:
    try:
        write_file_atomic(path, data, mode=0o600)
    except OSError as e:
        raise PKIError(f"cannot write {path}: {e}") from e


def write_file_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename, created with ``mode`` from the start.

    The mode is given to ``open`` rather than set afterwards, so a private key is never readable
    by others, not even for a moment. Raises :class:`OSError`.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, mode)  # the umask may have narrowed it; 0644 should stay 0644
            f.write(data)
            f.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _normalize_host(host: str) -> str:
    """One spelling per host: IPs in canonical form, names in lower case (as in the SAN record)."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host.lower()


def _main(argv: Sequence[str]) -> int:
    """``python -m kuberya.server.pki DIR HOST…``: what :func:`ensure_pki_out_of_process` runs."""
    try:
        pki = ensure_pki(Path(argv[0]), hosts=list(argv[1:]))
    except PKIError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(",".join(pki.generated))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
