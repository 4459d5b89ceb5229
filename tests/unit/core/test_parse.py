"""parse_mime: a hand-built stdlib message -> a record, its headers checked by our rules."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy

import pytest

from proper_mail import InvalidAddress, InvalidHeader, MessageError
from proper_mail.core.mime import envelope_of
from proper_mail.core.parse import parse_mime
from proper_mail.core.records import Stamp

STAMP = Stamp(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "parsed")


def modern() -> email.message.EmailMessage:
    """A message built the guide's 5.3 way: text, html with an inline image, a file."""
    built = email.message.EmailMessage()
    built["From"] = "MyApp <no-reply@example.com>"
    built["To"] = "Zoë Müller <zoe@münchen.de>, bob@example.com"
    built["Cc"] = '"Doe, Jane" <jane@example.com>'
    built["Bcc"] = "audit@example.com"
    built["Subject"] = "Grüße"
    built["X-Campaign"] = "spring"
    built.set_content("Hello")
    built.add_alternative("<p>Hello <img src='cid:logo'></p>", subtype="html")
    parts = built.get_payload()
    assert isinstance(parts, list)
    html = parts[1]
    assert isinstance(html, email.message.EmailMessage)
    html.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo@x>")
    built.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename="a.pdf")
    return built


def test_a_modern_message_becomes_the_same_record_fields() -> None:
    """Addresses, subject, custom headers, bodies, the inline image and the file map over."""
    record = parse_mime(modern(), stamp=STAMP)

    assert str(record.from_email) == "MyApp <no-reply@example.com>"
    assert [a.addr_spec for a in record.to] == ["zoe@münchen.de", "bob@example.com"]
    assert record.to[0].display_name == "Zoë Müller"
    assert record.cc[0].display_name == "Doe, Jane"
    assert [a.addr_spec for a in record.bcc] == ["audit@example.com"]
    assert record.subject == "Grüße"
    assert record.headers == (("X-Campaign", "spring"),)
    assert (record.body, record.content_subtype) == ("Hello\n", "plain")
    assert [a.mimetype for a in record.alternatives] == ["text/html"]
    inline, pdf = record.attachments
    assert (inline.disposition, inline.content_id, inline.content) == (
        "inline",
        "logo@x",
        b"\x89PNG",
    )
    assert (pdf.filename, pdf.mimetype, pdf.content) == ("a.pdf", "application/pdf", b"%PDF")


def test_missing_date_and_message_id_come_from_the_stamp() -> None:
    """A hand-built message without Date and Message-ID gets the stamp's."""
    record = parse_mime(modern(), stamp=STAMP)

    assert record.date == STAMP.date
    assert record.message_id == "<parsed@example.com>"


def test_its_own_date_and_message_id_are_kept() -> None:
    """Date and Message-ID the message has are its own."""
    built = modern()
    built["Date"] = "Tue, 01 Dec 2026 10:00:00 +0100"
    built["Message-ID"] = "<hand@example.com>"

    record = parse_mime(built, stamp=STAMP)

    assert record.message_id == "<hand@example.com>"
    assert record.date == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def test_a_compat32_subject_with_a_blank_line_is_header_injection() -> None:
    """CVE-2024-6923 on Python 3.12.1: compat32 lets "Hi\\n\\nInjected" through; we refuse."""
    built = email.message.Message()
    built["From"] = "a@example.com"
    built["To"] = "b@example.com"
    built["Subject"] = "Hi\n\nInjected body line"
    built.set_payload("body")

    with pytest.raises(InvalidHeader, match="Subject: a line break inside a header value"):
        parse_mime(built, stamp=STAMP)


def test_a_compat32_header_line_is_header_injection_not_a_parse_error() -> None:
    """ "Hi\\nX-H: y": our InvalidHeader, never the stdlib's HeaderParseError."""
    built = email.message.EmailMessage(policy=email.policy.compat32)
    built["From"] = "a@example.com"
    built["To"] = "b@example.com"
    built["Subject"] = "Hi\nX-H: y"

    with pytest.raises(InvalidHeader):
        parse_mime(built, stamp=STAMP)


def test_folded_and_encoded_headers_of_a_parsed_message_are_unfolded_and_decoded() -> None:
    """A message parsed from bytes: folds undone, RFC 2047 words decoded, names too."""
    raw = (
        b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.com>\r\n"
        b"To: a@example.com,\r\n b@example.com\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n and more\r\n"
        b"\r\n"
        b"Body\r\n"
    )
    record = parse_mime(email.message_from_bytes(raw), stamp=STAMP)

    assert record.from_email.display_name == "Zoë"
    assert record.subject == "Grüße and more"
    assert [a.addr_spec for a in record.to] == ["a@example.com", "b@example.com"]


def test_addresses_go_through_our_parser() -> None:
    """CVE-2023-27043's address is refused, not read as bob."""
    built = email.message.Message()
    built["From"] = "a@example.com"
    built["To"] = "alice@example.org)<bob@example.org>"

    with pytest.raises(InvalidAddress):
        parse_mime(built, stamp=STAMP)


def test_a_message_needs_one_from() -> None:
    """No From: a MessageError naming from_email."""
    built = email.message.EmailMessage()
    built["To"] = "b@example.com"
    built.set_content("x")

    with pytest.raises(MessageError, match="from_email"):
        parse_mime(built, stamp=STAMP)


def test_the_envelope_comes_from_the_headers_bcc_included() -> None:
    """To, Cc and Bcc are the envelope; an empty group adds nobody."""
    built = modern()
    del built["Cc"]
    built["Cc"] = "undisclosed-recipients:;"

    envelope = envelope_of(parse_mime(built, stamp=STAMP))

    assert envelope.recipients == ("zoe@xn--mnchen-3ya.de", "bob@example.com", "audit@example.com")


def test_a_text_part_that_does_not_decode_is_refused() -> None:
    """A text part whose bytes are not its charset: MessageError naming the body."""
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\n"
        b'Content-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n\r\n\xff\xfe\r\n"
    )

    with pytest.raises(MessageError, match="body"):
        parse_mime(email.message_from_bytes(raw), stamp=STAMP)
