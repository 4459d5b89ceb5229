"""SMTP reply handling as pure functions (adapters/smtp.py), table-tested without a server."""

from __future__ import annotations

import pytest

from proper_mail import MessageTooLarge, PermanentDeliveryError, TransientDeliveryError
from proper_mail.adapters.smtp import (
    Reply,
    data_end_outcome,
    parse_reply_line,
    rcpt_state,
    reply_error,
)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"250 OK", (250, True, "OK")),
        (b"250-SIZE 1000", (250, False, "SIZE 1000")),
        (b"354", (354, True, "")),
        (b"452 4.5.3 Too many recipients", (452, True, "4.5.3 Too many recipients")),
        (b"hello", (None, True, "hello")),
        (b"25", (None, True, "25")),
        (b"999 nine", (None, True, "999 nine")),
        (b"2500 four digits", (None, True, "2500 four digits")),
        (b"", (None, True, "")),
        (b"250\xff bad byte", (None, True, "250\ufffd bad byte")),
    ],
)
def test_parse_reply_line(line: bytes, expected: tuple[int | None, bool, str]) -> None:
    """A code is three digits 2xx-5xx then a space, a hyphen or nothing; else None."""
    assert parse_reply_line(line) == expected


@pytest.mark.parametrize(
    ("stage", "code", "text", "kind"),
    [
        ("MAIL FROM", 421, "shutting down", TransientDeliveryError),
        ("MAIL FROM", 552, "5.3.4 message size exceeds fixed limit", MessageTooLarge),
        ("MAIL FROM", 550, "5.7.1 sender refused", PermanentDeliveryError),
        ("DATA end", 552, "5.3.4 too big", MessageTooLarge),
        ("DATA end", 554, "5.3.4 too big for us", MessageTooLarge),
        ("DATA end", 554, "5.6.0 rejected", PermanentDeliveryError),
        ("DATA end", 451, "try later", TransientDeliveryError),
        ("RCPT TO", 552, "mailbox full", PermanentDeliveryError),  # at RCPT, not a size
        ("DATA", None, "garbage", TransientDeliveryError),
    ],
)
def test_reply_error_classifies(stage: str, code: int | None, text: str, kind: type) -> None:
    """4xx transient, 5xx permanent, a size refusal MessageTooLarge, no code transient."""
    error = reply_error(stage, code, text)

    assert type(error) is kind
    assert error.code == code
    assert stage in str(error)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (250, ("sent", False)),
        (251, ("sent", False)),
        (252, ("sent", False)),
        (450, ("deferred", False)),
        (451, ("deferred", False)),
        (452, ("deferred", True)),
        (552, ("deferred", True)),  # RFC 5321 4.5.3.1.10: treat like 452
        (550, ("rejected", False)),
        (553, ("rejected", False)),
    ],
)
def test_rcpt_state(code: int, expected: tuple[str, bool]) -> None:
    """A recipient's state after RCPT, and whether it goes in another transaction now."""
    assert rcpt_state(code) == expected


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(250, "2.0.0 Ok: queued"), "sent"),
        (Reply(451, "4.3.0 later"), "deferred"),
        (Reply(552, "5.3.4 too big"), "too large"),
        (Reply(550, "5.3.4 message too big"), "too large"),
        (Reply(554, "5.7.1 spam"), "rejected"),
        (Reply(None, "hello"), "sent"),
    ],
)
def test_data_end_outcome(reply: Reply, expected: str) -> None:
    """After the final dot; an unreadable reply from a server that read it all is sent."""
    outcome, detail = data_end_outcome(reply)

    assert outcome == expected
    if reply.malformed:
        assert "most likely stored" in detail
