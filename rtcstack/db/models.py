"""The tables rtcstack owns; Kamailio's own tables (location, acc, missed_calls, version) come from its package.

Designed for SYSTEM.md's portal rows: customers carry the P2/P12 switches and balance, channel
subscriptions follow P13 (terms, changes, cancellation), SIP accounts the P6 switches, CDRs the P11
billing history.
"""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Prices and money: 4 decimal places (per-minute prices go below a grosz).
Money = Numeric(12, 4)


class Base(DeclarativeBase):
    pass


class Customer(Base):
    """A customer (one SIP profile of P13): the switches that apply to all its accounts."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    international: Mapped[bool] = mapped_column(Boolean, server_default="false",
                                                comment="R7/P12 global international switch")
    max_rate: Mapped[Decimal | None] = mapped_column(Money, comment="R8/P12 cap on the per-minute price; NULL: none")
    balance: Mapped[Decimal] = mapped_column(Money, server_default="0")
    credit_limit: Mapped[Decimal] = mapped_column(Money, server_default="0")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    selective_routing: Mapped[bool] = mapped_column(Boolean, server_default="false",
                                                    comment="P8 feature switch, set by the provider")
    voicemail_service: Mapped[bool] = mapped_column(Boolean, server_default="false",
                                                    comment="P10 feature switch, set by the provider")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Europe/Warsaw",
                                           comment="R9: routing rules' days and hours are read in it")

    accounts: Mapped[list[SipAccount]] = relationship(back_populates="customer")
    subscriptions: Mapped[list[ChannelSubscription]] = relationship(back_populates="customer")


class SipProfile(Base):
    """A SIP profile (P13): a customer's group of SIP accounts with a channel subscription of its own; the
    registrar's channel limit (R5) applies per profile. Every customer has one from its creation ("main")."""

    __tablename__ = "sip_profiles"
    __table_args__ = (UniqueConstraint("customer_id", "name", name="sip_profiles_name_per_customer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChannelSubscription(Base):
    """One 30-day term of a SIP profile's channel subscription (P13): bought, changed (the old term ends early
    with a refund) or renewed (a new row per term, `renewal_of` the one before; each term renews once)."""

    __tablename__ = "channel_subscriptions"
    __table_args__ = (CheckConstraint("channels BETWEEN 1 AND 300", name="channels_range"),
                      CheckConstraint("minute_packs BETWEEN 0 AND channels", name="packs_within_channels"),
                      CheckConstraint("kind IN ('purchase', 'change', 'renewal')", name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("sip_profiles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), server_default="purchase")
    channels: Mapped[int] = mapped_column(Integer)
    minute_packs: Mapped[int] = mapped_column(Integer, server_default="0")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                              server_default=func.now() + func.make_interval(0, 0, 0, 30))
    renews: Mapped[bool] = mapped_column(Boolean, server_default="true")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                          comment="replaced by a change before its end")
    channel_price: Mapped[Decimal] = mapped_column(Money, server_default="0")
    pack_price: Mapped[Decimal] = mapped_column(Money, server_default="0")
    pack_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    pack_seconds_left: Mapped[int] = mapped_column(Integer, server_default="0")
    renewal_of: Mapped[int | None] = mapped_column(ForeignKey("channel_subscriptions.id", ondelete="SET NULL"),
                                                   unique=True)
    renewal_cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lapsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refund: Mapped[Decimal] = mapped_column(Money, server_default="0")

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")


class SipAccount(Base):
    """A SIP account (R1): the password only as HA1, plus its own switches (P6)."""

    __tablename__ = "sip_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("sip_profiles.id", ondelete="RESTRICT"), index=True,
                                            comment="set by a trigger to the customer's first profile when omitted")
    username: Mapped[str] = mapped_column(String(64), unique=True)
    ha1: Mapped[str] = mapped_column(String(64), comment="MD5(username:realm:password)")
    ha1_sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256(username:realm:password)")
    display_name: Mapped[str | None] = mapped_column(String(128))
    international: Mapped[bool] = mapped_column(Boolean, server_default="true",
                                                comment="R7 per-account switch (ANDed with the customer's)")
    max_rate: Mapped[Decimal | None] = mapped_column(Money, comment="R8 per-account cap; NULL: the customer's")
    do_not_disturb: Mapped[bool] = mapped_column(Boolean, server_default="false")
    voicemail: Mapped[bool] = mapped_column(Boolean, server_default="false")
    ring_seconds: Mapped[int] = mapped_column(Integer, server_default="20",
                                              comment="R14: rung this long before voicemail answers")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    customer: Mapped[Customer] = relationship(back_populates="accounts")


class Number(Base):
    """A public number (DID, R12) in E.164 digits, routed to one account or one ring group."""

    __tablename__ = "numbers"

    e164: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), index=True)
    ring_group_id: Mapped[int | None] = mapped_column(ForeignKey("ring_groups.id", ondelete="CASCADE"), index=True)


class RingGroup(Base):
    """Accounts rung one after another (R10 a contact's devices, R12 the members behind a number), then a
    fallback: busy, a voicemail box, or one more account rung until the caller gives up."""

    __tablename__ = "ring_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, comment="dialled as a SIP user")
    display_name: Mapped[str | None] = mapped_column(String(64))
    fallback: Mapped[str] = mapped_column(String(16), server_default="busy")
    fallback_account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RingGroupMember(Base):
    __tablename__ = "ring_group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("ring_groups.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), index=True)
    ring_seconds: Mapped[int] = mapped_column(Integer, server_default="20")


class RoutingRule(Base):
    """R9: calls to an account from callers matching a pattern, on given days and hours (the customer's time
    zone), are forwarded to a target."""

    __tablename__ = "routing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    caller_pattern: Mapped[str] = mapped_column(String(64))
    days: Mapped[str] = mapped_column(String(7), server_default="1234567")
    starts_at: Mapped[time] = mapped_column(Time, server_default="00:00")
    ends_at: Mapped[time] = mapped_column(Time, server_default="00:00")
    target: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class VoicemailMessage(Base):
    """R14: a message left in an account's mailbox; the audio is a file on the voicemail host that took it."""

    __tablename__ = "voicemail_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), index=True)
    caller: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    seconds: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    host: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(255))
    call_id: Mapped[str] = mapped_column(String(255), unique=True)
    heard_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VoicemailGreeting(Base):
    """R14: a mailbox's own greeting (8 kHz mono 16-bit WAV), played by every voicemail host."""

    __tablename__ = "voicemail_greetings"

    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), primary_key=True)
    audio: Mapped[bytes] = mapped_column(LargeBinary)
    seconds: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ActiveCall(Base):
    """R5 across registrars: a call in progress holding one of its SIP profile's channels (claim_channel(), 0008)."""

    __tablename__ = "active_calls"

    call_key: Mapped[str] = mapped_column(Text, primary_key=True)
    sip_profile_id: Mapped[int] = mapped_column(Integer, index=True)
    registrar: Mapped[int] = mapped_column(Integer)
    started: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Tariff(Base):
    """Per-minute price of destinations by E.164 prefix (R8): the longest matching prefix wins."""

    __tablename__ = "tariffs"
    __table_args__ = (CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name="prefix_digits"),
                      CheckConstraint("price_per_minute >= 0", name="price_not_negative"))

    prefix: Mapped[str] = mapped_column(String(15), primary_key=True)
    price_per_minute: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(Text, server_default="")


class Cdr(Base):
    """One call attempt (R6), assembled from Kamailio's accounting rows by a trigger; P11 reads it."""

    __tablename__ = "cdrs"
    __table_args__ = (UniqueConstraint("call_id", name="cdrs_call_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(255))
    # indexed with start_time, newest first: cdrs_customer_start (migrations 0004, 0015)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("sip_accounts.id", ondelete="SET NULL"))
    caller: Mapped[str] = mapped_column(String(64))
    callee: Mapped[str] = mapped_column(String(64), comment="as dialled")
    destination: Mapped[str | None] = mapped_column(String(64), comment="E.164 digits, or the account called")
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answer_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    sip_code: Mapped[int] = mapped_column(Integer)
    sip_reason: Mapped[str] = mapped_column(String(128))
    price_per_minute: Mapped[Decimal | None] = mapped_column(Money)
    billable_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    pack_seconds: Mapped[int] = mapped_column(Integer, server_default="0", comment="seconds taken from minute packs")
    cost: Mapped[Decimal] = mapped_column(Money, server_default="0")


class BillingRules(Base):
    """The billing.* settings the database applies when a call ends (one row, written by each deploy)."""

    __tablename__ = "billing_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    increment_seconds: Mapped[int] = mapped_column(Integer)
    pack_prefixes: Mapped[list[str]] = mapped_column(ARRAY(String(15)))
    pack_seconds: Mapped[int] = mapped_column(Integer)
    accounting_days: Mapped[int] = mapped_column(Integer, server_default="30",
                                                 comment="acc and missed_calls rows older than this go (0017)")


# --- links (L1-L4, P14) ------------------------------------------------------------------------


class VideoPhone(Base):
    """A video phone (seed 000): a SIP account of its own, and the contacts who may call it."""

    __tablename__ = "video_phones"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, comment="also the SIP user name of its account")
    display_name: Mapped[str] = mapped_column(String(128), comment="its user, as messages name them")
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    conference_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("sip_accounts.id", ondelete="SET NULL"), unique=True,
        comment="the SIP account the conference calls the video phone from (L5)")


class Contact(Base):
    """A contact of one video phone: a video contact (invited to the app by e-mail or SMS) or a phone contact."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("video_phone_id", "name", name="contacts_name_per_video_phone"),
        CheckConstraint("kind IN ('video', 'phone')", name="contacts_kind"),
        CheckConstraint("kind = 'phone' OR email IS NOT NULL OR mobile IS NOT NULL", name="contacts_reachable"),
        CheckConstraint("language IN ('pl', 'en')", name="contacts_language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_phone_id: Mapped[int] = mapped_column(ForeignKey("video_phones.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), server_default="video")
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(16), comment="E.164 with a leading +")
    language: Mapped[str] = mapped_column(String(2), server_default="pl", comment="of the messages it receives")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Invite(Base):
    """A single-use invite link for one (contact, video phone) pair (L1). Only a SHA-256 of its token is kept."""

    __tablename__ = "invites"
    __table_args__ = (CheckConstraint("channel IN ('email', 'sms', 'none')", name="invites_channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    video_phone_id: Mapped[int] = mapped_column(ForeignKey("video_phones.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Base):
    """An app install, created by redeeming an invite (L3): its own SIP account, scoped to the video phone's
    circle (L4)."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), unique=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    video_phone_id: Mapped[int] = mapped_column(ForeignKey("video_phones.id", ondelete="CASCADE"), index=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    recovery_email: Mapped[str | None] = mapped_column(String(254), comment="unique, case-insensitively")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OutboxMessage(Base):
    """An e-mail or SMS waiting to be sent, with its attempts. The body (it holds the invite link) is
    encrypted with a key derived from the links signing key and erased once sent."""

    __tablename__ = "outbox"
    __table_args__ = (CheckConstraint("kind IN ('email', 'sms')", name="outbox_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(254))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(Text, comment="Fernet token of the JSON message; '' once sent")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), comment="gave up")
    last_error: Mapped[str | None] = mapped_column(Text)


class ConferenceLink(Base):
    """A video phone's conference link (L5, one active per video phone), or a customer's scheduled conference (P9:
    a name, a start and a duration); its token is kept as a SHA-256 (to find it) and sealed with the links signing
    key (to show it again)."""

    __tablename__ = "conference_links"
    __table_args__ = (
        CheckConstraint("video_phone_id IS NOT NULL OR (customer_id IS NOT NULL AND name IS NOT NULL AND starts_at "
                        "IS NOT NULL AND duration_minutes BETWEEN 5 AND 1440)", name="conference_links_owner"),
        Index("conference_links_customer_start", "customer_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    video_phone_id: Mapped[int | None] = mapped_column(ForeignKey("video_phones.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"),
                                                    comment="a scheduled conference's customer (P9)")
    name: Mapped[str | None] = mapped_column(String(128))
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_joined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Diagnostic(Base):
    """A browser's pre-call check report (L7), stored for support."""

    __tablename__ = "diagnostics"

    id: Mapped[int] = mapped_column(primary_key=True)
    conference_link_id: Mapped[int | None] = mapped_column(ForeignKey("conference_links.id", ondelete="SET NULL"),
                                                           index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ok: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(String(500))
    user_agent: Mapped[str] = mapped_column(String(512), server_default="")
    report: Mapped[str] = mapped_column(Text)


# --- portal (P1-P12, P14, P15) -------------------------------------------------------------------

#: P3: the profile's fields, in the order the page shows them.
PROFILE_FIELDS = ("company", "title", "first_name", "middle_name", "last_name", "county", "region", "postcode",
                  "city", "country", "contact", "phone", "fax", "extra_phone", "extra_contact", "email",
                  "description")


class CustomerProfile(Base):
    """A customer's profile (P3): company, person, address, contact details, a description."""

    __tablename__ = "customer_profiles"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    company: Mapped[str] = mapped_column(String(254), server_default="")
    title: Mapped[str] = mapped_column(String(254), server_default="")
    first_name: Mapped[str] = mapped_column(String(254), server_default="")
    middle_name: Mapped[str] = mapped_column(String(254), server_default="")
    last_name: Mapped[str] = mapped_column(String(254), server_default="")
    county: Mapped[str] = mapped_column(String(254), server_default="")
    region: Mapped[str] = mapped_column(String(254), server_default="")
    postcode: Mapped[str] = mapped_column(String(254), server_default="")
    city: Mapped[str] = mapped_column(String(254), server_default="")
    country: Mapped[str] = mapped_column(String(254), server_default="")
    contact: Mapped[str] = mapped_column(String(254), server_default="")
    phone: Mapped[str] = mapped_column(String(254), server_default="")
    fax: Mapped[str] = mapped_column(String(254), server_default="")
    extra_phone: Mapped[str] = mapped_column(String(254), server_default="")
    extra_contact: Mapped[str] = mapped_column(String(254), server_default="")
    email: Mapped[str] = mapped_column(String(254), server_default="")
    description: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PortalUser(Base):
    """Someone who logs in to the portal: a customer's admin or user, or the provider's admin (no customer)."""

    __tablename__ = "portal_users"
    __table_args__ = (
        CheckConstraint("role IN ('customer_admin', 'customer_user', 'provider_admin')", name="portal_users_role"),
        CheckConstraint("(role = 'provider_admin') = (customer_id IS NULL)", name="portal_users_scope"),
        CheckConstraint("language IN ('pl', 'en')", name="portal_users_language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), comment="unique, case-insensitively")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200), comment="argon2id; NULL until the user sets one")
    time_zone: Mapped[str] = mapped_column(String(64), server_default="Europe/Warsaw")
    language: Mapped[str | None] = mapped_column(String(2), comment="NULL: the browser's (Accept-Language)")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PortalSession(Base):
    """A logged-in browser: only a SHA-256 of its cookie is kept; logout and a password change delete it."""

    __tablename__ = "portal_sessions"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    address: Mapped[str] = mapped_column(String(45), server_default="")
    reauthenticated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PortalToken(Base):
    """A single-use, expiring link to set a password (a new user) or reset it (forgotten); a SHA-256 only."""

    __tablename__ = "portal_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('set_password', 'reset')", name="portal_tokens_purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginFailure(Base):
    """A failed portal login: counted per account and per address to throttle guessing."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


#: Ledger entry kinds: money in (top_up), the provider's corrections (either sign), and what the rules book.
LEDGER_KINDS = ("top_up", "adjustment", "correction", "purchase", "refund", "renewal", "call")


class LedgerEntry(Base):
    """A movement of a customer's money, kept forever (append-only: a trigger refuses updates and deletes); a
    trigger adds each entry to `customers.balance` in the same transaction, so the balance is the ledger's sum."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("kind IN ('top_up', 'adjustment', 'correction', 'purchase', 'refund', "
                                      "'renewal', 'call')", name="ledger_entries_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(254), server_default="")
    created_by: Mapped[str] = mapped_column(String(254), server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("channel_subscriptions.id", ondelete="SET NULL"))
    cdr_id: Mapped[int | None] = mapped_column(ForeignKey("cdrs.id", ondelete="SET NULL"), unique=True)
