"""The one converter between ``Message`` records and JSON-safe dicts (``EmailMessageDict``).

``EmailMessageDict`` is what ``EmailMessage.serialize()`` returns, what a custom
mailer's ``send_now`` receives (the guide's 7.5), and what a queued task carries. It
holds only JSON types: addresses as ``"Name <local@domain>"`` strings, attachment bytes
as base64, the Date as ISO 8601. Never a host, user name, password or API key.

This module sits beside ``adapters/`` and ``tasks/`` rather than inside ``tasks/``:
mailers need it to load a dict (``BaseMailer.render``) and adapters must not import
tasks.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any, NotRequired, TypedDict, cast

import cattrs
from cattrs.preconf.json import make_converter
from cattrs.v import format_exception

from .core.addresses import Address
from .core.compose import compose
from .core.records import Alternative, Message
from .errors import MessageError, SerializationError

__all__ = [
    "AttachmentDict",
    "EmailMessageDict",
    "converter",
    "dump_message",
    "load_message",
]


class AttachmentDict(TypedDict):
    """An attachment inside an EmailMessageDict; ``content`` is base64."""

    filename: str
    content: str
    mimetype: str
    disposition: str
    content_id: str | None


class EmailMessageDict(TypedDict):
    """A Message as JSON-safe data (the guide's ``EmailMessageDict``)."""

    from_email: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str
    body: str
    content_subtype: str
    charset: str
    headers: dict[str, str]
    alternatives: list[list[str]]
    attachments: list[AttachmentDict]
    message_id: str
    date: str
    tags: NotRequired[list[str]]
    metadata: NotRequired[dict[str, str]]
    envelope_from: NotRequired[str | None]
    envelope_to: NotRequired[list[str]]
    expires: NotRequired[str | None]
    v: NotRequired[int]


converter = make_converter(forbid_extra_keys=True)


def _structure_address(value: object, _: object) -> Address:
    if not isinstance(value, str):
        raise TypeError(f"expected an address str, got {type(value).__name__}")
    return Address.parse(value)


def _structure_bytes(value: object, _: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected base64 str, got {type(value).__name__}")
    return base64.b64decode(value, validate=True)


def _structure_datetime(value: object, _: object) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 str, got {type(value).__name__}")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise ValueError("the date has no timezone")
    return parsed


def _is_pairs(type_: object) -> bool:
    return type_ == tuple[tuple[str, str], ...]


def _structure_pairs(value: object, _: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError("expected an object of str to str")
    return tuple(value.items())


def _structure_alternative(value: object, _: object) -> Alternative:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise TypeError("expected [content, mimetype]")
    return Alternative(content=value[0], mimetype=value[1])


converter.register_unstructure_hook(Address, str)
converter.register_structure_hook(Address, _structure_address)
converter.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode("ascii"))
converter.register_structure_hook(bytes, _structure_bytes)
converter.register_unstructure_hook(dt.datetime, dt.datetime.isoformat)
converter.register_structure_hook(dt.datetime, _structure_datetime)
converter.register_unstructure_hook_func(_is_pairs, dict)
converter.register_structure_hook_func(_is_pairs, _structure_pairs)
converter.register_unstructure_hook(Alternative, lambda a: [a.content, a.mimetype])
converter.register_structure_hook(Alternative, _structure_alternative)


#: The version of the EmailMessageDict layout; a payload of another version is refused.
SCHEMA_VERSION = 1


def dump_message(message: Message) -> EmailMessageDict:
    """Return *message* as an EmailMessageDict (JSON-safe, with its schema version)."""
    data = cast("EmailMessageDict", converter.unstructure(message, Message))
    data["v"] = SCHEMA_VERSION
    return data


def load_message(data: EmailMessageDict | dict[str, Any]) -> Message:
    """Return the Message in *data*, validated as ``compose()`` validates.

    A wrong shape (missing or unknown keys, wrong types, bad base64) raises
    SerializationError with the path of each problem; valid shape with invalid content
    (a bad address, CR/LF in a header) raises the MessageError compose() would.
    """
    if not isinstance(data, dict):
        raise SerializationError(f"not a valid EmailMessageDict: a {type(data).__name__}")
    data = dict(data)
    version = data.pop("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SerializationError(
            f"EmailMessageDict version {version!r} is not supported (this is {SCHEMA_VERSION})"
        )
    try:
        message = converter.structure(data, Message)
    except cattrs.BaseValidationError as e:
        problems = "; ".join(cattrs.transform_error(e, path="$", format_exception=_describe))
        raise SerializationError(f"not a valid EmailMessageDict: {problems}") from None
    except (MessageError, binascii.Error, ValueError, TypeError) as e:
        raise SerializationError(f"not a valid EmailMessageDict: {e}") from None
    return revalidate(message)


def _describe(error: BaseException, type_: type | None) -> str:
    if isinstance(error, MessageError):
        return f"{error.reason}: {error.value!r}"
    return format_exception(error, type_)


def revalidate(message: Message) -> Message:
    """Run *message* through compose() again: a record built by hand gets every check."""
    return compose(
        from_email=message.from_email,
        to=message.to,
        cc=message.cc,
        bcc=message.bcc,
        reply_to=message.reply_to,
        subject=message.subject,
        body=message.body,
        content_subtype=message.content_subtype,
        charset=message.charset,
        headers=message.headers,
        alternatives=message.alternatives,
        attachments=message.attachments,
        message_id=message.message_id,
        date=message.date,
        tags=message.tags,
        metadata=dict(message.metadata),
        envelope_from=message.envelope_from,
        envelope_to=message.envelope_to,
        expires=message.expires,
    )
