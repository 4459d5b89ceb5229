"""The app object: configuration, URLs, and the mailers (``app.mailer``, ``app.mailers``)."""

from __future__ import annotations

from typing import Any

from proper_mail import BaseMailer, Mail, configure
from proper_mail.mail import MailerRegistry
from proper_mail.tasks import Queue

from .config import main as config

ROUTES = {
    "PasswordReset.new": "/password-reset/new",
    "PasswordReset.edit": "/password-reset/{token}",
    "PasswordReset.show": "/password-reset/{token}",
    "Dashboard.index": "/dashboard",
}


class App:
    """A small stand-in for a Proper app: url_for and the configured Mail."""

    def __init__(self) -> None:
        self.mail: Mail = configure(config)

    @property
    def mailer(self) -> BaseMailer:
        """The default mailer (MAILER)."""
        return self.mail.mailer

    @property
    def mailers(self) -> MailerRegistry:
        """Every mailer by name."""
        return self.mail.mailers

    @property
    def queue(self) -> Queue:
        """The background queue (QUEUE): tasks are declared on its broker."""
        return self.mail.queue

    def url_for(self, endpoint: str, _full: bool = False, **params: Any) -> str:
        """The path of *endpoint*; with ``_full=True`` an absolute URL (PROTOCOL, HOST)."""
        path = ROUTES[endpoint].format(**params)
        return f"{config.PROTOCOL}://{config.HOST}{path}" if _full else path


app = App()
