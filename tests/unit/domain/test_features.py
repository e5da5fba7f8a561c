"""The call features' input rules (R9, R10, R12): days, hours, members, ring times."""

from datetime import time

import pytest

from rtcstack.domain.features import (
    FeatureError,
    Rule,
    check_ring_seconds,
    parse_days,
    parse_member,
    parse_window,
)


@pytest.mark.parametrize("text, days", [("mon-fri", "12345"), ("sat,sun", "67"), ("1-3,5", "1235"), ("all", "1234567"),
                                        ("Friday", "5"), ("sun,mon", "17")])
def test_days_read_as_iso_weekdays(text, days):
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["fri-mon", "funday", "0", "8"])
def test_bad_days_are_refused_naming_the_value(text):
    with pytest.raises(FeatureError, match=repr(text).replace("'", ".")):
        parse_days(text)


def test_a_window_reads_hours_and_all_day_is_start_equal_to_end():
    assert parse_window("08:00-16:30") == (time(8), time(16, 30))
    assert parse_window("22:00-06:00") == (time(22), time(6))
    assert parse_window("all") == (time(0), time(0))
    assert parse_window("9:00-24:00") == (time(9), time(0))
    for bad in ("8-16", "25:00-26:00", "08:61-09:00"):
        with pytest.raises(FeatureError, match="hours"):
            parse_window(bad)


def test_members_take_a_ring_time_or_the_default():
    assert parse_member("alice:15") == ("alice", 15)
    assert parse_member("bob", 25) == ("bob", 25)
    with pytest.raises(FeatureError, match="ACCOUNT:SECONDS"):
        parse_member("bob:x")


def test_ring_times_stay_within_5_and_120_seconds():
    assert check_ring_seconds(5) is None and check_ring_seconds(120) is None
    assert "must be 5 to 120" in str(check_ring_seconds(4)) and check_ring_seconds(121) is not None


def test_a_rule_summary_names_days_window_and_target():
    rule = Rule("office", 1, "48601*", "12345", time(8), time(16), "mobile", True)
    assert rule.summary() == "office #1: calls from 48601* on mon,tue,wed,thu,fri, 08:00-16:00 -> mobile"
    assert "all day" in Rule("office", 2, "*", "67", time(0), time(0), "desk", False).summary()
