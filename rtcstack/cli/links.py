"""`rtcstack video-phones|contacts|invites`: the links role's provisioning (P14, L1) from the operator's machine.
The rules are rtcstack.domain.links', the same the links service's API runs; the SQL runs on the database host
through rtcstack.runtime, and queued messages leave through the links service's outbox."""

from __future__ import annotations

from pathlib import Path

import click

from .base import clean_errors, inventory_argument, listed_elsewhere, main, site_or_exit


def _database(inventory: Path):
    from ..runtime.database import Database

    return Database.connect(site_or_exit(inventory))


@main.group("video-phones")
def video_phones() -> None:
    """Video phones: each has a SIP account of its own and contacts who may call it (P14)."""


@video_phones.command("add")
@inventory_argument
@click.argument("name")
@click.option("--customer", required=True, help="The customer the video phone belongs to.")
@click.option("--display-name", help="Its user's name, as invitations name it (default: NAME).")
def video_phones_add(inventory: Path, name: str, customer: str, display_name: str | None):
    """Add video phone NAME with SIP account NAME; prints the account's password once."""
    from ..domain.links import add_video_phone

    with clean_errors():
        db = _database(inventory)
        summary, password = add_video_phone(db, db.deployment.sip_domain, name, customer, display_name)
    click.echo(summary)
    click.echo(f"SIP password (shown once; only its HA1 is stored): {password}")


@main.group()
def contacts() -> None:
    """Contacts of a video phone: video contacts get invites by e-mail or SMS; phone contacts get none."""


@contacts.command("add")
@inventory_argument
@click.option("--video-phone", required=True, help="The video phone (its NAME).")
@click.option("--name", required=True, help="The contact's name, e.g. \"Jane Doe\"; the app's default display name.")
@click.option("--email", help="Where e-mail invitations go.")
@click.option("--mobile", help="Where SMS invitations go: international format, e.g. +48600100200.")
@click.option("--phone-only", is_flag=True, help="A phone contact: no app, no invitations.")
@click.option("--language", type=click.Choice(["pl", "en"]), default="pl", show_default=True,
              help="Language of the contact's invitations.")
def contacts_add(inventory: Path, video_phone: str, name: str, email: str | None, mobile: str | None,
                 phone_only: bool, language: str):
    """Add a contact to a video phone, or update the details of the contact of that name."""
    from ..domain.links import add_contact

    with clean_errors():
        click.echo(add_contact(_database(inventory), video_phone, name, email, mobile, phone_only, language))


@main.group()
def invites() -> None:
    """Invite links (L1): personal, single-use, expiring; one per (contact, video phone)."""


def link_settings(deployment):
    from ..domain.links import LinkSettings
    from ..roles.links import public_url

    return LinkSettings(public_url=public_url(deployment), realm=deployment.sip_domain,
                        signing_key=deployment.secret("links_signing_key"),
                        invite_days=deployment.links.invite_days)


@invites.command("issue")
@inventory_argument
@click.option("--video-phone", required=True, help="The video phone (its NAME).")
@click.option("--contact", required=True, help="The contact's name.")
@click.option("--via", type=click.Choice(["email", "sms", "none"]),
              help="How to send it (default: e-mail if the contact has an address, else SMS); none: only print it.")
def invites_issue(inventory: Path, video_phone: str, contact: str, via: str | None):
    """Issue a link for (contact, video phone); earlier links of the pair are revoked. The message is queued
    and sent by the links service (see `rtcstack invites list`)."""
    from ..domain.links import issue_invite
    from ..roles.links import support_contact
    from ..web.messages import InviteMessages

    with clean_errors():
        db = _database(inventory)
        compose = InviteMessages(db.deployment.links.service_name, support_contact(db.deployment))
        issued = issue_invite(db, link_settings(db.deployment), video_phone, contact, via, compose)
    click.echo(issued.summary())


@invites.command("list")
@inventory_argument
@click.option("--video-phone", help="Only this video phone's invites.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def invites_list(inventory: Path, video_phone: str | None, as_json: bool):
    """Invites, newest first: state (active, used, revoked, expired) and delivery (sent, pending with attempts
    and the last error, failed)."""
    from ..domain.links import list_invites

    with clean_errors():
        rows = list_invites(_database(inventory), video_phone)
    if listed_elsewhere(rows, as_json, "no invites"):
        return
    click.echo(f"{'ID':>5}  {'VIDEO PHONE':<16} {'CONTACT':<20} {'VIA':<5} {'STATE':<8} {'DELIVERY':<9} "
               f"{'TRIES':>5}  {'EXPIRES':<16}  LAST ERROR")
    for r in rows:
        click.echo(f"{r['id']:>5}  {r['video_phone'][:16]:<16} {r['contact'][:20]:<20} {r['channel']:<5} "
                   f"{r['state']:<8} {r['delivery']:<9} {r['attempts']:>5}  {str(r['expires_at'])[:16]:<16}  "
                   f"{r['last_error'] or ''}")
