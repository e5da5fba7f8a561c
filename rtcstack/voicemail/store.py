"""The voicemail service's database: mailboxes (an account with voicemail on, its language and greeting),
messages (a row per recording, the audio a file on this host) and their retention."""

from __future__ import annotations

import logging
import secrets
import threading
from array import array
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Engine

from ..db.models import Customer, PortalUser, SipAccount, VoicemailGreeting, VoicemailMessage
from . import audio

log = logging.getLogger("rtcstack.voicemail")


@dataclass(frozen=True)
class Mailbox:
    account_id: int
    username: str
    enabled: bool
    language: str


class Store:
    def __init__(self, engine: Engine, host: str, messages_dir: Path, default_greetings: dict[str, Path],
                 default_language: str):
        self.engine, self.host, self.messages_dir = engine, host, messages_dir
        self.default_greetings, self.default_language = default_greetings, default_language
        self._greetings: dict[int, tuple[datetime, array]] = {}
        self._defaults: dict[str, array] = {}
        self._lock = threading.Lock()

    def mailbox(self, username: str) -> Mailbox | None:
        language = (select(PortalUser.language).where(PortalUser.customer_id == SipAccount.customer_id,
                                                       PortalUser.language.is_not(None))
                    .order_by(PortalUser.id).limit(1).scalar_subquery())
        with self.engine.connect() as db:
            row = db.execute(select(SipAccount.id, SipAccount.username,
                                    SipAccount.voicemail & Customer.voicemail_service & SipAccount.enabled, language)
                             .join(Customer, Customer.id == SipAccount.customer_id)
                             .where(SipAccount.username == username)).first()
        if row is None:
            return None
        return Mailbox(row[0], row[1], bool(row[2]), row[3] or self.default_language)

    def greeting(self, box: Mailbox) -> array:
        """The mailbox's own greeting if it has one, else the default in its customer's language."""
        with self.engine.connect() as db:
            stamp = db.execute(select(VoicemailGreeting.updated_at)
                               .where(VoicemailGreeting.account_id == box.account_id)).scalar()
            cached = self._greetings.get(box.account_id)
            if stamp is not None and (cached is None or cached[0] != stamp):
                data = db.execute(select(VoicemailGreeting.audio)
                                  .where(VoicemailGreeting.account_id == box.account_id)).scalar()
                try:
                    self._greetings[box.account_id] = cached = (stamp, audio.read_wav(bytes(data)))
                except ValueError as exc:
                    log.warning("greeting of %s unreadable (%s): the default plays", box.username, exc)
                    cached = None
        if stamp is not None and cached is not None:
            return cached[1]
        return self.default_greeting(box.language)

    def default_greeting(self, language: str) -> array:
        with self._lock:
            if language not in self._defaults:
                path = self.default_greetings.get(language) or self.default_greetings[self.default_language]
                try:
                    self._defaults[language] = audio.read_wav(path)
                except (OSError, ValueError) as exc:
                    log.error("default greeting %s unreadable (%s): a tone only", path, exc)
                    self._defaults[language] = array("h")
            return self._defaults[language]

    def save(self, box: Mailbox, caller: str, call_id: str, samples: array) -> int:
        """Write the WAV file, then its row; a file without a row is removed again."""
        folder = self.messages_dir / str(box.account_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.wav"
        path.write_bytes(audio.wav_bytes(samples))
        seconds = Decimal(len(samples) / audio.RATE).quantize(Decimal("0.01"))
        try:
            with self.engine.begin() as db:
                return db.execute(insert(VoicemailMessage).values(
                    account_id=box.account_id, caller=caller[:128], seconds=seconds, host=self.host, path=str(path),
                    call_id=call_id[:255]).returning(VoicemailMessage.id)).scalar_one()
        except Exception:
            path.unlink(missing_ok=True)
            raise

    def message_path(self, message_id: int) -> Path | None:
        with self.engine.connect() as db:
            found = db.execute(select(VoicemailMessage.path).where(VoicemailMessage.id == message_id,
                                                                   VoicemailMessage.host == self.host)).scalar()
        return Path(found) if found else None

    def delete(self, message_id: int) -> bool:
        with self.engine.begin() as db:
            found = db.execute(delete(VoicemailMessage).where(VoicemailMessage.id == message_id,
                                                              VoicemailMessage.host == self.host)
                               .returning(VoicemailMessage.path)).scalar()
        if found:
            Path(found).unlink(missing_ok=True)
        return bool(found)

    def sweep(self, retention_days: int, max_per_box: int) -> int:
        """Remove this host's messages older than the retention, and each box's beyond its newest max_per_box."""
        ranked = (select(VoicemailMessage.id, func.row_number().over(
            partition_by=VoicemailMessage.account_id,
            order_by=(VoicemailMessage.received_at.desc(), VoicemailMessage.id.desc())).label("n"))
                  .where(VoicemailMessage.host == self.host).subquery())
        cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
        with self.engine.begin() as db:
            paths = db.execute(delete(VoicemailMessage).where(
                VoicemailMessage.host == self.host,
                (VoicemailMessage.received_at < cutoff)
                | VoicemailMessage.id.in_(select(ranked.c.id).where(ranked.c.n > max_per_box)))
                .returning(VoicemailMessage.path)).scalars().all()
        for path in paths:
            Path(path).unlink(missing_ok=True)
        return len(paths)
