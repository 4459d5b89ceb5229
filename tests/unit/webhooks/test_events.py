"""The DeliveryEvent record."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from proper_mail.webhooks import EVENT_KINDS, DeliveryEvent
from tests.webhook_signing import NOW

EVENT = DeliveryEvent(
    kind="delivered", provider="ses", recipient="a@example.com", timestamp=NOW, event_id="ses:1", raw="{}"
)


def test_events_are_frozen_and_hashable() -> None:
    """A record: immutable, hashable, equal by value."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        EVENT.kind = "sent"  # type: ignore[misc]
    assert {EVENT, attrs.evolve(EVENT)} == {EVENT}


def test_the_vocabulary() -> None:
    """The ten kinds of the issue."""
    assert EVENT_KINDS == (
        "queued", "sent", "delivered", "deferred", "bounced", "complained", "unsubscribed",
        "opened", "clicked", "rejected",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "exploded"},
        {"kind": "bounced"},
        {"bounce": "hard"},
        {"kind": "bounced", "bounce": "medium"},
        {"timestamp": dt.datetime(2026, 1, 1)},  # noqa: DTZ001 - the point of the test
    ],
)
def test_invalid_events_are_refused(changes: dict[str, object]) -> None:
    """An unknown kind, a bounce without its kind, a naive timestamp."""
    with pytest.raises(ValueError):  # noqa: PT011 - attrs and our checks raise plain ValueError
        attrs.evolve(EVENT, **changes)


def test_the_raw_event_is_not_in_the_repr() -> None:
    """raw can be large: the repr leaves it out."""
    assert "raw" not in repr(EVENT)
