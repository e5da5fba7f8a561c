"""Provisioning rules: channel purchases (P13) and HA1."""

import hashlib

import pytest

from rtcstack.domain.provisioning import ProvisioningError, channels_for_purchase, ha1


@pytest.mark.parametrize(("asked", "bought"), [(1, 1), (100, 100), (101, 100), (299, 290), (300, 300)])
def test_channel_purchases_over_100_round_down_to_tens(asked, bought):
    assert channels_for_purchase(asked) == bought


@pytest.mark.parametrize("asked", [0, 301])
def test_channel_purchases_outside_1_to_300_are_refused(asked):
    with pytest.raises(ProvisioningError, match="1 to 300"):
        channels_for_purchase(asked)


def test_ha1_is_md5_of_user_realm_password():
    assert ha1("alice", "example.com", "secret") == hashlib.md5(b"alice:example.com:secret").hexdigest()
