"""The money rules of P13 as pure functions: one scale and one rounding rule for amounts, channel counts,
term prices, pro-rata refunds, the once-a-day change rule, minute packs and call charges. `domain.billing`
applies them to the database; the property tests (tests/unit/domain/test_money_properties.py) prove them.

Amounts are `Decimal`s rounded to `SCALE` places (grosze, cents) half away from zero, by `round_money` only.
PostgreSQL's `round(numeric, SCALE)` rounds the same way; the schema's `money_round` function is made from
`SCALE`, and the call charge the database computes is checked against `call_charge` by the lab tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from .problems import Problem, ProvisioningError

#: Decimal places of every amount of money (balance, ledger entries, charges, refunds).
SCALE = 2
_QUANTUM = Decimal(1).scaleb(-SCALE)
#: P13: a subscription's term, and how often a profile's subscription may be bought or changed.
TERM = timedelta(days=30)
CHANGE_INTERVAL = timedelta(days=1)
#: P13: channels per profile, and the count above which purchases round down to a multiple of 10.
MAX_CHANNELS, ROUNDING_ABOVE = 300, 100
#: P13: minutes in one minute pack.
PACK_MINUTES = 5000


class MoneyError(ProvisioningError):
    """A request the money rules refuse; `problems` are `Problem` texts the CLI prints and the pages translate."""


def round_money(amount: Decimal | int | str) -> Decimal:
    """The one rounding rule: SCALE places, halves away from zero (PostgreSQL's `round(x, SCALE)`)."""
    return Decimal(amount).quantize(_QUANTUM, rounding=ROUND_HALF_UP)


def channels_for_purchase(requested: int) -> int:
    """P13: 1 to 300 channels; a count over 100 is rounded down to a multiple of 10."""
    if not 1 <= requested <= MAX_CHANNELS:
        raise MoneyError([Problem("channels %(value)s: buy 1 to %(max)s channels", value=requested, max=MAX_CHANNELS)])
    return requested - requested % 10 if requested > ROUNDING_ABOVE else requested


def suggested_channels(employees: int, employees_per_channel: int) -> int:
    """P13's suggestion: one channel for every `employees_per_channel` employees (started), at least one,
    within what can be bought."""
    if employees < 1:
        raise MoneyError([Problem("employees %(value)s: give the number of employees, 1 or more", value=employees)])
    return channels_for_purchase(min(MAX_CHANNELS, max(1, math.ceil(employees / employees_per_channel))))


def check_packs(packs: int, channels: int) -> None:
    """P13: never more minute packs than channels."""
    if packs < 0:
        raise MoneyError([Problem("packs %(value)s: 0 or more", value=packs)])
    if packs > channels:
        raise MoneyError([Problem("packs %(value)s: at most one minute pack per channel (%(channels)s)",
                                  value=packs, channels=channels)])


@dataclass(frozen=True)
class Prices:
    """The price list (billing.* settings): per channel and per minute pack, for one term."""

    channel: Decimal
    pack: Decimal

    def term(self, channels: int, packs: int) -> tuple[Decimal, Decimal]:
        """What one term of `channels` channels and `packs` minute packs costs: (channels' part, packs' part)."""
        return round_money(self.channel * channels), round_money(self.pack * packs)


def refund(paid: Decimal, starts_at: datetime, ends_at: datetime, now: datetime) -> Decimal:
    """P13: the unused part of a term's payment, pro rata to the seconds left (0 before or after the term is over,
    never more than was paid)."""
    term = (ends_at - starts_at).total_seconds()
    left = min(max((ends_at - max(now, starts_at)).total_seconds(), 0.0), term)
    if term <= 0 or paid <= 0:
        return round_money(0)
    # The fraction as an exact Decimal of whole seconds: no float rounding in money.
    return min(round_money(paid * Decimal(int(left)) / Decimal(int(term))), round_money(paid))


def pack_refund(paid: Decimal, pack_seconds: int, pack_seconds_left: int, time_refund_share: Decimal) -> Decimal:
    """The packs' part of a refund: pro rata to the time left, but never for minutes already used."""
    if paid <= 0 or pack_seconds <= 0:
        return round_money(0)
    unused_share = Decimal(pack_seconds_left) / Decimal(pack_seconds)
    return round_money(paid * min(unused_share, time_refund_share))


def next_change_at(last_change_at: datetime | None) -> datetime | None:
    """P13: when a profile's subscription may next be bought or changed (None: now)."""
    return None if last_change_at is None else last_change_at + CHANGE_INTERVAL


def check_change_allowed(last_change_at: datetime | None, now: datetime) -> None:
    """P13: at most one purchase or change per profile per day."""
    allowed = next_change_at(last_change_at)
    if allowed is not None and now < allowed:
        raise MoneyError([Problem("this SIP profile's subscription was bought or changed at %(at)s; it can change "
                                  "once a day, next after %(next)s", at=f"{last_change_at:%Y-%m-%d %H:%M} UTC",
                                  next=f"{allowed:%Y-%m-%d %H:%M} UTC")])


def check_funds(balance: Decimal, credit_limit: Decimal, price: Decimal) -> None:
    """Every charge comes from the balance: it may go down to minus the credit limit, not further."""
    if balance + credit_limit < price:
        raise MoneyError([Problem("the balance (%(balance)s, credit limit %(credit)s) does not cover %(price)s: top "
                                  "up first", balance=round_money(balance), credit=round_money(credit_limit),
                               price=round_money(price))])


def billable_seconds(duration: int, increment: int) -> int:
    """A call's duration rounded up to the billing increment (an unanswered call: 0)."""
    return 0 if duration <= 0 else math.ceil(duration / increment) * increment


@dataclass(frozen=True)
class CallCharge:
    billable_seconds: int
    pack_seconds: int
    cost: Decimal


def call_charge(duration: int, price_per_minute: Decimal, increment: int, pack_seconds_left: int = 0,
                covered_by_packs: bool = False) -> CallCharge:
    """A call's charge: billable seconds (rounded up to the increment) come from the packs first when the
    destination is one the packs cover, the rest at the per-minute price, rounded once."""
    billable = billable_seconds(duration, increment)
    from_packs = min(billable, max(pack_seconds_left, 0)) if covered_by_packs else 0
    cost = round_money(price_per_minute * Decimal(billable - from_packs) / 60)
    return CallCharge(billable, from_packs, cost)
