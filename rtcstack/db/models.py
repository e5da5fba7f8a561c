"""The tables rtcstack owns; Kamailio's own tables (location, acc, missed_calls, version) come from its package.

Designed for SYSTEM.md's portal rows: customers carry the P2/P12 switches and balance, channel
subscriptions follow P13 (terms, changes, cancellation), SIP accounts the P6 switches, CDRs the P11
billing history.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
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

    accounts: Mapped[list[SipAccount]] = relationship(back_populates="customer")
    subscriptions: Mapped[list[ChannelSubscription]] = relationship(back_populates="customer")


class ChannelSubscription(Base):
    """Concurrent channels bought for a customer (P13): a 30-day term that renews itself."""

    __tablename__ = "channel_subscriptions"
    __table_args__ = (CheckConstraint("channels BETWEEN 1 AND 300", name="channels_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    channels: Mapped[int] = mapped_column(Integer)
    minute_packs: Mapped[int] = mapped_column(Integer, server_default="0")
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                              server_default=func.now() + func.make_interval(0, 0, 0, 30))
    renews: Mapped[bool] = mapped_column(Boolean, server_default="true")
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    customer: Mapped[Customer] = relationship(back_populates="subscriptions")


class SipAccount(Base):
    """A SIP account (R1): the password only as HA1, plus its own switches (P6)."""

    __tablename__ = "sip_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    ha1: Mapped[str] = mapped_column(String(64), comment="MD5(username:realm:password)")
    ha1_sha256: Mapped[str] = mapped_column(String(64), comment="SHA-256(username:realm:password)")
    display_name: Mapped[str | None] = mapped_column(String(128))
    international: Mapped[bool] = mapped_column(Boolean, server_default="true",
                                                comment="R7 per-account switch (ANDed with the customer's)")
    max_rate: Mapped[Decimal | None] = mapped_column(Money, comment="R8 per-account cap; NULL: the customer's")
    do_not_disturb: Mapped[bool] = mapped_column(Boolean, server_default="false")
    voicemail: Mapped[bool] = mapped_column(Boolean, server_default="false")
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    customer: Mapped[Customer] = relationship(back_populates="accounts")


class Number(Base):
    """A public number (DID, R12) in E.164 digits, routed to one account."""

    __tablename__ = "numbers"

    e164: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("sip_accounts.id", ondelete="CASCADE"), index=True)


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
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
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
    """A video phone's conference link (L5): one active per video phone; its token is kept as a SHA-256 (to find
    it) and sealed with the links signing key (to show it again)."""

    __tablename__ = "conference_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    video_phone_id: Mapped[int] = mapped_column(ForeignKey("video_phones.id", ondelete="CASCADE"), index=True)
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
