"""Call features as domain operations (R9-R12, R14; P7, P8, P10): an account's switches (do-not-disturb,
voicemail, ring time), ring groups (a contact's devices rung in order, or the members behind a number),
selective routing rules, voicemail messages. The CLI and the portal call these; Kamailio reads the result
per call through the database's ring_plan() (migration 0007), so a change applies to the next call."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import available_timezones

from sqlalchemy import delete, func, insert, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..db.models import (
    Contact,
    Customer,
    Device,
    Number,
    RingGroup,
    RingGroupMember,
    RoutingRule,
    SipAccount,
    VideoPhone,
    VoicemailMessage,
)
from .problems import Problem, ProvisioningError
from .names import USERNAME
from .provisioning import SqlRunner, sql_text
from .rows import truthy, when

RING_SECONDS = (5, 120)
FALLBACKS = ("busy", "voicemail", "account")
PATTERN = re.compile(r"^[A-Za-z0-9.+*?-]{1,64}$")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class FeatureError(ProvisioningError):
    """A call-feature change that cannot be made (nothing was written)."""


def _account(db: SqlRunner, username: str) -> tuple[int, int]:
    rows = db.query(select(SipAccount.id, SipAccount.customer_id).where(SipAccount.username == username))
    if not rows:
        raise FeatureError([Problem("account %(value)r: no such SIP account", value=username)])
    return int(rows[0][0]), int(rows[0][1])


def customer_id_of(db: SqlRunner, name: str) -> int:
    rows = db.query(select(Customer.id).where(Customer.name == name))
    if not rows:
        raise FeatureError([Problem("customer %(value)r: no such customer; add it with `rtcstack customers add`",
                                    value=name)])
    return int(rows[0][0])


def check_ring_seconds(value: int, what: str = "ring time") -> Problem | None:
    if not RING_SECONDS[0] <= value <= RING_SECONDS[1]:
        return Problem("%(what)s %(value)s: must be %(low)s to %(high)s seconds", what=what, value=value,
                       low=RING_SECONDS[0], high=RING_SECONDS[1])
    return None


# --- an account's switches (P6: R11, R14) -------------------------------------------------------------------


def set_account(db: SqlRunner, username: str, dnd: bool | None = None, voicemail: bool | None = None,
                ring_seconds: int | None = None, customer_id: int | None = None) -> str:
    """Switch do-not-disturb (R11) or voicemail (R14) of an account, or set how long it rings before voicemail.
    `customer_id` scopes the change to one customer's accounts (the portal's)."""
    account, owner = _account(db, username)
    if customer_id is not None and owner != customer_id:
        raise FeatureError([Problem("account %(value)r: no such SIP account", value=username)])
    values: dict = {}
    if dnd is not None:
        values["do_not_disturb"] = dnd
    if voicemail is not None:
        values["voicemail"] = voicemail
    if ring_seconds is not None:
        problem = check_ring_seconds(ring_seconds)
        if problem:
            raise FeatureError([problem])
        values["ring_seconds"] = ring_seconds
    if not values:
        raise FeatureError(["nothing to change: give --dnd, --voicemail or --ring-seconds"])
    db.run(sql_text(update(SipAccount).where(SipAccount.id == account).values(**values)))
    state = account_features(db, username)
    note = "" if state["voicemail_service"] or not state["voicemail"] else (
        " (the customer's voicemail service is off: calls get busy until the provider enables it)")
    return (f"{username}: do-not-disturb {'on' if state['dnd'] else 'off'}, voicemail "
            f"{'on' if state['voicemail'] else 'off'}, rings {state['ring_seconds']} s before voicemail{note}")


def account_features(db: SqlRunner, username: str) -> dict:
    row = db.query(select(SipAccount.do_not_disturb, SipAccount.voicemail, SipAccount.ring_seconds,
                          Customer.voicemail_service)
                   .join(Customer, Customer.id == SipAccount.customer_id).where(SipAccount.username == username))[0]
    return {"dnd": truthy(row[0]), "voicemail": truthy(row[1]), "ring_seconds": int(row[2]),
            "voicemail_service": truthy(row[3])}


def set_customer(db: SqlRunner, name: str, selective_routing: bool | None = None, voicemail_service: bool | None = None,
                 time_zone: str | None = None) -> str:
    """The provider's feature switches of a customer (P8 selective routing, P10 voicemail) and its time zone."""
    customer = customer_id_of(db, name)
    values: dict = {}
    if selective_routing is not None:
        values["selective_routing"] = selective_routing
    if voicemail_service is not None:
        values["voicemail_service"] = voicemail_service
    if time_zone is not None:
        if time_zone not in available_timezones():
            raise FeatureError([Problem("time zone %(value)r: not a time zone name such as Europe/Warsaw",
                                        value=time_zone)])
        values["time_zone"] = time_zone
    if not values:
        raise FeatureError(["nothing to change: give --selective-routing, --voicemail or --time-zone"])
    db.run(sql_text(update(Customer).where(Customer.id == customer).values(**values)))
    row = db.query(select(Customer.selective_routing, Customer.voicemail_service, Customer.time_zone)
                   .where(Customer.id == customer))[0]
    return (f"customer {name}: selective routing {'on' if truthy(row[0]) else 'off'}, voicemail service "
            f"{'on' if truthy(row[1]) else 'off'}, time zone {row[2]}")


# --- ring groups (R10, R12; P7) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    username: str
    ring_seconds: int
    dnd: bool = False


@dataclass(frozen=True)
class Group:
    name: str
    customer: str
    display_name: str | None
    fallback: str
    fallback_account: str | None
    contact: str | None
    members: tuple[Member, ...]
    numbers: tuple[str, ...]

    def summary(self) -> str:
        order = ", then ".join(f"{m.username} ({m.ring_seconds} s{', DND' if m.dnd else ''})" for m in self.members)
        fallback = self.fallback if self.fallback == "busy" else f"{self.fallback} {self.fallback_account}"
        shown = f", shown as {self.display_name!r}" if self.display_name else ""
        numbers = f", numbers {' '.join('+' + n for n in self.numbers)}" if self.numbers else ""
        contact = f", the devices of contact {self.contact}" if self.contact else ""
        return f"{self.name} ({self.customer}{contact}): {order or 'no members'}; then {fallback}{shown}{numbers}"


def parse_member(text: str, default_seconds: int = 20) -> tuple[str, int]:
    """`user` or `user:seconds` (the CLI's --member)."""
    user, _, seconds = text.partition(":")
    try:
        return user, int(seconds) if seconds else default_seconds
    except ValueError:
        raise FeatureError([f"--member {text!r}: give ACCOUNT or ACCOUNT:SECONDS"]) from None


def save_ring_group(db: SqlRunner, name: str, customer: str, members: list[tuple[str, int]] | None = None,
                    display_name: str | None = None, fallback: str = "busy", fallback_account: str | None = None,
                    contact: tuple[str, str] | None = None, ring_seconds: int = 20,
                    customer_id: int | None = None) -> Group:
    """Create ring group NAME or replace its settings and members, in one transaction. `contact` (video phone,
    contact): the members are that contact's devices in the order they were set up (R10: first the Android,
    then the iPad), each for `ring_seconds`; the video phone then sees calls from any of them as the contact."""
    problems: list = []
    cid = customer_id_of(db, customer) if customer_id is None else customer_id
    if not USERNAME.match(name):
        problems.append(Problem("ring group %(value)r: 1 to 64 letters, digits, '.', '_' or '-'", value=name))
    elif db.query(select(SipAccount.id).where(SipAccount.username == name)):
        problems.append(Problem("ring group %(value)r: a SIP account has this name; choose another", value=name))
    existing = db.query(select(RingGroup.customer_id).where(RingGroup.name == name))
    if existing and int(existing[0][0]) != cid:
        problems.append(Problem("ring group %(value)r: the name is taken", value=name))
    contact_id = None
    if contact is not None:
        phone, contact_name = contact
        rows = db.query(select(Contact.id, VideoPhone.customer_id).join(VideoPhone, VideoPhone.id == Contact.video_phone_id)
                        .where(VideoPhone.name == phone, Contact.name == contact_name))
        if not rows or int(rows[0][1]) != cid:
            raise FeatureError(problems + [Problem("contact %(value)r of video phone %(phone)r: no such contact of "
                                                   "this customer", value=contact_name, phone=phone)])
        contact_id = int(rows[0][0])
        devices = db.query(select(SipAccount.username).join(Device, Device.account_id == SipAccount.id)
                           .where(Device.contact_id == contact_id).order_by(Device.id))
        members = [(u, ring_seconds) for (u,) in devices] if members is None else members
    members = members or []
    if not members:
        problems.append(Problem("a ring group needs at least one member"))
    accounts = {}
    if members:
        accounts = {u: (int(i), int(c)) for u, i, c in db.query(
            select(SipAccount.username, SipAccount.id, SipAccount.customer_id)
            .where(SipAccount.username.in_([u for u, _ in members] + [fallback_account or ""])))}
    seen = set()
    for user, seconds in members:
        if user not in accounts or accounts[user][1] != cid:
            problems.append(Problem("member %(value)r: no SIP account of this customer has this name", value=user))
        elif user in seen:
            problems.append(Problem("member %(value)r: listed twice", value=user))
        seen.add(user)
        problem = check_ring_seconds(seconds, f"member {user}'s ring time")
        if problem:
            problems.append(problem)
    if fallback not in FALLBACKS:
        problems.append(Problem("fallback %(value)r: one of busy, voicemail, account", value=fallback))
    elif fallback != "busy" and (fallback_account not in accounts or accounts[fallback_account][1] != cid):
        problems.append(Problem("fallback %(value)s needs the SIP account of this customer that takes the calls "
                                "(its voicemail box, or the account rung last)", value=fallback))
    if display_name is not None and (len(display_name) > 64 or re.search(r'["\\\r\n]', display_name)):
        problems.append(Problem("display name %(value)r: at most 64 characters, without quotes, backslashes or "
                                "line breaks", value=display_name))
    if problems:
        raise FeatureError(problems + ["nothing was changed"])
    values = {"customer_id": cid, "name": name, "display_name": display_name or None, "fallback": fallback,
              "fallback_account_id": accounts[fallback_account][0] if fallback != "busy" else None,
              "contact_id": contact_id}
    group = pg_insert(RingGroup).values(values)
    group = group.on_conflict_do_update(index_elements=["name"], set_={k: group.excluded[k] for k in values if k != "name"})
    group_id = select(RingGroup.id).where(RingGroup.name == name).scalar_subquery()
    script = [sql_text(group), sql_text(delete(RingGroupMember).where(RingGroupMember.group_id == group_id))]
    if members:
        script.append(sql_text(insert(RingGroupMember).values([
            {"group_id": group_id, "position": i, "account_id": accounts[u][0], "ring_seconds": s}
            for i, (u, s) in enumerate(members, start=1)])))
    db.run("\n".join(script))
    return ring_groups(db, customer_id=cid, name=name)[0]


def ring_groups(db: SqlRunner, customer_id: int | None = None, name: str | None = None) -> list[Group]:
    query = (select(RingGroup.id, RingGroup.name, Customer.name, RingGroup.display_name, RingGroup.fallback,
                    SipAccount.username, Contact.name)
             .join(Customer, Customer.id == RingGroup.customer_id)
             .outerjoin(SipAccount, SipAccount.id == RingGroup.fallback_account_id)
             .outerjoin(Contact, Contact.id == RingGroup.contact_id).order_by(Customer.name, RingGroup.name))
    if customer_id is not None:
        query = query.where(RingGroup.customer_id == customer_id)
    if name is not None:
        query = query.where(RingGroup.name == name)
    groups = db.query(query)
    if not groups:
        return []
    ids = [int(g[0]) for g in groups]
    members: dict[int, list[Member]] = {}
    for gid, user, seconds, dnd in db.query(
            select(RingGroupMember.group_id, SipAccount.username, RingGroupMember.ring_seconds, SipAccount.do_not_disturb)
            .join(SipAccount, SipAccount.id == RingGroupMember.account_id)
            .where(RingGroupMember.group_id.in_(ids)).order_by(RingGroupMember.group_id, RingGroupMember.position)):
        members.setdefault(int(gid), []).append(Member(user, int(seconds), truthy(dnd)))
    numbers: dict[int, list[str]] = {}
    for e164, gid in db.query(select(Number.e164, Number.ring_group_id).where(Number.ring_group_id.in_(ids))
                              .order_by(Number.e164)):
        numbers.setdefault(int(gid), []).append(e164)
    return [Group(n, c, (d if d not in ("", "None") else None), f, (fa if fa not in ("", "None") else None),
                  (ct if ct not in ("", "None") else None), tuple(members.get(int(i), ())), tuple(numbers.get(int(i), ())))
            for i, n, c, d, f, fa, ct in groups]


def remove_ring_group(db: SqlRunner, name: str, customer_id: int | None = None) -> str:
    """Remove a ring group; one that numbers still route to stays (route them elsewhere first)."""
    query = select(RingGroup.id).where(RingGroup.name == name)
    if customer_id is not None:
        query = query.where(RingGroup.customer_id == customer_id)
    found = db.query(query)
    if not found:
        raise FeatureError([Problem("ring group %(value)r: no such ring group", value=name)])
    routed = [f"+{n}" for (n,) in db.query(select(Number.e164).where(Number.ring_group_id == int(found[0][0])))]
    if routed:
        raise FeatureError([Problem("ring group %(value)r: numbers %(numbers)s route to it; route them elsewhere first",
                                    value=name, numbers=", ".join(routed))])
    db.run(sql_text(delete(RingGroup).where(RingGroup.id == int(found[0][0]))))
    return f"ring group {name} removed"


# --- numbers (R12) -----------------------------------------------------------------------------------------


def route_number(db: SqlRunner, number: str, target: str, customer_id: int | None = None) -> str:
    """Route a public number (E.164) to a SIP account or a ring group."""
    digits = number.strip().lstrip("+")
    if not re.fullmatch(r"[1-9][0-9]{6,14}", digits):
        raise FeatureError([Problem("number %(value)r: give an E.164 number such as +48221234567", value=number)])
    account = db.query(select(SipAccount.id, SipAccount.customer_id).where(SipAccount.username == target))
    group = db.query(select(RingGroup.id, RingGroup.customer_id).where(RingGroup.name == target))
    found = account or group
    if not found or (customer_id is not None and int(found[0][1]) != customer_id):
        raise FeatureError([Problem("target %(value)r: no SIP account or ring group has this name", value=target)])
    if customer_id is not None:
        owner = db.query(select(Number.e164).outerjoin(SipAccount, SipAccount.id == Number.account_id)
                         .outerjoin(RingGroup, RingGroup.id == Number.ring_group_id)
                         .where(Number.e164 == digits,
                                func.coalesce(SipAccount.customer_id, RingGroup.customer_id) != customer_id))
        if owner:
            raise FeatureError([Problem("number %(value)r: not one of this customer's numbers", value=number)])
    values = {"e164": digits, "account_id": int(account[0][0]) if account else None,
              "ring_group_id": int(group[0][0]) if group else None}
    statement = pg_insert(Number).values(values)
    db.run(sql_text(statement.on_conflict_do_update(index_elements=["e164"], set_={
        "account_id": statement.excluded.account_id, "ring_group_id": statement.excluded.ring_group_id})))
    return f"+{digits} routes to {'ring group ' if group else ''}{target}"


# --- selective call routing (R9; P8) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    account: str
    position: int
    caller_pattern: str
    days: str
    starts_at: time
    ends_at: time
    target: str
    enabled: bool

    @property
    def day_names(self) -> str:
        return ",".join(DAY_NAMES[int(d) - 1] for d in self.days)

    def summary(self) -> str:
        window = "all day" if self.starts_at == self.ends_at else f"{self.starts_at:%H:%M}-{self.ends_at:%H:%M}"
        return (f"{self.account} #{self.position}: calls from {self.caller_pattern} on {self.day_names}, {window} "
                f"-> {self.target}{'' if self.enabled else ' (off)'}")


def parse_days(text: str) -> str:
    """`mon-fri`, `sat,sun`, `1-5` or `all` as ISO weekday digits ("12345")."""
    text = text.strip().lower()
    if text in ("all", "*", ""):
        return "1234567"
    days: list[int] = []

    def day(token: str) -> int:
        if token.isdigit() and 1 <= int(token) <= 7:
            return int(token)
        if token[:3] in DAY_NAMES:
            return DAY_NAMES.index(token[:3]) + 1
        raise FeatureError([Problem("days %(value)r: give days such as mon-fri, sat,sun or all", value=text)])

    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        low, high = day(first), day(last) if last else day(first)
        if high < low:
            raise FeatureError([Problem("days %(value)r: give days such as mon-fri, sat,sun or all", value=text)])
        days += range(low, high + 1)
    return "".join(str(d) for d in sorted(set(days)))


def parse_window(text: str) -> tuple[time, time]:
    """`08:00-16:00` (the end excluded; an end before the start spans midnight) or `all` (all day)."""
    if text.strip().lower() in ("all", "", "*"):
        return time(0), time(0)
    match = re.fullmatch(r"\s*(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)\s*", text)
    try:
        if match:
            return time(int(match[1]), int(match[2])), time(int(match[3]) % 24, int(match[4]))
    except ValueError:
        pass
    raise FeatureError([Problem("hours %(value)r: give a window such as 08:00-16:00, or all", value=text)])


def add_rule(db: SqlRunner, account: str, caller_pattern: str, days: str, starts_at: time, ends_at: time,
             target: str, customer_id: int | None = None) -> Rule:
    """Append a rule to an account's list (R9): calls from callers matching `caller_pattern` (`*` any run, `?` one
    character; matched against the caller's account and numbers) on `days` within the window go to `target` (an
    account, a ring group or a number of this customer's)."""
    account_id, owner = _account(db, account)
    problems: list = []
    if customer_id is not None and owner != customer_id:
        raise FeatureError([Problem("account %(value)r: no such SIP account", value=account)])
    if not PATTERN.match(caller_pattern):
        problems.append(Problem("caller pattern %(value)r: digits or letters, with * for any run and ? for one "
                                "character, such as 48601*", value=caller_pattern))
    if not re.fullmatch(r"[1-7]{1,7}", days):
        problems.append(Problem("days %(value)r: give days such as mon-fri", value=days))
    plain = target.strip().lstrip("+")
    targets = db.query(union_all(
        select(SipAccount.customer_id).where(SipAccount.username == target),
        select(RingGroup.customer_id).where(RingGroup.name == target),
        select(func.coalesce(SipAccount.customer_id, RingGroup.customer_id)).select_from(Number)
        .outerjoin(SipAccount, SipAccount.id == Number.account_id)
        .outerjoin(RingGroup, RingGroup.id == Number.ring_group_id).where(Number.e164 == plain)))
    if not targets or int(targets[0][0]) != owner:
        problems.append(Problem("target %(value)r: give an account, a ring group or a number of this customer's",
                                value=target))
    elif target == account:
        problems.append(Problem("target %(value)r: a rule cannot forward an account to itself", value=target))
    if problems:
        raise FeatureError(problems + ["nothing was changed"])
    position = select(func.coalesce(func.max(RoutingRule.position), 0) + 1).where(
        RoutingRule.account_id == account_id).scalar_subquery()
    db.run(sql_text(insert(RoutingRule).values(account_id=account_id, position=position, caller_pattern=caller_pattern,
                                               days=days, starts_at=starts_at, ends_at=ends_at, target=target)))
    return rules(db, account=account)[-1]


def rules(db: SqlRunner, account: str | None = None, customer_id: int | None = None) -> list[Rule]:
    query = (select(SipAccount.username, RoutingRule.position, RoutingRule.caller_pattern, RoutingRule.days,
                    RoutingRule.starts_at, RoutingRule.ends_at, RoutingRule.target, RoutingRule.enabled)
             .join(SipAccount, SipAccount.id == RoutingRule.account_id)
             .order_by(SipAccount.username, RoutingRule.position))
    if account is not None:
        query = query.where(SipAccount.username == account)
    if customer_id is not None:
        query = query.where(SipAccount.customer_id == customer_id)
    return [Rule(u, int(p), c, d, time.fromisoformat(s), time.fromisoformat(e), t, truthy(on))
            for u, p, c, d, s, e, t, on in db.query(query)]


def remove_rule(db: SqlRunner, account: str, position: int, customer_id: int | None = None) -> str:
    account_id, owner = _account(db, account)
    if customer_id is not None and owner != customer_id:
        raise FeatureError([Problem("account %(value)r: no such SIP account", value=account)])
    if not db.query(delete(RoutingRule).where(RoutingRule.account_id == account_id, RoutingRule.position == position)
                    .returning(RoutingRule.id)):
        raise FeatureError([Problem("rule %(value)s of %(account)s: no such rule", value=position, account=account)])
    return f"rule {position} of {account} removed"


# --- voicemail (R14; P10) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    id: int
    account: str
    caller: str
    received_at: datetime
    seconds: Decimal
    host: str
    path: str
    heard: bool


def messages(db: SqlRunner, account: str | None = None, customer_id: int | None = None,
             message_id: int | None = None) -> list[Message]:
    query = (select(VoicemailMessage.id, SipAccount.username, VoicemailMessage.caller, VoicemailMessage.received_at,
                    VoicemailMessage.seconds, VoicemailMessage.host, VoicemailMessage.path, VoicemailMessage.heard_at)
             .join(SipAccount, SipAccount.id == VoicemailMessage.account_id)
             .order_by(VoicemailMessage.received_at.desc(), VoicemailMessage.id.desc()))
    if account is not None:
        query = query.where(SipAccount.username == account)
    if customer_id is not None:
        query = query.where(SipAccount.customer_id == customer_id)
    if message_id is not None:
        query = query.where(VoicemailMessage.id == message_id)
    return [Message(int(i), u, c, when(r), Decimal(s), h, p, bool(when(heard)))
            for i, u, c, r, s, h, p, heard in db.query(query)]
