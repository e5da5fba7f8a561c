"""A certificate authority per inventory and per-host certificates, reused until they near expiry.

Files live in `inventories/NAME.pki/` (git-ignored): certificates in PEM, private keys as
Fernet tokens under the secrets key. A host whose inventory names tls_certificate_file and
tls_key_file uses those instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .secrets import master_key, repository_of, write_private

if TYPE_CHECKING:
    from .deployment import Deployment, Host

CA_LIFETIME = timedelta(days=3650)
HOST_LIFETIME = timedelta(days=397)
#: Certificates closer to expiry than this are issued anew.
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class HostTls:
    """What a host serves TLS with: PEM text of its chain, its key and the CA that vouches for it."""

    certificate: str
    key: str
    ca: str


def subject_names(deployment: Deployment, host: Host) -> tuple[list[str], list[ipaddress.IPv4Address]]:
    names = deployment.certificate_names(host)
    addresses = sorted({host.private_address, host.advertised_address})
    return names, addresses


class Pki:
    def __init__(self, directory: Path, label: str):
        self.directory = directory
        self.label = label

    @classmethod
    def for_inventory(cls, inventory: str | Path) -> Pki:
        path = Path(inventory)
        return cls(path.with_suffix(".pki"), path.stem)

    # --- storage ----------------------------------------------------------------------------

    def _read_key(self, path: Path) -> ec.EllipticCurvePrivateKey:
        return serialization.load_pem_private_key(master_key(repository=repository_of(self.directory)).decrypt(path.read_bytes()), password=None)

    def _write_key(self, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, master_key(create=True, repository=repository_of(self.directory)).encrypt(pem))

    @staticmethod
    def _write_cert(path: Path, cert: x509.Certificate) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    # --- the CA -------------------------------------------------------------------------------

    def ca(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        cert_path, key_path = self.directory / "ca.crt", self.directory / "ca.key.enc"
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if cert.not_valid_after_utc - datetime.now(UTC) > RENEW_BEFORE:
                return cert, self._read_key(key_path)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"rtcstack {self.label} CA"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "rtcstack")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        self._write_key(key_path, key)
        self._write_cert(cert_path, cert)
        return cert, key

    # --- hosts --------------------------------------------------------------------------------

    def host(self, deployment: Deployment, host: Host) -> HostTls:
        """The host's certificate material: the inventory's own files, or issued by this CA."""
        if host.tls_certificate_file and host.tls_key_file:
            certificate = host.tls_certificate_file.read_text()
            chain = x509.load_pem_x509_certificates(certificate.encode())
            return HostTls(certificate, host.tls_key_file.read_text(),
                           chain[-1].public_bytes(serialization.Encoding.PEM).decode())
        ca_cert, ca_key = self.ca()
        names, addresses = subject_names(deployment, host)
        cert_path = self.directory / "hosts" / f"{host.name}.crt"
        key_path = self.directory / "hosts" / f"{host.name}.key.enc"
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            if self._still_good(cert, ca_cert, names, addresses):
                return self._material(cert, self._read_key(key_path), ca_cert)
            key = self._read_key(key_path)  # keep the key, renew the certificate
        else:
            key = ec.generate_private_key(ec.SECP256R1())
            self._write_key(key_path, key)
        cert = self._issue(ca_cert, ca_key, key, host.name, names, addresses)
        self._write_cert(cert_path, cert)
        return self._material(cert, key, ca_cert)

    @staticmethod
    def _still_good(cert, ca_cert, names, addresses) -> bool:
        if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - datetime.now(UTC) <= RENEW_BEFORE:
            return False
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return (sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
                and sorted(san.get_values_for_type(x509.IPAddress)) == sorted(addresses))

    @staticmethod
    def _issue(ca_cert, ca_key, key, common_name, names, addresses) -> x509.Certificate:
        now = datetime.now(UTC)
        san = [x509.DNSName(n) for n in names] + [x509.IPAddress(a) for a in addresses]
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + HOST_LIFETIME)
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

    @staticmethod
    def _material(cert, key, ca_cert) -> HostTls:
        pem = serialization.Encoding.PEM
        key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return HostTls(cert.public_bytes(pem).decode(), key_pem.decode(), ca_cert.public_bytes(pem).decode())
