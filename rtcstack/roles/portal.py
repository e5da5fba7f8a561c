"""portal role: rtcstack's customer self-service portal and provider admin (P1-P12, P14, P15): uvicorn from the
wheelhouse under systemd as rtcstack-portal, bound to the private address, behind the edge's root (`/`; links
keep /i/, /c/ and /api/v1/). Password links go out by e-mail through the links hosts' outbox; live lamps (R2)
come from the registrars' JSON-RPC port."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..config.settings import Int, Port, Settings
from ..templating import ConfigFile
from .base import web_service

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

#: The portal's login: what its pages read and change, and nothing else.
GRANTS = (
    "GRANT SELECT, INSERT, UPDATE ON customers, channel_subscriptions, customer_profiles TO rtcstack_portal",
    "GRANT SELECT, UPDATE (international, max_rate, ha1, ha1_sha256, do_not_disturb, voicemail, ring_seconds) "
    "ON sip_accounts TO rtcstack_portal",
    "GRANT SELECT ON tariffs, cdrs, location TO rtcstack_portal",
    # R9-R12, R14 (P6-P8, P10): routing of the customer's numbers, ring groups, rules, greetings, messages
    "GRANT SELECT, INSERT, UPDATE ON numbers TO rtcstack_portal",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ring_groups, ring_group_members, routing_rules, voicemail_greetings "
    "TO rtcstack_portal",
    "GRANT SELECT, UPDATE (heard_at) ON voicemail_messages TO rtcstack_portal",
    "GRANT USAGE ON SEQUENCE ring_groups_id_seq, routing_rules_id_seq TO rtcstack_portal",
    # P13: profiles, terms, the ledger's proof and the billing rules (the renewal timer runs as this login too)
    "GRANT SELECT, INSERT ON sip_profiles TO rtcstack_portal",
    "GRANT USAGE ON SEQUENCE sip_profiles_id_seq TO rtcstack_portal",
    "GRANT SELECT ON active_terms, ledger_mismatches, billing_rules TO rtcstack_portal",
    "GRANT EXECUTE ON FUNCTION prune_accounting(integer) TO rtcstack_portal",  # (the renewal timer's job too)
    "GRANT SELECT, INSERT, UPDATE ON portal_users, portal_tokens TO rtcstack_portal",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON portal_sessions, login_failures TO rtcstack_portal",
    "GRANT SELECT, INSERT ON ledger_entries, outbox TO rtcstack_portal",
    # P14: contacts' details and their invites, by the links service's rules
    "GRANT SELECT ON video_phones TO rtcstack_portal",
    # P9: scheduled conferences are conference links of the customer's own (the links service serves their pages)
    "GRANT SELECT, INSERT ON conference_links TO rtcstack_portal",
    "GRANT USAGE ON SEQUENCE conference_links_id_seq TO rtcstack_portal",
    "GRANT SELECT, INSERT, UPDATE ON contacts, invites TO rtcstack_portal",
    "GRANT USAGE ON SEQUENCE contacts_id_seq, invites_id_seq TO rtcstack_portal",
    "GRANT USAGE ON SEQUENCE customers_id_seq, channel_subscriptions_id_seq, portal_users_id_seq, "
    "portal_tokens_id_seq, login_failures_id_seq, ledger_entries_id_seq, outbox_id_seq TO rtcstack_portal",
)


class PortalSettings(Settings):
    """rtcstack's customer self-service portal and provider admin."""

    port: Port = Field(8082, description="HTTP port of the portal (private address, edge hosts only).")
    workers: Int = Field(2, ge=1, le=64, description="uvicorn worker processes per host (each keeps up to 6 "
                                                     "database connections; a login hashes with argon2id, 64 MiB).")
    default_language: Literal["pl", "en"] = Field(
        "pl", description="Language of pages when the user chose none and Accept-Language matches none.")
    currency: str = Field("PLN", pattern=r"^[A-Z]{3}$", description="Currency of balances and prices (ISO 4217).")
    session_hours: Int = Field(12, ge=1, le=720, description="Hours a portal login lasts.")
    link_hours: Int = Field(24, ge=1, le=336, description="Hours a set-password or reset link works (once).")
    failures_per_account: Int = Field(5, ge=1, le=1000, description="Failed logins of one e-mail address, within "
                                                                    "throttle_minutes, after which it is refused.")
    failures_per_address: Int = Field(20, ge=1, le=100000, description="Failed logins from one client address, "
                                                                       "within throttle_minutes, after which it is refused.")
    throttle_minutes: Int = Field(15, ge=1, le=1440, description="The window failed logins are counted in.")
    rate_per_second: Int = Field(50, ge=1, le=100000, description="Portal requests per second one client address "
                                                                  "may make at the edge (login pages: a fifth).")
    rate_burst: Int = Field(100, ge=0, le=100000, description="Requests allowed above that rate in a burst.")


def options(deployment: Deployment, host: Host) -> dict:
    """The service's part of /etc/rtcstack/portal/service.json (web.portal.PortalOptions)."""
    from .links import support_contact
    from .registrar import rpc_urls
    from .voicemail import api_urls

    s, r, b = deployment.portal, deployment.registrar, deployment.billing
    return {
        "session_key": deployment.secret("portal_session_key"),
        "outbox_key": deployment.secret("links_signing_key"),
        "service_name": deployment.links.service_name, "support_contact": support_contact(deployment),
        "default_language": s.default_language, "currency": s.currency, "channels": deployment.channels,
        "session_hours": s.session_hours, "link_hours": s.link_hours,
        "failures_per_account": s.failures_per_account, "failures_per_address": s.failures_per_address,
        "throttle_minutes": s.throttle_minutes,
        "registrars": rpc_urls(deployment), "registrar_rpc_token": deployment.secret("registrar_rpc_token"),
        "lamp_good_rtt_ms": r.lamp_good_rtt_ms, "lamp_severe_rtt_ms": r.lamp_severe_rtt_ms,
        "keepalive_interval_seconds": r.keepalive_interval_seconds, "invite_days": deployment.links.invite_days,
        "ban_seconds": r.ban_seconds,
        "channel_price": str(b.channel_price), "pack_price": str(b.pack_price),
        "pack_prefixes": list(b.pack_prefixes), "increment_seconds": b.increment_seconds,
        "employees_per_channel": b.employees_per_channel,
        # P10: messages are on the voicemail host that recorded them
        "voicemail_apis": api_urls(deployment),
        "voicemail_token": deployment.secret("voicemail_token") if deployment.hosts_with("voicemail") else "",
    }


RENEWAL_UNIT = "rtcstack-portal-renewal"


def renewal_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    """The renewal timer (P13) and the oneshot service it starts, as the portal's account."""
    from ..infra.wheelhouse import HOST_VENV
    from ..web.config import config_path

    values = {"host": host.name, "account": "rtcstack-portal", "venv": HOST_VENV, "config_path": config_path("portal"),
              "minutes": deployment.billing.renewal_interval_minutes}
    return {kind: ConfigFile(f"/etc/systemd/system/{RENEWAL_UNIT}.{kind}",
                             f"portal/etc/systemd/system/{RENEWAL_UNIT}.{kind}.j2", values)
            for kind in ("service", "timer")}


def route_options(deployment: Deployment) -> dict[str, dict]:
    s = deployment.portal
    return {"/": {"rate_limit": (s.rate_per_second, s.rate_burst)},
            "/login": {"exact": True, "rate_limit": (max(1, s.rate_per_second // 5), s.rate_burst)},
            "/reset/": {"secret_path": True, "rate_limit": (max(1, s.rate_per_second // 5), s.rate_burst)},
            "/api/v1/portal/": {"rate_limit": (s.rate_per_second, s.rate_burst)}}


def public_url(deployment: Deployment) -> str:
    from .links import public_url as links_url

    return links_url(deployment)


ROLE = web_service(
    "portal", PortalSettings, needs=("database", "registrar", "links", "edge"),
    secrets={"portal_session_key": "key that signs the portal's CSRF tokens"},
    factory="rtcstack.web.portal:create", paths=("/", "/login", "/reset/", "/api/v1/portal/"), grants=GRANTS,
    options=options, public_url=public_url, route_options=route_options)
