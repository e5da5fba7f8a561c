"""The portal's pure rules: problems a page translates, amounts and rates as typed, billing filters, safe
redirects after login, and the registrars' JSON-RPC answers read (lamps, bans)."""

from decimal import Decimal

import pytest

from rtcstack.domain.portal import Filters, PortalError, parse_amount, parse_rate
from rtcstack.domain.problems import Problem, translate
from rtcstack.domain.provisioning import password_problem
from rtcstack.domain.status import ban_of
from rtcstack.web import i18n
from rtcstack.web.portal import _safe_next
from rtcstack.web.registrars import _entries, contacts_in


def test_a_problem_reads_in_english_and_translates_with_its_values_nested_problems_included():
    weak = password_problem("1234567890123")
    outer = Problem("password: %(problem)s", problem=weak)
    assert outer == "password: is all digits: a numeric password falls to guessing in seconds; mix letters, digits " \
                    "and symbols"
    polish = translate(outer, i18n.translations("pl").gettext)
    assert polish.startswith("hasło: składa się z samych cyfr")
    assert translate("plain text", i18n.translations("pl").gettext) == "plain text"


def test_amounts_are_positive_money_with_two_decimals_and_a_comma_works():
    assert parse_amount("125,50") == Decimal("125.50")
    for bad in ("", "-5", "0", "1e3x", "0.001", "1000000", "NaN"):
        with pytest.raises(PortalError) as refused:
            parse_amount(bad)
        assert refused.value.status == 422 and "more than 0" in refused.value.problems[0]


def test_rates_are_empty_for_none_or_non_negative_prices():
    assert parse_rate(" ", "max_rate") is None
    assert parse_rate("0,25", "max_rate") == Decimal("0.2500")
    with pytest.raises(PortalError):
        parse_rate("-1", "max_rate")


def test_billing_filters_name_every_bad_field_and_refuse_a_reversed_range():
    assert Filters.parse("2026-01-01", "2026-01-31", "7", "out", "yes") == Filters(
        Filters.parse("2026-01-01").start, Filters.parse(end="2026-01-31").end, 7, "out", "yes")
    with pytest.raises(PortalError) as refused:
        Filters.parse("yesterday", "2026-13-01", "x", "up", "maybe")
    assert len(refused.value.problems) == 5
    with pytest.raises(PortalError) as reversed_range:
        Filters.parse("2026-02-01", "2026-01-01")
    assert "swap them" in reversed_range.value.problems[0]


@pytest.mark.parametrize("where, expected", [
    ("/billing?from=2026-01-01", "/billing?from=2026-01-01"), ("//evil.example/", "/"),
    ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/")])
def test_after_login_only_a_path_of_this_site_is_followed(where, expected):
    assert _safe_next(where) == expected


def test_ul_dump_and_htable_dump_answers_are_read_however_they_nest():
    answer = {"Domains": [{"Domain": {"Domain": "location", "AoRs": [
        {"Info": {"AoR": "alice", "Contacts": [{"Contact": {"Address": "sip:alice@10.0.0.5", "Last-Modified": 5}}]}}]}}]}
    assert [(aor, contact["Address"]) for aor, contact in contacts_in(answer)] == [("alice", "sip:alice@10.0.0.5")]
    bans = [{"entry": 3, "size": 1, "slot": [{"name": "203.0.113.7", "value": 1000, "type": "int"}]}]
    assert [entry["name"] for entry in _entries(bans)] == ["203.0.113.7"]
    assert ban_of("203.0.113.7", "sip1", "1000", 300, 1100.0).expires_in == 200
    assert ban_of("203.0.113.7", "sip1", None, 300, 5000.0).expires_in == 0
