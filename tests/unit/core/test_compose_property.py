"""The promise of compose(), over its whole input space (issue 11).

Whatever goes in (any Unicode with lone surrogates and separators, Address records built
by hand, values of the wrong type), compose() either raises a MessageError naming one of
the fields it was given, or returns a Message that is written and sent as it says:

- ``to_bytes`` writes it under ``email.policy.SMTP`` and ``email.policy.SMTPUTF8``:
  CRLF only, no line over 998 octets, 7-bit under SMTP; ``iter_bytes`` gives the same
  bytes and ``wire_size`` their length; the stdlib reads the same To and Cc back;
- ``envelope_of`` gives every distinct recipient once, each reading back as itself.

Two outcomes are by design and expected here: an address with a non-ASCII local part
needs SMTPUTF8, so under SMTP ``to_bytes`` (for From, To, Cc, Reply-To) and
``envelope_of`` (for the envelope sender and recipients) raise InvalidAddress; and a
message without recipients has no envelope (MessageError).
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings

from proper_mail.core.addresses import Address, domain_to_ascii, quote_local_part
from proper_mail.core.compose import compose
from proper_mail.core.mime import envelope_of, iter_bytes, to_bytes, wire_size
from proper_mail.core.records import Message, Stamp
from proper_mail.errors import InvalidAddress, MessageError
from tests.strategies import any_compose_fields

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd")
POLICIES = (email.policy.SMTP, email.policy.SMTPUTF8)
_FIELD_ROOT = re.compile(r"[a-z_]+")


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(fields=any_compose_fields())
def test_compose_refuses_or_makes_a_message_that_can_be_sent(fields: dict[str, Any]) -> None:
    """Any input: a MessageError naming a given field, or bytes and an envelope as promised."""
    try:
        message = compose(stamp=STAMP, **fields)
    except MessageError as e:
        error = e
    else:
        event("composed")
        for policy in POLICIES:
            check_bytes(message, policy)
            check_envelope(message, policy)
        return

    root = _FIELD_ROOT.match(error.field)
    assert root is not None, error.field
    assert root.group() in fields, error.field
    event(f"refused: {root.group()}")


def needs_smtputf8(addresses: tuple[Address, ...]) -> bool:
    """True when one of *addresses* has a non-ASCII local part."""
    return any(not quote_local_part(a.local_part).isascii() for a in addresses)


def key(address: Address) -> tuple[str, str]:
    """The mailbox an address names: local part and A-label domain."""
    return address.local_part, domain_to_ascii(address.domain)


def check_bytes(message: Message, policy: Any) -> None:
    """to_bytes writes *message* (or refuses a non-ASCII local part under SMTP)."""
    in_headers = (message.from_email, *message.to, *message.cc, *message.reply_to)
    if needs_smtputf8(in_headers) and not policy.utf8:
        with pytest.raises(InvalidAddress, match="SMTPUTF8"):
            to_bytes(message, policy)
        return

    data = to_bytes(message, policy)

    assert b"".join(iter_bytes(message, policy)) == data
    assert wire_size(message, policy) == len(data)
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert policy.utf8 or data.isascii()
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    for name, records in (("To", message.to), ("Cc", message.cc)):
        header = parsed[name]
        got = [(_utf8(a.username), _utf8(a.domain)) for a in header.addresses] if records else []
        assert got == [(r.local_part, _domain(r, policy)) for r in records], name


def check_envelope(message: Message, policy: Any) -> None:
    """envelope_of gives each distinct recipient once, or raises as documented."""
    wanted = {key(Address.parse(a)) for a in message.envelope_to}
    distinct = {key(a): a for a in reversed(message.recipients) if not wanted or key(a) in wanted}
    sender = message.envelope_from or message.from_email
    if needs_smtputf8((sender, *distinct.values())) and not policy.utf8:
        with pytest.raises(InvalidAddress, match="SMTPUTF8"):
            envelope_of(message, policy)
        return
    if not distinct:
        with pytest.raises(MessageError, match="no recipients"):
            envelope_of(message, policy)
        return

    envelope = envelope_of(message, policy)

    assert key(Address.parse(envelope.sender)) == key(sender)
    assert sorted(key(Address.parse(r)) for r in envelope.recipients) == sorted(distinct)
    assert all(r.isascii() for r in (envelope.sender, *envelope.recipients)) or policy.utf8


def _domain(address: Address, policy: Any) -> str:
    return address.domain if policy.utf8 else domain_to_ascii(address.domain)


def _utf8(text: str) -> str:
    """Undo the stdlib's reading of raw UTF-8 header bytes as surrogate escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8")
