"""MIME assembly: the guide's 4.1 structure table, bytes on the wire, envelope, round trips."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import email.utils
from email.header import decode_header, make_header
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proper_mail.core.compose import compose
from proper_mail.core.headers import fold, render_display_name_atoms
from proper_mail.core.mime import envelope_of, to_bytes, to_mime
from proper_mail.core.records import Address, Alternative, Attachment, Envelope, Message, Stamp
from proper_mail.errors import InvalidAddress, InvalidHeader, MessageError
from tests.strategies import compose_fields, display_names, mailboxes

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd")
PLAIN = compose(
    stamp=STAMP,
    from_email="MyApp <no-reply@example.com>",
    to="Alice <alice@example.com>",
    subject="Welcome!",
    body="Thanks for signing up.\n",
)
HTML = "<p>Thanks for <b>signing up</b>.</p>\n"
TEXT = "Thanks for signing up.\n"
PDF = Attachment("invoice.pdf", b"%PDF-1.7\n\x00\xff binary", "application/pdf")
CSV = Attachment("data.csv", b"a,b\r\n1,2\r\n", "text/csv")
LOGO = Attachment("logo.png", b"\x89PNG\r\n\x1a\n", "image/png", "inline", "logo@example.com")


def parse(message: Message, policy: Any = email.policy.default) -> email.message.EmailMessage:
    """Parse the wire bytes with the stdlib's strict modern parser."""
    parsed = email.message_from_bytes(to_bytes(message), policy=policy)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def shape(part: email.message.Message) -> object:
    """The content-type tree of a parsed message, e.g. ("multipart/mixed", [...])."""
    if part.is_multipart():
        payload = part.get_payload()
        assert isinstance(payload, list)
        return (part.get_content_type(), [shape(p) for p in payload if not isinstance(p, str)])
    return part.get_content_type()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "text/plain"),
        ({"body": HTML, "content_subtype": "html"}, "text/html"),
        (
            {
                "body": HTML,
                "content_subtype": "html",
                "alternatives": (Alternative(TEXT, "text/plain"),),
            },
            ("multipart/alternative", ["text/plain", "text/html"]),
        ),
        (
            {"body": TEXT, "alternatives": (Alternative(HTML, "text/html"),)},
            ("multipart/alternative", ["text/plain", "text/html"]),
        ),
        (
            {
                "body": HTML,
                "content_subtype": "html",
                "alternatives": (
                    Alternative("<amp/>", "text/x-amp-html"),
                    Alternative(TEXT, "text/plain"),
                ),
            },
            ("multipart/alternative", ["text/plain", "text/x-amp-html", "text/html"]),
        ),
        ({"attachments": (PDF,)}, ("multipart/mixed", ["text/plain", "application/pdf"])),
        (
            {
                "body": HTML,
                "content_subtype": "html",
                "alternatives": (Alternative(TEXT, "text/plain"),),
                "attachments": (PDF, CSV),
            },
            (
                "multipart/mixed",
                [
                    ("multipart/alternative", ["text/plain", "text/html"]),
                    "application/pdf",
                    "text/csv",
                ],
            ),
        ),
        (
            {"body": HTML, "content_subtype": "html", "attachments": (LOGO,)},
            ("multipart/related", ["text/html", "image/png"]),
        ),
        (
            {
                "body": HTML,
                "content_subtype": "html",
                "alternatives": (Alternative(TEXT, "text/plain"),),
                "attachments": (PDF, LOGO),
            },
            (
                "multipart/mixed",
                [
                    (
                        "multipart/alternative",
                        ["text/plain", ("multipart/related", ["text/html", "image/png"])],
                    ),
                    "application/pdf",
                ],
            ),
        ),
        # An inline part with no HTML to show it travels as a file.
        ({"attachments": (LOGO,)}, ("multipart/mixed", ["text/plain", "image/png"])),
    ],
)
def test_structure_follows_the_guide_table(changes: dict[str, Any], expected: object) -> None:
    """Body only: one part; html + text: alternative, text first; files: mixed; cid: related."""
    message = attrs.evolve(PLAIN, **changes)

    assert shape(parse(message)) == expected


def test_related_part_declares_the_html_type_and_resolves_cid() -> None:
    """multipart/related carries type="text/html" and the image's Content-ID matches cid:."""
    message = attrs.evolve(
        PLAIN, body='<img src="cid:logo@example.com">', content_subtype="html", attachments=(LOGO,)
    )

    related = parse(message)
    html, image = related.iter_parts()

    assert related.get_param("type") == "text/html"
    assert image["Content-ID"] == "<logo@example.com>"
    assert image.get_content_disposition() == "inline"
    assert "cid:" + image["Content-ID"].strip("<>") in html.get_content()
    assert image.get_content() == LOGO.content


def test_bcc_is_never_a_header() -> None:
    """Bcc goes in the envelope only; the bytes do not mention it at all."""
    message = attrs.evolve(
        PLAIN,
        bcc=PLAIN.to[:0] + (compose(stamp=STAMP, from_email="a@b.co", to="secret@example.com").to),
    )

    data = to_bytes(message)

    assert b"secret@example.com" not in data
    assert b"bcc" not in data.lower()
    assert "secret@example.com" in envelope_of(message).recipients


def test_envelope_has_every_recipient_once_in_ascii() -> None:
    """to, cc and bcc, deduplicated, prepared with prep_address (IDN -> A-label)."""
    message = compose(
        stamp=STAMP,
        from_email="Zoë <zoe@münchen.de>",
        to=["A <a@example.com>", "b@bücher.example"],
        cc=["a@example.com", "c@example.com"],
        bcc=["b@xn--bcher-kva.example", "d@example.com"],
    )

    assert envelope_of(message) == Envelope(
        sender="zoe@xn--mnchen-3ya.de",
        recipients=("a@example.com", "b@xn--bcher-kva.example", "c@example.com", "d@example.com"),
    )


def test_envelope_keeps_unicode_under_smtputf8() -> None:
    """With the SMTPUTF8 policy, Unicode local parts and domains are kept."""
    message = compose(stamp=STAMP, from_email="zoë@münchen.de", to="josé@example.com")

    envelope = envelope_of(message, email.policy.SMTPUTF8)

    assert envelope == Envelope("zoë@münchen.de", ("josé@example.com",))


def test_envelope_uses_envelope_from() -> None:
    """A bounce address set as envelope_from is the MAIL FROM; From stays the header."""
    message = compose(
        stamp=STAMP,
        from_email="a@example.com",
        to="b@example.com",
        envelope_from="bounces@example.com",
    )

    assert envelope_of(message).sender == "bounces@example.com"
    assert parse(message)["From"] == "a@example.com"


def test_a_message_without_recipients_has_no_envelope() -> None:
    """Nothing to send to is an error, never a silent no-op."""
    with pytest.raises(MessageError, match="no recipients"):
        envelope_of(attrs.evolve(PLAIN, to=()))


def test_non_ascii_local_part_needs_smtputf8() -> None:
    """A Unicode local part cannot be written under the 7-bit policy: a clear error."""
    message = compose(stamp=STAMP, from_email="a@example.com", to="josé@example.com")

    with pytest.raises(InvalidAddress, match="SMTPUTF8"):
        to_bytes(message)


def test_smtputf8_policy_keeps_unicode_in_headers() -> None:
    """Under email.policy.SMTPUTF8 addresses and names go as raw UTF-8 (RFC 6532)."""
    message = compose(
        stamp=STAMP, from_email="Zoë <zoë@münchen.de>", to="josé@例子.广告", subject="Grüße"
    )

    data = to_bytes(message, email.policy.SMTPUTF8)
    parsed = email.message_from_bytes(data, policy=email.policy.SMTPUTF8)

    assert "From: Zoë <zoë@münchen.de>\r\n".encode() in data
    assert "To: josé@例子.广告\r\n".encode() in data
    assert parsed["Subject"] == "Grüße"


def test_idn_recipients_become_a_labels_in_headers() -> None:
    """user@münchen.de is written user@xn--mnchen-3ya.de (the guide, 9)."""
    message = compose(stamp=STAMP, from_email="a@example.com", to="user@münchen.de")

    assert b"To: user@xn--mnchen-3ya.de\r\n" in to_bytes(message)


RICH = compose(
    stamp=STAMP,
    from_email="Zoë Ünïcode <no-reply@example.com>",
    to=["José Núñez <jose@example.com>", '"Doe, John" <john@example.com>'],
    cc=["x" * 60 + "@" + "sub." * 10 + "example.com"],
    subject="Réinitialisez votre mot de passe — " + "très " * 30,
    body="é" * 2000 + "\n" + "a" * 1500 + "\n",
    content_subtype="plain",
    alternatives=[("<p>" + "word " * 600 + "</p>", "text/html")],
    headers={"X-Long": " ".join(["token"] * 100), "X-Greeting": "Grüße"},
    attachments=[Attachment("ü" * 120 + ".pdf", bytes(range(256)) * 20, "application/pdf")],
)


def test_bytes_are_crlf_only_short_lines_and_7bit() -> None:
    """The wire bytes: CRLF line endings only, no line over 998 octets, no 8-bit byte."""
    data = to_bytes(RICH)

    assert data.isascii()
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998
    assert data.endswith(b"\r\n")


def test_header_lines_are_folded_near_78() -> None:
    """Long headers fold at 78 columns; a longer line holds one unbreakable token only."""
    head = to_bytes(RICH).split(b"\r\n\r\n", 1)[0]

    long_lines = [line for line in head.split(b"\r\n") if len(line) > 78]
    tokens = [line.split(b": ", 1)[-1].split() for line in long_lines]

    assert all(len(t) == 1 for t in tokens), long_lines


def test_rich_message_parses_back() -> None:
    """Long non-ASCII subject, long filename (RFC 2231 continuations) and bodies round-trip."""
    parsed = parse(RICH)
    (attachment,) = parsed.iter_attachments()

    assert parsed["Subject"] == RICH.subject
    assert attachment.get_filename() == RICH.attachments[0].filename
    assert attachment.get_content() == RICH.attachments[0].content
    assert normalize(parsed.get_body(("plain",)).get_content()) == RICH.body  # type: ignore[union-attr]
    assert parsed["X-Long"] == " ".join(["token"] * 100)
    assert parsed["X-Greeting"] == "Grüße"


@pytest.mark.parametrize(
    "value",
    [
        "=?utf-8?q?looks_encoded?=",
        "a\tb",
        "a  b",
        "x" * 200,
        "ab =?x",
        "é  x",
        "a" * 80 + " " + "b" * 80,
        "<https://example.com/u?t=1>, <mailto:u@example.com?subject=unsubscribe>",
    ],
)
def test_subject_and_header_values_round_trip_exactly(value: str) -> None:
    """Odd spacing, tabs, long runs and text that looks like an encoded word survive."""
    message = compose(
        stamp=STAMP, from_email="a@b.co", to="c@d.co", subject=value, headers={"X-A": value}
    )

    parsed = parse(message)

    assert (parsed["Subject"], parsed["X-A"]) == (value, value)


def test_structured_custom_headers_go_as_written() -> None:
    """An ASCII custom header is not encoded, so List-Unsubscribe stays machine-readable."""
    value = "<https://example.com/unsubscribe?t=1>"
    message = compose(
        stamp=STAMP, from_email="a@b.co", to="c@d.co", headers={"List-Unsubscribe": value}
    )

    assert f"List-Unsubscribe: {value}\r\n".encode() in to_bytes(message)


def test_filenames_are_rfc2231_encoded_when_non_ascii() -> None:
    """A non-ASCII file name is written as filename*=utf-8''... (RFC 2231)."""
    message = attrs.evolve(PLAIN, attachments=(attrs.evolve(PDF, filename="naïve.pdf"),))

    assert b"filename*=utf-8''na%C3%AFve.pdf" in to_bytes(message)


def test_output_is_a_pure_function_of_the_record() -> None:
    """The same record always gives the same bytes: retries send identical messages."""
    assert to_bytes(RICH) == to_bytes(RICH)


def test_boundaries_never_occur_in_the_content() -> None:
    """A body that contains the boundary we would pick gets another one."""
    first = to_bytes(attrs.evolve(PLAIN, attachments=(PDF,)))
    boundary = first.split(b'boundary="', 1)[1].split(b'"', 1)[0].decode()

    tricky = attrs.evolve(PLAIN, body=f"--{boundary}\n", attachments=(PDF,))
    parsed = parse(tricky)

    assert parsed.get_boundary() != boundary
    assert normalize(parsed.get_body(("plain",)).get_content()) == f"--{boundary}\n"  # type: ignore[union-attr]


def test_to_mime_gives_the_stdlib_object_the_guide_tests_use() -> None:
    """to_mime returns an EmailMessage with email["Subject"], email["To"], get_body()."""
    mime = to_mime(attrs.evolve(PLAIN, alternatives=(Alternative(HTML, "text/html"),)))

    assert isinstance(mime, email.message.EmailMessage)
    assert mime["Subject"] == "Welcome!"
    assert mime["To"] == "Alice <alice@example.com>"
    assert mime.get_body(("plain", "html")).get_content() == "Thanks for signing up.\n"  # type: ignore[union-attr]
    assert mime["Bcc"] is None


def normalize(text: str) -> str:
    """Text as MIME carries it: CRLF/CR/LF -> LF, one final line break."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=compose_fields())
def test_round_trip_keeps_everything(fields: dict[str, Any]) -> None:
    """compose -> bytes -> stdlib parse keeps subject, addresses, bodies, files, headers."""
    message = compose(stamp=STAMP, **fields)

    parsed = parse(message)

    assert parsed["Subject"] == message.subject
    for name, records in (
        ("From", (message.from_email,)),
        ("To", message.to),
        ("Cc", message.cc),
        ("Reply-To", message.reply_to),
    ):
        header = parsed[name]
        got = [(a.display_name, a.addr_spec) for a in header.addresses] if header else []
        assert got == [(stdlib_display_name(r.display_name), _ascii_spec(r)) for r in records]
    for name, value in message.headers:
        assert parsed[name] == value
    bodies = {
        part.get_content_type(): normalize(part.get_content())
        for part in parsed.walk()
        if part.get_content_maintype() == "text" and part.get_content_disposition() is None
    }
    assert bodies[f"text/{message.content_subtype}"] == normalize(message.body)
    for alternative in message.alternatives:
        assert bodies[alternative.mimetype] == normalize(alternative.content)
    files = [
        (p.get_filename() or "", p.get_content_type(), p.get_payload(decode=True))
        for p in parsed.walk()
        if p.get_content_disposition() in ("attachment", "inline")
    ]
    assert sorted(files) == sorted(
        (stdlib_filename(a.filename), a.mimetype, a.content) for a in message.attachments
    )
    assert b"\n" not in to_bytes(message).replace(b"\r\n", b"")


def stdlib_filename(name: str) -> str:
    """The filename as the stdlib's ``get_filename()`` reads it back.

    It unquotes the decoded parameter once more, dropping a ``<...>`` or ``"..."``
    around the name however it was written (quoted or RFC 2231), then strips it.
    """
    return email.utils.unquote(name).strip()


def stdlib_display_name(name: str) -> str:
    """The name as the stdlib's modern parser reads our header back.

    When a name needs several encoded words, that parser puts a space between them
    (RFC 2047, 6.2 says to ignore that whitespace; mail clients do). So for such names
    we expect the stdlib's reading, and prove the RFC reading in a test of its own.
    """
    atoms = render_display_name_atoms(name, utf8=False) if name else []
    if sum(a.startswith("=?") for a in atoms) <= 1:
        return name
    return " ".join(str(make_header(decode_header(a))) for a in atoms)


@given(name=display_names())
def test_display_names_decode_exactly_under_rfc_2047(name: str) -> None:
    """An RFC 2047 reader (email.header.decode_header) gets every encoded name back."""
    atoms = render_display_name_atoms(name, utf8=False) if name else []
    if not atoms or not atoms[0].startswith("=?"):
        return  # plain or quoted: no encoded words involved

    decoded = str(make_header(decode_header(" ".join(atoms))))

    assert decoded == name


def _ascii_spec(address: Any) -> str:
    from proper_mail.core.addresses import prep_address

    return prep_address(address)


@settings(max_examples=300, deadline=None)
@given(addresses=st.lists(mailboxes(), min_size=1, max_size=40))
def test_address_lists_of_any_length_reparse_to_the_same_recipients(addresses: list[str]) -> None:
    """CVE-2025-1795: however long and non-ASCII the list, folding never loses a recipient."""
    message = compose(stamp=STAMP, from_email="a@example.com", to=addresses)

    parsed = parse(message)

    assert [a.addr_spec for a in parsed["To"].addresses] == [_ascii_spec(a) for a in message.to]
    assert len(parsed["To"].addresses) == len(addresses)


CVE_2025_1795_TO = [
    "01234567890123456789012345678901234567890123456789012345678901@example.org",
    "ä <foo@example.org>",
]


def test_the_cve_2025_1795_list_keeps_both_recipients() -> None:
    """The list that makes Python 3.12.1's folder encode the comma (and lose foo@) is safe."""
    message = compose(stamp=STAMP, from_email="a@example.com", to=CVE_2025_1795_TO)

    data = to_bytes(message)
    parsed = parse(message)

    assert b"=2C" not in data
    assert [a.addr_spec for a in parsed["To"].addresses] == [
        CVE_2025_1795_TO[0],
        "foo@example.org",
    ]


def test_the_stdlib_folder_is_what_we_work_around() -> None:
    """Where the stdlib is unpatched (3.12.1 here), its own folding drops a recipient."""
    stdlib = email.message.EmailMessage()
    stdlib["To"] = ", ".join(CVE_2025_1795_TO)

    reparsed = email.message_from_bytes(stdlib.as_bytes(), policy=email.policy.default)
    kept = [a.addr_spec for a in reparsed["To"].addresses]

    if len(kept) == 2:
        pytest.skip("this Python's email package has the CVE-2025-1795 fix")
    assert kept == [CVE_2025_1795_TO[0]]


POLICIES = [email.policy.SMTP, email.policy.SMTPUTF8]


def longest_line(data: bytes) -> int:
    """The longest line of *data*, in octets, CRLF excluded."""
    return max(len(line) for line in data.split(b"\r\n"))


@pytest.mark.parametrize("policy", POLICIES, ids=["SMTP", "SMTPUTF8"])
def test_a_long_unbreakable_subject_goes_as_encoded_words(policy: Any) -> None:
    """subject="a" * 2000 composes, is written in lines under 998 octets, and reads back."""
    message = compose(stamp=STAMP, from_email="a@b.co", to="c@d.co", subject="a" * 2000)

    data = to_bytes(message, policy)

    assert longest_line(data) <= 998
    assert email.message_from_bytes(data, policy=email.policy.default)["Subject"] == "a" * 2000


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("N" * 5000, email.policy.SMTP),
        ("N" * 5000, email.policy.SMTPUTF8),
        ("é" * 2000, email.policy.SMTPUTF8),  # 4,000 octets: raw UTF-8 would not fit
    ],
    ids=["ascii-SMTP", "ascii-SMTPUTF8", "utf8-SMTPUTF8"],
)
def test_a_long_display_name_is_written(name: str, policy: Any) -> None:
    """A 5,000-character name without spaces goes as encoded words; the address survives."""
    message = compose(stamp=STAMP, from_email="a@b.co", to=[Address(name, "c", "d.co")])

    data = to_bytes(message, policy)
    parsed = email.message_from_bytes(data, policy=email.policy.default)

    assert longest_line(data) <= 998
    assert [a.addr_spec for a in parsed["To"].addresses] == ["c@d.co"]


@pytest.mark.parametrize("policy", POLICIES, ids=["SMTP", "SMTPUTF8"])
def test_a_header_with_tabs_folds_before_them(policy: Any) -> None:
    """headers={"X-A": "x\\t" * 600}: folded before TABs, read back exactly."""
    message = compose(stamp=STAMP, from_email="a@b.co", to="c@d.co", headers={"X-A": "x\t" * 600})

    data = to_bytes(message, policy)

    assert longest_line(data) <= 998
    assert email.message_from_bytes(data, policy=email.policy.default)["X-A"] == "x\t" * 599 + "x"


def test_smtputf8_lines_are_counted_in_octets() -> None:
    """subject="€" * 600 under SMTPUTF8: no line over 998 octets (each € is 3)."""
    message = compose(stamp=STAMP, from_email="a@b.co", to="c@d.co", subject="€" * 600)

    data = to_bytes(message, email.policy.SMTPUTF8)

    assert longest_line(data) <= 998
    assert email.message_from_bytes(data, policy=email.policy.default)["Subject"] == "€" * 600


def test_smtputf8_folds_at_78_octets() -> None:
    """Under SMTPUTF8 the folding width counts octets too: "€€€€" words fold before 78."""
    message = compose(
        stamp=STAMP, from_email="a@b.co", to="c@d.co", subject=" ".join(["€€€€"] * 40)
    )

    head = to_bytes(message, email.policy.SMTPUTF8).split(b"\r\n\r\n", 1)[0]

    assert max(len(line) for line in head.split(b"\r\n")) <= 78


def test_a_fold_error_shows_the_line_that_is_too_long() -> None:
    """fold() names the offending line, not whatever line came last."""
    with pytest.raises(InvalidHeader) as caught:
        fold("X-A", ["a", "b" * 1000, "c"])

    assert caught.value.value == " " + "b" * 1000


def test_the_envelope_dedupes_idn_forms_under_smtputf8() -> None:
    """b@bücher.example and b@xn--bcher-kva.example are one RCPT under SMTPUTF8 too."""
    message = compose(
        stamp=STAMP, from_email="a@b.co", to=["b@bücher.example", "b@xn--bcher-kva.example"]
    )

    envelope = envelope_of(message, email.policy.SMTPUTF8)

    assert envelope.recipients == ("b@bücher.example",)


def test_a_trailing_dot_makes_no_second_rcpt() -> None:
    """b@example.com. and b@example.com are one envelope recipient."""
    message = compose(stamp=STAMP, from_email="a@b.co", to=["b@example.com."], cc="b@example.com")

    assert envelope_of(message).recipients == ("b@example.com",)


def test_a_filename_that_looks_encoded_is_written_in_rfc_2231_form() -> None:
    """A quoted "=?utf-8?q?x?=" would be decoded by readers: it goes as filename*= instead."""
    name = "=?utf-8?q?invoice?=.pdf"
    message = attrs.evolve(PLAIN, attachments=(attrs.evolve(PDF, filename=name),))

    (attachment,) = parse(message).iter_attachments()

    assert attachment.get_filename() == name
