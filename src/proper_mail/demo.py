"""The README's demo: compose an email and print it through the console mailer."""

from __future__ import annotations

import sys

from .adapters.console import ToConsoleMailer
from .core.records import Attachment
from .mail import compose


def main(argv: list[str] | None = None) -> int:
    """Compose a welcome email (html + text, an IDN recipient, a file) and print it."""
    raw = "--raw" in (sys.argv[1:] if argv is None else argv)
    message = compose(
        from_email="MyApp <no-reply@example.com>",
        to="Zoë Müller <zoe@münchen.de>",
        cc=["manager@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        subject="Willkommen, Zoë! Your account is ready",
        body="<h1>Welcome, Zoë</h1><p>Your <a href='https://example.com/d'>dashboard</a>.</p>",
        content_subtype="html",
        alternatives=[("Welcome, Zoë\n\nYour dashboard: https://example.com/d\n", "text/plain")],
        headers={"X-Campaign": "spring-launch"},
        attachments=[Attachment("terms.txt", b"Be nice.\n", "text/plain")],
    )
    ToConsoleMailer(raw=raw).send_now(message)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
