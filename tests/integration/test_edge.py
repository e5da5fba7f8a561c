"""The nginx edge over the lab network: HTTPS with the PKI certificate, HTTP redirected (M2)."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request

import pytest
from cryptography import x509

from tests.integration.media_lab import _presented_certificate

pytestmark = pytest.mark.integration


def test_edge_serves_https_with_the_pki_certificate_and_redirects_http(media):
    edge, e = media.edge, media.deployment.edge
    cert = _presented_certificate(str(edge.advertised_address), e.https_port, media.deployment.sip_domain, media.ca)
    assert media.deployment.sip_domain in cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    with socket.create_connection((str(edge.advertised_address), e.http_port), timeout=5) as plain:
        plain.sendall(b"GET /some/path HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
        head = plain.recv(4096).decode()
    assert head.startswith("HTTP/1.1 301") and "Location: https://example.test/some/path" in head
    context = ssl.create_default_context(cafile=media.ca)
    with urllib.request.urlopen(f"https://{edge.advertised_address}/healthz", context=context, timeout=5) as reply:
        headers = reply.headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "nginx/" not in (headers["Server"] or "")
