"""Call features with real peers over the lab network (R9-R12): ring groups rung member after member with the
configured display name, do-not-disturb, a number ringing its group, selective routing by caller and hour."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import rtcstack

pytestmark = pytest.mark.integration

RING = 5  # seconds: the shortest ring time a member may have


def display_of(invite) -> str:
    header = invite.get("from") or ""
    match = re.match(r'\s*"([^"]*)"', header) or re.match(r"\s*([^<\"]+?)\s*<", header)
    return match[1].strip() if match else ""


def group(sip, customer: str, members: list[tuple[str, int]], *extra: str) -> str:
    name = f"{customer}-g"
    rtcstack("ring-groups", "add", sip.inventory, name, "--customer", customer,
             *[a for user, seconds in members for a in ("--member", f"{user}:{seconds}")], *extra)
    return name


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_second_device_rings_after_the_first_ones_ring_time_and_both_show_the_contacts_name(sip, transport):
    customer = sip.customer()
    caller, first, second = sip.accounts(customer, 3)
    name = group(sip, customer, [(first[0], RING), (second[0], RING)], "--display-name", "Jane")
    with (sip.agent(first, transport=transport, answer_after=60) as android,
          sip.agent(second, transport=transport) as ipad, sip.agent(caller, transport=transport) as phone):
        assert android.register().status == 200 and ipad.register().status == 200
        started = time.monotonic()
        call = phone.call(name, display="Grandpa", timeout=RING + 10)
        assert call.answered, (call.status, call.reason)
        call.hangup()
    assert len(android.incoming) == 1 and len(ipad.incoming) == 1
    assert android.incoming[0].cancelled  # the registrar gave up on it after its ring time
    waited = ipad.incoming[0].received_at - android.incoming[0].received_at
    assert RING - 0.5 <= waited <= RING + 2, waited
    assert android.incoming[0].received_at - started < 2
    assert display_of(android.incoming[0].invite) == display_of(ipad.incoming[0].invite) == "Jane"


def test_a_device_on_do_not_disturb_is_skipped_and_the_next_rings_at_once(sip):
    customer = sip.customer()
    caller, first, second = sip.accounts(customer, 3)
    name = group(sip, customer, [(first[0], RING), (second[0], RING)])
    assert "do-not-disturb on" in rtcstack("accounts", "set", sip.inventory, first[0], "--dnd", "on").stdout
    with sip.agent(first) as android, sip.agent(second) as ipad, sip.agent(caller) as phone:
        assert android.register().status == 200 and ipad.register().status == 200
        started = time.monotonic()
        call = phone.call(name)
        assert call.answered, (call.status, call.reason)
        call.hangup()
    assert not android.incoming
    assert ipad.incoming and ipad.incoming[0].received_at - started < 2


def test_with_every_member_on_do_not_disturb_the_fallback_applies(sip):
    customer = sip.customer()
    caller, first, second, desk = sip.accounts(customer, 4)
    busy = group(sip, customer, [(first[0], RING), (second[0], RING)])
    for account in (first, second):
        rtcstack("accounts", "set", sip.inventory, account[0], "--dnd", "on")
    with sip.agent(first) as a, sip.agent(second) as b, sip.agent(desk) as d, sip.agent(caller) as phone:
        for agent in (a, b, d):
            assert agent.register().status == 200
        call = phone.call(busy)
        assert call.status == 486 and "do not disturb" in call.reason, (call.status, call.reason)
        # the same members with a desk phone rung last
        group(sip, customer, [(first[0], RING), (second[0], RING)], "--fallback", "account",
              "--fallback-account", desk[0])
        call = phone.call(busy)
        assert call.answered, (call.status, call.reason)
        call.hangup()
    assert not a.incoming and not b.incoming and len(d.incoming) == 1


def test_a_public_number_rings_its_group_in_order(sip):
    customer = sip.customer()
    caller, first, second = sip.accounts(customer, 3)
    name = group(sip, customer, [(first[0], RING), (second[0], RING)])
    number = f"+48 22 {int(time.time() * 1000) % 10**7:07d}".replace(" ", "")
    assert "ring group" in rtcstack("numbers", "add", sip.inventory, number, name).stdout
    with sip.agent(first) as a, sip.agent(second) as b, sip.agent(caller) as phone:
        a.refuse_with = (486, "Busy Here")  # the first member is on another call: the next rings at once
        assert a.register().status == 200 and b.register().status == 200
        call = phone.call(number[3:])  # dialled nationally: area code and number
        assert call.answered, (call.status, call.reason)
        call.hangup()
    assert len(a.incoming) == 1 and len(b.incoming) == 1
    assert a.incoming[0].received_at < b.incoming[0].received_at < a.incoming[0].received_at + 2
    query = f"SELECT sip_code, destination, end_time IS NOT NULL FROM cdrs WHERE call_id = '{call.call_id}'"
    deadline, rows = time.monotonic() + 5, []
    while time.monotonic() < deadline and rows != [["200", number[1:], "t"]]:  # (written within 0.1 s, in batches)
        time.sleep(0.2)
        rows = sip.sql(query)
    assert rows == [["200", number[1:], "t"]], rows  # one CDR for the call, not one per member


def test_a_selective_routing_rule_forwards_within_its_window_and_not_outside_it(sip):
    customer = sip.customer()
    caller, office, mobile = sip.accounts(customer, 3)
    now = datetime.now(ZoneInfo("Europe/Warsaw"))
    inside = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    outside = f"{(now + timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=2)):%H:%M}"
    pattern = caller[0][:-2] + "*"

    def who_rings() -> str:
        with sip.agent(office) as o, sip.agent(mobile) as m, sip.agent(caller) as phone:
            assert o.register().status == 200 and m.register().status == 200
            call = phone.call(office[0])
            assert call.answered, (call.status, call.reason)
            call.hangup()
        return "office" if o.incoming else "mobile" if m.incoming else "nobody"

    rtcstack("routing-rules", "add", sip.inventory, office[0], "--callers", pattern, "--hours", inside,
             "--to", mobile[0])
    assert who_rings() == "office"  # the provider has not enabled the feature (P8)
    rtcstack("customers", "set", sip.inventory, customer, "--selective-routing", "on", "--time-zone", "Europe/Warsaw")
    assert who_rings() == "mobile"
    rtcstack("routing-rules", "remove", sip.inventory, office[0], "1")
    rtcstack("routing-rules", "add", sip.inventory, office[0], "--callers", pattern, "--hours", outside,
             "--to", mobile[0])
    assert who_rings() == "office"
    listed = rtcstack("routing-rules", "list", sip.inventory, "--account", office[0]).stdout
    assert f"calls from {pattern}" in listed and outside.replace("-", "-") in listed
