"""examples/myapp, the guide's app: the password-reset flow end to end (the guide, 1 and 8)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import proper_mail

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
def myapp(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example app imported fresh with APP_ENV=test (memory mailer)."""
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    previous = proper_mail.mail._current
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]
    yield importlib.import_module("myapp")
    proper_mail.mail._current = previous
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]


def test_reset_request_sends_email(myapp: ModuleType) -> None:
    """The guide's section 8 test, with the controller called directly."""
    controller: Any = importlib.import_module("myapp.controllers.password_reset_controller")
    app: Any = importlib.import_module("myapp.main").app
    user: Any = importlib.import_module("myapp.models").User.get_by_login("alice@example.com")

    status, location = controller.create({"login": user.email})

    assert status == 302
    assert location == "/password-reset/sent"
    assert len(app.mailer.outbox) == 1

    email = app.mailer.outbox[0]
    assert email["Subject"] == "Reset your password"
    assert email["To"] == user.email
    assert (
        "Reset" in email.get_body(("plain", "html")).get_content()
        or "reset" in email.get_body(("plain", "html")).get_content()
    )


def test_welcome_email_includes_dashboard_link(myapp: ModuleType) -> None:
    """The guide's second section 8 test: construct and send() directly."""
    app: Any = importlib.import_module("myapp.main").app
    welcome_email: Any = importlib.import_module("myapp.emails.welcome_email").WelcomeEmail
    user: Any = importlib.import_module("myapp.models").User("Alice", "alice@example.com")

    welcome_email(user).send(to=user.email)

    email = app.mailer.outbox[-1]
    assert (
        "/dashboard" in email.get_content()
        if not email.is_multipart()
        else "/dashboard" in email.get_body(("plain",)).get_content()
    )


def test_the_reset_email_carries_absolute_signed_links(myapp: ModuleType) -> None:
    """The validate URL is absolute (PROTOCOL + HOST) and carries the user's token."""
    app: Any = importlib.import_module("myapp.main").app
    models: Any = importlib.import_module("myapp.models")
    password_reset_email: Any = importlib.import_module(
        "myapp.emails.password_reset_email"
    ).PasswordResetEmail
    user = models.User.get_by_login("alice@example.com")

    password_reset_email(user).send_later(to=user.email)

    html = app.mailer.outbox[-1].get_body(("html",)).get_content()
    token = user.generate_token_for("password_reset")
    assert f'href="https://myapp.example.com/password-reset/{token}"' in html
