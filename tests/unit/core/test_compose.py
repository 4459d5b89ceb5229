"""compose(): defaults (the guide, 3.2-3.4), validation, Message-ID and Date."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proper_mail.core.compose import (
    compose,
    defaults_from_options,
    layer_defaults,
    parse_addresses,
)
from proper_mail.core.records import Address, Alternative, Attachment, Defaults, Stamp
from proper_mail.errors import ConfigError, InvalidAddress, InvalidHeader, MessageError

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd")
FIELDS: dict[str, Any] = {
    "stamp": STAMP,
    "from_email": "hello@example.com",
    "subject": "Welcome!",
    "body": "Thanks for signing up.",
    "to": "alice@example.com",
}
APP_DEFAULTS = defaults_from_options(
    {
        "from": "no-reply@example.com",
        "reply_to": ["support@example.com"],
        "headers": {"X-App": "MyApp"},
    }
)


def addr(text: str) -> Address:
    """Parse *text*; shorthand for expected values."""
    return Address.parse(text)


def test_guide_3_1_constructor_arguments() -> None:
    """The guide's 3.1 example composes with every field as given."""
    message = compose(
        stamp=STAMP,
        from_email="hello@example.com",
        subject="Welcome!",
        body="Thanks for signing up.",
        to="alice@example.com",
        cc=["manager@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        headers={"X-Campaign": "spring-launch"},
    )

    assert message.from_email == addr("hello@example.com")
    assert message.to == (addr("alice@example.com"),)
    assert message.cc == (addr("manager@example.com"),)
    assert message.bcc == (addr("audit@example.com"),)
    assert message.reply_to == (addr("support@example.com"),)
    assert message.headers == (("X-Campaign", "spring-launch"),)
    assert (message.subject, message.body, message.content_subtype) == (
        "Welcome!",
        "Thanks for signing up.",
        "plain",
    )


@pytest.mark.parametrize("field", ["to", "cc", "bcc", "reply_to"])
def test_a_str_and_a_list_both_work(field: str) -> None:
    """to, cc, bcc and reply_to take one str or a list of str."""
    one = compose(**{**FIELDS, field: "a@example.com"})
    many = compose(**{**FIELDS, field: ["a@example.com", "B <b@example.com>"]})

    assert getattr(one, field) == (addr("a@example.com"),)
    assert getattr(many, field) == (addr("a@example.com"), addr("B <b@example.com>"))


def test_commas_in_one_str_are_rejected() -> None:
    """A single str is one address: "a@x.com, b@y.com" is an error naming the field."""
    with pytest.raises(InvalidAddress, match="pass a list") as caught:
        compose(**{**FIELDS, "to": "a@x.com, b@y.com"})

    assert caught.value.field == "to"
    assert caught.value.value == "a@x.com, b@y.com"


def test_list_items_are_named_by_index() -> None:
    """A bad address in a list names its position."""
    with pytest.raises(InvalidAddress) as caught:
        compose(**{**FIELDS, "cc": ["ok@example.com", "not-an-address"]})

    assert caught.value.field == "cc[1]"


def test_app_defaults_fill_what_the_message_leaves_empty() -> None:
    """MAILER_DEFAULT_OPTIONS supply From, Reply-To and headers (the guide, 3.4)."""
    message = compose(**{**FIELDS, "from_email": None}, defaults=APP_DEFAULTS)

    assert message.from_email == addr("no-reply@example.com")
    assert message.reply_to == (addr("support@example.com"),)
    assert message.headers == (("X-App", "MyApp"),)


def test_arguments_win_over_class_defaults_over_app_defaults() -> None:
    """argument > class-level default > MAILER_DEFAULT_OPTIONS, field by field."""
    class_defaults = Defaults(
        from_email=addr("news@example.com"),
        subject="Your weekly digest",
        headers=(("X-App", "Newsletter"), ("X-Kind", "digest")),
    )
    defaults = layer_defaults(class_defaults, APP_DEFAULTS)

    message = compose(
        stamp=STAMP,
        to="a@example.com",
        subject="Override",
        headers={"X-Kind": "special"},
        defaults=defaults,
    )

    assert message.subject == "Override"
    assert message.from_email == addr("news@example.com")
    assert message.reply_to == (addr("support@example.com"),)
    assert message.headers == (("X-App", "Newsletter"), ("X-Kind", "special"))


def test_headers_merge_case_insensitively_message_wins() -> None:
    """A header set on the message replaces the default of the same name, in any case."""
    message = compose(
        **{**FIELDS, "headers": {"x-app": "Mine", "X-Tenant": 7}}, defaults=APP_DEFAULTS
    )

    assert message.headers == (("x-app", "Mine"), ("X-Tenant", "7"))


def test_non_str_header_values_are_converted_with_str() -> None:
    """The guide's 3.5 passes an int tenant id: it becomes "42"."""
    message = compose(**{**FIELDS, "headers": {"X-Tenant": 42}})

    assert message.headers == (("X-Tenant", "42"),)


def test_a_missing_from_is_an_error() -> None:
    """Without from_email and without a default, compose names the missing field."""
    with pytest.raises(InvalidAddress, match="no From address") as caught:
        compose(**{**FIELDS, "from_email": None})

    assert caught.value.field == "from_email"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"from_email": "a@example.com"}, "unknown key 'from_email' \\(did you mean 'from'\\?\\)"),
        ({"from": "a@example.com", "charset": "utf-8"}, "unknown key 'charset'"),
        ({"from": "a@example.com, b@example.com"}, "MAILER_DEFAULT_OPTIONS\\['from'\\]"),
        ({"headers": {"Bcc": "x@example.com"}}, "MAILER_DEFAULT_OPTIONS\\['headers'\\]"),
    ],
)
def test_bad_default_options_are_config_errors(options: dict[str, Any], match: str) -> None:
    """MAILER_DEFAULT_OPTIONS accepts only its seven keys, each validated."""
    with pytest.raises(ConfigError, match=match):
        defaults_from_options(options)


def test_every_default_option_key_is_accepted() -> None:
    """from, subject, to, bcc, cc, reply_to and headers are all read."""
    defaults = defaults_from_options(
        {
            "from": "f@example.com",
            "subject": "S",
            "to": "t@example.com",
            "cc": ["c@example.com"],
            "bcc": ["b@example.com"],
            "reply_to": "r@example.com",
            "headers": {"X-A": "1"},
        }
    )

    assert defaults == Defaults(
        from_email=addr("f@example.com"),
        subject="S",
        to=(addr("t@example.com"),),
        cc=(addr("c@example.com"),),
        bcc=(addr("b@example.com"),),
        reply_to=(addr("r@example.com"),),
        headers=(("X-A", "1"),),
    )


# Every header input, and how to put a value into it.
HEADER_INPUTS: dict[str, Any] = {
    "subject": lambda v: {"subject": v},
    "to": lambda v: {"to": f"a{v}b@example.com"},
    "cc display name": lambda v: {"cc": [f'"A{v}B" <a@example.com>']},
    "from display name": lambda v: {"from_email": f"A{v}B <a@example.com>"},
    "reply_to": lambda v: {"reply_to": [f"a@exa{v}mple.com"]},
    "header name": lambda v: {"headers": {f"X-A{v}B": "1"}},
    "header value": lambda v: {"headers": {"X-A": f"1{v}2"}},
    "filename": lambda v: {"attachments": [Attachment(f"a{v}b.txt", b"x", "text/plain")]},
    "message_id": lambda v: {"message_id": f"<a{v}b@example.com>"},
}


@pytest.mark.parametrize("where", HEADER_INPUTS)
@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\r\n"])
def test_line_breaks_and_nul_in_any_header_input_raise(where: str, char: str) -> None:
    """CR, LF or NUL anywhere a header is built from raises InvalidHeader."""
    with pytest.raises(InvalidHeader):
        compose(**{**FIELDS, **HEADER_INPUTS[where](char)})


@given(
    where=st.sampled_from(sorted(HEADER_INPUTS)),
    prefix=st.text(max_size=5),
    char=st.sampled_from("\r\n\x00"),
    suffix=st.text(max_size=5),
)
def test_any_cr_lf_nul_anywhere_raises(where: str, prefix: str, char: str, suffix: str) -> None:
    """Property: whatever surrounds it, a CR, LF or NUL in a header input raises."""
    with pytest.raises(InvalidHeader):
        compose(**{**FIELDS, **HEADER_INPUTS[where](prefix + char + suffix)})


@pytest.mark.parametrize(
    "name",
    [
        "Content-Type",
        "MIME-Version",
        "content-transfer-encoding",
        "Bcc",
        "BCC",
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Date",
        "Reply-To",
        "Cc",
    ],
)
def test_reserved_header_names_are_rejected(name: str) -> None:
    """Headers set by fields or by the MIME structure cannot be set through headers=."""
    with pytest.raises(InvalidHeader, match="cannot be set here"):
        compose(**{**FIELDS, "headers": {name: "x"}})


@pytest.mark.parametrize("name", ["", "X A", "X:A", "Ünï", "X\tA"])
def test_header_names_must_be_rfc5322_field_names(name: str) -> None:
    """A header name is printable ASCII without spaces or colons."""
    with pytest.raises(InvalidHeader):
        compose(**{**FIELDS, "headers": {name: "x"}})


def test_an_unfoldable_header_value_is_rejected() -> None:
    """An ASCII word too long for a 998-octet line cannot be folded: error at compose."""
    with pytest.raises(InvalidHeader, match="too long"):
        compose(**{**FIELDS, "headers": {"X-Token": "t" * 1000}})


def test_message_id_domain_defaults_to_the_from_domain_in_ascii() -> None:
    """The Message-ID is <token@From domain>, the domain as an A-label; never getfqdn()."""
    message = compose(**{**FIELDS, "from_email": "Zoë <zoe@münchen.de>"})

    assert message.message_id == f"<{STAMP.token}@xn--mnchen-3ya.de>"


def test_message_id_domain_is_configurable() -> None:
    """message_id_domain= sets the right-hand side of generated Message-IDs."""
    message = compose(**FIELDS, message_id_domain="mail.example.net")

    assert message.message_id == f"<{STAMP.token}@mail.example.net>"


def test_an_explicit_message_id_and_date_are_kept() -> None:
    """A given Message-ID (brackets optional) and Date are used as they are."""
    date = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    message = compose(**FIELDS, message_id="abc.def@example.com", date=date)

    assert (message.message_id, message.date) == ("<abc.def@example.com>", date)


def test_the_date_comes_from_the_stamp() -> None:
    """Date is fixed at compose time from the stamp, so every retry carries the same one."""
    assert compose(**FIELDS).date == STAMP.date


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"date": dt.datetime(2026, 1, 1)}, "date"),  # naive
        ({"content_subtype": "markdown"}, "content_subtype"),
        ({"charset": "no-such-charset"}, "charset"),
        ({"charset": "utf-16"}, "charset"),
        ({"charset": "ascii", "body": "café"}, "body"),
        ({"body": "\ud800"}, "body"),
        ({"alternatives": [("<p>x</p>", "image/png")]}, "alternatives[0].mimetype"),
        ({"attachments": [Attachment("a", b"x", "not a type")]}, "attachments[0].mimetype"),
        (
            {"attachments": [Attachment("a", b"x", "multipart/mixed")]},
            "attachments[0].mimetype",
        ),
        (
            {"attachments": [Attachment("a", b"x", "text/plain", content_id="a b")]},
            "attachments[0].content_id",
        ),
        ({"attachments": [Attachment("m.eml", b"\xff", "message/rfc822")]}, "attachments[0]"),
        ({"message_id": "no-at-sign"}, "message_id"),
        ({"tags": [""]}, "tags[0]"),
        ({"subject": 42}, "subject"),
        ({"cc": [5]}, "cc[0]"),
        ({"bcc": {"a@example.com": 1}}, "bcc"),
        ({"from_email": 5}, "from_email"),
        ({"envelope_from": ["a@example.com"]}, "envelope_from"),
        ({"headers": {5: "x"}}, "headers"),
        ({"tags": b"abc"}, "tags"),
        ({"metadata": {5: "v"}}, "metadata"),
        ({"body": b"bytes"}, "body"),
        ({"charset": 5}, "charset"),
        ({"content_subtype": ["html"]}, "content_subtype"),
        ({"message_id": 5}, "message_id"),
        ({"date": "2026-01-01"}, "date"),
        ({"expires": 5}, "expires"),
        ({"body": "hi\ud800"}, "body"),
        ({"message_id_domain": "x\ud800.com"}, "message_id_domain"),
        ({"headers": {"X-" + "A" * 1000: "1"}}, "headers['X-" + "A" * 1000 + "']"),
    ],
)
def test_invalid_fields_name_themselves(fields: dict[str, Any], field: str) -> None:
    """Each invalid field raises a MessageError whose field names it."""
    with pytest.raises(MessageError) as caught:
        compose(**{**FIELDS, **fields})

    assert caught.value.field == field


def test_errors_show_the_value() -> None:
    """The error message names the field and shows the offending value."""
    with pytest.raises(InvalidAddress) as caught:
        compose(**{**FIELDS, "to": "nobody"})

    assert str(caught.value) == "to: an address needs an '@': 'nobody'"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/srv/app/uploads/invoice.pdf", "invoice.pdf"),
        ("C:\\Users\\x\\report.csv", "report.csv"),
        ("bad\x1bname\x7f.txt", "badname.txt"),
        ("tab\there.txt", "tabhere.txt"),
        ("naïve résumé.pdf", "naïve résumé.pdf"),
    ],
)
def test_attachment_filenames_become_clean_basenames(given: str, expected: str) -> None:
    """A file's name is its base name, control characters removed; never a server path."""
    message = compose(**FIELDS, attachments=[Attachment(given, b"x", "application/pdf")])

    assert message.attachments[0].filename == expected


def test_content_ids_lose_their_angle_brackets() -> None:
    """content_id is stored bare; "<logo@x>" and "logo@x" are the same id."""
    image = Attachment("logo.png", b"\x89PNG", "image/png", "inline", "<logo@example.com>")

    message = compose(**FIELDS, attachments=[image])

    assert message.attachments[0] == attrs.evolve(image, content_id="logo@example.com")


def test_alternatives_accept_tuples() -> None:
    """attach_alternative-style (content, mimetype) tuples become Alternative records."""
    message = compose(**FIELDS, alternatives=[("<b>Hi</b>", "TEXT/HTML")])

    assert message.alternatives == (Alternative("<b>Hi</b>", "text/html"),)


def test_tags_and_metadata_are_carried() -> None:
    """Per-message options (tags, metadata) travel on the record for providers."""
    message = compose(**FIELDS, tags=["welcome"], metadata={"user_id": 42})

    assert (message.tags, message.metadata) == (("welcome",), (("user_id", "42"),))


def test_records_are_frozen_and_hold_tuples() -> None:
    """A Message cannot be mutated; its collections are tuples."""
    message = compose(**{**FIELDS, "cc": ["c@example.com"]})

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.subject = "changed"  # type: ignore[misc]
    assert isinstance(message.cc, tuple)


def test_attachment_repr_is_short() -> None:
    """Binary content shows as its size in reprs, never as the bytes."""
    attachment = Attachment("big.bin", b"\x00" * 1_000_000)

    assert "<1000000 bytes>" in repr(attachment)
    assert len(repr(attachment)) < 200


def test_parse_addresses_rejects_bytes() -> None:
    """bytes are not addresses (a common mistake with decoded form data)."""
    with pytest.raises(InvalidAddress, match="str or a list"):
        parse_addresses("to", b"a@example.com")  # type: ignore[arg-type]


# Issue 11: every bad input refused at compose time.

INJECTED_NAME = Address("Bob\r\nBcc: victim@evil.com", "b", "example.com")
INJECTED_DOMAIN = Address("", "b", "example.com> NOTIFY=SUCCESS ORCPT=rfc822;victim@evil.com")

# Every place an Address record can be given, and the field its error names.
ADDRESS_PLACES: dict[str, tuple[Any, str]] = {
    "from_email": (lambda a: {"from_email": a}, "from_email"),
    "to": (lambda a: {"to": a}, "to"),
    "to list": (lambda a: {"to": ["ok@example.com", a]}, "to[1]"),
    "cc list": (lambda a: {"cc": [a]}, "cc[0]"),
    "bcc list": (lambda a: {"bcc": [a]}, "bcc[0]"),
    "reply_to": (lambda a: {"reply_to": a}, "reply_to"),
    "envelope_from": (lambda a: {"envelope_from": a}, "envelope_from"),
    "defaults.from_email": (
        lambda a: {"from_email": None, "defaults": Defaults(from_email=a)},
        "defaults.from_email",
    ),
    "defaults.to": (lambda a: {"defaults": Defaults(to=(a,))}, "defaults.to[0]"),
    "defaults.bcc": (lambda a: {"defaults": Defaults(bcc=(a,))}, "defaults.bcc[0]"),
}


@pytest.mark.parametrize("where", ADDRESS_PLACES)
def test_a_hand_built_address_cannot_inject_a_header(where: str) -> None:
    """An Address whose display name holds CR LF + "Bcc: ..." is refused wherever it is given."""
    place, field = ADDRESS_PLACES[where]

    with pytest.raises(InvalidHeader, match="CR, LF or NUL") as caught:
        compose(**{**FIELDS, **place(INJECTED_NAME)})

    assert caught.value.field == field
    assert caught.value.value == INJECTED_NAME


@pytest.mark.parametrize("where", ADDRESS_PLACES)
def test_a_hand_built_address_cannot_inject_smtp_parameters(where: str) -> None:
    """A domain like "example.com> NOTIFY=SUCCESS ..." (RCPT TO parameters) is refused."""
    place, field = ADDRESS_PLACES[where]

    with pytest.raises(InvalidAddress, match="not a valid domain") as caught:
        compose(**{**FIELDS, **place(INJECTED_DOMAIN)})

    assert caught.value.field == field


def test_default_options_check_address_records() -> None:
    """MAILER_DEFAULT_OPTIONS with an injected Address record is a ConfigError."""
    with pytest.raises(ConfigError, match=r"MAILER_DEFAULT_OPTIONS\['from'\]: CR, LF or NUL"):
        defaults_from_options({"from": INJECTED_NAME})


@pytest.mark.parametrize(
    "address",
    [
        Address("", "a\tb", "example.com"),
        Address("", "", "example.com"),
        Address("", "a", ""),
        Address("", "a", "exa mple.com"),
        Address("Zoë\u2028", "a", "example.com"),
        Address("", "x" * 65, "example.com"),
    ],
)
def test_a_hand_built_address_is_checked_as_a_parsed_one(address: Address) -> None:
    """A TAB in a local part, an empty part, a bad domain, a line separator: all refused."""
    with pytest.raises(MessageError) as caught:
        compose(**{**FIELDS, "to": [address]})

    assert caught.value.field == "to[0]"


@pytest.mark.parametrize("bad", [5, None, b"x", ["x"]])
def test_an_address_record_with_a_field_not_str_is_refused(bad: object) -> None:
    """Address(5, "b", "example.com") is an InvalidAddress, not a TypeError."""
    with pytest.raises(InvalidAddress, match="must be str") as caught:
        compose(**{**FIELDS, "cc": [Address(bad, "b", "example.com")]})  # type: ignore[arg-type]

    assert caught.value.field == "cc[0]"


def test_a_hand_built_address_comes_out_normalised() -> None:
    """Address("", "b", "Example.COM.") is stored as a parsed "b@Example.COM." would be."""
    message = compose(**{**FIELDS, "to": Address("B", "b", "Example.COM.")})

    assert message.to == (Address("B", "b", "example.com"),)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"subject": "hi\ud800"}, "subject"),
        ({"to": "\ud800@example.com"}, "to"),
        ({"to": "Zo\ud800 <z@example.com>"}, "to"),
        ({"cc": [Address("Zo\udfff", "z", "example.com")]}, "cc[0]"),
        ({"headers": {"X-A": "a\ud800"}}, "headers['X-A']"),
        ({"attachments": [Attachment("a\ud800.pdf", b"x")]}, "attachments[0].filename"),
        ({"alternatives": [("hi\ud800", "text/html")]}, "alternatives[0].content"),
        ({"metadata": {"k": "v\ud800"}}, "metadata['k']"),
        ({"metadata": {"k\ud800": "v"}}, "metadata"),
        ({"tags": ["t\ud800"]}, "tags[0]"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    """A lone surrogate cannot be encoded: compose refuses it instead of to_bytes crashing."""
    with pytest.raises(MessageError) as caught:
        compose(**{**FIELDS, **fields})

    assert caught.value.field == field


def test_a_surrogate_error_says_what_is_wrong() -> None:
    """The reason names the surrogate, not a generic encoding failure."""
    with pytest.raises(MessageError, match="lone surrogate"):
        compose(**{**FIELDS, "body": "ok \ud800 ok"})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"to": 5}, "to"),
        ({"headers": 5}, "headers"),
        ({"headers": "X-A: 1"}, "headers"),
        ({"headers": [("X-A",)]}, "headers"),
        ({"headers": [("X-A", "1", "2")]}, "headers"),
        ({"headers": [5]}, "headers"),
        ({"tags": 5}, "tags"),
        ({"tags": [5]}, "tags[0]"),
        ({"metadata": [("k", "v")]}, "metadata"),
        ({"metadata": "k=v"}, "metadata"),
        ({"attachments": 5}, "attachments"),
        ({"attachments": [5]}, "attachments[0]"),
        ({"attachments": Attachment("a.txt", b"x")}, "attachments"),
        ({"attachments": [Attachment(5, b"x")]}, "attachments[0].filename"),  # type: ignore[arg-type]
        ({"attachments": [Attachment("a", "text")]}, "attachments[0].content"),  # type: ignore[arg-type]
        ({"attachments": [Attachment("a", b"x", 5)]}, "attachments[0].mimetype"),  # type: ignore[arg-type]
        (
            {"attachments": [Attachment("a", b"x", disposition=["inline"])]},  # type: ignore[arg-type]
            "attachments[0].disposition",
        ),
        ({"alternatives": 5}, "alternatives"),
        ({"alternatives": ("<b>x</b>", "text/html")}, "alternatives[0]"),
        ({"alternatives": [("x",)]}, "alternatives[0]"),
        ({"alternatives": [(5, "text/html")]}, "alternatives[0].content"),
        ({"alternatives": [("x", 5)]}, "alternatives[0].mimetype"),
        ({"message_id_domain": 5}, "message_id_domain"),
        ({"envelope_to": 5}, "envelope_to"),
        ({"envelope_to": [5]}, "envelope_to[0]"),
        ({"defaults": {"from": "a@example.com"}}, "defaults"),
        ({"stamp": "token"}, "stamp"),
    ],
)
def test_wrong_types_are_message_errors_naming_the_field(
    fields: dict[str, Any], field: str
) -> None:
    """A value of the wrong type is a MessageError naming the field, never a TypeError."""
    with pytest.raises(MessageError) as caught:
        compose(**{**FIELDS, **fields})

    assert caught.value.field == field


@pytest.mark.parametrize("value", [object(), 1.5, True, None, b"1", ["a"]])
@pytest.mark.parametrize("where", ["headers", "metadata"])
def test_header_and_metadata_values_are_str_or_int_only(where: str, value: object) -> None:
    """A value that is not a str or an int is refused, never written as its repr."""
    with pytest.raises(MessageError, match=r"expected a str \(or an int\)") as caught:
        compose(**{**FIELDS, where: {"X-A": value}})

    assert caught.value.field == f"{where}['X-A']"


def test_int_header_and_metadata_values_are_written_in_decimal() -> None:
    """An int (an id) is accepted and written in decimal, as before."""
    message = compose(**FIELDS, headers={"X-Tenant": 42}, metadata={"user_id": -7})

    assert (message.headers, message.metadata) == ((("X-Tenant", "42"),), (("user_id", "-7"),))


def test_one_str_is_one_tag() -> None:
    """tags="welcome" is one tag, as to="a@x.com" is one address (not five letters)."""
    assert compose(**FIELDS, tags="abc").tags == ("abc",)


def test_one_str_is_one_envelope_recipient() -> None:
    """envelope_to="a@x.com" is one address."""
    assert compose(**FIELDS, envelope_to="alice@example.com").envelope_to == ("alice@example.com",)


def test_envelope_to_must_be_a_recipient() -> None:
    """envelope_to narrows the recipients; an address that is not one is refused."""
    with pytest.raises(InvalidAddress, match="not one of the message's recipients") as caught:
        compose(**FIELDS, envelope_to=["alice@example.com", "mallory@example.com"])

    assert caught.value.field == "envelope_to[1]"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u202abad\u202c.pdf", "bad.pdf"),
        ("a\u200eb\u200fc.txt", "abc.txt"),
        ("\u2066x\u2067y\u2068z\u2069.txt", "xyz.txt"),
        ("a\u061cb.txt", "ab.txt"),
    ],
)
def test_bidi_controls_are_removed_from_filenames(given: str, expected: str) -> None:
    """A right-to-left override cannot make "fdp.exe" look like "exe.pdf"."""
    message = compose(**FIELDS, attachments=[Attachment(given, b"x", "application/pdf")])

    assert message.attachments[0].filename == expected


def test_a_trailing_dot_names_the_same_recipient() -> None:
    """b@example.com. is normalised to b@example.com: one recipient, not two."""
    message = compose(**{**FIELDS, "to": ["b@example.com.", "b@example.com"]})

    assert message.to == (addr("b@example.com"), addr("b@example.com"))


def test_a_tab_in_a_quoted_local_part_is_refused() -> None:
    """A TAB would go into RCPT TO: a local part holds no control character."""
    with pytest.raises(InvalidAddress, match="TAB") as caught:
        compose(**{**FIELDS, "to": '"a\tb"@example.com'})

    assert caught.value.field == "to"


def test_a_space_in_a_quoted_local_part_is_kept() -> None:
    """Spaces are still allowed in a quoted local part."""
    assert compose(**{**FIELDS, "to": '"a b"@example.com'}).to[0].local_part == "a b"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"message_id": "<" + "a" * 980 + "@example.com>"}, "message_id"),
        (
            {"attachments": [Attachment("a", b"x", "image/png", "inline", "a" * 990 + "@x")]},
            "attachments[0].content_id",
        ),
        (
            {"attachments": [Attachment("a", b"x", "application/" + "x" * 128)]},
            "attachments[0].mimetype",
        ),
        ({"alternatives": [("x", "text/" + "x" * 128)]}, "alternatives[0].mimetype"),
        ({"headers": {"X-A": "a" + " " * 1000 + "b"}}, "headers['X-A']"),
        ({"headers": {"X-A": "a" + "\t" * 2000 + "b"}}, "headers['X-A']"),
        ({"charset": "utf 8"}, "charset"),
        ({"date": dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(seconds=30)))}, "date"),
    ],
)
def test_values_that_cannot_be_written_are_refused(fields: dict[str, Any], field: str) -> None:
    """A value that would make a line over 998 octets (or an invalid one) is refused here."""
    with pytest.raises(MessageError) as caught:
        compose(**{**FIELDS, **fields})

    assert caught.value.field == field
