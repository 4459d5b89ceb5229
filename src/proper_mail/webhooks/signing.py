"""What every verifier shares: case-insensitive header lookup, the timestamp window
against replays, and secrets that never show in a repr.

Pure: the clock comes in as ``now``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from ..adapters.http import header_of
from ..errors import WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "Headers", "check_window", "header", "require_header"]

#: How far a signed timestamp may be from our clock, either way (Svix's default).
DEFAULT_TOLERANCE = dt.timedelta(minutes=5)

Headers = Mapping[str, str]

_MAX_TIMESTAMP_DIGITS = 11  # up to the year 5138: datetime overflows past 9999


def header(headers: Headers, name: str) -> str | None:
    """The value of header *name* (any case) in *headers*, or None. *name* is lower-case."""
    return header_of(headers, name)


def require_header(provider: str, headers: Headers, name: str) -> str:
    """The value of header *name*, or WebhookVerificationError saying it is missing."""
    value = header(headers, name)
    if not value:
        raise WebhookVerificationError(provider, f"the {name} header is missing")
    return value


def check_window(
    provider: str, timestamp: str, now: dt.datetime, tolerance: dt.timedelta
) -> dt.datetime:
    """The signed *timestamp* (seconds since the epoch, digits only) as a datetime,
    if it is within *tolerance* of *now* either way; else WebhookVerificationError.

    A captured request replayed later than the window is refused; the event-id dedupe
    covers the replays inside it.
    """
    text = timestamp.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise WebhookVerificationError(
            provider, f"the signed timestamp is not a number: {text[:20]!r}"
        )
    signed = dt.datetime.fromtimestamp(int(text), dt.UTC)
    skew = abs((now - signed).total_seconds())
    if skew > tolerance.total_seconds():
        raise WebhookVerificationError(
            provider,
            f"the signed timestamp is {skew:.0f} s from our clock "
            f"(allowed: {tolerance.total_seconds():.0f} s): a replay, or a wrong clock",
        )
    return signed
