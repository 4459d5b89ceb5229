"""Addresses: the strict parser, IDNA 2008 domains and prep_address (the guide, 9)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proper_mail.core.addresses import Address, check_address, prep_address
from proper_mail.errors import InvalidAddress, InvalidHeader
from tests.strategies import addr_specs, display_names


@pytest.mark.parametrize(
    ("text", "display_name", "local_part", "domain"),
    [
        ("alice@example.com", "", "alice", "example.com"),
        ("  alice@example.com  ", "", "alice", "example.com"),
        ("Alice <alice@example.com>", "Alice", "alice", "example.com"),
        ("Alice Liddell <alice@Example.COM>", "Alice Liddell", "alice", "example.com"),
        ("John Q. Public <jqp@example.com>", "John Q. Public", "jqp", "example.com"),
        ('"Doe, John" <john@example.com>', "Doe, John", "john", "example.com"),
        ('"Say \\"hi\\"" <hi@example.com>', 'Say "hi"', "hi", "example.com"),
        ("<bare@example.com>", "", "bare", "example.com"),
        ("Zoë Müller <zoe@example.com>", "Zoë Müller", "zoe", "example.com"),
        ('"john doe"@example.com', "", "john doe", "example.com"),
        ('"plain"@example.com', "", "plain", "example.com"),
        ("first.last+tag@example.com", "", "first.last+tag", "example.com"),
        ("user@münchen.de", "", "user", "münchen.de"),
        ("user@MÜNCHEN.DE", "", "user", "münchen.de"),
        ("user@xn--mnchen-3ya.de", "", "user", "xn--mnchen-3ya.de"),
        ("用户@例子.广告", "", "用户", "例子.广告"),
        ("root@localhost", "", "root", "localhost"),
    ],
)
def test_parse_accepts(text: str, display_name: str, local_part: str, domain: str) -> None:
    """Valid single addresses parse into display name, local part and normalised domain."""
    address = Address.parse(text)

    assert (address.display_name, address.local_part, address.domain) == (
        display_name,
        local_part,
        domain,
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("alice", "needs an '@'"),
        ("@example.com", "local part is empty"),
        ("alice@", "domain is empty"),
        ("a@x.com, b@y.com", "one string is one address"),
        ("Doe, John <john@example.com>", "one string is one address"),
        ("alice@example.org)<bob@example.org>", "quoted"),  # CVE-2023-27043
        ("alice@example.org <bob@example.org>", "quoted"),
        ("Alice <alice@example.com", "invalid local part"),
        ("Alice alice@example.com>", "without a '<'"),
        ("<<a@example.com>>", "nested"),
        ("a..b@example.com", "invalid local part"),
        (".a@example.com", "invalid local part"),
        ("a b@example.com", "invalid local part"),
        ("a@exa mple.com", "IDNA"),
        ("a@-example.com", "IDNA"),
        ("a@example..com", "IDNA"),
        ("a@under_score.com", "IDNA"),
        ("a@[192.0.2.1]", "IDNA"),
        ("a@192.0.2.1", "IP address"),
        ("a@example.com (Alice)", "IDNA"),
        ('"unclosed <a@example.com>', "not closed"),
        ("x" * 65 + "@example.com", "over 64 octets"),
        ("a@" + ".".join(["a" * 63] * 4), "over 253 octets"),
        ("a@" + "a" * 64 + ".com", "IDNA"),
        ("a@xn--invalid-.com", "IDNA"),
        ("a@ab--cd.com", "IDNA"),  # hyphens in 3rd and 4th position are reserved
        ("b@example.com..", "IDNA"),  # one trailing dot is dropped, two are an empty label
        ("b@.", "IDNA"),
        ("b@。", "IDNA"),
    ],
)
def test_parse_rejects(text: str, reason: str) -> None:
    """Malformed, ambiguous or over-long addresses raise InvalidAddress saying why."""
    with pytest.raises(InvalidAddress, match=reason) as caught:
        Address.parse(text, field="to")

    assert caught.value.field == "to"
    assert caught.value.value == text


@pytest.mark.parametrize("bad", ["a@x.com\r\nBcc: evil@x.com", "A\nB <a@x.com>", "a@x.com\x00"])
def test_parse_rejects_line_breaks_as_invalid_header(bad: str) -> None:
    """CR, LF or NUL in an address is a header injection attempt: InvalidHeader."""
    with pytest.raises(InvalidHeader, match="CR, LF or NUL"):
        Address.parse(bad, field="to")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("user@münchen.de", "user@xn--mnchen-3ya.de"),  # the guide, 9
        ("Name <u@x.com>", "u@x.com"),
        ("fass@faß.de", "fass@xn--fa-hia.de"),  # IDNA 2008; Python's codec says fass.de
        ("u@Ⅸ.example", "u@ix.example"),  # UTS-46 mapping
        ('"john doe"@example.com', '"john doe"@example.com'),
    ],
)
def test_prep_address(given: str, expected: str) -> None:
    """prep_address returns the bare ASCII addr-spec, IDNs as IDNA 2008 A-labels."""
    assert prep_address(given) == expected


def test_prep_address_rejects_non_ascii_local_part_by_default() -> None:
    """A non-ASCII local part needs SMTPUTF8, so force_ascii=True rejects it."""
    with pytest.raises(InvalidAddress, match="SMTPUTF8"):
        prep_address("josé@example.com")


def test_prep_address_keeps_unicode_without_force_ascii() -> None:
    """force_ascii=False keeps a Unicode local part and a Unicode domain (SMTPUTF8)."""
    assert prep_address("José <josé@münchen.de>", force_ascii=False) == "josé@münchen.de"


def test_prep_address_accepts_an_address_record() -> None:
    """prep_address takes an Address as well as a str."""
    assert prep_address(Address("Zoë", "zoe", "münchen.de")) == "zoe@xn--mnchen-3ya.de"


@given(spec=addr_specs(), name=display_names(), force_ascii=st.booleans())
def test_prep_address_is_idempotent(spec: str, name: str, force_ascii: bool) -> None:
    """prep_address(prep_address(a)) == prep_address(a), for ASCII and Unicode alike."""
    address = str(Address.parse(spec)) if not name else str(Address(name, *_split(spec)))
    try:
        once = prep_address(address, force_ascii)
    except InvalidAddress:
        assert force_ascii  # only a non-ASCII local part can fail
        return

    assert prep_address(once, force_ascii) == once


def _split(spec: str) -> tuple[str, str]:
    parsed = Address.parse(spec)
    return parsed.local_part, parsed.domain


@given(spec=addr_specs(), name=display_names())
def test_str_of_an_address_parses_back_to_it(spec: str, name: str) -> None:
    """str(Address) is a string that parses to the same Address."""
    address = Address(name, *_split(spec))

    assert Address.parse(str(address)) == address


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("b@example.com.", "example.com"),
        ("b@Example.COM.", "example.com"),
        ("b@münchen.de.", "münchen.de"),
        ("b@münchen.de。", "münchen.de"),
        ("b@xn--mnchen-3ya.de.", "xn--mnchen-3ya.de"),
    ],
)
def test_one_trailing_dot_is_dropped_from_a_domain(text: str, domain: str) -> None:
    """example.com. (the DNS root) is example.com: the same recipient, written once."""
    assert Address.parse(text).domain == domain


def test_a_tab_in_a_local_part_is_refused() -> None:
    """A TAB in a quoted local part would go into RCPT TO: refused."""
    with pytest.raises(InvalidAddress, match="TAB"):
        Address.parse('"a\tb"@example.com', field="to")


def test_a_lone_surrogate_is_refused_as_invalid_header() -> None:
    """ "\\ud800@x.com" is refused by the parser, not left to crash an encoder."""
    with pytest.raises(InvalidHeader, match="lone surrogate"):
        Address.parse("\ud800@example.com", field="to")


def test_the_254_octet_limit_counts_the_utf8_form_too() -> None:
    """An IDN whose UTF-8 form is over 254 octets is refused (RFC 6531 counts octets)."""
    label = "𠀀" * 15  # 60 octets of UTF-8, a 26-character A-label
    text = "a@" + ".".join([label] * 5) + ".cn"  # 309 octets; A-labels: 119

    with pytest.raises(InvalidAddress, match="over 254 octets"):
        Address.parse(text, field="to")


def test_check_address_returns_the_parsed_form() -> None:
    """check_address of a hand-built record is what parsing its str gives."""
    assert check_address(Address("Zoë", "zoe", "MÜNCHEN.de.")) == Address.parse(
        "Zoë <zoe@münchen.de>"
    )


def test_prep_address_checks_an_address_record() -> None:
    """prep_address refuses an Address whose domain would inject RCPT TO parameters."""
    with pytest.raises(InvalidAddress, match="not a valid domain"):
        prep_address(Address("", "b", "example.com> NOTIFY=SUCCESS"))
