"""ToMemoryMailer: keep sent messages in memory, for tests (the guide, 7.2 and 8)."""

from __future__ import annotations

import email.message
import threading
from typing import Any

from ..core.mime import to_mime
from ..core.records import Envelope, Message, SendResult
from .base import BaseMailer, all_sent

__all__ = ["OutboxMessage", "ToMemoryMailer"]


class OutboxMessage(email.message.EmailMessage):
    """A stdlib EmailMessage whose ``get_content()`` also works on a multipart message.

    For multipart mail it returns the content of the preferred body (plain, then html),
    so the guide's ``assert "/dashboard" in email.get_content()`` holds for an email with
    html and text parts, as it does for a plain one.
    """

    def get_content(self, *args: Any, **kw: Any) -> Any:
        """The content; for a multipart message, that of ``get_body(("plain", "html"))``."""
        if self.is_multipart():
            body = self.get_body(("plain", "html"))
            if body is not None:
                return body.get_content(*args, **kw)
        return super().get_content(*args, **kw)


class ToMemoryMailer(BaseMailer):
    """Store every message instead of sending it.

    Attributes:
        outbox: the rendered messages, stdlib ``email.message.EmailMessage`` objects
            (``email["Subject"]``, ``email.get_body(("plain", "html")).get_content()``).
            Bcc is not in them, as on the wire.
        sent: the Message records, for what rendering hides (``sent[-1].bcc``), in
            the same order as the outbox.
        envelopes: the SMTP envelope of each outbox entry, Bcc recipients included.
    """

    sends_for_real = False

    def __init__(self, *, fail_silently: bool = False) -> None:
        super().__init__(fail_silently=fail_silently)
        self.outbox: list[email.message.EmailMessage] = []
        self.sent: list[Message] = []
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> SendResult:
        """Render and store *message*; every recipient is reported sent."""
        envelope = self.envelope(message)
        rendered = to_mime(message, self.policy, OutboxMessage)
        with self._lock:
            self.outbox.append(rendered)
            self.sent.append(message)
            self.envelopes.append(envelope)
        return all_sent(message.message_id, self.alias, envelope)

    def clear(self) -> None:
        """Empty the outbox (and the records and envelopes beside it)."""
        with self._lock:
            self.outbox.clear()
            self.sent.clear()
            self.envelopes.clear()
