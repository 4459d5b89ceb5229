"""The forms our Message-ID takes in the fields providers echo, and reading them back.

The forms are ours (src/proper_mail/adapters/echo.py); the tag alphabet they must fit is
Resend's, [A-Za-z0-9_-] with at most 256 characters
(https://resend.com/docs/api-reference/emails/send-email, ``tags``).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proper_mail.adapters.echo import (
    ECHO_KEY,
    check_reserved,
    echo_tag,
    echo_value,
    message_id_from_echo,
    message_id_from_tag,
)
from proper_mail.errors import UnsupportedFeature

# The atext of RFC 5322 that compose() allows on each side of a Message-ID's @.
ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
id_parts = st.lists(st.text(ATEXT, min_size=1, max_size=20), min_size=1, max_size=4).map(".".join)
message_ids = st.builds(lambda left, right: f"<{left}@{right}>", id_parts, id_parts)


def test_the_echo_value_has_no_angle_brackets() -> None:
    """Two characters fewer under a provider's value limit; the parser restores them."""
    assert (
        echo_value("<19a0c3e5f1b.8f14e45f@mail.example.com>")
        == "19a0c3e5f1b.8f14e45f@mail.example.com"
    )


@given(message_ids)
def test_the_echo_value_reads_back_as_the_message_id(message_id: str) -> None:
    """message_id_from_echo(echo_value(id)) == id, angle brackets included."""
    assert message_id_from_echo(echo_value(message_id)) == message_id


@given(message_ids)
def test_the_tag_form_fits_the_tag_alphabet_and_reads_back(message_id: str) -> None:
    """echo_tag is [A-Za-z0-9_-] only, and decodes to the same Message-ID."""
    tag = echo_tag(message_id)

    assert re.fullmatch(r"[A-Za-z0-9_-]+", tag)
    assert message_id_from_tag(tag) == message_id


@pytest.mark.parametrize(
    "value",
    [None, 42, "", "   ", "no-at-sign", "<>", "a@b c", "<a@b>>", "a<b@c", "ünï@example.com"],
)
def test_what_is_not_a_message_id_reads_as_none(value: object) -> None:
    """An echoed value that is not a Message-ID is not passed off as ours."""
    assert message_id_from_echo(value) is None


@pytest.mark.parametrize("value", [None, 7, "", "a", "a b", "a=", "!!!!", "_w"])
def test_what_is_not_a_tag_form_reads_as_none(value: object) -> None:
    """Not base64url, or not a Message-ID once decoded: None, never an error."""
    assert message_id_from_tag(value) is None


@pytest.mark.parametrize("name", ["proper_mail_id", "Proper_Mail_ID", "PROPER_MAIL_ID"])
def test_the_reserved_name_is_refused_in_any_case(name: str) -> None:
    """The caller's proper_mail_id would be overwritten by ours: UnsupportedFeature."""
    with pytest.raises(UnsupportedFeature, match="reserved") as caught:
        check_reserved("postmark", "metadata", ["order", name])

    assert caught.value.field == "metadata"


def test_other_names_pass() -> None:
    """message_id, proper_mail and the like are the caller's to use."""
    check_reserved("postmark", "metadata", ["message_id", "proper_mail", f"{ECHO_KEY}_2"])
