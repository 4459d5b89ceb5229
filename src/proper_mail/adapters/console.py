"""ToConsoleMailer: print each message, readable, then a ``---`` line."""

from __future__ import annotations

import email.message
import sys
import threading
from typing import TextIO

from ..core.mime import to_bytes
from ..core.records import Message
from .base import BaseMailer

__all__ = ["ToConsoleMailer", "format_readable"]


class ToConsoleMailer(BaseMailer):
    """Write every message to *stream* (stdout by default), then a ``---`` line.

    Headers are shown decoded and text parts as text (not base64 or quoted-printable);
    files are listed by name, type and size. ``raw=True`` prints the wire bytes instead.
    Thread-safe: messages from several threads never interleave.
    """

    def __init__(
        self, *, stream: TextIO | None = None, raw: bool = False, fail_silently: bool = False
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.stream = stream
        self.raw = raw
        self._lock = threading.Lock()

    def send_now(self, *messages: Message) -> int:
        """Print *messages*; return how many were printed."""
        stream = self.stream or sys.stdout
        for message in messages:
            if self.raw:
                text = to_bytes(message, self.policy).decode("utf-8", "replace")
                text = text.replace("\r\n", "\n")
            else:
                text = format_readable(message, self.render(message))
            with self._lock:
                stream.write(text)
                if not text.endswith("\n"):
                    stream.write("\n")
                stream.write("---\n")
                stream.flush()
        return len(messages)


def format_readable(message: Message, mime: email.message.EmailMessage) -> str:
    """Return a human-readable view: decoded headers (Bcc included), text parts, files."""
    lines = [f"{name}: {value}" for name, value in mime.items() if not _is_mime_header(name)]
    if message.bcc:
        lines.insert(
            _after(lines, ("From", "To", "Cc")), f"Bcc: {', '.join(map(str, message.bcc))}"
        )
    for part in mime.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        content_type = part.get_content_type()
        if disposition is None and part.get_content_maintype() == "text":
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


def _after(lines: list[str], names: tuple[str, ...]) -> int:
    last = 0
    for i, line in enumerate(lines):
        if line.split(":", 1)[0] in names:
            last = i + 1
    return last
