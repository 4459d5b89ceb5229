"""The suppression policy (pure), the in-memory store and record_event."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from proper_mail.errors import InvalidAddress
from proper_mail.webhooks import (
    DeliveryEvent,
    MemorySuppressionStore,
    SuppressionPolicy,
    apply_event,
    normalize_address,
    record_event,
)
from proper_mail.webhooks.events import EventKind
from proper_mail.webhooks.suppression import Decision, Suppression
from tests.webhook_signing import NOW

HARD = DeliveryEvent(
    kind="bounced",
    bounce="hard",
    provider="ses",
    recipient="Bob@Example.COM",
    timestamp=NOW,
    event_id="ses:1:bob@example.com",
    raw="{}",
)
SOFT = attrs.evolve(HARD, bounce="soft", event_id="ses:soft-1")
DELIVERED = attrs.evolve(HARD, kind="delivered", bounce=None, event_id="ses:d")


class Clock:
    """A settable clock for the store's expiry."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("bob@example.com", "bob@example.com"),
        ("Bob@Example.COM", "bob@example.com"),
        ("Bob <bob@example.com>", "bob@example.com"),
        ("zoë@bücher.de", "zoë@xn--bcher-kva.de"),
        ("a@xn--bcher-kva.de", "a@xn--bcher-kva.de"),
        ("a@BÜCHER.de", "a@xn--bcher-kva.de"),
        ("  c@example.com ", "c@example.com"),
    ],
)
def test_addresses_are_normalized(given: str, normalized: str) -> None:
    """Lower-cased, the domain in A-label form, display names dropped."""
    assert normalize_address(given) == normalized


def test_a_non_address_is_an_invalid_address() -> None:
    """normalize_address raises InvalidAddress for junk."""
    with pytest.raises(InvalidAddress):
        normalize_address("not an address")


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (HARD, "hard-bounce"),
        (attrs.evolve(HARD, kind="complained", bounce=None), "complaint"),
        (attrs.evolve(HARD, kind="unsubscribed", bounce=None), "unsubscribed"),
    ],
)
def test_permanent_suppressions(event: DeliveryEvent, reason: str) -> None:
    """A hard bounce, a complaint or an unsubscribe suppresses for good."""
    assert apply_event(event, (), now=NOW) == Decision("suppress", "bob@example.com", reason, None)


@pytest.mark.parametrize(
    "kind", ["delivered", "deferred", "opened", "clicked", "rejected", "sent", "queued"]
)
def test_other_events_do_not_suppress(kind: EventKind) -> None:
    """Nothing else suppresses."""
    event = attrs.evolve(HARD, kind=kind, bounce=None)

    assert apply_event(event, (), now=NOW).action == "none"


def test_soft_bounces_suppress_at_the_limit_within_the_window() -> None:
    """The third soft bounce within 7 days suppresses, expiring 7 days later."""
    two = (NOW - dt.timedelta(days=6), NOW)
    three = (NOW - dt.timedelta(days=6), NOW - dt.timedelta(days=1), NOW)

    assert apply_event(SOFT, two, now=NOW).action == "none"
    assert apply_event(SOFT, three, now=NOW) == Decision(
        "suppress", "bob@example.com", "soft-bounces", NOW + dt.timedelta(days=7)
    )


def test_soft_bounces_outside_the_window_do_not_count() -> None:
    """Bounces older than the window are not counted."""
    history = (NOW - dt.timedelta(days=8), NOW - dt.timedelta(days=7), NOW)

    assert apply_event(SOFT, history, now=NOW).action == "none"


def test_the_policy_is_configurable() -> None:
    """Limit, window and TTL come from the policy."""
    policy = SuppressionPolicy(
        soft_bounce_limit=1,
        soft_bounce_window=dt.timedelta(hours=1),
        soft_bounce_ttl=dt.timedelta(hours=2),
    )

    decision = apply_event(SOFT, (NOW,), now=NOW, policy=policy)

    assert decision.expires == NOW + dt.timedelta(hours=2)


@pytest.mark.parametrize("recipient", [None, "not an address"])
def test_events_without_a_readable_recipient_do_nothing(recipient: str | None) -> None:
    """SES opens of several recipients, junk addresses: no decision."""
    assert apply_event(attrs.evolve(HARD, recipient=recipient), (), now=NOW) == Decision("none")


def test_record_event_suppresses_a_hard_bounce() -> None:
    """record_event adds the address; every form of it is then suppressed."""
    store = MemorySuppressionStore(Clock(NOW))

    record_event(store, HARD, NOW)

    assert store.is_suppressed("bob@example.com") == "hard-bounce"
    assert store.suppressed(
        ["BOB@example.com", "Bob <bob@EXAMPLE.com>", "ann@example.com", "junk"]
    ) == {
        "BOB@example.com": "hard-bounce",
        "Bob <bob@EXAMPLE.com>": "hard-bounce",
    }


def test_three_soft_bounces_suppress_until_the_ttl() -> None:
    """Soft bounces accumulate per event id; the third suppresses; it lapses after 7 days."""
    clock = Clock(NOW)
    store = MemorySuppressionStore(clock)

    for n in range(3):
        event = attrs.evolve(SOFT, event_id=f"ses:soft-{n}", timestamp=NOW + dt.timedelta(hours=n))
        decision = record_event(store, event, NOW + dt.timedelta(hours=n))

    assert decision.action == "suppress"
    assert store.is_suppressed("bob@example.com") == "soft-bounces"
    clock.now = NOW + dt.timedelta(days=7, hours=3)
    assert store.is_suppressed("bob@example.com") is None


def test_a_redelivered_soft_bounce_counts_once() -> None:
    """The same event id three times is one soft bounce."""
    store = MemorySuppressionStore(Clock(NOW))

    for _ in range(3):
        record_event(store, SOFT, NOW)

    assert store.is_suppressed("bob@example.com") is None


def test_an_expiring_entry_never_shortens_a_permanent_one() -> None:
    """A hard bounce, then soft bounces: still suppressed for good."""
    store = MemorySuppressionStore(Clock(NOW))
    store.add("bob@example.com", "hard-bounce")

    store.add("bob@example.com", "soft-bounces", NOW + dt.timedelta(days=1))

    assert store.list() == (Suppression("bob@example.com", "hard-bounce", None),)


def test_a_permanent_entry_replaces_an_expiring_one() -> None:
    """A hard bounce after soft ones makes the suppression permanent."""
    store = MemorySuppressionStore(Clock(NOW))
    store.add("bob@example.com", "soft-bounces", NOW + dt.timedelta(days=1))

    store.add("bob@example.com", "hard-bounce")

    assert store.list() == (Suppression("bob@example.com", "hard-bounce", None),)


def test_add_remove_list() -> None:
    """The Python API: add, list (sorted), remove (True once)."""
    store = MemorySuppressionStore(Clock(NOW))
    store.add("Zed@example.com", "manual")
    store.add("amy@example.com", "manual", NOW + dt.timedelta(days=1))

    listed = store.list()
    first = store.remove("ZED@example.com")
    second = store.remove("zed@example.com")

    assert listed == (
        Suppression("amy@example.com", "manual", NOW + dt.timedelta(days=1)),
        Suppression("zed@example.com", "manual", None),
    )
    assert (first, second) == (True, False)
    assert store.is_suppressed("zed@example.com") is None


def test_remove_forgets_soft_bounces() -> None:
    """Lifting a suppression starts the soft-bounce count again."""
    store = MemorySuppressionStore(Clock(NOW))
    for n in range(3):
        record_event(store, attrs.evolve(SOFT, event_id=f"s{n}"), NOW)
    store.remove("bob@example.com")

    record_event(store, attrs.evolve(SOFT, event_id="s9"), NOW)

    assert store.is_suppressed("bob@example.com") is None


def test_a_delivery_changes_nothing() -> None:
    """record_event of a delivery leaves the store empty."""
    store = MemorySuppressionStore(Clock(NOW))

    record_event(store, DELIVERED, NOW)

    assert store.list() == ()
