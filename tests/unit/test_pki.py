"""The cluster PKI: what is made, what is reused, what is remade — and that TLS clients accept it.

The first tests are pure (files in tmp_path, an injected clock). The last ones serve the real API
server in-process over TLS on a loopback port and connect with Python's ``ssl`` the way curl would
(``--cacert ca.crt --cert admin.crt --key admin.key``): they are marked ``integration``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kuberya.meta.serviceaccount_jwt import load_key
from kuberya.server import pki as pki_module
from kuberya.server.certificates import covers
from kuberya.server.pki import (
    ADMIN_GROUP,
    ADMIN_USER,
    DEFAULT_SERVING_HOSTS,
    ClusterPKI,
    ensure_pki,
    serving_hosts,
)

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def pki(tmp_path: Path) -> ClusterPKI:
    return ensure_pki(tmp_path / "pki", now=NOW)


@pytest.mark.unit
class TestMaking:
    def test_first_call_makes_everything(self, pki: ClusterPKI) -> None:
        assert pki.generated == ("ca", "serving", "admin", "token", "service-account-key")

    def test_private_files_are_0600_and_the_dir_0700(self, pki: ClusterPKI) -> None:
        p = pki.paths
        assert stat.S_IMODE(p.dir.stat().st_mode) == 0o700
        for private in (p.ca_key, p.serving_key, p.admin_key, p.tokens, p.service_account_key):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
        for public in (p.ca_cert, p.serving_cert, p.admin_cert):
            assert stat.S_IMODE(public.stat().st_mode) == 0o644, public
        assert not list(p.dir.glob(".*.tmp"))

    def test_ca(self, pki: ClusterPKI) -> None:
        ca = load(pki.paths.ca_cert)
        assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kuberya-ca"
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert ca.not_valid_after_utc - NOW >= dt.timedelta(days=3649)
        assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
        assert ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]

    def test_serving_cert_covers_the_kubernetes_names(self, pki: ClusterPKI) -> None:
        cert = load(pki.paths.serving_cert)
        assert covers(cert, DEFAULT_SERVING_HOSTS)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.SERVER_AUTH in eku
        cert.verify_directly_issued_by(load(pki.paths.ca_cert))

    def test_admin_cert_is_a_system_masters_client(self, pki: ClusterPKI) -> None:
        cert = load(pki.paths.admin_cert)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ADMIN_USER
        assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ADMIN_GROUP
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
        cert.verify_directly_issued_by(load(pki.paths.ca_cert))
        assert pki.admin_cert_pem == pki.paths.admin_cert.read_bytes()

    def test_token_file_uses_the_upstream_format(self, pki: ClusterPKI) -> None:
        line = pki.paths.tokens.read_text().strip()
        assert line == f'{pki.admin_token},kuberya-admin,kuberya-admin,"system:masters"'
        assert len(pki.admin_token) >= 32


@pytest.mark.unit
class TestReuse:
    def test_second_call_reuses_everything(self, tmp_path: Path, pki: ClusterPKI) -> None:
        before = {f: f.read_bytes() for f in pki.paths.dir.iterdir()}
        again = ensure_pki(tmp_path / "pki", now=NOW + dt.timedelta(days=10))
        assert again.generated == ()
        assert again.admin_token == pki.admin_token
        assert {f: f.read_bytes() for f in pki.paths.dir.iterdir()} == before

    def test_uncovered_host_remakes_only_the_serving_cert(self, tmp_path: Path, pki: ClusterPKI) -> None:
        ca_before = pki.paths.ca_cert.read_bytes()
        again = ensure_pki(tmp_path / "pki", hosts=serving_hosts("10.20.30.40"), now=NOW)
        assert again.generated == ("serving",)
        assert covers(load(again.paths.serving_cert), ["10.20.30.40", *DEFAULT_SERVING_HOSTS])
        assert again.paths.ca_cert.read_bytes() == ca_before
        # ...and loopback-only afterwards is still covered: no churn.
        assert ensure_pki(tmp_path / "pki", now=NOW).generated == ()

    def test_leaf_near_expiry_is_renewed(self, tmp_path: Path, pki: ClusterPKI) -> None:
        later = NOW + dt.timedelta(days=340)  # leaves last 365 days; renewed 30 days before
        again = ensure_pki(tmp_path / "pki", now=later)
        assert set(again.generated) == {"serving", "admin"}
        assert load(again.paths.admin_cert).not_valid_after_utc > later + dt.timedelta(days=300)

    def test_corrupt_key_is_remade(self, tmp_path: Path, pki: ClusterPKI) -> None:
        pki.paths.admin_key.write_text("garbage")
        assert ensure_pki(tmp_path / "pki", now=NOW).generated == ("admin",)

    def test_mismatched_key_is_remade(self, tmp_path: Path, pki: ClusterPKI) -> None:
        pki.paths.serving_key.write_bytes(pki.paths.admin_key.read_bytes())
        assert ensure_pki(tmp_path / "pki", now=NOW).generated == ("serving",)

    def test_a_lost_signing_key_is_remade_alone(self, tmp_path: Path, pki: ClusterPKI) -> None:
        pki.paths.service_account_key.write_bytes(b"not a key")
        again = ensure_pki(tmp_path / "pki", now=NOW)
        assert again.generated == ("service-account-key",)
        assert load_key(again.paths.service_account_key.read_bytes()).curve.name == "secp256r1"

    def test_new_ca_remakes_the_leaves(self, tmp_path: Path, pki: ClusterPKI) -> None:
        pki.paths.ca_key.unlink()
        again = ensure_pki(tmp_path / "pki", now=NOW)
        assert again.generated == ("ca", "serving", "admin")
        load(again.paths.admin_cert).verify_directly_issued_by(load(again.paths.ca_cert))

    def test_leaf_from_another_ca_is_remade(self, tmp_path: Path, pki: ClusterPKI) -> None:
        other = ensure_pki(tmp_path / "other", now=NOW)
        for name in ("admin.crt", "admin.key"):
            (pki.paths.dir / name).write_bytes((other.paths.dir / name).read_bytes())
        assert ensure_pki(tmp_path / "pki", now=NOW).generated == ("admin",)


@pytest.mark.unit
class TestFastPath:
    """After a full check, unchanged files are used without one (and without ``cryptography``)."""

    @pytest.fixture
    def no_full_check(self, monkeypatch: pytest.MonkeyPatch) -> list[str]:
        calls: list[str] = []

        def full_check(*args: object) -> ClusterPKI:
            calls.append("full")
            raise AssertionError("full check")

        monkeypatch.setattr(pki_module, "_check_and_make", full_check)
        return calls

    def test_unchanged_files_are_used_as_they_are(
        self, tmp_path: Path, pki: ClusterPKI, no_full_check: list[str]
    ) -> None:
        again = ensure_pki(tmp_path / "pki", now=NOW + dt.timedelta(days=100))
        assert no_full_check == []
        assert again == pki.__class__(**{**_fields(pki), "generated": ()})

    @pytest.mark.parametrize("name", ["ca.crt", "admin.key", "apiserver.crt", "tokens.csv"])
    def test_any_change_means_a_full_check(
        self, tmp_path: Path, pki: ClusterPKI, no_full_check: list[str], name: str
    ) -> None:
        path = pki.paths.dir / name
        path.write_bytes(path.read_bytes())  # same content, new mtime: still re-checked
        with pytest.raises(AssertionError, match="full check"):
            ensure_pki(tmp_path / "pki", now=NOW)

    def test_near_renewal_means_a_full_check(self, tmp_path: Path, pki: ClusterPKI, no_full_check: list[str]) -> None:
        with pytest.raises(AssertionError, match="full check"):
            ensure_pki(tmp_path / "pki", now=NOW + dt.timedelta(days=336))

    def test_an_uncovered_host_means_a_full_check(
        self, tmp_path: Path, pki: ClusterPKI, no_full_check: list[str]
    ) -> None:
        assert ensure_pki(tmp_path / "pki", hosts=["LOCALHOST", "::1"], now=NOW).generated == ()
        with pytest.raises(AssertionError, match="full check"):
            ensure_pki(tmp_path / "pki", hosts=["10.0.0.1"], now=NOW)


def _fields(pki: ClusterPKI) -> dict[str, object]:
    return {name: getattr(pki, name) for name in pki.__dataclass_fields__}


@pytest.mark.integration
def test_unchanged_pki_loads_without_importing_cryptography(tmp_path: Path) -> None:
    import subprocess
    import sys

    pki = ensure_pki(tmp_path / "pki")  # the real clock: the child process uses it too

    code = (
        "import sys; from pathlib import Path; from kuberya.server.pki import ensure_pki; "
        f"p = ensure_pki(Path({str(pki.paths.dir)!r})); "
        "assert p.generated == (), p.generated; "
        "assert 'cryptography' not in sys.modules, 'cryptography was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.unit
def test_serving_hosts() -> None:
    assert serving_hosts("127.0.0.1") == list(DEFAULT_SERVING_HOSTS)
    assert serving_hosts("192.168.1.7")[-1] == "192.168.1.7"
    assert len(serving_hosts("0.0.0.0")) == len(DEFAULT_SERVING_HOSTS) + 1  # the host name


# -- TLS against the real API server, in-process ------------------------------------------------------


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[ClusterPKI, int]]:
    from aiohttp import web

    from kuberya.apiserver.app import create_app
    from kuberya.apiserver.settings import APIServerSettings, AuthSettings
    from kuberya.storage import open_backend

    pki = ensure_pki(tmp_path / "pki")
    backend = open_backend("memory://")
    await backend.start()
    settings = APIServerSettings(auth=AuthSettings(client_ca_file=pki.paths.ca_cert, token_file=pki.paths.tokens))
    runner = web.AppRunner(create_app(backend=backend, settings=settings), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_ssl_context())
    await site.start()
    try:
        yield pki, int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
        await backend.close()


def client_context(pki: ClusterPKI, *, with_cert: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.paths.ca_cert))
    if with_cert:
        ctx.load_cert_chain(pki.paths.admin_cert, pki.paths.admin_key)
    return ctx


async def get(port: int, path: str, ctx: ssl.SSLContext, *, host: str = "127.0.0.1",
              token: str | None = None) -> tuple[int, bytes]:  # fmt: skip
    """A bare HTTP/1.1 GET over TLS: what curl does, with nothing of aiohttp's client in the way."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=host)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.mark.integration
class TestTLS:
    async def test_admin_cert_is_accepted(self, tls_server: tuple[ClusterPKI, int]) -> None:
        pki, port = tls_server
        code, body = await get(port, "/api", client_context(pki, with_cert=True))
        assert code == 200, body
        assert json.loads(body)["kind"] == "APIVersions"

    @pytest.mark.parametrize("host", ["localhost", "kubernetes.default.svc"])
    async def test_serving_cert_matches_the_names_clients_use(
        self, tls_server: tuple[ClusterPKI, int], host: str
    ) -> None:
        pki, port = tls_server
        code, _ = await get(port, "/api", client_context(pki, with_cert=True), host=host)
        assert code == 200

    async def test_no_credentials_is_a_401_status(self, tls_server: tuple[ClusterPKI, int]) -> None:
        pki, port = tls_server
        code, body = await get(port, "/api", client_context(pki, with_cert=False))
        assert code == 401
        status = json.loads(body)
        assert (status["kind"], status["code"]) == ("Status", 401)

    async def test_admin_token_is_accepted(self, tls_server: tuple[ClusterPKI, int]) -> None:
        pki, port = tls_server
        ctx = client_context(pki, with_cert=False)
        assert (await get(port, "/api", ctx, token=pki.admin_token))[0] == 200
        assert (await get(port, "/api", ctx, token="not-the-token-at-all"))[0] == 401

    async def test_cert_from_another_ca_is_refused(self, tls_server: tuple[ClusterPKI, int], tmp_path: Path) -> None:
        pki, port = tls_server
        stranger = ensure_pki(tmp_path / "stranger")
        ctx = client_context(pki, with_cert=False)
        ctx.load_cert_chain(stranger.paths.admin_cert, stranger.paths.admin_key)
        # TLS 1.3 reports the server's rejection of the client cert on the first read, not in
        # the handshake; either way no response comes.
        with pytest.raises((ssl.SSLError, ConnectionResetError, IndexError, ValueError)):
            await get(port, "/api", ctx)

    async def test_server_is_not_trusted_without_our_ca(self, tls_server: tuple[ClusterPKI, int]) -> None:
        _, port = tls_server
        with pytest.raises(ssl.SSLCertVerificationError):
            await get(port, "/version", ssl.create_default_context())


def test_out_of_process_pki_keeps_cryptography_out_of_the_server(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from kuberya.server.pki import ensure_pki_out_of_process as e; "
        f"p = e(Path({str(tmp_path / 'pki')!r}), hosts=['127.0.0.1', 'localhost']); "
        "print(','.join(p.generated), 'cryptography' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert first[-1] == "False", "the server process never imports cryptography"
    assert "ca" in first[0].split(","), "the child reports what it made"
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert again == ["False"], "a current PKI is reused as it is"
