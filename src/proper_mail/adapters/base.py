"""BaseMailer: the seam every backend (SMTP, console, memory, HTTP providers) fits."""

from __future__ import annotations

import email.message
from email.policy import Policy
from typing import ClassVar

from ..core.mime import DEFAULT_POLICY, to_mime
from ..core.records import Message

__all__ = ["BaseMailer"]


class BaseMailer:
    """Base class of mailers: render messages, and send them in ``send_now``.

    **Protocol:** a subclass overrides ``send_now(*messages) -> int`` (the number sent),
    calling ``self.render(message)`` when it wants the stdlib ``EmailMessage``.

    Attributes:
        policy: the email policy used to render; ``email.policy.SMTPUTF8`` keeps
            Unicode addresses and headers.
        fail_silently: swallow delivery errors instead of raising.
    """

    policy: ClassVar[Policy] = DEFAULT_POLICY

    def __init__(self, *, fail_silently: bool = False) -> None:
        self.fail_silently = fail_silently

    def render(self, message: Message) -> email.message.EmailMessage:
        """Return *message* as a stdlib EmailMessage (MIME built by the core)."""
        return to_mime(message, self.policy)

    def send_now(self, *messages: Message) -> int:
        """Send *messages* now; return how many were sent."""
        raise NotImplementedError
