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
