"""The messages that carry invite links (L1): an e-mail with plain-text and HTML parts, or an SMS, in the
contact's language. Each names the video phone's user, since a contact of two video phones gets two links."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from babel.dates import format_datetime

from . import i18n


@dataclass(frozen=True)
class InviteMessages:
    """`compose` for domain.links.issue_invite."""

    service_name: str
    support_contact: str

    def __call__(self, kind: str, language: str, contact: str, video_phone: str, link: str,
                 expires_at: datetime) -> dict:
        context = {"contact": contact, "video_phone": video_phone, "link": link, "service": self.service_name,
                   "support": self.support_contact,
                   "expires": format_datetime(expires_at, "d MMMM y, HH:mm zzz", tzinfo=expires_at.tzinfo, locale=language)}
        if kind == "sms":
            return {"language": language, "text": i18n.render("messages/invite_sms.txt", language, **context).strip()}
        return {"language": language,
                "subject": i18n.gettext(language, "%(service)s: your invitation to video calls with %(video_phone)s",
                                        service=self.service_name, video_phone=video_phone),
                "text": i18n.render("messages/invite_email.txt", language, **context),
                "html": i18n.render("messages/invite_email.html", language, **context)}


def password_message(language: str, purpose: str, email: str, link: str, expires: datetime, service: str,
                     support: str) -> dict:
    """The e-mail that carries a password link, in the user's language."""
    context = {"email": email, "link": link, "service": service, "support": support, "purpose": purpose,
               "expires": format_datetime(expires, "d MMMM y, HH:mm zzz", tzinfo=expires.tzinfo, locale=language)}
    subject = (i18n.gettext(language, "%(service)s: set your portal password", service=service) if purpose ==
               "set_password" else i18n.gettext(language, "%(service)s: reset your portal password", service=service))
    return {"language": language, "subject": subject,
            "text": i18n.render("messages/portal_password.txt", language, **context),
            "html": i18n.render("messages/portal_password.html", language, **context)}
