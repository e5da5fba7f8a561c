"""The money rules (rtcstack.domain.money) hold for any input: property-based tests with hypothesis."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcstack.domain import money
from rtcstack.domain.money import MoneyError, Prices

START = datetime(2026, 1, 1, tzinfo=UTC)
amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=2, allow_nan=False)
signed = st.decimals(min_value=Decimal("-100000"), max_value=Decimal("100000"), places=4, allow_nan=False)
offsets = st.integers(min_value=-5 * 86400, max_value=40 * 86400)


@given(signed)
def test_round_money_is_two_places_half_away_from_zero_and_idempotent(amount):
    """One rounding rule: SCALE places, halves away from zero, rounding twice changes nothing."""
    rounded = money.round_money(amount)
    assert rounded.as_tuple().exponent == -money.SCALE
    assert money.round_money(rounded) == rounded
    assert abs(rounded - amount) <= Decimal("0.005")
    assert money.round_money(-amount) == -rounded  # symmetric: away from zero both ways


def test_round_money_rounds_halves_away_from_zero():
    assert money.round_money(Decimal("0.125")) == Decimal("0.13")
    assert money.round_money(Decimal("-0.125")) == Decimal("-0.13")
    assert money.round_money(Decimal("0.1249")) == Decimal("0.12")


@given(amounts, offsets)
def test_refund_never_exceeds_what_was_paid_and_never_goes_negative(paid, seconds):
    """Whenever the change happens (before, during or after the term), 0 <= refund <= paid."""
    refund = money.refund(paid, START, START + money.TERM, START + timedelta(seconds=seconds))
    assert Decimal(0) <= refund <= money.round_money(paid)


@given(amounts, st.integers(min_value=0, max_value=30 * 86400 - 1), st.integers(min_value=1, max_value=30 * 86400))
def test_refund_shrinks_as_the_term_is_used(paid, earlier, later_by):
    """A change later in the term refunds no more than an earlier one."""
    later = min(earlier + later_by, 30 * 86400)
    first = money.refund(paid, START, START + money.TERM, START + timedelta(seconds=earlier))
    second = money.refund(paid, START, START + money.TERM, START + timedelta(seconds=later))
    assert second <= first


def test_refund_of_half_a_term_is_half_the_price():
    assert money.refund(Decimal("100.00"), START, START + money.TERM, START + money.TERM / 2) == Decimal("50.00")
    assert money.refund(Decimal("100.00"), START, START + money.TERM, START) == Decimal("100.00")
    assert money.refund(Decimal("100.00"), START, START + money.TERM, START + money.TERM) == Decimal("0.00")


@given(amounts, st.integers(min_value=0, max_value=300 * 5000 * 60), st.integers(min_value=0, max_value=10**9),
       st.decimals(min_value=0, max_value=1, places=6))
def test_pack_refund_is_within_what_the_packs_cost(paid, total, left, share):
    """The packs' part of a refund never exceeds their price, nor pays for minutes used."""
    left = min(left, total)
    refund = money.pack_refund(paid, total, left, share)
    assert Decimal(0) <= refund <= money.round_money(paid)
    if total and left == 0:
        assert refund == 0


@given(st.integers(min_value=1, max_value=300))
def test_channel_counts_over_100_round_down_to_a_multiple_of_10(requested):
    bought = money.channels_for_purchase(requested)
    assert 1 <= bought <= requested
    if requested > 100:
        assert bought % 10 == 0 and requested - bought < 10
    else:
        assert bought == requested


@pytest.mark.parametrize("requested", [0, -1, 301, 1000])
def test_channel_counts_outside_1_to_300_are_refused(requested):
    with pytest.raises(MoneyError, match="1 to 300"):
        money.channels_for_purchase(requested)


@given(st.integers(min_value=0, max_value=400), st.integers(min_value=1, max_value=300))
def test_packs_never_exceed_channels(packs, channels):
    """P13: more minute packs than channels is refused; up to one per channel is accepted."""
    if packs > channels:
        with pytest.raises(MoneyError, match="at most one minute pack per channel"):
            money.check_packs(packs, channels)
    else:
        money.check_packs(packs, channels)


@given(st.integers(min_value=0, max_value=3 * 86400))
def test_one_change_per_profile_per_day(seconds_since):
    """A purchase or change less than a day after the previous one is refused; a day later it is allowed."""
    now = START + timedelta(seconds=seconds_since)
    if seconds_since < 86400:
        with pytest.raises(MoneyError, match="once a day"):
            money.check_change_allowed(START, now)
    else:
        money.check_change_allowed(START, now)
    money.check_change_allowed(None, now)


@given(st.integers(min_value=1, max_value=10000), st.integers(min_value=1, max_value=100))
def test_the_suggested_channel_count_is_a_count_that_can_be_bought(employees, per_channel):
    suggested = money.suggested_channels(employees, per_channel)
    assert suggested == money.channels_for_purchase(suggested)
    assert 1 <= suggested <= money.MAX_CHANNELS


@given(st.integers(min_value=0, max_value=7200), st.decimals(min_value=0, max_value=10, places=4),
       st.sampled_from([1, 6, 30, 60]), st.integers(min_value=0, max_value=10000), st.booleans())
def test_a_call_charge_takes_pack_seconds_first_and_rounds_once(duration, price, increment, left, covered):
    """Billable seconds are the duration rounded up to the increment; packs pay first where they cover the
    destination; the rest costs price per minute, rounded once."""
    charge = money.call_charge(duration, price, increment, left, covered)
    assert charge.billable_seconds % increment == 0
    assert duration <= charge.billable_seconds < duration + increment or duration == 0
    assert 0 <= charge.pack_seconds <= min(charge.billable_seconds, left if covered else 0)
    assert charge.cost == money.round_money(price * (charge.billable_seconds - charge.pack_seconds) / 60)
    assert charge.cost >= 0


class Book:
    """A model of one customer's money: a ledger and a balance kept beside it, as the database keeps them."""

    def __init__(self, credit_limit: Decimal):
        self.entries: list[Decimal] = []
        self.balance = Decimal("0.00")
        self.credit_limit = credit_limit
        self.term = None  # (paid, starts_at)
        self.now = START

    def book(self, amount: Decimal) -> None:
        amount = money.round_money(amount)
        self.entries.append(amount)
        self.balance += amount


operations = st.lists(st.tuples(st.sampled_from(["top_up", "buy", "change", "call", "wait"]),
                                st.integers(min_value=1, max_value=300), amounts,
                                st.integers(min_value=0, max_value=3 * 86400)), max_size=40)


@settings(max_examples=200)
@given(operations, amounts)
def test_the_balance_equals_the_ledgers_sum_after_any_sequence_of_operations(ops, credit_limit):
    """Top-ups, purchases, changes with refunds and call charges, each refused or booked by the rules: the balance
    always equals the sum of the ledger."""
    prices = Prices(channel=Decimal("25.00"), pack=Decimal("90.00"))
    book = Book(credit_limit)
    last_change = None
    for kind, count, amount, seconds in ops:
        if kind == "wait":
            book.now += timedelta(seconds=seconds)
        elif kind == "top_up" and amount > 0:
            book.book(amount)
        elif kind in ("buy", "change"):
            channels = money.channels_for_purchase(count)
            price = sum(prices.term(channels, 0))
            try:
                money.check_change_allowed(last_change, book.now)
                refund = money.refund(book.term[0], book.term[1], book.term[1] + money.TERM, book.now) if book.term else Decimal(0)
                money.check_funds(book.balance + refund, book.credit_limit, price)
            except MoneyError:
                continue
            if refund:
                book.book(refund)
            book.book(-price)
            book.term, last_change = (price, book.now), book.now
        elif kind == "call":
            cost = money.call_charge(seconds % 3600, amount / 1000, 60).cost
            if book.balance + book.credit_limit > 0 and cost:
                book.book(-cost)  # a call that started is charged in full when it ends
        assert book.balance == sum(book.entries, Decimal("0.00"))
    assert all(e.as_tuple().exponent == -money.SCALE for e in book.entries)


def test_the_readmes_worked_example_of_a_mid_term_change():
    """README, *Money*: 10 channels and 1 pack bought 1 March 10:00, changed 7 March 10:00 to 20 channels with
    1,000 pack minutes used: +200.00 and +72.00 refunded, -500.00 charged."""
    bought, changed = datetime(2027, 3, 1, 10, tzinfo=UTC), datetime(2027, 3, 7, 10, tzinfo=UTC)
    prices = Prices(channel=Decimal("25.00"), pack=Decimal("90.00"))
    channels_paid, packs_paid = prices.term(10, 1)
    assert (channels_paid, packs_paid) == (Decimal("250.00"), Decimal("90.00"))
    channels_back = money.refund(channels_paid, bought, bought + money.TERM, changed)
    packs_back = money.pack_refund(packs_paid, 5000 * 60, 4000 * 60, channels_back / channels_paid)
    assert (channels_back, packs_back) == (Decimal("200.00"), Decimal("72.00"))
    assert sum(prices.term(20, 0)) == Decimal("500.00")
    assert money.next_change_at(changed) == datetime(2027, 3, 8, 10, tzinfo=UTC)
