"""`rtcstack conference-links` and `rtcstack diagnostics`: video phones' conference links (L5) and the reports
their pages' pre-call checks stored (L7), from the operator's machine. The rules are rtcstack.domain.conference',
the same the links service's API runs; the SQL runs on the database host through rtcstack.runtime."""

from __future__ import annotations

from pathlib import Path

import click

from .base import clean_errors, inventory_argument, listed_elsewhere, main, site_or_exit


def _database(inventory: Path):
    from ..runtime.database import Database

    return Database.connect(site_or_exit(inventory))


def _link_settings(deployment) -> tuple[str, str]:
    from ..roles.links import public_url

    return public_url(deployment), deployment.secret("links_signing_key")


@main.group("conference-links")
def conference_links() -> None:
    """Conference links (L5): one per video phone; anyone with it joins the video phone's group call in a
    browser and can call the video phone into it."""


@conference_links.command("issue")
@inventory_argument
@click.option("--video-phone", required=True, help="The video phone (its NAME).")
def conference_links_issue(inventory: Path, video_phone: str):
    """Issue the video phone's conference link (revoking the earlier one) and print it."""
    from ..domain.conference import issue

    with clean_errors():
        db = _database(inventory)
        public_url, key = _link_settings(db.deployment)
        issued = issue(db, public_url, db.deployment.sip_domain, key, video_phone)
    click.echo(issued.summary())
    click.echo(issued.link)


@conference_links.command("revoke")
@inventory_argument
@click.option("--video-phone", required=True, help="The video phone (its NAME).")
def conference_links_revoke(inventory: Path, video_phone: str):
    """Revoke the video phone's conference link: its page says so, and a conference in progress ends within
    a minute (the links service's room sweeper)."""
    from ..domain.conference import revoke

    with clean_errors():
        count = revoke(_database(inventory), video_phone)
    click.echo(f"conference link of {video_phone} revoked" if count else
               f"{video_phone} has no active conference link (nothing revoked)")


@conference_links.command("list")
@inventory_argument
@click.option("--video-phone", help="Only this video phone's links.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def conference_links_list(inventory: Path, video_phone: str | None, as_json: bool):
    """Conference links, newest first: the link (while active), its state and when someone last joined."""
    from ..domain.conference import list_links

    with clean_errors():
        db = _database(inventory)
        public_url, key = _link_settings(db.deployment)
        rows = list_links(db, public_url, key, video_phone)
    if listed_elsewhere(rows, as_json, "no conference links"):
        return
    click.echo(f"{'ID':>4}  {'VIDEO PHONE':<16} {'STATE':<8} {'CREATED':<16}  {'LAST JOINED':<16}  LINK")
    for r in rows:
        click.echo(f"{r['id']:>4}  {r['video_phone'][:16]:<16} {r['state']:<8} {str(r['created_at'])[:16]:<16}  "
                   f"{str(r['last_joined_at'] or '-')[:16]:<16}  {r['link'] or '-'}")


@main.group()
def diagnostics() -> None:
    """Reports of conference pages' pre-call checks (L7): what support reads when a caller cannot join."""


@diagnostics.command("list")
@inventory_argument
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many, newest first.")
@click.option("--video-phone", help="Only reports from this video phone's conference link.")
@click.option("--full", is_flag=True, help="Print each whole report, not only its summary.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def diagnostics_list(inventory: Path, limit: int, video_phone: str | None, full: bool, as_json: bool):
    """The latest diagnostics reports: when, which video phone's link, passed or failed, and which checks."""
    from ..domain.conference import list_diagnostics

    with clean_errors():
        rows = list_diagnostics(_database(inventory), limit, video_phone)
    if listed_elsewhere(rows, as_json, "no diagnostics reports"):
        return
    for r in rows:
        verdict = "OK    " if r["ok"] else "FAILED"
        click.echo(f"#{r['id']}  {str(r['created_at'])[:19]}  {r['video_phone'] or '-':<16} {verdict}  {r['summary']}")
        if full:
            click.echo("    " + r["report"].replace("\n", "\n    "))
