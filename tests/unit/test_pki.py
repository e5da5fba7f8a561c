"""The PKI: a CA per inventory, host certificates with names and addresses, reused until they must change."""

from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address

from cryptography import x509

from rtcstack.site import load
from rtcstack.site.pki import Pki


def san(certificate_pem: str):
    cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return cert, ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress)


def test_pki_host_certificate_has_names_and_addresses(project_copy):
    """sip1's certificate names the host, its FQDN, the SIP domain and its address, signed by the lab CA."""
    inventory = project_copy / "inventories/lab.py"
    deployment = load(inventory)
    tls = Pki.for_inventory(inventory).host(deployment, deployment.hosts["sip1"])
    cert, names, addresses = san(tls.certificate)
    assert names == ["sip1", "sip1.lab.rtcstack.test", "lab.rtcstack.test"]
    assert addresses == [IPv4Address("198.18.10.12")]
    ca = x509.load_pem_x509_certificate(tls.ca.encode())
    cert.verify_directly_issued_by(ca)
    assert cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=300)
    assert "PRIVATE KEY" in tls.key


def test_pki_reuses_certificates_across_runs(project_copy):
    """A second run returns the same certificate and key; private keys are stored encrypted."""
    inventory = project_copy / "inventories/lab.py"
    deployment = load(inventory)
    first = Pki.for_inventory(inventory).host(deployment, deployment.hosts["db1"])
    second = Pki.for_inventory(inventory).host(deployment, deployment.hosts["db1"])
    assert first == second
    stored = (project_copy / "inventories/lab.pki/hosts/db1.key.enc").read_bytes()
    assert b"PRIVATE KEY" not in stored


def test_pki_reissues_when_addresses_change(project_copy):
    """A changed address gets a new certificate for the same key."""
    inventory = project_copy / "inventories/lab.py"
    deployment = load(inventory)
    first = Pki.for_inventory(inventory).host(deployment, deployment.hosts["db1"])
    inventory.write_text(inventory.read_text().replace("198.18.10.11", "198.18.10.21"))
    deployment = load(inventory)
    second = Pki.for_inventory(inventory).host(deployment, deployment.hosts["db1"])
    assert second.certificate != first.certificate and second.key == first.key
    assert san(second.certificate)[2] == [IPv4Address("198.18.10.21")]
