"""The one converter between ``Message`` records and JSON-safe dicts (``EmailMessageDict``).

``EmailMessageDict`` is what ``EmailMessage.serialize()`` returns, what a queued task
carries, and what a custom mailer written the guide's way (7.5) receives in
``send_now``. It holds only JSON types: addresses as ``"Name <local@domain>"`` strings,
attachment bytes as base64, the Date as ISO 8601. Never a host, user name, password or
API key.

The converter is built by ``make_converter()``, once, here; nothing registers hooks on a
shared converter at import. Mailers never import this module: the composition root
(``proper_mail.mail``) hands them ``CODEC`` when it builds them, for the guide's recipe.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

import cattrs
from cattrs.preconf.json import make_converter as make_json_converter
from cattrs.v import format_exception

from ..core.addresses import Address
from ..core.compose import compose
from ..core.records import Alternative, Message
from ..errors import MessageError, SerializationError

__all__ = [
    "CODEC",
    "AttachmentDict",
    "Codec",
    "EmailMessageDict",
    "dump_message",
    "load_message",
    "make_converter",
    "payload_size",
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
    provider_options: NotRequired[dict[str, str]]
    v: NotRequired[int]


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


def make_converter() -> cattrs.Converter:
    """Return the converter between Message records and EmailMessageDicts.

    JSON-safe (cattrs' JSON preset), strict about unknown keys, with our hooks:
    addresses as strings, bytes as base64, datetimes as ISO 8601, headers and metadata as
    objects, alternatives as ``[content, mimetype]`` pairs.
    """
    converter = make_json_converter(forbid_extra_keys=True)
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
    return converter


_CONVERTER = make_converter()


#: The version of the EmailMessageDict layout; a payload of another version is refused.
SCHEMA_VERSION = 1


def dump_message(message: Message) -> EmailMessageDict:
    """Return *message* as an EmailMessageDict (JSON-safe, with its schema version)."""
    data = cast("EmailMessageDict", _CONVERTER.unstructure(message, Message))
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
        message = _CONVERTER.structure(data, Message)
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
        provider_options={name: json.loads(text) for name, text in message.provider_options},
    )


class Codec:
    """The EmailMessageDict codec as an object: what the composition root hands mailers
    so the guide's ``send_now(*EmailMessageDict)`` recipe works (``adapters.base.DictCodec``)."""

    def dump(self, message: Message) -> EmailMessageDict:
        """Return *message* as an EmailMessageDict."""
        return dump_message(message)

    def load(self, data: Mapping[str, Any]) -> Message:
        """Return the Message in *data* (SerializationError or MessageError if bad)."""
        return load_message(dict(data))


CODEC = Codec()


def payload_size(message: Message) -> int:
    """Return about how many bytes *message* takes as a queued JSON payload, without
    building it (so a 50 MB attachment is refused before 70 MB of JSON exist).

    Exact for the large parts (base64 attachments, ASCII bodies); non-ASCII text is
    counted as the ``\\uXXXX`` escapes Dramatiq's JSON encoder writes; a fixed allowance
    covers the keys and the small fields.
    """
    texts = [message.subject, message.body, *(a.content for a in message.alternatives)]
    texts.extend(value for _, value in message.headers)
    texts.extend(text for _, text in message.provider_options)
    size = 2048 + sum(_json_text_size(t) for t in texts)
    size += 64 * (len(message.recipients) + len(message.reply_to) + len(message.tags))
    for attachment in message.attachments:
        size += 4 * ((len(attachment.content) + 2) // 3) + 128 + len(attachment.filename) * 6
    return size


def _json_text_size(text: str) -> int:
    if text.isascii():
        return len(text)
    # \uXXXX per BMP character, like the JSON escapes (astral ones: 10 here, 12 there).
    return len(text.encode("ascii", "backslashreplace"))
