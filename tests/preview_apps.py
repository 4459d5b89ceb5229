"""Throwaway apps for the preview tests: a generated Welcome email and one preview."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from proper_mail.cli import main as cli

#: A 1 x 1 PNG, for inline (cid:) images.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def write_preview_app(parent: Path, welcome_body: str) -> Path:
    """Generate an app under *parent* whose ``welcome`` preview runs *welcome_body*.

    *welcome_body* is the preview function's body (``params`` in scope). The app has a
    unique package name, so several can be imported in one test run.
    """
    app = parent / f"app_{uuid.uuid4().hex[:8]}"
    cli(["new", "email", "Welcome", "--app", str(app)])
    (app / "__init__.py").write_text("")
    settings = {
        "MAILERS": {"m": {"type": "proper_mail.ToMemoryMailer"}},
        "MAILER_DEFAULT_OPTIONS": {"from": "a@example.com"},
        "VIEWS": str(app / "views"),
    }
    (app / "main.py").write_text(
        f"import proper_mail\nmail = proper_mail.configure({settings!r})\n"
    )
    (app / "emails" / "previews.py").write_text(
        "from proper_mail.preview import preview\n"
        "from .. import main\n"
        "from .welcome_email import WelcomeEmail\n\n\n"
        "@preview\n"
        "def welcome(params):\n"
        f"    {welcome_body}\n"
    )
    return app


def write_files_app(parent: Path) -> Path:
    """An app whose welcome email has an inline image (cid:) and an attached notes.txt."""
    app = write_preview_app(
        parent,
        "email = WelcomeEmail(to='a@example.com'); email.attach('notes.txt', 'Be nice.');"
        " return email",
    )
    (app / "views" / "images").mkdir()
    (app / "views" / "images" / "logo.png").write_bytes(PNG)
    (app / "views" / "emails" / "welcome.jx").write_text(
        "{#def subject #}\n"
        "<p id='marker'>Hello</p>\n"
        "<img id='logo' src=\"{{ inline_image('images/logo.png') }}\" alt='logo'>\n"
    )
    return app
