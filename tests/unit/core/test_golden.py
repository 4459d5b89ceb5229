"""Golden files: the exact bytes of six typical messages (fixed Message-ID, Date, boundary).

A change in these bytes is a change on the wire: review the diff, then regenerate with
``PROPER_MAIL_UPDATE_GOLDEN=1 pytest tests/unit/core/test_golden.py``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
from pathlib import Path
from typing import Any

import pytest

from proper_mail.core.compose import compose
from proper_mail.core.mime import to_bytes
from proper_mail.core.records import Attachment, Message, Stamp

GOLDEN = Path(__file__).parents[2] / "golden"
STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd")
BASE: dict[str, Any] = {
    "stamp": STAMP,
    "from_email": "MyApp <no-reply@example.com>",
    "to": "Alice <alice@example.com>",
    "subject": "Reset your password",
}
HTML = """<!DOCTYPE html>
<html lang="en">
  <body>
    <p>I heard that you lost your password. Sorry about that!</p>
    <p><a href="https://example.com/reset/abc">https://example.com/reset/abc</a></p>
  </body>
</html>
"""
TEXT = """I heard that you lost your password. Sorry about that!

https://example.com/reset/abc
"""
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)

CASES: dict[str, Message] = {
    "plain": compose(**BASE, body=TEXT),
    "html_text": compose(
        **BASE, body=HTML, content_subtype="html", alternatives=[(TEXT, "text/plain")]
    ),
    "html_text_two_files": compose(
        **BASE,
        body=HTML,
        content_subtype="html",
        alternatives=[(TEXT, "text/plain")],
        attachments=[
            Attachment(
                "/srv/invoices/invoice-42.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"
            ),
            Attachment("données.csv", "nom,total\r\nZoë,42\r\n".encode(), "text/csv"),
        ],
    ),
    "inline_image": compose(
        **BASE,
        body=HTML.replace("<body>", '<body>\n    <img src="cid:logo@example.com" alt="MyApp">'),
        content_subtype="html",
        alternatives=[(TEXT, "text/plain")],
        attachments=[Attachment("logo.png", PNG, "image/png", "inline", "logo@example.com")],
    ),
    "idn_recipient": compose(**{**BASE, "to": "Jörg <joerg@münchen.de>"}, body=TEXT),
    "non_ascii_subject_and_names": compose(
        **{
            **BASE,
            "from_email": "Équipe MyApp <no-reply@example.com>",
            "to": ["José Núñez <jose@example.com>", '"Doe, John" <john@example.com>'],
            "cc": ["山田 太郎 <yamada@example.jp>"],
            "reply_to": ["Support — MyApp <support@example.com>"],
            "subject": "Réinitialisez votre mot de passe — José",
        },
        body="Bonjour José,\n\nVoici votre lien : https://example.com/reset/abc\n",
        headers={"X-Campaign": "rentrée"},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bytes_match_the_golden_file(name: str) -> None:
    """to_bytes gives exactly the reviewed bytes for each typical message."""
    path = GOLDEN / f"{name}.eml"
    data = to_bytes(CASES[name])
    if os.environ.get("PROPER_MAIL_UPDATE_GOLDEN") == "1":
        path.write_bytes(data)

    assert data == path.read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_files_parse_cleanly(name: str) -> None:
    """Each golden file parses with the stdlib without a single defect."""
    parsed = email.message_from_bytes(
        (GOLDEN / f"{name}.eml").read_bytes(), policy=email.policy.default
    )

    assert [part.defects for part in parsed.walk()] == [[] for _ in parsed.walk()]
    assert parsed["Message-ID"] == "<18ec0279d6855e6e.de835cbd@example.com>"
