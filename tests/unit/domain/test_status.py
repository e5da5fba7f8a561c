"""Support's pure rules: kamcmd output read, lamps by the thresholds (R2)."""

from rtcstack.domain.status import lamp_for, parse_kamcmd
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def test_kamcmd_output_flattens_to_contacts():
    text = "{\n\tAoR: alice\n\tContacts: {\n\t\tContact: {\n\t\t\tAddress: sip:a@1.2.3.4\n\t\t\tKA-Roundtrip: 931\n\t\t}\n\t}\n}\n"
    assert parse_kamcmd(text, "Contact") == [{"AoR": "alice", "Address": "sip:a@1.2.3.4", "KA-Roundtrip": "931"}]


def test_lamps_follow_the_thresholds(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    now = 1_000_000

    def lamp(rtt_us, age):
        return lamp_for({"KA-Roundtrip": str(rtt_us), "Last-Keepalive": str(now - age)}, deployment, now)[0]

    assert lamp_for(None, deployment, now)[0] == "grey"
    assert (lamp(0, 1), lamp(20_000, 1), lamp(300_000, 1), lamp(700_000, 1), lamp(20_000, 600)) == (
        "blue", "green", "yellow", "red", "red")


def test_the_live_copy_of_a_replicated_contact_is_the_one_with_the_newest_keepalive():
    from rtcstack.domain.status import contact_age_key

    owner = {"Last-Modified": "100", "Last-Keepalive": "130", "KA-Roundtrip": "900"}
    replica = {"Last-Modified": "100", "Last-Keepalive": "100", "KA-Roundtrip": "0"}
    assert max([replica, owner], key=contact_age_key) is owner
    newer = {"Last-Modified": "140", "Last-Keepalive": "140"}  # registered again since: the newer registration wins
    assert max([owner, newer], key=contact_age_key) is newer
