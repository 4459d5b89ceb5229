"""Our Message-ID on a round trip through a provider: sent in the field its webhook
events echo back, and read from there (pure).

A custom ``Message-ID`` header is not enough: Postmark, SendGrid, Mailgun and Resend do
not return custom headers in their events (some replace the header with their own).
So every HTTP mailer also sends our Message-ID in the one channel its provider
documents as echoed in events, under one reserved name, ``proper_mail_id``
(``ECHO_KEY``); each webhook parser reads it from there into
``DeliveryEvent.message_id``:

========  =====================================  ======================================
provider  sent as                                echoed in
========  =====================================  ======================================
postmark  ``Metadata["proper_mail_id"]``         ``Metadata`` of every webhook
sendgrid  ``custom_args["proper_mail_id"]``      the top level of every event
mailgun   ``X-Mailgun-Variables``                ``event-data["user-variables"]``
          ``{"proper_mail_id": ...}``
resend    ``tags`` ``{"name": "proper_mail_id",  ``data.tags``
          "value": <tag form>}``
ses       the ``Message-ID`` header of our MIME  ``mail.headers`` /
                                                 ``mail.commonHeaders.messageId``
========  =====================================  ======================================

Forms: ``echo_value`` is the Message-ID without its angle brackets (2 characters fewer
under Postmark's 80-character limit); the parsers put them back, so the event's
``message_id`` equals ``Message.message_id``. ``echo_tag`` is that text as unpadded
base64url, for tag alphabets (Resend's ``[A-Za-z0-9_-]``) that cannot hold ``@`` or
``.``. A form over the provider's limit is not sent: the message still goes (with its
Message-ID header), and its events carry no ``message_id``. A metadata key or tag of
the caller's named ``proper_mail_id`` (in any case) is ``UnsupportedFeature``: the name
is reserved, and nothing of the caller's is overwritten.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Final

from .http import unsupported

__all__ = [
    "ECHO_KEY",
    "check_reserved",
    "echo_tag",
    "echo_value",
    "message_id_from_echo",
    "message_id_from_tag",
]

#: The metadata key, custom arg, user variable or tag name that carries our Message-ID.
ECHO_KEY: Final = "proper_mail_id"

# left@right of printable ASCII without angle brackets: what compose() lets through.
_ID = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")
_TAG = re.compile(r"[A-Za-z0-9_-]+")


def echo_value(message_id: str) -> str:
    """*message_id* as it is echoed: without its angle brackets."""
    return message_id.strip().removeprefix("<").removesuffix(">")


def echo_tag(message_id: str) -> str:
    """*message_id* in a tag's alphabet (``[A-Za-z0-9_-]``): ``echo_value`` as unpadded
    base64url (4 characters for every 3 of the id)."""
    encoded = base64.urlsafe_b64encode(echo_value(message_id).encode("ascii"))
    return encoded.decode("ascii").rstrip("=")


def check_reserved(provider: str, field: str, names: Iterable[str]) -> None:
    """UnsupportedFeature if one of *names* (metadata keys, tags) is ``ECHO_KEY`` in any
    case: that name carries our Message-ID, and the caller's value would be lost."""
    for name in names:
        if name.lower() == ECHO_KEY:
            raise unsupported(
                provider,
                field,
                name,
                f"{ECHO_KEY!r} is reserved by proper_mail: it carries the Message-ID back "
                "in webhook events; use another name",
            )


def message_id_from_echo(value: object) -> str | None:
    """Our Message-ID, angle brackets included, from an echoed *value* (with or without
    brackets); None when *value* is not a Message-ID."""
    if not isinstance(value, str):
        return None
    inner = echo_value(value)
    return f"<{inner}>" if _ID.fullmatch(inner) else None


def message_id_from_tag(value: object) -> str | None:
    """Our Message-ID from a tag value made by ``echo_tag``; None when it is not one."""
    if not isinstance(value, str) or not _TAG.fullmatch(value) or len(value) % 4 == 1:
        return None
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return message_id_from_echo(decoded.decode("ascii", "replace"))
