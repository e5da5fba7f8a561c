"""Conference links as domain operations (L5, L7): one link per video phone (issue, re-issue, revoke, list),
the conference's SIP account that calls the video phone into the group, the Janus room a link's visitors share,
and the diagnostics reports their browsers store.

A conference link's token is kept twice: as a SHA-256 (to find the link in constant time) and sealed with the
links signing key (so the CLI and the portal can show the link again; it is shared by everyone the video
phone's user gives it to, unlike a single-use invite).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import InvalidToken
from sqlalchemy import Text, case, cast, func, insert, select, update

from ..db.models import ConferenceLink, Diagnostic, SipAccount, VideoPhone
from .links import TOKEN, _video_phone_id, cipher, new_token, token_hash
from .problems import Problem
from .provisioning import ProvisioningError, SqlRunner, ha1, sql_text

#: Janus room numbers of conference links: ROOM_BASE + the link's id (video room, text room and audio bridge
#: share the number).
ROOM_BASE = 1_000_000
#: Longest report a browser may store (a full report is about 2 KB).
REPORT_MAX = 16_000


def room_number(link_id: int) -> int:
    return ROOM_BASE + link_id


def account_password(signing_key: str, username: str) -> str:
    """The conference account's SIP password, derived from the links signing key: the gateway computes it
    the same way, so it is never stored or sent anywhere."""
    return hmac.new(signing_key.encode(), f"conference account {username}".encode(), hashlib.sha256).hexdigest()[:32]


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/c/{token}"


def _seal(signing_key: str, token: str) -> str:
    return cipher(signing_key).encrypt(token.encode()).decode()


def _unseal(signing_key: str, sealed: str) -> str | None:
    """The token, or None when this signing key cannot open it (the key was rotated since it was issued)."""
    try:
        return cipher(signing_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


@dataclass(frozen=True)
class ConferenceIssued:
    link: str
    token: str
    video_phone: str
    revoked: int
    account: str

    def summary(self) -> str:
        again = "; the earlier link is revoked" if self.revoked else ""
        return f"conference link of {self.video_phone}: {self.link} (calls the video phone as {self.account}{again})"


def issue(db: SqlRunner, public_url: str, realm: str, signing_key: str, video_phone: str) -> ConferenceIssued:
    """A new conference link for a video phone, revoking its earlier one, in one transaction; the first one
    also creates the conference's SIP account (scoped to the video phone's circle)."""
    phone_id = _video_phone_id(db, video_phone)
    rows = db.query(select(VideoPhone.customer_id, VideoPhone.display_name, SipAccount.username)
                    .outerjoin(SipAccount, SipAccount.id == VideoPhone.conference_account_id)
                    .where(VideoPhone.id == phone_id))
    customer_id, display, account = rows[0]
    statements = []
    if not account:
        account = f"conf-{secrets.token_hex(6)}"
        password = account_password(signing_key, account)
        statements += [
            sql_text(insert(SipAccount).values(
                customer_id=int(customer_id), username=account, display_name=f"Conference: {display}"[:128],
                ha1=ha1(account, realm, password), ha1_sha256=ha1(account, realm, password, "sha256"),
                international=False)),
            sql_text(update(VideoPhone).where(VideoPhone.id == phone_id).values(
                conference_account_id=select(SipAccount.id).where(SipAccount.username == account)
                .scalar_subquery()))]
    active = (ConferenceLink.video_phone_id == phone_id) & ConferenceLink.revoked_at.is_(None)
    before = int(db.query(select(func.count()).select_from(ConferenceLink).where(active))[0][0])
    token = new_token()
    statements += [sql_text(update(ConferenceLink).where(active).values(revoked_at=func.now())),
                   sql_text(insert(ConferenceLink).values(video_phone_id=phone_id, token_sha256=token_hash(token),
                                                          token_sealed=_seal(signing_key, token)))]
    db.run("\n".join(statements))
    return ConferenceIssued(link_url(public_url, token), token, video_phone, before, account)


def revoke(db: SqlRunner, video_phone: str) -> int:
    """Revoke a video phone's conference link; how many were active (0 or 1)."""
    phone_id = _video_phone_id(db, video_phone)
    rows = db.run(sql_text(update(ConferenceLink).where(ConferenceLink.video_phone_id == phone_id,
                                                        ConferenceLink.revoked_at.is_(None))
                           .values(revoked_at=func.now()).returning(ConferenceLink.id)))
    return len(rows)


STATE = case((ConferenceLink.revoked_at.isnot(None), "revoked"), else_="active")


def list_links(db: SqlRunner, public_url: str, signing_key: str, video_phone: str | None = None,
               active_only: bool = False) -> list[dict]:
    """Conference links, newest first, with the link itself (active ones only) and their state."""
    query = (select(ConferenceLink.id, VideoPhone.name, VideoPhone.display_name, ConferenceLink.token_sealed,
                    ConferenceLink.created_at, ConferenceLink.revoked_at, ConferenceLink.last_joined_at, STATE)
             .join(VideoPhone, VideoPhone.id == ConferenceLink.video_phone_id).order_by(ConferenceLink.id.desc()))
    if video_phone:
        query = query.where(VideoPhone.id == _video_phone_id(db, video_phone))
    if active_only:
        query = query.where(ConferenceLink.revoked_at.is_(None))
    out = []
    for id_, phone, display, sealed, created, revoked, joined, state in db.query(query):
        token = _unseal(signing_key, sealed) if state == "active" else None
        out.append({"id": int(id_), "video_phone": phone, "display_name": display,
                    "link": link_url(public_url, token) if token else None,
                    "room": room_number(int(id_)), "state": state, "created_at": created,
                    "revoked_at": revoked or None, "last_joined_at": joined or None})
    return out


def look_up(db: SqlRunner, token: str) -> dict | None:
    """The conference link a token names, or None: its state, its room, and its video phone (L5) or, for a
    scheduled conference (P9), its name and time (`video_phone` None)."""
    if not TOKEN.match(token or ""):
        return None
    digest = token_hash(token)
    rows = db.query(select(ConferenceLink.id, ConferenceLink.token_sha256, STATE, VideoPhone.name,
                           func.coalesce(VideoPhone.display_name, ConferenceLink.name), VideoPhone.id,
                           ConferenceLink.starts_at, ConferenceLink.duration_minutes)
                    .outerjoin(VideoPhone, VideoPhone.id == ConferenceLink.video_phone_id)
                    .where(ConferenceLink.token_sha256 == digest))
    if not rows or not hmac.compare_digest(rows[0][1], digest):
        return None
    id_, _, state, phone, display, phone_id, starts, minutes = rows[0]
    return {"id": int(id_), "state": state, "video_phone": phone or None, "display_name": display,
            "video_phone_id": int(phone_id) if phone_id else None, "room": room_number(int(id_)),
            "starts_at": starts or None, "duration_minutes": int(minutes) if minutes else None}


# --- scheduled conferences (P9) ------------------------------------------------------------------------------

#: When a scheduled conference is, against now: before its start, during it, or after its end.
PERIODS = ("all", "past", "current", "future")


def schedule(db: SqlRunner, customer_id: int, name: str, starts_at: datetime, duration_minutes: int,
             public_url: str, signing_key: str) -> tuple[int, str]:
    """A scheduled conference of the customer's: its own link and room (anyone with the link joins, as with a
    video phone's). Returns its ID and its link."""
    problems = []
    name = name.strip()
    if not name or len(name) > 128:
        problems.append(Problem("name: give 1 to 128 characters"))
    if not 5 <= duration_minutes <= 1440:
        problems.append(Problem("duration %(value)s: 5 to 1440 minutes", value=duration_minutes))
    if starts_at.tzinfo is None:
        problems.append(Problem("start: a time with its zone"))
    if problems:
        raise ProvisioningError(problems)
    token = new_token()
    rows = db.query(insert(ConferenceLink).values(
        customer_id=customer_id, name=name, starts_at=starts_at, duration_minutes=duration_minutes,
        token_sha256=token_hash(token), token_sealed=_seal(signing_key, token)).returning(ConferenceLink.id))
    return int(rows[0][0]), link_url(public_url, token)


def scheduled(db: SqlRunner, customer_id: int, period: str, page: int, public_url: str, signing_key: str,
              per_page: int = 20) -> tuple[list[dict], int]:
    """The customer's scheduled conferences in a period (all, past, current, future), soonest first for the
    future and the current ones, newest first otherwise; one page, and how many there are in all."""
    ends = ConferenceLink.starts_at + func.make_interval(0, 0, 0, 0, 0, ConferenceLink.duration_minutes)
    where = [ConferenceLink.customer_id == customer_id, ConferenceLink.revoked_at.is_(None)]
    where += {"past": [ends <= func.now()], "current": [ConferenceLink.starts_at <= func.now(), ends > func.now()],
              "future": [ConferenceLink.starts_at > func.now()]}.get(period, [])
    order = ConferenceLink.starts_at.asc() if period in ("current", "future") else ConferenceLink.starts_at.desc()
    total = int(db.query(select(func.count()).select_from(ConferenceLink).where(*where))[0][0])
    rows = db.query(select(ConferenceLink.id, ConferenceLink.name, ConferenceLink.starts_at,
                           ConferenceLink.duration_minutes, ConferenceLink.token_sealed, ends)
                    .where(*where).order_by(order, ConferenceLink.id).offset(page * per_page).limit(per_page))
    out = []
    for id_, name, starts, minutes, sealed, until in rows:
        token = _unseal(signing_key, sealed)
        out.append({"id": int(id_), "name": name, "starts_at": starts, "duration_minutes": int(minutes),
                    "ends_at": until, "link": link_url(public_url, token) if token else None})
    return out, total


def joined(db: SqlRunner, link_id: int) -> None:
    """Someone joined the link's room now (the room sweeper leaves rooms joined lately alone)."""
    db.run(sql_text(update(ConferenceLink).where(ConferenceLink.id == link_id).values(last_joined_at=func.now())))


def rooms_to_keep(db: SqlRunner, seconds: int) -> tuple[set[int], set[int]]:
    """(rooms of active links joined in the last `seconds`, rooms of links revoked in the last day): the room
    sweeper keeps the first even when empty, and ends the second whoever is in them."""
    rows = db.run(f"""SELECT id, revoked_at IS NOT NULL FROM conference_links
        WHERE (revoked_at IS NULL AND last_joined_at > now() - interval '{int(seconds)} seconds')
           OR revoked_at > now() - interval '1 day'""")
    return ({room_number(int(i)) for i, revoked in rows if revoked in ("f", "False", "false")},
            {room_number(int(i)) for i, revoked in rows if revoked not in ("f", "False", "false")})


def room_pin(signing_key: str, room: int) -> str:
    """The PIN a room's plugins ask of whoever joins: a Janus token alone (valid for any room) is not enough."""
    return hmac.new(signing_key.encode(), f"conference room {room}".encode(), hashlib.sha256).hexdigest()[:24]


def call_target(db: SqlRunner, link_id: int) -> dict:
    """Whom the conference calls (the video phone's SIP user) and as whom (the conference account)."""
    rows = db.query(select(SipAccount.username, VideoPhone.display_name, VideoPhone.conference_account_id)
                    .join(VideoPhone, VideoPhone.account_id == SipAccount.id)
                    .join(ConferenceLink, ConferenceLink.video_phone_id == VideoPhone.id)
                    .where(ConferenceLink.id == link_id))
    phone, display, conference_account_id = rows[0]
    account = db.query(select(SipAccount.username).where(SipAccount.id == int(conference_account_id)))[0][0]
    return {"callee": phone, "display_name": display, "caller": account}


# --- diagnostics (L7) ----------------------------------------------------------------------------------------


def store_diagnostics(db: SqlRunner, link_id: int | None, ok: bool, summary: str, report: str,
                      user_agent: str) -> int:
    if len(report) > REPORT_MAX:
        raise ProvisioningError([f"report: {len(report)} characters; at most {REPORT_MAX}"])
    rows = db.run(sql_text(insert(Diagnostic).values(
        conference_link_id=link_id, ok=ok, summary=summary[:500], report=report, user_agent=user_agent[:512])
        .returning(Diagnostic.id)))
    return int(rows[0][0])


def list_diagnostics(db: SqlRunner, limit: int = 20, video_phone: str | None = None) -> list[dict]:
    """The latest diagnostics reports, newest first, with their video phone."""
    # the report spans lines: it travels as a JSON string (psql's output is one row per line)
    query = (select(Diagnostic.id, Diagnostic.created_at, Diagnostic.ok, Diagnostic.summary,
                    cast(func.to_json(Diagnostic.user_agent), Text), cast(func.to_json(Diagnostic.report), Text),
                    VideoPhone.name)
             .outerjoin(ConferenceLink, ConferenceLink.id == Diagnostic.conference_link_id)
             .outerjoin(VideoPhone, VideoPhone.id == ConferenceLink.video_phone_id)
             .order_by(Diagnostic.id.desc()).limit(max(1, min(limit, 1000))))
    if video_phone:
        query = query.where(VideoPhone.name == video_phone)
    return [{"id": int(id_), "created_at": created, "ok": ok in ("t", "True", "true"), "summary": summary,
             "user_agent": json.loads(agent), "report": json.loads(report), "video_phone": phone or None}
            for id_, created, ok, summary, agent, report, phone in db.query(query)]

