"""Provisioning rules as domain operations: customers, SIP accounts, tariffs and numbers, validated here and
written as SQL in one transaction through a SqlRunner (psql on the database host from the CLI; the portal's
own connection later). Every bad row is reported by line; nothing is half-imported."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert

from ..db.models import Customer, SipAccount, SipProfile, Tariff
from . import money
from .money import MoneyError
from .money import channels_for_purchase as _channels
from .names import USERNAME
from .problems import Problem, ProvisioningError

if TYPE_CHECKING:
    from ..site import Deployment

PREFIX = re.compile(r"^[0-9]{1,15}$")
PASSWORD_MIN = 12
#: Guessing a password of this strength (about 2^60 tries) is out of reach even without the ban.
PASSWORD_MIN_BITS = 60
_TRUE, _FALSE = {"1", "yes", "true", "on", "y"}, {"0", "no", "false", "off", "n"}


def sql_text(statement) -> str:
    """A SQLAlchemy statement as PostgreSQL text with its values inlined (quoted by SQLAlchemy)."""
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})) + ";"


def password_problem(password: str, username: str = "") -> str | None:
    """Why a SIP password is too weak, or None: at least PASSWORD_MIN characters, not all digits, not the
    user name, and about PASSWORD_MIN_BITS bits from the kinds of characters it mixes."""
    if len(password) < PASSWORD_MIN:
        return Problem("is shorter than %(count)s characters", count=PASSWORD_MIN)
    if password.isdigit():
        return Problem("is all digits: a numeric password falls to guessing in seconds; mix letters, digits and "
                       "symbols")
    if username and username.lower() in password.lower():
        return Problem("contains the user name")
    alphabet = sum(size for test, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
                   if any(test(c) for c in password)) + (33 if any(not c.isalnum() for c in password) else 0)
    bits = len(password) * math.log2(alphabet)
    if bits < PASSWORD_MIN_BITS or len(set(password)) < len(password) // 3:
        return Problem("is too easy to guess (about %(bits)s bits from its length and kinds of characters, or "
                       "mostly repeats); use %(count)s+ characters mixing letters, digits and symbols",
                       bits=round(bits), count=PASSWORD_MIN)
    return None


def ha1(username: str, realm: str, password: str, algorithm: str = "md5") -> str:
    return hashlib.new(algorithm, f"{username}:{realm}:{password}".encode()).hexdigest()


def channels_for_purchase(requested: int) -> int:
    """P13: 1 to 300 channels; a count over 100 is rounded down to a multiple of 10 (domain.money's rule)."""
    try:
        return _channels(requested)
    except MoneyError as exc:
        raise ProvisioningError([f"--channels {requested}: must be 1 to 300 (P13)"]) from exc


class SqlRunner(Protocol):
    """Where domain operations run their SQL: psql on the database host (rtcstack.runtime.database), or a
    service's own connection. `run` executes a script in one transaction and returns the rows of its last
    statement; `query` does the same for one SQLAlchemy statement."""

    deployment: Deployment

    def run(self, script: str) -> list[list[str]]: ...

    def query(self, statement) -> list[list[str]]: ...


# --- customers ---------------------------------------------------------------------------------


def add_customer(db: SqlRunner, name: str, channels: int | None, international: bool | None,
                 max_rate: Decimal | None, channel_limit: int | None = None, top_up: Decimal | None = None,
                 prices=None, by: str = "operator") -> str:
    """Create a customer (with its first SIP profile), or update its switches; `top_up` records money in its
    ledger first; `channels` buys that many channels for its first profile from the balance, or changes the
    subscription it has (P13's rules: domain.billing). `channel_limit` and `prices` default to the runner's
    deployment's."""
    from . import billing

    if not name.strip() or len(name) > 128:
        raise ProvisioningError([f"NAME {name!r}: give 1 to 128 characters"])
    limit = db.deployment.channels if channel_limit is None else channel_limit
    if channels is not None:
        bought = channels_for_purchase(channels)
        if bought > limit:
            raise ProvisioningError([f"--channels {bought}: the deployment is sized for {limit} "
                                     "channels; raise `channels` in the inventory first"])
    values = {"name": name}
    if international is not None:
        values["international"] = international
    if max_rate is not None:
        values["max_rate"] = max_rate
    # On conflict the given values are written again (name included, harmlessly): one shape for both.
    existed = bool(db.query(select(Customer.id).where(Customer.name == name)))
    price_list = prices or billing.prices(db.deployment)
    if channels is not None:
        # the purchase's rules first, so a refused purchase leaves no customer or top-up behind
        if existed:
            found = billing.customer_id(db, name)
            current = billing.profile(db, found, None).current
            if current is None or current.channels != bought:
                _, q = billing.quote(db, price_list, found, None, channels, 0, limit)
                b = billing.balance(db, found)
                money.check_funds(b.balance + (top_up or 0) + q.refund, b.credit_limit, q.price)
        else:
            money.check_funds(top_up or Decimal(0), Decimal(0), price_list.term(bought, 0)[0])
    db.query(insert(Customer).values(**values).on_conflict_do_update(index_elements=["name"], set_=values))
    customer = billing.customer_id(db, name)
    said = [f"customer {name}: " + ("updated" if existed else "added")]
    if top_up:
        after = billing.record(db, customer, top_up, "top_up", "opening top-up" if not existed else "top-up", by)
        said.append(f"topped up {top_up}, balance {after.balance}")
    if channels is None:
        return ", ".join(said)
    current = billing.profile(db, customer, None).current
    if current is not None and current.channels == bought:
        return ", ".join([*said, f"{bought} channels (unchanged)"])
    q = billing.buy(db, price_list, customer, None, channels,
                    current.packs if current and current.packs <= bought else 0, by, limit)
    rounded = f" (asked {channels}, rounded down to a multiple of 10 over 100)" if q.rounded else ""
    said.append(f"{q.channels} channels{rounded} to {q.ends_at:%Y-%m-%d}, paid {q.price}"
                + (f", refunded {q.refund} for the term it replaces" if q.replaces else ""))
    return ", ".join(said)


# --- CSV imports -------------------------------------------------------------------------------


@dataclass
class CsvRows:
    """Rows of a CSV file with their line numbers; a header row naming the columns is skipped."""

    path: Path
    columns: tuple[str, ...]
    required: int
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def read(self) -> CsvRows:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProvisioningError([f"{self.path}: cannot be read: {exc}"]) from None
        for number, row in enumerate(csv.reader(text.splitlines()), start=1):
            row = [cell.strip() for cell in row]
            if not any(row) or row[0].startswith("#"):
                continue
            if number == 1 and [c.lower() for c in row[: self.required]] == list(self.columns[: self.required]):
                continue
            if not self.required <= len(row) <= len(self.columns):
                self.problem(number, "row", ",".join(row),
                             f"has {len(row)} columns; expected {self.required} to {len(self.columns)}: "
                             + ",".join(self.columns))
                continue
            self.rows.append((number, row + [""] * (len(self.columns) - len(row))))
        if not self.rows and not self.problems:
            self.problems.append(f"{self.path}: no rows to import (columns: {','.join(self.columns)})")
        return self

    def problem(self, line: int, column: str, value: str, what: str) -> None:
        self.problems.append(f"{self.path}:{line}: {column} {value!r} {what}")


def _flag(rows: CsvRows, line: int, column: str, value: str) -> bool | None:
    if value == "":
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    rows.problem(line, column, value, "is not yes/no (or true/false, 1/0)")
    return None


def _price(rows: CsvRows, line: int, column: str, value: str, required: bool) -> Decimal | None:
    if value == "" and not required:
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price < 0 or price >= Decimal("100000000"):
        rows.problem(line, column, value, "is not a price such as 0.25 (a decimal, 0 or more)")
        return None
    return price


def import_accounts(db: SqlRunner, path: Path) -> str:
    """`customer,username,password[,international,max_rate,profile]`: passwords are stored only as HA1; an account
    joins the named SIP profile of its customer (P13), or keeps its profile, or a new one joins the first."""
    rows = CsvRows(path, ("customer", "username", "password", "international", "max_rate", "profile"), 3).read()
    customers = {name: int(cid) for cid, name in db.query(select(Customer.id, Customer.name))}
    profiles: dict[tuple[int, str], int] = {}
    first: dict[int, int] = {}
    for pid, cid, pname in db.query(select(SipProfile.id, SipProfile.customer_id, SipProfile.name)
                                    .order_by(SipProfile.id.desc())):
        profiles[(int(cid), pname)] = first[int(cid)] = int(pid)
    existing = {u: (int(c), int(p)) for u, c, p in db.query(
        select(SipAccount.username, SipAccount.customer_id, SipAccount.profile_id)
        .where(SipAccount.username.in_([row[1] for _, row in rows.rows])))} if rows.rows else {}
    realm = db.deployment.sip_domain
    seen: dict[str, int] = {}
    values = []
    for line, (customer, username, password, international, max_rate, profile) in rows.rows:
        bad = len(rows.problems)
        if customer not in customers:
            rows.problem(line, "customer", customer, "does not exist; add it with `rtcstack customers add` first")
        elif profile and (customers[customer], profile) not in profiles:
            rows.problem(line, "profile", profile, f"is not a SIP profile of {customer}; add it with "
                                                   "`rtcstack profiles add` first")
        if not USERNAME.match(username):
            rows.problem(line, "username", username, "must be 1 to 64 letters, digits, '.', '_' or '-'")
        elif username in seen:
            rows.problem(line, "username", username, f"appears again (first on line {seen[username]})")
        seen.setdefault(username, line)
        weak = password_problem(password, username)
        if weak:
            rows.problem(line, "password", "<hidden>", weak)
        flag = _flag(rows, line, "international", international)
        rate = _price(rows, line, "max_rate", max_rate, required=False)
        if len(rows.problems) == bad:
            cid = customers[customer]
            kept = existing.get(username)
            profile_id = (profiles[(cid, profile)] if profile else kept[1] if kept and kept[0] == cid else first[cid])
            values.append({"customer_id": cid, "profile_id": profile_id, "username": username,
                           "ha1": ha1(username, realm, password), "ha1_sha256": ha1(username, realm, password, "sha256"),
                           "international": True if flag is None else flag, "max_rate": rate})
    if rows.problems:
        raise ProvisioningError(rows.problems + ["nothing was imported"])
    statement = insert(SipAccount).values(values)
    statement = statement.on_conflict_do_update(index_elements=["username"], set_={
        k: statement.excluded[k] for k in ("customer_id", "profile_id", "ha1", "ha1_sha256", "international",
                                           "max_rate")})
    db.run(sql_text(statement))
    return f"{len(values)} account(s) imported from {path} (new or updated)"


def import_tariffs(db: SqlRunner, path: Path) -> str:
    """`prefix,price_per_minute,description`: E.164 prefixes without '+'; the longest match wins."""
    rows = CsvRows(path, ("prefix", "price_per_minute", "description"), 2).read()
    seen: dict[str, int] = {}
    values = []
    for line, (prefix, price, description) in rows.rows:
        bad = len(rows.problems)
        prefix = prefix.lstrip("+")
        if not PREFIX.match(prefix):
            rows.problem(line, "prefix", prefix, "must be 1 to 15 digits of an E.164 number (country code first)")
        elif prefix in seen:
            rows.problem(line, "prefix", prefix, f"appears again (first on line {seen[prefix]})")
        seen.setdefault(prefix, line)
        amount = _price(rows, line, "price_per_minute", price, required=True)
        if len(rows.problems) == bad:
            values.append({"prefix": prefix, "price_per_minute": amount, "description": description})
    if rows.problems:
        raise ProvisioningError(rows.problems + ["nothing was imported"])
    statement = insert(Tariff).values(values)
    statement = statement.on_conflict_do_update(index_elements=["prefix"], set_={
        "price_per_minute": statement.excluded.price_per_minute, "description": statement.excluded.description})
    db.run(sql_text(statement))
    return f"{len(values)} tariff(s) imported from {path} (new or updated)"
