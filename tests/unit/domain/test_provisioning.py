"""Provisioning rules: channel purchases (P13) and HA1."""

import hashlib

import pytest

from rtcstack.domain.provisioning import ProvisioningError, channels_for_purchase, ha1, password_problem


@pytest.mark.parametrize(("asked", "bought"), [(1, 1), (100, 100), (101, 100), (299, 290), (300, 300)])
def test_channel_purchases_over_100_round_down_to_tens(asked, bought):
    assert channels_for_purchase(asked) == bought


@pytest.mark.parametrize("asked", [0, 301])
def test_channel_purchases_outside_1_to_300_are_refused(asked):
    with pytest.raises(ProvisioningError, match="1 to 300"):
        channels_for_purchase(asked)


def test_ha1_is_md5_of_user_realm_password():
    assert ha1("alice", "example.com", "secret") == hashlib.md5(b"alice:example.com:secret").hexdigest()


@pytest.mark.parametrize(("password", "why"), [
    ("12345678", "shorter than 12"), ("12345678901234", "all digits"), ("abcdefghijkl", "too easy"),
    ("aaaaaaaaaaaaaaaa", "too easy"), ("xalice-2024-secret", "user name"),
])
def test_weak_sip_passwords_are_refused_with_the_reason(password, why):
    """The password policy every account password passes: length, not all digits, not the user name, entropy."""
    assert why in password_problem(password, "Alice")


@pytest.mark.parametrize("password", ["long-enough-pw", "Tr0ub4dor&3xyz", "correct horse battery staple",
                                      "L" + "0123456789abcdef" * 2])
def test_strong_sip_passwords_pass(password):
    assert password_problem(password, "alice") is None
