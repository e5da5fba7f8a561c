"""The outbox sender: e-mail through the SMTP relay the model names, SMS through a generic HTTP gateway. Every
links host runs one; a message is leased with `FOR UPDATE SKIP LOCKED`, so hosts never send one twice. A
failure is retried with backoff (domain.links.BACKOFF) and visible in `rtcstack invites list`; a sent message's
body (it holds the link) is erased."""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pydantic import BaseModel, ConfigDict, Field

from ..domain.links import MAX_ATTEMPTS, backoff_seconds, sql_literal, unseal
from .db import EngineRunner
from .periodic import PeriodicTask

log = logging.getLogger("rtcstack.web.outbox")

#: A leased message that its sender did not settle (the process died) is tried again after this long.
LEASE_SECONDS = 120


class MailRelay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = 25
    sender: str = Field(description="From: address of invitations")
    #: Other relays (HOST:PORT), tried in turn when one cannot be reached or drops the connection.
    fallbacks: tuple[str, ...] = ()

    def relays(self) -> list[tuple[str, int]]:
        return [(self.host, self.port)] + [(h, int(p)) for h, _, p in (f.rpartition(":") for f in self.fallbacks)]


class SmsGateway(BaseModel):
    """One generic HTTP adapter: where to send, how, and which field carries what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = ""
    method: str = "POST"
    format: str = "form"
    username: str = ""
    password: str = ""
    to_field: str = "to"
    text_field: str = "text"
    sender_field: str = "from"
    sender: str = ""


class DeliveryError(Exception):
    pass


def send_email(relay: MailRelay, recipient: str, message: dict) -> None:
    mail = EmailMessage()
    mail["From"] = relay.sender
    mail["To"] = recipient
    mail["Subject"] = message["subject"]
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2] or None)
    mail["Content-Language"] = message.get("language", "pl")
    mail.set_content(message["text"])
    mail.add_alternative(message["html"], subtype="html")
    problems = []
    for host, port in relay.relays():
        try:
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                smtp.send_message(mail)
            return
        except (OSError, smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected) as exc:
            problems.append(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}")  # unreachable: the next relay
        except smtplib.SMTPException as exc:
            problems.append(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}")  # refused the message: no other
            break
    raise DeliveryError("; ".join(problems)[:500])


def send_sms(gateway: SmsGateway, recipient: str, message: dict) -> None:
    if not gateway.url:
        raise DeliveryError("no SMS gateway configured (links.sms_gateway.url)")
    fields = {gateway.to_field: recipient, gateway.text_field: message["text"]}
    if gateway.sender_field and gateway.sender:
        fields[gateway.sender_field] = gateway.sender
    url, data, headers = gateway.url, None, {"User-Agent": "rtcstack-links"}
    if gateway.method.upper() == "GET":
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(fields)
    elif gateway.format == "json":
        data, headers["Content-Type"] = json.dumps(fields).encode(), "application/json"
    else:
        data = urllib.parse.urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if gateway.username:
        pair = base64.b64encode(f"{gateway.username}:{gateway.password}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
    request = urllib.request.Request(url, data=data, headers=headers, method=gateway.method.upper())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"SMS gateway answered {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise DeliveryError(f"SMS gateway {urllib.parse.urlsplit(gateway.url).netloc}: "
                            f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:500]) from None


class Outbox:
    def __init__(self, runner: EngineRunner, signing_key: str, mail: MailRelay | None, sms: SmsGateway,
                 poll_seconds: float = 1.0):
        self.runner, self.signing_key, self.mail, self.sms = runner, signing_key, mail, sms
        self.poll_seconds = poll_seconds
        self._task = PeriodicTask("outbox", poll_seconds, self._drain, "outbox unavailable", immediately=True)

    def lease(self, limit: int = 10) -> list[list[str]]:
        return self.runner.run(f"""
            UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + interval '{LEASE_SECONDS} seconds'
            WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL
                         AND next_attempt_at <= now() ORDER BY id LIMIT {int(limit)} FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, recipient, body, attempts;""")

    def deliver(self, kind: str, recipient: str, body: str) -> None:
        message = unseal(self.signing_key, body)
        if kind == "email":
            if self.mail is None:
                raise DeliveryError("no mail relay configured (links.smtp_relay, or a relay host)")
            send_email(self.mail, recipient, message)
        else:
            send_sms(self.sms, recipient, message)

    def send_due(self) -> int:
        """Send what is due; the number sent."""
        sent = 0
        for id_, kind, recipient, body, attempts in self.lease():
            try:
                self.deliver(kind, recipient, body)
            except (DeliveryError, ValueError) as exc:
                attempts = int(attempts)
                give_up = attempts >= MAX_ATTEMPTS
                self.runner.run(
                    f"UPDATE outbox SET last_error = {sql_literal(str(exc))}, "
                    + ("failed_at = now(), body = '' " if give_up else
                       f"next_attempt_at = now() + interval '{backoff_seconds(attempts)} seconds' ")
                    + f"WHERE id = {int(id_)};")
                log.warning("delivery failed", extra={"fields": {
                    "outbox_id": int(id_), "kind": kind, "attempt": attempts, "gave_up": give_up, "error": str(exc)}})
                continue
            self.runner.run(f"UPDATE outbox SET sent_at = now(), body = '', last_error = NULL WHERE id = {int(id_)};")
            log.info("delivered", extra={"fields": {"outbox_id": int(id_), "kind": kind, "attempt": int(attempts)}})
            sent += 1
        return sent

    def _drain(self) -> None:
        while not self._task.stopping and self.send_due():
            pass

    def start(self) -> None:
        self._task.start()

    def stop(self) -> None:
        self._task.stop()
