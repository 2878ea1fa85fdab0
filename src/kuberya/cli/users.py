"""``kuberya user add|list|remove``: kubeconfigs for teammates, signed by the cluster CA.

``add NAME`` issues a client certificate (CN=NAME, one O per ``--group``; upstream's x509
authenticator reads the user and groups from exactly these) signed with ``DATA_DIR/pki/ca.key``,
writes a kubeconfig holding it, and with ``--role view|edit|admin`` binds NAME to that ClusterRole:
a RoleBinding in ``--namespace``, else a ClusterRoleBinding, named ``kuberya-user-NAME-ROLE``.
Every certificate issued is recorded in ``DATA_DIR/pki/users.json``
(:mod:`kuberya.meta.user_registry`); ``remove NAME`` revokes its certificates there (the API
server answers their requests 401 from then on) and deletes the bindings ``add`` made.

The certificate is made with ``cryptography`` here, not by :mod:`kuberya.server.certificates`
(the CLI may not import the server): the same facts (ECDSA P-256, SHA-256, clientAuth, backdated an
hour for clock skew), a year of validity.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Any

import click

HELP = """\
\b
Users of this cluster: kubeconfigs with a client certificate signed by its CA.
이 클러스터의 사용자: 클러스터 CA가 서명한 클라이언트 인증서로 된 kubeconfig.

\b
Examples / 예:
  kuberya user add bob --group dev --role view -n shop -o bob.kubeconfig
  kuberya user list
  kuberya user remove bob        # its certificate gets 401 from now on / 이후 401
"""

ROLES = ("view", "edit", "admin")
VALIDITY = dt.timedelta(days=365)
CLOCK_SKEW = dt.timedelta(hours=1)
CONTEXT = "kuberya"
BINDING_PREFIX = "kuberya-user-"


def _data_dir(data_dir: Path | None) -> Path:
    from kuberya.cli.options import default_data_dir

    return data_dir.expanduser().absolute() if data_dir else default_data_dir(os.environ, Path.home())


def _data_dir_option(f: Any) -> Any:
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="The cluster's data dir [default: $KUBERYA_DATA_DIR, else ~/.local/share/kuberya].",
    )(f)


@click.group(name="user", help=HELP)
def user_command() -> None:
    """Users of the cluster."""


def issue_certificate(
    ca_cert_pem: bytes, ca_key_pem: bytes, *, name: str, groups: tuple[str, ...]
) -> tuple[bytes, bytes, str, dt.datetime]:
    """A clientAuth certificate for ``name`` in ``groups``: (cert PEM, key PEM, hex serial, expiry)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise click.ClickException("the cluster CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    expires = min(now + VALIDITY, ca_cert.not_valid_after_utc)
    subject = x509.Name(
        [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    serial = x509.random_serial_number()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, format(serial, "x"), expires


def _server_url(root: Path) -> str:
    import yaml

    try:
        doc = yaml.safe_load((root / "kubeconfig").read_text())
        return str(doc["clusters"][0]["cluster"]["server"])
    except (OSError, KeyError, IndexError, TypeError) as e:
        raise click.ClickException(f"no cluster kubeconfig in {root}; run `kuberya up` first ({e})") from e


def _kubeconfig(server: str, ca_pem: bytes, name: str, cert_pem: bytes, key_pem: bytes) -> str:
    import yaml

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    context = f"{name}@{CONTEXT}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": name, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
        "contexts": [{"name": context, "context": {"cluster": CONTEXT, "user": name}}],
        "current-context": context,
    }
    return str(yaml.safe_dump(doc, sort_keys=False))


def _binding(name: str, role: str, namespace: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"{BINDING_PREFIX}{name}-{role}", "labels": {"kuberya.io/user": name}}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
    }


def _binding_refs() -> tuple[Any, Any]:
    from kuberya.client.resources import ResourceRef

    group = "rbac.authorization.k8s.io"
    return (
        ResourceRef(group, "v1", "rolebindings", True, "RoleBinding"),
        ResourceRef(group, "v1", "clusterrolebindings", False, "ClusterRoleBinding"),
    )


async def _apply_binding(root: Path, body: dict[str, Any]) -> None:
    from kuberya.client.api import ApiClient
    from kuberya.client.errors import AlreadyExistsError

    role_bindings, cluster_role_bindings = _binding_refs()
    ref = role_bindings if body["kind"] == "RoleBinding" else cluster_role_bindings
    async with ApiClient.from_kubeconfig(root / "kubeconfig", context=CONTEXT) as client:
        with contextlib.suppress(AlreadyExistsError):
            await client.create(ref, body)


async def _delete_bindings(root: Path, name: str) -> list[str]:
    from kuberya.client.api import ApiClient
    from kuberya.client.errors import NotFoundError

    deleted: list[str] = []
    async with ApiClient.from_kubeconfig(root / "kubeconfig", context=CONTEXT) as client:
        for ref in _binding_refs():
            listing = await client.list(ref, label_selector=f"kuberya.io/user={name}")
            for item in listing.get("items") or ():
                meta = item.get("metadata") or {}
                try:
                    await client.delete(ref, meta["name"], namespace=meta.get("namespace"))
                except NotFoundError:
                    continue
                deleted.append(f"{ref.kind}/{meta['name']}")
    return deleted


@user_command.command(name="add", help="Issue a kubeconfig for NAME. / NAME의 kubeconfig를 발급합니다.")
@click.argument("name")
@click.option("--group", "groups", multiple=True, metavar="G", help="A group (the certificate's O); repeatable.")
@click.option("--role", type=click.Choice(ROLES), default=None, help="Bind NAME to this ClusterRole.")
@click.option("-n", "--namespace", default=None, help="Bind in this namespace only (a RoleBinding).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the kubeconfig [default: DATA_DIR/users/NAME.kubeconfig].")  # fmt: skip
@_data_dir_option
def add(name: str, groups: tuple[str, ...], role: str | None, namespace: str | None, output: Path | None,
        data_dir: Path | None) -> None:  # fmt: skip
    import asyncio

    from kuberya.meta import user_registry

    if namespace and not role:
        raise click.UsageError("--namespace only says where --role is bound; give --role too")
    root = _data_dir(data_dir)
    pki = root / "pki"
    try:
        ca_pem, ca_key_pem = (pki / "ca.crt").read_bytes(), (pki / "ca.key").read_bytes()
    except OSError as e:
        raise click.ClickException(f"cannot read the cluster CA in {pki}: {e}; run `kuberya up` first") from e
    cert_pem, key_pem, serial, expires = issue_certificate(ca_pem, ca_key_pem, name=name, groups=groups)
    target = (output or root / "users" / f"{name}.kubeconfig").expanduser().absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_kubeconfig(_server_url(root), ca_pem, name, cert_pem, key_pem))
    if role:
        asyncio.run(_apply_binding(root, _binding(name, role, namespace)))
    registry = user_registry.load(pki / "users.json")
    registry.users.append(
        user_registry.IssuedUser(
            name=name,
            groups=groups,
            serial=serial,
            role=role or "",
            namespace=namespace or "",
            created=_rfc3339(dt.datetime.now(dt.UTC)),
            expires=_rfc3339(expires),
            kubeconfig=str(target),
        )
    )
    user_registry.save(pki / "users.json", registry)
    click.echo(f"✓ user {name} added; kubeconfig {target}")
    if role:
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        click.echo(f"  bound to ClusterRole {role} {where}")
    click.echo(f"  kubectl --kubeconfig {target} auth whoami")


@user_command.command(name="list", help="List the users issued. / 발급한 사용자 목록.")
@_data_dir_option
def list_users(data_dir: Path | None) -> None:
    from kuberya.meta import user_registry

    registry = user_registry.load(_data_dir(data_dir) / "pki" / "users.json")
    revoked = registry.revoked_serials()
    rows = [("NAME", "GROUPS", "ROLE", "NAMESPACE", "EXPIRES", "STATUS")]
    for u in registry.users:
        status = "revoked" if u.serial in revoked else "active"
        rows.append((u.name, ",".join(u.groups) or "<none>", u.role or "<none>", u.namespace or "<all>",
                     u.expires, status))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@user_command.command(
    name="remove", help="Revoke NAME's certificates and bindings. / NAME의 인증서와 바인딩을 폐기합니다."
)
@click.argument("name")
@_data_dir_option
def remove(name: str, data_dir: Path | None) -> None:
    import asyncio

    from kuberya.meta import user_registry

    root = _data_dir(data_dir)
    path = root / "pki" / "users.json"
    registry = user_registry.load(path)
    revoked = registry.revoked_serials()
    mine = [u for u in registry.users if u.name == name and u.serial not in revoked]
    if not mine and not any(u.name == name for u in registry.users):
        raise click.ClickException(f"no user {name} was issued here (see `kuberya user list`)")
    now = _rfc3339(dt.datetime.now(dt.UTC))
    registry.revoked.extend({"name": name, "serial": u.serial, "revoked": now} for u in mine)
    user_registry.save(path, registry)
    deleted = asyncio.run(_delete_bindings(root, name))
    click.echo(f"✓ user {name} removed: {len(mine)} certificate(s) revoked")
    for binding in deleted:
        click.echo(f"  deleted {binding}")


def _rfc3339(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
