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


@pytest.mark.parametrize("header", [
    'Digest realm="lab.test", nonce="n1", qop="auth", algorithm=MD5',
    'Digest realm="lab.test", nonce="n1", qop="auth,auth-int", algorithm=SHA-256, opaque="op"',
    'Digest realm="lab.test", nonce="n1"',
    'Digest realm="lab.test",nonce="n1",opaque="o",stale=true',
    'digest algorithm=md5, realm="lab.test", nonce="n1", qop=auth',
])
def test_a_kept_form_answers_each_new_nonce_as_a_full_parse_would(header):
    """Forms parses a challenge once per form; the next one, a new nonce in the same form, is answered from it,
    character for character as authorization() answers it parsed whole."""
    forms = digest.Forms("REGISTER", "sip:lab.test")
    for nonce in ("n1", "fresh-2", "ZmFzdA=="):
        text = header.replace('"n1"', f'"{nonce}"')
        form, read = forms.read(text)
        assert read == nonce
        challenge = digest.parse_challenge(text)
        ha1 = digest.ha1(challenge, "alice", "secret")
        assert form.ha1("alice", "secret") == ha1
        assert form.answer(nonce, "alice", ha1, cnonce="c0ffee") == digest.authorization(
            challenge, "REGISTER", "sip:lab.test", "alice", "secret", cnonce="c0ffee")
    assert len(forms._forms) == 1


def test_a_challenge_no_client_can_answer_reads_as_none():
    forms = digest.Forms("REGISTER", "sip:lab.test")
    assert forms.read('Basic realm="lab.test"') is None
    assert forms.read('Digest realm="lab.test", nonce="n", algorithm=SHA-512-256') is None
    assert forms.read('Digest nonce="n"') is None
    # An unquoted nonce is read through the whole parse (no form is kept for it).
    form, nonce = forms.read("Digest realm=lab.test, nonce=abc")
    assert nonce == "abc" and form.realm == "lab.test" and not forms._forms
