"""SIP digest authentication against the RFC examples."""

import hashlib

import pytest

from rtcstack.protocols.sip import digest


def test_digest_answers_the_rfc_2617_example():
    """RFC 2617 section 3.5: Mufasa, realm testrealm@host.com, qop=auth."""
    challenge = digest.parse_challenge('Digest realm="testrealm@host.com", qop="auth,auth-int", '
                                       'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')
    answer = digest.authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life")
    fields = dict(part.strip().split("=", 1) for part in answer[len("Digest "):].split(","))
    ha1_ = hashlib.md5(b"Mufasa:testrealm@host.com:Circle Of Life").hexdigest()
    ha2 = hashlib.md5(b"GET:/dir/index.html").hexdigest()
    cnonce, nc = fields["cnonce"].strip('"'), fields["nc"]
    expected = hashlib.md5(f"{ha1_}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    assert fields["response"].strip('"') == expected


@pytest.mark.parametrize("algorithm, response", [
    ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")])
def test_digest_answers_the_rfc_7616_examples(algorithm, response):
    """RFC 7616 section 3.9.1: Mufasa, realm http-auth@example.org, qop=auth, MD5 and SHA-256."""
    challenge = digest.parse_challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    answer = digest.authorization(challenge, "GET", "/dir/index.html", "Mufasa", "Circle of Life",
                                  cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert f'response="{response}"' in answer and f"algorithm={algorithm}" in answer
