"""The DeliveryEvent record."""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import attrs
import pytest

from proper_mail.errors import (
    StoreUnavailable,
    WebhookPayloadError,
    WebhookUnavailable,
    WebhookVerificationError,
)
from proper_mail.webhooks import EVENT_KINDS, DeliveryEvent, ResendConfig, resend
from tests.webhook_signing import NOW, RESEND_SECRET, svix_headers

EVENT = DeliveryEvent(
    kind="delivered",
    provider="ses",
    recipient="a@example.com",
    timestamp=NOW,
    event_id="ses:1",
    raw="{}",
)


def test_events_are_frozen_and_hashable() -> None:
    """A record: immutable, hashable, equal by value."""
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        EVENT.kind = "sent"  # type: ignore[misc]
    assert {EVENT, attrs.evolve(EVENT)} == {EVENT}


def test_the_vocabulary() -> None:
    """The ten kinds of the issue."""
    assert EVENT_KINDS == (
        "queued",
        "sent",
        "delivered",
        "deferred",
        "bounced",
        "complained",
        "unsubscribed",
        "opened",
        "clicked",
        "rejected",
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "exploded"},
        {"kind": "bounced"},
        {"bounce": "hard"},
        {"kind": "bounced", "bounce": "medium"},
        {"timestamp": dt.datetime(2026, 1, 1)},
    ],
)
def test_invalid_events_are_refused(changes: dict[str, Any]) -> None:
    """An unknown kind, a bounce without its kind, a naive timestamp."""
    with pytest.raises(ValueError):  # noqa: PT011 - attrs and our checks raise plain ValueError
        attrs.evolve(EVENT, **changes)


def test_the_raw_event_is_not_in_the_repr() -> None:
    """raw can be large: the repr leaves it out."""
    assert "raw" not in repr(EVENT)


@pytest.mark.parametrize(
    "error",
    [
        WebhookVerificationError("resend", "no svix-signature matches the body"),
        WebhookUnavailable("ses", "the signing certificate could not be fetched: ConnectTimeout"),
        WebhookPayloadError("sendgrid", "event 0 is not a JSON object"),
        StoreUnavailable("the suppression list: ConnectionError"),
    ],
)
def test_webhook_errors_pickle_and_name_the_provider(error: Exception) -> None:
    """The new errors pickle with their fields, and say which provider and why."""
    restored = pickle.loads(pickle.dumps(error))

    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)


def test_a_refusal_never_shows_the_secret() -> None:
    """Wrong credentials and signatures: the error text holds no secret."""
    config = ResendConfig(secret=RESEND_SECRET)
    headers = {**svix_headers(b"{}"), "svix-signature": "v1,c2VjcmV0"}

    with pytest.raises(WebhookVerificationError) as caught:
        resend.verify(headers, b"{}", config, NOW)

    assert RESEND_SECRET.removeprefix("whsec_") not in str(caught.value)
    assert "c2VjcmV0" not in str(caught.value)
