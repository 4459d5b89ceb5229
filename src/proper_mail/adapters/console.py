"""ToConsoleMailer: print each message, readable, then a ``---`` line (the guide, 7.1)."""

from __future__ import annotations

import email.message
import sys
import threading
from typing import TextIO

from ..core.mime import to_bytes, to_mime
from ..core.records import Envelope, Message, SendResult
from .base import BaseMailer, all_sent

__all__ = ["ToConsoleMailer", "format_readable"]


class ToConsoleMailer(BaseMailer):
    """Write every message to *stream* (stdout by default), then a ``---`` line.

    Headers are shown decoded and text parts as text (not base64 or quoted-printable);
    files are listed by name, type and size; Bcc is shown, marked as envelope-only.
    ``raw=True`` prints the exact wire bytes instead. Thread-safe: messages from several
    threads never interleave.
    """

    sends_for_real = False

    def __init__(
        self, *, stream: TextIO | None = None, raw: bool = False, fail_silently: bool = False
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.stream = stream
        self.raw = raw
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> SendResult:
        """Print *message*; every recipient is reported sent."""
        envelope = self.envelope(message)
        if self.raw:
            text = to_bytes(message, self.policy).decode("utf-8").replace("\r\n", "\n")
        else:
            text = format_readable(to_mime(message, self.policy), envelope)
        self._write(text)
        return all_sent(message.message_id, self.alias, envelope)

    def _write(self, text: str) -> None:
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(text if text.endswith("\n") else text + "\n")
            stream.write("---\n")
            stream.flush()


def format_readable(mime: email.message.EmailMessage, envelope: Envelope) -> str:
    """Return a human-readable view: decoded headers, Bcc, text parts, a line per file."""
    lines = [f"{name}: {value}" for name, value in mime.items() if not _is_mime_header(name)]
    visible = {
        a.addr_spec
        for name in ("To", "Cc")
        for h in mime.get_all(name, [])
        for a in getattr(h, "addresses", ())
    }
    bcc = [r for r in envelope.recipients if r not in visible]
    if bcc:
        lines.append(f"Bcc (envelope only): {', '.join(bcc)}")
    for part in mime.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition is None and part.get_content_maintype() == "text":
            assert isinstance(part, email.message.EmailMessage)
            lines.extend(["", f"[{content_type}]", part.get_content().rstrip("\n")])
        else:
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            name = part.get_filename() or part.get("Content-ID", "")
            lines.extend(["", f"[{disposition or 'part'}: {name} ({content_type}, {size} bytes)]"])
    return "\n".join(lines) + "\n"


def _is_mime_header(name: str) -> bool:
    lowered = name.lower()
    return lowered == "mime-version" or lowered.startswith("content-")
