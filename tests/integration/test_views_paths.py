"""VIEWS and template lookup errors: what a new user meets first (issue: newcomer path)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import proper_mail
from proper_mail import ConfigError, EmailMessage, EmailTemplateNotFound, Mail

CONFIG = """
VIEWS = "views"
MAILERS = {"memory": {"type": "proper_mail.ToMemoryMailer"}}
MAILER_DEFAULT_OPTIONS = {"from": "app@example.com"}
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The guide's layout: shop/config/main.py, shop/views/emails/, run from elsewhere."""
    root = tmp_path / "shop"
    (root / "config").mkdir(parents=True)
    (root / "views" / "emails").mkdir(parents=True)
    (root / "__init__.py").touch()
    (root / "config" / "__init__.py").touch()
    (root / "config" / "main.py").write_text(CONFIG)
    (root / "views" / "emails" / "receipt.jx").write_text("{#def total #}<p>{{ total }}</p>")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path.parent)  # not the app's folder
    yield root
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        del sys.modules[name]


def test_a_relative_views_is_found_from_the_settings_module(app: Path) -> None:
    """VIEWS = "views" in shop/config/main.py finds shop/views, whatever the cwd is."""
    config = importlib.import_module("shop.config.main")

    mail = Mail.from_settings(config)

    assert mail.views == (app / "views").resolve()


def test_a_missing_views_folder_names_every_path_tried(app: Path) -> None:
    """VIEWS that is nowhere: the error lists the absolute paths looked at, and the fix."""
    (app / "views" / "emails" / "receipt.jx").unlink()
    (app / "views" / "emails").rmdir()
    (app / "views").rmdir()
    config = importlib.import_module("shop.config.main")

    with pytest.raises(ConfigError) as caught:
        Mail.from_settings(config)

    message = str(caught.value)
    assert str(app / "config" / "views") in message
    assert str(app / "views") in message
    assert "Path(__file__).parent.parent / 'views'" in message


def test_template_not_found_names_the_class_and_the_absolute_paths(app: Path) -> None:
    """No body and no template: the class, both absolute paths and VIEWS are named."""
    config = importlib.import_module("shop.config.main")
    mail = Mail.from_settings(config)

    class WelcomeEmail(EmailMessage):
        pass

    WelcomeEmail.__module__ = "shop.emails.welcome_email"

    with pytest.raises(EmailTemplateNotFound) as caught:
        WelcomeEmail(to="a@example.com").to_message(mail)

    message = str(caught.value)
    assert "WelcomeEmail has no body and no template" in message
    assert str(app.resolve() / "views" / "emails" / "welcome.jx") in message
    assert str(app.resolve() / "views" / "emails" / "welcome.txt.jx") in message


def test_template_not_found_says_when_views_is_not_set() -> None:
    """No VIEWS at all: the error says so, instead of listing paths that were never tried."""
    mail = Mail.from_settings({"MAILERS": {"m": {"type": "proper_mail.ToMemoryMailer"}}})

    class WelcomeEmail(EmailMessage):
        pass

    with pytest.raises(EmailTemplateNotFound, match="WelcomeEmail has no body, and VIEWS is not"):
        WelcomeEmail(to="a@example.com", from_email="b@example.com").to_message(mail)


def test_template_not_found_says_when_nothing_is_configured() -> None:
    """Not configured at all: the error says to call configure()."""
    previous = proper_mail.mail.configured_mail()
    proper_mail.mail.restore_current(None)
    try:

        class WelcomeEmail(EmailMessage):
            pass

        with pytest.raises(EmailTemplateNotFound, match="proper_mail is not configured"):
            WelcomeEmail(to="a@example.com", from_email="b@example.com").to_message()
    finally:
        proper_mail.mail.restore_current(previous)
