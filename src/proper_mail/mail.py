"""The composition root: the impure helpers around the pure core.

This is where the clock and randomness enter (``new_stamp``), and where later the
configured mailers, defaults and queue live.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from .core import compose as core_compose
from .core.records import Defaults, Message, Stamp

__all__ = ["compose", "new_stamp"]


def new_stamp() -> Stamp:
    """Return a Stamp for a new message: now (UTC, whole seconds) and a unique token."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Stamp(date=now, token=f"{time.time_ns():x}.{secrets.token_hex(8)}")


def compose(
    *, defaults: Defaults = core_compose.NO_DEFAULTS, stamp: Stamp | None = None, **fields: Any
) -> Message:
    """Compose a Message now: ``core.compose.compose`` with a fresh Date and Message-ID.

    Takes the same keyword fields (from_email, to, cc, bcc, reply_to, subject, body,
    content_subtype, charset, headers, alternatives, attachments, ...).
    """
    return core_compose.compose(stamp=stamp or new_stamp(), defaults=defaults, **fields)
