"""`rtcstack portal-users`: the portal's users (P1, P15) from the operator's machine, by the rules of
rtcstack.domain.portal (the same the portal's admin pages run). A new user gets a single-use link to set a
password: printed here, and e-mailed through the links hosts' outbox."""

from __future__ import annotations

from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit


@main.group("portal-users")
def portal_users() -> None:
    """People who log in to the customer portal or the provider admin."""


@portal_users.command("add")
@inventory_argument
@click.argument("email")
@click.option("--customer", help="The customer the user belongs to.")
@click.option("--provider", is_flag=True, help="A provider admin (the admin area; no customer).")
@click.option("--role", type=click.Choice(["customer_admin", "customer_user"]), default="customer_admin",
              show_default=True, help="With --customer: may the user change settings (admin) or only look (user).")
@click.option("--language", type=click.Choice(["pl", "en"]), help="Language of the e-mail (default: portal.default_language).")
def portal_users_add(inventory: Path, email: str, customer: str | None, provider: bool, role: str,
                     language: str | None):
    """Add portal user EMAIL; prints a single-use link to set the password (also sent by e-mail)."""
    from ..domain import portal as domain
    from ..roles.links import public_url, support_contact
    from ..runtime.database import Database
    from ..web.messages import password_message

    if provider == bool(customer):
        raise click.UsageError("give exactly one of --customer NAME and --provider")
    site = site_or_exit(inventory)
    deployment = site.deployment
    with clean_errors():
        db = Database.connect(site)
        user_id = domain.add_user(db, email, customer, "provider_admin" if provider else role)
        token, expires = domain.issue_link(db, user_id, "set_password", deployment.portal.link_hours)
        link = f"{public_url(deployment)}/reset/{token}"
        message = password_message(language or deployment.portal.default_language, "set_password", email, link,
                                   expires, deployment.links.service_name, support_contact(deployment))
        mailed = bool(deployment.hosts_with("links"))  # the links hosts' outbox sends the platform's mail
        if mailed:
            domain.queue_email(db, deployment.secret("links_signing_key"), email, message)
    who = "provider admin" if provider else f"{role.replace('_', ' ')} of {customer}"
    click.echo(f"portal user {email}: {who}")
    sent = "also e-mailed" if mailed else "not e-mailed: no links host sends mail; give it to the user"
    click.echo(f"set-password link (works once, until {expires:%Y-%m-%d %H:%M} UTC; {sent}): {link}")


@portal_users.command("list")
@inventory_argument
def portal_users_list(inventory: Path):
    """Every portal user, with role, customer and whether a password is set."""
    from ..domain import portal as domain
    from ..runtime.database import Database

    with clean_errors():
        db = Database.connect(site_or_exit(inventory))
        scope = domain.Scope(0, "", "provider_admin", None, "", "UTC", None)
        users = domain.portal_users(db, scope)
    click.echo(f"{'e-mail':<36} {'role':<15} {'customer':<20} password")
    for u in users:
        click.echo(f"{u['email']:<36} {u['role']:<15} {u['customer']:<20} {'set' if u['password_set'] else 'not set'}")
