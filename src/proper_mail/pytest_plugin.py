"""proper_mail's pytest plugin (registered through the ``pytest11`` entry point).

It adds one fixture, ``mail``: see ``proper_mail.testing``. Nothing else happens unless a
test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import MailRecorder, capture

__all__ = ["mail"]


@pytest.fixture
def mail() -> Iterator[MailRecorder]:
    """Capture what the app sends and queues during the test; real sends are blocked.

    ``mail.outbox`` (``.last``, ``.for_(address)``), ``mail.queued``,
    ``mail.assert_sent(WelcomeEmail, to=...)``, ``mail.assert_not_sent(...)``,
    ``mail.assert_queued(...)``, ``mail.assert_nothing_queued()``.
    """
    with capture() as recorder:
        yield recorder
