"""SMTPMailer's own dot-stuffing gives exactly smtplib's DATA bytes."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from proper_mail.adapters.smtp import dot_stuff


def smtplib_data(data: bytes) -> bytes:
    """What smtplib.SMTP.data() sends for *data* (its _quote_periods, CRLF, terminator)."""
    quoted = re.sub(rb"(?m)^\.", b"..", data)
    if quoted[-2:] != b"\r\n":
        quoted += b"\r\n"
    return quoted + b".\r\n"


@given(
    st.binary(max_size=200)
    | st.lists(st.sampled_from([b".", b"\r", b"\n", b"a", b"\r\n"])).map(b"".join)
)
@example(b"")
@example(b".")
@example(b"x")
@example(b"\n.")
@example(b"a\nb")
@example(b".\r\n..\r\n.")
def test_dot_stuffing_matches_smtplib(data: bytes) -> None:
    """For any bytes, dot_stuff(data) is what smtplib would have sent."""
    assert dot_stuff(data) == smtplib_data(data)
