"""Money as domain operations (P13, P2, P11, P15): SIP profiles, channel subscriptions (buy, change, cancel,
renew), minute packs, balances and their ledger. The rules are domain.money's pure functions; this module reads
the state, applies them and writes the result as one transaction through a SqlRunner (psql from the CLI and
the renewal timer, the portal's own connection from its pages).

Every movement of money is a ledger entry; a trigger adds it to the customer's balance in the same
transaction. Each write locks the customer's row first, so two changes of one customer's money never
interleave, and re-checks in the database what was decided from the state read before (a race is refused,
never half-applied). Calls are charged by the database itself when they end (migration 0006, `charge_call`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from typing import TYPE_CHECKING

from sqlalchemy import func, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import aliased

from ..db.models import ChannelSubscription, Customer, LedgerEntry, SipAccount, SipProfile
from . import money
from .money import MoneyError, Prices
from .problems import Problem
from .rows import truthy, when

if TYPE_CHECKING:
    from .provisioning import SqlRunner

PROFILE_NAME_MAX = 64
#: A term that ended keeps its channels this long while the renewal timer decides (migration 0006's active_terms).
RENEWAL_GRACE = timedelta(days=1)
MAX_AMOUNT = Decimal("1000000")


def lit(value) -> str:
    """A value as a PostgreSQL literal, quoted by SQLAlchemy."""
    return str(literal(value).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def prices(deployment) -> Prices:
    """The price list of a deployment (billing.*)."""
    return Prices(channel=deployment.billing.channel_price, pack=deployment.billing.pack_price)


def customer_id(db: SqlRunner, name: str) -> int:
    rows = db.query(select(Customer.id).where(Customer.name == name))
    if not rows:
        raise MoneyError([Problem("customer %(value)r: no such customer; add it with `rtcstack customers add`",
                                  value=name)])
    return int(rows[0][0])


# --- reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One term of a subscription, as the pages and the CLI show it."""

    id: int
    kind: str
    channels: int
    packs: int
    starts_at: datetime
    ends_at: datetime
    renews: bool
    cancelled_at: datetime | None
    lapsed_at: datetime | None
    renewal_cancelled_at: datetime | None
    channel_price: Decimal
    pack_price: Decimal
    refund: Decimal
    pack_seconds: int
    pack_seconds_left: int

    @property
    def paid(self) -> Decimal:
        return self.channel_price + self.pack_price

    @property
    def pack_minutes_left(self) -> int:
        return self.pack_seconds_left // 60

    def active(self, now: datetime) -> bool:
        """As the database's `active_terms` view decides: running, or ended and renewing within a day."""
        return (self.cancelled_at is None and self.lapsed_at is None and self.starts_at <= now
                and (self.ends_at > now or (self.renews and self.ends_at > now - RENEWAL_GRACE)))


_TERM_COLUMNS = (ChannelSubscription.id, ChannelSubscription.kind, ChannelSubscription.channels,
                 ChannelSubscription.minute_packs, ChannelSubscription.starts_at, ChannelSubscription.ends_at,
                 ChannelSubscription.renews, ChannelSubscription.cancelled_at, ChannelSubscription.lapsed_at,
                 ChannelSubscription.renewal_cancelled_at, ChannelSubscription.channel_price,
                 ChannelSubscription.pack_price, ChannelSubscription.refund, ChannelSubscription.pack_seconds,
                 ChannelSubscription.pack_seconds_left)


def _term(r: list[str]) -> Term:
    return Term(int(r[0]), r[1], int(r[2]), int(r[3]), when(r[4]), when(r[5]), truthy(r[6]), when(r[7]),
                when(r[8]), when(r[9]), money.round_money(r[10]), money.round_money(r[11]), money.round_money(r[12]),
                int(r[13]), int(r[14]))


@dataclass(frozen=True)
class Profile:
    id: int
    name: str
    accounts: int
    terms: tuple[Term, ...]  # newest first
    now: datetime

    @property
    def current(self) -> Term | None:
        return next((t for t in self.terms if t.active(self.now)), None)

    @property
    def last_change_at(self) -> datetime | None:
        return max((t.starts_at for t in self.terms if t.kind in ("purchase", "change")), default=None)

    @property
    def next_change_at(self) -> datetime | None:
        allowed = money.next_change_at(self.last_change_at)
        return allowed if allowed and allowed > self.now else None

    @property
    def lapsed(self) -> bool:
        return self.current is None and bool(self.terms) and self.terms[0].lapsed_at is not None


def _now(db: SqlRunner) -> datetime:
    return when(db.query(select(func.now()))[0][0])


def profiles(db: SqlRunner, customer: int, history: int = 12) -> list[Profile]:
    """A customer's SIP profiles with their accounts and their newest terms (the current one among them)."""
    now = _now(db)
    rows = db.query(select(SipProfile.id, SipProfile.name,
                           select(func.count()).where(SipAccount.profile_id == SipProfile.id).scalar_subquery())
                    .where(SipProfile.customer_id == customer).order_by(SipProfile.id))
    out = []
    for r in rows:
        terms = db.query(select(*_TERM_COLUMNS).where(ChannelSubscription.profile_id == int(r[0]))
                         .order_by(ChannelSubscription.starts_at.desc(), ChannelSubscription.id.desc())
                         .limit(history))
        out.append(Profile(int(r[0]), r[1], int(r[2]), tuple(_term(t) for t in terms), now))
    return out


def profile(db: SqlRunner, customer: int, name: str | int | None) -> Profile:
    """One profile of a customer by name or ID (None: its first); a profile of another customer is not found."""
    found = profiles(db, customer)
    for p in found:
        if name is None or p.name == name or p.id == name:
            return p
    raise MoneyError([Problem("SIP profile %(value)r: no such profile of this customer (it has: %(names)s)",
                              value=name, names=", ".join(p.name for p in found) or "none")])


def add_profile(db: SqlRunner, customer: int, name: str) -> Profile:
    """P13: a customer may have any number of SIP profiles, each with its own subscription."""
    name = name.strip()
    if not 1 <= len(name) <= PROFILE_NAME_MAX or not name.isprintable():
        raise MoneyError([Problem("profile name %(value)r: give 1 to %(max)s printable characters", value=name,
                                  max=PROFILE_NAME_MAX)])
    if any(p.name == name for p in profiles(db, customer)):
        raise MoneyError([Problem("profile name %(value)r: this customer has a profile of that name", value=name)])
    db.run(f"INSERT INTO sip_profiles (customer_id, name) VALUES ({int(customer)}, {lit(name)});")
    return profile(db, customer, name)


@dataclass(frozen=True)
class Balance:
    balance: Decimal
    credit_limit: Decimal
    ledger_sum: Decimal

    @property
    def available(self) -> Decimal:
        return self.balance + self.credit_limit


def balance(db: SqlRunner, customer: int) -> Balance:
    ledger_sum = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.customer_id == Customer.id).scalar_subquery()
    rows = db.query(select(Customer.balance, Customer.credit_limit, ledger_sum).where(Customer.id == customer))
    if not rows:
        raise MoneyError([Problem("no such customer")])
    return Balance(*(money.round_money(v) for v in rows[0]))


def ledger(db: SqlRunner, customer: int, last: int = 50, offset: int = 0) -> list[dict]:
    """The newest entries of a customer's ledger, each with the balance right after it."""
    running = func.sum(LedgerEntry.amount).over(order_by=LedgerEntry.id)
    inner = (select(LedgerEntry.id, LedgerEntry.created_at, LedgerEntry.amount, LedgerEntry.kind, LedgerEntry.note,
                    LedgerEntry.created_by, running.label("after"))
             .where(LedgerEntry.customer_id == customer).subquery())
    rows = db.query(select(inner).order_by(inner.c.id.desc()).limit(last).offset(offset))
    return [{"id": int(r[0]), "at": when(r[1]), "amount": money.round_money(r[2]), "kind": r[3], "note": r[4],
             "by": r[5], "balance_after": money.round_money(r[6])} for r in rows]


# --- writing ---------------------------------------------------------------------------------------------


def _entry(customer: int, amount: Decimal, kind: str, note: str, by: str, subscription: str = "NULL") -> str:
    return (f"INSERT INTO ledger_entries (customer_id, amount, kind, note, created_by, subscription_id) VALUES "
            f"({int(customer)}, {lit(money.round_money(amount))}, {lit(kind)}, {lit(note[:254])}, {lit(by[:254])}, "
            f"{subscription});")


def _lock(customer: int) -> str:
    """Serialise every change of one customer's money (the row lock is held to the end of the transaction)."""
    return f"UPDATE customers SET id = id WHERE id = {int(customer)};"


def _guard(condition: str, message: str) -> str:
    """Refuse the whole transaction when `condition` holds (a race with another change, found under the lock)."""
    return f"DO $$ BEGIN IF {condition} THEN RAISE EXCEPTION {lit(message)}; END IF; END $$;"


def record(db: SqlRunner, customer: int, amount: Decimal, kind: str, reason: str, by: str) -> Balance:
    """P15: the provider's top-up (positive) or correction (either sign, with a reason), as one ledger entry."""
    amount = money.round_money(amount)
    if kind not in ("top_up", "correction"):
        raise MoneyError([Problem("kind %(value)r: top_up or correction", value=kind)])
    if kind == "top_up" and not 0 < amount < MAX_AMOUNT:
        raise MoneyError([Problem("amount %(value)s: more than 0 and less than 1000000", value=amount)])
    if kind == "correction" and (amount == 0 or abs(amount) >= MAX_AMOUNT):
        raise MoneyError([Problem("amount %(value)s: a correction is not 0 and less than 1000000 either way",
                                  value=amount)])
    if kind == "correction" and not reason.strip():
        raise MoneyError([Problem("reason: a correction says why")])
    balance(db, customer)  # 404 before writing
    db.run("\n".join([_lock(customer), _entry(customer, amount, kind, reason.strip(), by)]))
    return balance(db, customer)


@dataclass(frozen=True)
class Quote:
    """What a purchase or change would do, shown before it is made (P13)."""

    requested: int
    channels: int
    packs: int
    channel_price: Decimal
    pack_price: Decimal
    refund: Decimal
    replaces: Term | None
    ends_at: datetime

    @property
    def rounded(self) -> bool:
        return self.channels != self.requested

    @property
    def price(self) -> Decimal:
        return self.channel_price + self.pack_price

    @property
    def net(self) -> Decimal:
        return self.price - self.refund


def quote(db: SqlRunner, price_list: Prices, customer: int, profile_name: str | int | None, channels: int, packs: int,
          channel_limit: int = money.MAX_CHANNELS) -> tuple[Profile, Quote]:
    """The rules applied to a purchase or change, without writing: the rounded channel count, the packs rule,
    the once-a-day rule, the price, the refund of the term it replaces, and whether the balance covers it."""
    p = profile(db, customer, profile_name)
    bought = money.channels_for_purchase(channels)
    if bought > channel_limit:
        raise MoneyError([Problem("channels %(value)s: the platform is sized for %(limit)s channels", value=bought,
                                  limit=channel_limit)])
    money.check_packs(packs, bought)
    money.check_change_allowed(p.last_change_at, p.now)
    current = p.current
    refund = Decimal(0)
    if current is not None:
        refund = money.refund(current.channel_price, current.starts_at, current.ends_at, p.now)
        share = refund / current.channel_price if current.channel_price else (
            money.refund(Decimal(1), current.starts_at, current.ends_at, p.now))
        refund += money.pack_refund(current.pack_price, current.pack_seconds, current.pack_seconds_left, share)
        refund = min(money.round_money(refund), current.paid)
    channel_price, pack_price = price_list.term(bought, packs)
    return p, Quote(channels, bought, packs, channel_price, pack_price, refund, current, p.now + money.TERM)


def buy(db: SqlRunner, price_list: Prices, customer: int, profile_name: str | int | None, channels: int, packs: int,
        by: str, channel_limit: int = money.MAX_CHANNELS) -> Quote:
    """P13: buy a subscription for a profile, or change the one it has: the current term ends now with its
    unused part refunded pro rata, and a new 30-day term starts at once, paid from the balance."""
    p, q = quote(db, price_list, customer, profile_name, channels, packs, channel_limit)
    b = balance(db, customer)
    money.check_funds(b.balance + q.refund, b.credit_limit, q.price)
    now = f"CAST({lit(p.now)} AS timestamptz)"
    current = q.replaces
    script = [_lock(customer),
              # found under the lock: another purchase or change of this profile since the state was read
              _guard(f"EXISTS (SELECT 1 FROM channel_subscriptions WHERE profile_id = {p.id} AND kind IN "
                     f"('purchase', 'change') AND starts_at > {now} - interval '1 day')",
                     "this SIP profile's subscription changed meanwhile: look again"),
              _guard(f"(SELECT balance + credit_limit FROM customers WHERE id = {int(customer)}) < {lit(q.net)}",
                     "the balance changed meanwhile and no longer covers this: look again")]
    if current is not None:
        script += [_guard(f"NOT EXISTS (SELECT 1 FROM active_terms WHERE id = {current.id})",
                          "the current term ended meanwhile: look again"),
                   f"UPDATE channel_subscriptions SET cancelled_at = {now}, renews = false, refund = {lit(q.refund)} "
                   f"WHERE id = {current.id};"]
        if q.refund > 0:
            script.append(_entry(customer, q.refund, "refund", f"{p.name}: unused part of {current.channels} "
                                 f"channels to {current.ends_at:%Y-%m-%d}", by, str(current.id)))
    pack_seconds = packs * money.PACK_MINUTES * 60
    script.append(
        "WITH term AS (INSERT INTO channel_subscriptions (customer_id, profile_id, kind, channels, minute_packs, "
        "starts_at, ends_at, renews, channel_price, pack_price, pack_seconds, pack_seconds_left) VALUES "
        f"({int(customer)}, {p.id}, {lit('change' if current else 'purchase')}, {q.channels}, {packs}, {now}, "
        f"CAST({lit(q.ends_at)} AS timestamptz), true, {lit(q.channel_price)}, {lit(q.pack_price)}, {pack_seconds}, {pack_seconds}) "
        "RETURNING id) "
        "INSERT INTO ledger_entries (customer_id, amount, kind, note, created_by, subscription_id) "
        f"SELECT {int(customer)}, {lit(-q.price)}, 'purchase', "
        f"{lit(f'{p.name}: {q.channels} channels, {packs} minute packs to {q.ends_at:%Y-%m-%d}')}, {lit(by[:254])}, id "
        f"FROM term WHERE {lit(q.price)} > 0;")
    db.run("\n".join(script))
    return q


def cancel(db: SqlRunner, customer: int, profile_name: str | int | None, by: str, confirm: bool = True) -> Term:
    """P13: cancelling ends renewal; the term runs to its end (the date a page shows before confirming: call
    with confirm=False to see it). Nothing is refunded."""
    p = profile(db, customer, profile_name)
    current = p.current
    if current is None:
        raise MoneyError([Problem("SIP profile %(value)r has no running subscription to cancel", value=p.name)])
    if not current.renews:
        raise MoneyError([Problem("SIP profile %(value)r: the subscription is cancelled already; it ends %(end)s",
                                  value=p.name, end=f"{current.ends_at:%Y-%m-%d %H:%M} UTC")])
    if confirm:
        db.run("\n".join([_lock(customer), f"UPDATE channel_subscriptions SET renews = false, renewal_cancelled_at = "
                          f"now() WHERE id = {current.id} AND renews;"]))
    return current


@dataclass(frozen=True)
class Renewal:
    term_id: int
    customer_id: int
    outcome: str  # "renewed" or "lapsed"
    price: Decimal


def renew(db: SqlRunner, price_list: Prices, by: str = "renewal timer") -> list[Renewal]:
    """The renewal timer: each term that ended and renews is renewed from the balance for another 30 days at
    today's prices, or lapses when the balance does not cover it (its channel limit goes with it). A term is
    renewed at most once (a unique `renewal_of`), under its customer's lock: running this twice, or two copies
    at once, charges once."""
    renewal = aliased(ChannelSubscription)
    due = db.query(select(ChannelSubscription.id, ChannelSubscription.customer_id, ChannelSubscription.channels,
                          ChannelSubscription.minute_packs)
                   .where(ChannelSubscription.renews, ChannelSubscription.cancelled_at.is_(None),
                          ChannelSubscription.lapsed_at.is_(None), ChannelSubscription.ends_at <= func.now(),
                          ~select(renewal.id).where(renewal.renewal_of == ChannelSubscription.id).exists())
                   .order_by(ChannelSubscription.ends_at))
    done = []
    for r in due:
        term, customer, channels, packs = int(r[0]), int(r[1]), int(r[2]), int(r[3])
        channel_price, pack_price = price_list.term(channels, packs)
        price = channel_price + pack_price
        pack_seconds = packs * money.PACK_MINUTES * 60
        owed = lit(price)
        eligible = (f"s.id = {term} AND s.renews AND s.cancelled_at IS NULL AND s.lapsed_at IS NULL "
                    f"AND s.ends_at <= now() AND NOT EXISTS (SELECT 1 FROM channel_subscriptions r "
                    f"WHERE r.renewal_of = s.id)")
        rows = db.run("\n".join([
            _lock(customer),
            "WITH term AS (INSERT INTO channel_subscriptions (customer_id, profile_id, kind, channels, minute_packs, "
            "starts_at, ends_at, renews, channel_price, pack_price, pack_seconds, pack_seconds_left, renewal_of) "
            f"SELECT s.customer_id, s.profile_id, 'renewal', s.channels, s.minute_packs, s.ends_at, "
            f"s.ends_at + interval '{money.TERM.days} days', true, {lit(channel_price)}, {lit(pack_price)}, "
            f"{pack_seconds}, {pack_seconds}, s.id FROM channel_subscriptions s JOIN customers c ON c.id = s.customer_id "
            f"WHERE {eligible} AND c.balance + c.credit_limit >= {owed} "
            "ON CONFLICT (renewal_of) DO NOTHING RETURNING id, ends_at) "
            "INSERT INTO ledger_entries (customer_id, amount, kind, note, created_by, subscription_id) "
            f"SELECT {customer}, {lit(-price)}, 'renewal', "
            f"{lit(f'{channels} channels, {packs} minute packs, renewed to ')} || to_char(ends_at, 'YYYY-MM-DD'), "
            f"{lit(by)}, id FROM term WHERE {owed} > 0;",
            f"UPDATE channel_subscriptions s SET lapsed_at = now(), renews = false WHERE {eligible};",
            f"SELECT CASE WHEN EXISTS (SELECT 1 FROM channel_subscriptions WHERE renewal_of = {term}) THEN 'renewed' "
            f"WHEN (SELECT lapsed_at FROM channel_subscriptions WHERE id = {term}) IS NOT NULL THEN 'lapsed' "
            "ELSE 'unchanged' END;",
        ]))
        outcome = rows[-1][0] if rows else "unchanged"
        done.append(Renewal(term, customer, outcome, price))
    return done
