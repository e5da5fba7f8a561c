"""The Janus client's signed tokens."""

from rtcstack.protocols.janus import signed_token


def test_janus_signed_token_matches_the_documented_scheme():
    # printf %s '1700003600,janus,janus.plugin.videoroom' | openssl dgst -sha1 -hmac key -binary | base64
    token = signed_token("key", ("janus.plugin.videoroom",), 3600, now=1_700_000_000)
    assert token == "1700003600,janus,janus.plugin.videoroom:vBsTSe+6YLXynAHtz2g0K5daj34="
