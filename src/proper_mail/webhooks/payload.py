"""Reading a provider's JSON payload: every malformed shape becomes a
``WebhookPayloadError`` naming the provider and the field, never a KeyError or a
TypeError from deep inside a parser.

Pure: values in, values (or the typed error) out.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from ..adapters.echo import ECHO_KEY, message_id_from_echo
from ..errors import WebhookPayloadError

__all__ = [
    "as_list",
    "as_object",
    "echoed_message_id",
    "iso_time",
    "load_json",
    "optional_text",
    "raw_json",
    "text",
    "unix_time",
]

# Seconds from the epoch we accept: 2000-01-01 .. 2100-01-01. Outside it a number is
# not a provider's timestamp (and datetime would overflow on the far ones).
_EARLIEST = 946_684_800
_LATEST = 4_102_444_800


def load_json(provider: str, body: bytes) -> Any:
    """*body* decoded as UTF-8 JSON, or WebhookPayloadError."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise WebhookPayloadError(provider, f"the body is not JSON ({e})") from None
    except RecursionError:
        raise WebhookPayloadError(provider, "the body is JSON nested too deeply") from None


def as_object(provider: str, value: object, where: str) -> dict[str, Any]:
    """*value* if it is a JSON object, else WebhookPayloadError naming *where*."""
    if not isinstance(value, dict):
        raise WebhookPayloadError(
            provider, f"{where} must be a JSON object, not {type(value).__name__}"
        )
    return value


def as_list(provider: str, value: object, where: str) -> list[Any]:
    """*value* if it is a JSON array, else WebhookPayloadError naming *where*."""
    if not isinstance(value, list):
        raise WebhookPayloadError(
            provider, f"{where} must be a JSON array, not {type(value).__name__}"
        )
    return value


def text(provider: str, obj: Mapping[str, Any], key: str, where: str = "") -> str:
    """The non-empty string at ``obj[key]``, else WebhookPayloadError."""
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        shown = f"{where}.{key}" if where else key
        what = "missing" if value is None else f"not a non-empty string ({type(value).__name__})"
        raise WebhookPayloadError(provider, f"{shown} is {what}")
    return value


def optional_text(obj: Mapping[str, Any], key: str) -> str | None:
    """The string at ``obj[key]`` when it is a non-empty string (numbers shown as
    text), else None: for fields that are nice to have (a reason, an id)."""
    value = obj.get(key)
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def iso_time(provider: str, value: object, where: str) -> dt.datetime:
    """An ISO 8601 timestamp (``2017-08-05T00:41:02.669Z``, Postmark's 7-digit
    fractions), aware; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise WebhookPayloadError(provider, f"{where} is not an ISO 8601 timestamp: {value!r}")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise WebhookPayloadError(
            provider, f"{where} is not an ISO 8601 timestamp: {value[:40]!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def unix_time(provider: str, value: object, where: str) -> dt.datetime:
    """Seconds since the epoch (an int, a float, or digits in a string) as an aware
    UTC datetime."""
    seconds: float
    if isinstance(value, bool):
        seconds = math.nan
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and len(value) < 32:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
    else:
        seconds = math.nan
    if not _EARLIEST <= seconds <= _LATEST:  # also False for NaN
        raise WebhookPayloadError(provider, f"{where} is not a Unix timestamp: {value!r:.40}")
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def raw_json(value: object) -> str:
    """*value* as compact JSON text (the ``raw`` of an event)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def echoed_message_id(fields: object) -> str | None:
    """Our Message-ID from the key/value *fields* a provider echoes (Postmark's
    metadata, SendGrid's custom args, Mailgun's user variables): the value of
    ``proper_mail_id``, angle brackets restored. None when it is not there."""
    if not isinstance(fields, Mapping):
        return None
    return message_id_from_echo(fields.get(ECHO_KEY))
