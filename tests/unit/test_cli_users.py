"""``kuberya user``: the certificate it issues is what upstream's x509 authenticator reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kuberya.cli.main import cli
from kuberya.cli.users import _binding, issue_certificate
from kuberya.server import certificates

NOW = dt.datetime.now(dt.UTC)


def test_the_certificate_names_the_user_and_groups_and_is_signed_by_the_ca() -> None:
    ca = certificates.make_ca("kuberya-ca", now=NOW, validity=dt.timedelta(days=3650))
    cert_pem, key_pem, serial, expires = issue_certificate(
        certificates.cert_pem(ca[0]), certificates.key_pem(ca[1]), name="bob", groups=("dev", "ops")
    )
    pair = certificates.load_pair(cert_pem, key_pem)
    assert pair is not None
    cert = pair[0]
    assert certificates.issued_by(cert, ca[0])
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["bob"]
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["dev", "ops"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert format(cert.serial_number, "x") == serial
    # a year from issue (NOW is module import time, possibly minutes earlier on a loaded machine)
    assert expires - cert.not_valid_before_utc <= dt.timedelta(days=365, hours=1, minutes=1)  # 1 h skew
    assert dt.timedelta(days=364) < expires - NOW


def test_the_binding_is_a_rolebinding_in_a_namespace_else_cluster_wide() -> None:
    namespaced = _binding("bob", "view", "shop")
    assert (namespaced["kind"], namespaced["metadata"]["namespace"]) == ("RoleBinding", "shop")
    assert namespaced["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}
    assert namespaced["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]
    assert _binding("bob", "edit", None)["kind"] == "ClusterRoleBinding"


def test_help_is_korean_and_english() -> None:
    result = CliRunner().invoke(cli, ["user", "--help"])
    assert result.exit_code == 0
    assert "add" in result.output and "remove" in result.output and "list" in result.output
    assert "사용자" in result.output and "kubeconfig" in result.output


def test_remove_of_a_user_never_issued_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["user", "remove", "nobody", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "no user nobody was issued here" in result.output
