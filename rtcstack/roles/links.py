"""links role: rtcstack's links service (invites, their pages, redeem; L1-L4): uvicorn from the wheelhouse under
systemd as rtcstack-links, bound to the private address, behind the edge's /api/v1/ and /i/. Invitations go out
by e-mail through the relay role's Postfix (or `links.smtp_relay`) and by SMS through one HTTP gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..config.settings import Int, Port, Settings
from .base import web_service

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

#: The tables the links service reads and writes, and nothing else (its login's rights).
GRANTS = (
    "GRANT SELECT ON customers TO rtcstack_links",
    "GRANT SELECT, INSERT ON sip_accounts, video_phones, devices TO rtcstack_links",
    "GRANT SELECT, INSERT, UPDATE ON contacts, invites, outbox TO rtcstack_links",
    "GRANT USAGE ON SEQUENCE sip_accounts_id_seq, video_phones_id_seq, devices_id_seq, contacts_id_seq, "
    "invites_id_seq, outbox_id_seq TO rtcstack_links",
    # conference links (L5-L7): the link, the conference's SIP account on its video phone, browsers' reports
    "GRANT UPDATE (conference_account_id) ON video_phones TO rtcstack_links",
    "GRANT SELECT, INSERT, UPDATE ON conference_links TO rtcstack_links",
    "GRANT SELECT, INSERT ON diagnostics TO rtcstack_links",
    "GRANT USAGE ON SEQUENCE conference_links_id_seq, diagnostics_id_seq TO rtcstack_links",
)


class SmsGatewaySettings(Settings):
    """One generic HTTP SMS gateway: the links service sends `to`, `text` (and `from`) fields to it."""

    url: str = Field("", description="The gateway's URL (http or https); empty: the relay role's SMS sink when it "
                                     "runs one (the lab), else SMS cannot be sent.")
    method: Literal["POST", "GET"] = Field("POST", description="HTTP method; GET puts the fields in the query.")
    format: Literal["form", "json"] = Field("form", description="Body of a POST: form fields or a JSON object.")
    username: str = Field("", description="HTTP basic-auth user; its password is the secret "
                                          "links_sms_gateway_password. Empty: no authentication.")
    to_field: str = Field("to", description="Field that carries the recipient (E.164 with +).")
    text_field: str = Field("text", description="Field that carries the message text.")
    sender_field: str = Field("from", description="Field that carries the sender; empty: none sent.")
    sender: str = Field("rtcstack", description="Sender name or number shown on the phone.")


class LinksSettings(Settings):
    """rtcstack's links service: invites by e-mail and SMS, their pages, redeem."""

    port: Port = Field(8081, description="HTTP port of the links service (private address, edge hosts only).")
    workers: Int = Field(2, ge=1, le=64, description="uvicorn worker processes per host (pages are rendered and "
                                                     "QR codes drawn on the CPU: about one per core; each worker keeps "
                                                     "up to 6 database connections, and each more one adds about 1 s "
                                                     "of CPU to a restart).")
    public_url: str = Field("", description="https address clients reach the edge at; invite links are "
                                            "PUBLIC_URL/i/TOKEN. Empty: https://SIP_DOMAIN.")
    invite_days: Int = Field(14, ge=1, le=365, description="Days an invite link stays valid.")
    service_name: str = Field("rtcstack", min_length=1, description="The service's name in messages and pages.")
    support_contact: str = Field("", description="Whom to contact for a new link (a phone number or e-mail), "
                                                 "shown on every page and message. Empty: support@SIP_DOMAIN.")
    default_language: Literal["pl", "en"] = Field(
        "pl", description="Language of pages when the visitor chose none and Accept-Language matches none.")
    app_scheme: str = Field("rtcstack", pattern=r"^[a-z][a-z0-9+.-]{1,31}$",
                            description="Custom URL scheme of the app: phones get SCHEME://invite/TOKEN.")
    app_link: str = Field("", description="https base of the app's universal/app link (TOKEN appended); "
                                          "empty: PUBLIC_URL/app.")
    app_store_url: str = Field("https://apps.apple.com/", description="The app's App Store page.")
    play_store_url: str = Field("https://play.google.com/store/apps", description="The app's Google Play page.")
    mail_from: str = Field("", description="From: address of invitations; empty: invites@SIP_DOMAIN.")
    smtp_relay: str = Field("", pattern=r"^$|^[A-Za-z0-9.-]+:[0-9]{1,5}$",
                            description="SMTP relay HOST:PORT; empty: the relay hosts' Postfix (each links host starts "
                                        "with a different one and tries the others when it cannot reach it).")
    sms_gateway: SmsGatewaySettings = Field(default_factory=SmsGatewaySettings, description="The SMS gateway.")
    page_rate_per_second: Int = Field(5, ge=1, le=10000,
                                      description="Invite-page requests per second one client address may make.")
    redeem_rate_per_second: Int = Field(2, ge=1, le=10000,
                                        description="Redeem calls per second one client address may make.")
    rate_burst: Int = Field(20, ge=0, le=100000, description="Requests allowed above those rates in a burst.")
    conference_ice_policy: Literal["relay", "all"] = Field(
        "relay", description="ICE candidates conference pages use: relay (all media through TURN: works behind "
                             "any NAT or firewall that passes TURN, and the SFU's ports stay private) or all.")
    conference_video_participants: Int = Field(
        6, ge=2, le=100, description="Participants per conference link that send video (Janus video-room "
                                     "publishers); audio and chat have no such limit. A page holds one TURN "
                                     "allocation per other participant plus 4: turn.user_quota must allow it.")
    conference_token_hours: Int = Field(
        4, ge=1, le=48, description="Hours a conference page's Janus token works (the longest call).")


def public_url(deployment: Deployment) -> str:
    return (deployment.links.public_url or f"https://{deployment.sip_domain}").rstrip("/")


def support_contact(deployment: Deployment) -> str:
    return deployment.links.support_contact or f"support@{deployment.sip_domain}"


def registrar_uris(deployment: Deployment) -> tuple[str, ...]:
    """The app's registrars: UDP and TCP by advertised address, TLS by the name the certificate carries."""
    r, out = deployment.registrar, []
    for host in deployment.hosts_with("registrar"):
        out += [f"sip:{host.advertised_address}:{r.sip_port};transport=udp",
                f"sip:{host.advertised_address}:{r.sip_port};transport=tcp",
                f"sip:{deployment.dns_name(host)}:{r.sip_tls_port};transport=tls"]
    return tuple(out)


def mail_relay(deployment: Deployment, host: Host | None = None) -> dict | None:
    """Where a links host sends mail: links.smtp_relay, else the relay hosts, each links host starting with a
    different one (its index among the links hosts) and trying the others in turn when it cannot reach it."""
    sender = deployment.links.mail_from or f"invites@{deployment.sip_domain}"
    if deployment.links.smtp_relay:
        address, _, port = deployment.links.smtp_relay.rpartition(":")
        return {"host": address, "port": int(port), "sender": sender}
    relays = [f"{h.private_address}:{deployment.relay.smtp_port}" for h in deployment.hosts_with("relay")]
    if not relays:
        return None
    links_hosts = [h.name for h in deployment.hosts_with("links")]
    start = links_hosts.index(host.name) % len(relays) if host is not None and host.name in links_hosts else 0
    ordered = relays[start:] + relays[:start]
    address, _, port = ordered[0].rpartition(":")
    return {"host": address, "port": int(port), "sender": sender,
            **({"fallbacks": ordered[1:]} if len(ordered) > 1 else {})}


def sms_gateway(deployment: Deployment) -> dict:
    g = deployment.links.sms_gateway
    url = g.url
    relays = deployment.hosts_with("relay")
    if not url and relays and deployment.relay.sms_sink_port:
        url = f"http://{relays[0].private_address}:{deployment.relay.sms_sink_port}/sms"
    return {"url": url, "method": g.method, "format": g.format, "username": g.username,
            "password": deployment.secret("links_sms_gateway_password") if g.username else "",
            "to_field": g.to_field, "text_field": g.text_field, "sender_field": g.sender_field, "sender": g.sender}


def options(deployment: Deployment, host: Host) -> dict:
    """The service's part of /etc/rtcstack/links/service.json (web.links.LinksOptions)."""
    from .gateway import urls as gateway_urls
    from .turn import turn_uris

    s = deployment.links
    base = public_url(deployment)
    return {
        "signing_key": deployment.secret("links_signing_key"),
        "admin_token": deployment.secret("links_admin_token"),
        "invite_days": s.invite_days, "service_name": s.service_name,
        "support_contact": support_contact(deployment),
        "default_language": s.default_language, "app_scheme": s.app_scheme,
        "app_link": s.app_link or f"{base}/app", "app_store_url": s.app_store_url,
        "play_store_url": s.play_store_url, "mail": mail_relay(deployment, host), "sms": sms_gateway(deployment),
        "turn_secret": deployment.secret("turn_shared_secret"), "turn_uris": list(turn_uris(deployment)),
        "turn_lifetime_seconds": deployment.turn.credential_lifetime_seconds,
        "registrars": list(registrar_uris(deployment)),
        "conference": {
            "janus_urls": [f"http://{h.private_address}:{deployment.sfu.http_port}/janus"
                           for h in deployment.hosts_with("sfu")],
            "janus_api_secret": deployment.secret("janus_api_secret"),
            "janus_room_key": deployment.secret("janus_room_key"),
            "janus_token_secret": deployment.secret("janus_token_secret"),
            "janus_path": deployment.edge.janus_path, "janus_token_seconds": s.conference_token_hours * 3600,
            "room_publishers": s.conference_video_participants, "ice_policy": s.conference_ice_policy,
            "gateways": gateway_urls(deployment),
            "gateway_token": deployment.secret("gateway_token") if deployment.hosts_with("gateway") else ""},
    }


#: TURN allocations a conference page holds besides one per other video participant: its audio, its own video,
#: its chat, the video phone's video.
PAGE_ALLOCATIONS = 4


def problems(deployment: Deployment) -> list:
    from ..config.problems import Problem

    s, quota = deployment.links, deployment.turn.user_quota
    needed = s.conference_video_participants - 1 + PAGE_ALLOCATIONS
    if deployment.hosts_with("turn") and needed > quota:
        return [Problem("links.conference_video_participants", s.conference_video_participants,
                        f"needs {needed} TURN allocations per conference page, above turn.user_quota ({quota})",
                        f"raise turn.user_quota to {needed} or more, or lower links.conference_video_participants "
                        f"to {quota - PAGE_ALLOCATIONS + 1}")]
    return []


def route_options(deployment: Deployment) -> dict[str, dict]:
    s = deployment.links
    return {"/i/": {"rate_limit": (s.page_rate_per_second, s.rate_burst), "secret_path": True},
            "/c/": {"rate_limit": (s.page_rate_per_second, s.rate_burst), "secret_path": True},
            "/api/v1/conference/": {"rate_limit": (s.page_rate_per_second, s.rate_burst), "secret_path": True},
            "/api/v1/redeem": {"exact": True, "rate_limit": (s.redeem_rate_per_second, s.rate_burst)}}


ROLE = web_service(
    "links", LinksSettings, needs=("database", "registrar", "sfu", "turn", "edge"),
    secrets={"links_signing_key": "key that signs invite and conference links and seals the outbox",
             "links_admin_token": "bearer token of the links service's provider API",
             "links_sms_gateway_password": "password of the SMS gateway account (links.sms_gateway.username)"},
    factory="rtcstack.web.links:create", paths=("/api/v1/", "/api/v1/redeem", "/i/", "/c/", "/api/v1/conference/"), grants=GRANTS,
    options=options, public_url=public_url, route_options=route_options, problems=problems)
