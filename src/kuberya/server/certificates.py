"""X.509 with ``cryptography``: making ECDSA P-256 certificates, and checking the ones on disk.

Pure mechanics, no policy: :mod:`kuberya.server.pki` decides what the cluster needs and when to
remake it. Kept apart because importing ``cryptography`` costs tens of milliseconds, and a
``kuberya up`` whose PKI is unchanged since the last start does not need it at all.

Keys are ECDSA P-256: generating one takes well under a millisecond (an RSA-2048 key takes
tens to hundreds), and Go's crypto/tls (kubectl) and OpenSSL (Python's ssl, urllib3 in the
official client) both accept them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Pair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]

CLOCK_SKEW = dt.timedelta(hours=1)
"""``not_before`` is backdated so a client whose clock runs a little slow still accepts the cert."""


def make_ca(common_name: str, *, now: dt.datetime, validity: dt.timedelta) -> Pair:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    ca: Pair,
    *,
    common_name: str,
    organization: str | None = None,
    usage: Literal["server", "client"],
    hosts: Sequence[str] = (),
    now: dt.datetime,
    validity: dt.timedelta,
) -> Pair:
    """A certificate signed by ``ca``; ``hosts`` become its subjectAltName (names or IPs)."""
    ca_cert, ca_key = ca
    key = _new_key()
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        # Kubernetes maps a client certificate's CN to the user name and each O to a group.
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    eku = ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attributes))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        # A leaf never outlives its CA: clients would reject the chain at the CA's expiry anyway.
        .not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if hosts:
        entries: list[x509.GeneralName] = []
        for host in dict.fromkeys(hosts):  # ordered de-duplication
            ip = parse_ip(host)
            entries.append(x509.IPAddress(ip) if ip is not None else x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def load_pair(cert_pem: bytes, key_pem: bytes) -> Pair | None:
    """Parse a certificate and its key; None when either is unparsable or they do not match."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return cert, key


def is_current(cert: x509.Certificate, *, now: dt.datetime, renew_before: dt.timedelta) -> bool:
    """Valid now, and not within ``renew_before`` of its expiry."""
    return cert.not_valid_before_utc <= now and now + renew_before < cert.not_valid_after_utc


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def covers(cert: x509.Certificate, hosts: Iterable[str]) -> bool:
    """Whether the certificate's subjectAltName lists every one of ``hosts`` (names or IPs)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    names = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = set(san.get_values_for_type(x509.IPAddress))
    for host in hosts:
        ip = parse_ip(host)
        if (ip not in ips) if ip is not None else (host.lower() not in names):
            return False
    return True


def san_hosts(cert: x509.Certificate) -> list[str]:
    """The subjectAltName entries: names in lower case, IPs in canonical form."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)] + [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # "EC PRIVATE KEY" (SEC1), as kubeadm writes them; Go and OpenSSL both read it.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def parse_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,  # meaningless for EC keys
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
