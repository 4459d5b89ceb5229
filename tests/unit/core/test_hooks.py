"""Send hooks as pure functions: before_send outcomes merged, the interceptor's rewrite."""

from __future__ import annotations

import datetime as dt
from email.policy import SMTPUTF8

import attrs
import pytest

from proper_mail import compose
from proper_mail.core.hooks import (
    Interceptor,
    Skip,
    merge_skipped,
    run_after_send,
    run_before_send,
    run_on_failure,
)
from proper_mail.core.mime import envelope_of
from proper_mail.core.records import Message, RecipientStatus, SendResult, Stamp
from proper_mail.errors import ConfigError, InvalidAddress

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="hooks1")
MESSAGE = compose(
    stamp=STAMP,
    from_email="app@example.com",
    to=["Ann <ann@example.com>", "bob@example.com"],
    cc="boss@mycompany.com",
    bcc="audit@example.com",
    subject="Hi",
    body="Hello",
)


def test_no_hooks_sends_the_message_as_is() -> None:
    """Without hooks the record is untouched and nothing is skipped."""
    outcome = run_before_send((), MESSAGE, SMTPUTF8)

    assert outcome.message is MESSAGE
    assert outcome.statuses == ()


def test_a_hook_may_return_a_changed_record() -> None:
    """The next hook and the mailer get the changed record."""
    seen: list[str] = []

    def tag(message: Message) -> Message:
        return attrs.evolve(message, subject="[staging] " + message.subject)

    def spy(message: Message) -> None:
        seen.append(message.subject)

    outcome = run_before_send((tag, spy), MESSAGE, SMTPUTF8)

    assert outcome.message is not None
    assert outcome.message.subject == "[staging] Hi"
    assert seen == ["[staging] Hi"]


def test_a_skip_without_recipients_cancels_the_whole_message() -> None:
    """Every envelope recipient is reported cancelled, with the reason; nothing to send."""
    outcome = run_before_send((lambda m: Skip("maintenance"),), MESSAGE, SMTPUTF8)

    assert outcome.message is None
    assert [s.status for s in outcome.statuses] == ["cancelled"] * 4
    assert {s.detail for s in outcome.statuses} == {"maintenance"}
    assert [s.address for s in outcome.statuses] == list(envelope_of(MESSAGE).recipients)


def test_skipped_recipients_leave_the_envelope_not_the_headers() -> None:
    """A partial skip narrows envelope_to; To and Cc still show everyone."""
    hook = lambda m: Skip("bounced", ("BOB@example.com",), "suppressed")  # noqa: E731

    outcome = run_before_send((hook,), MESSAGE, SMTPUTF8)

    assert outcome.message is not None
    assert outcome.message.envelope_to == (
        "ann@example.com",
        "boss@mycompany.com",
        "audit@example.com",
    )
    assert outcome.message.to == MESSAGE.to
    assert outcome.statuses == (RecipientStatus("bob@example.com", "suppressed", None, "bounced"),)


def test_several_skips_keep_their_own_reasons() -> None:
    """A list of Skips: each recipient gets its own reason."""

    def hook(message: Message) -> list[Skip]:
        return [Skip("hard", ("ann@example.com",), "suppressed"), Skip("x", ("bob@example.com",))]

    outcome = run_before_send((hook,), MESSAGE, SMTPUTF8)

    assert [(s.address, s.status, s.detail) for s in outcome.statuses] == [
        ("ann@example.com", "suppressed", "hard"),
        ("bob@example.com", "cancelled", "x"),
    ]


def test_a_hook_returning_something_else_is_a_config_error() -> None:
    """A hook that returns a str (a bug) is named, not silently ignored."""

    def wrong(message: Message) -> str:
        return "ok"

    with pytest.raises(ConfigError, match="wrong returned str"):
        run_before_send((wrong,), MESSAGE, SMTPUTF8)  # type: ignore[arg-type]


def test_merge_skipped_appends_statuses() -> None:
    """The SendResult lists the sent recipients, then the skipped ones."""
    result = SendResult("<id@x>", "m", (RecipientStatus("a@x.com", "sent"),))

    merged = merge_skipped(result, (RecipientStatus("b@x.com", "suppressed", None, "r"),))

    assert merged.accepted == ("a@x.com",)
    assert merged.suppressed == ("b@x.com",)


def test_after_and_failure_hooks_all_run_and_errors_are_returned() -> None:
    """A raising hook does not stop the others; its error is handed back, not lost."""
    calls: list[str] = []

    def boom(*args: object) -> None:
        raise RuntimeError("hook bug")

    def ok(*args: object) -> None:
        calls.append("ok")

    result = SendResult("<id@x>", "m", ())
    after = run_after_send((boom, ok), MESSAGE, result)
    failed = run_on_failure((ok, boom), MESSAGE, ValueError("x"))

    assert calls == ["ok", "ok"]
    assert [(name, str(e)) for name, e in after] == [(boom.__qualname__, "hook bug")]
    assert len(failed) == 1


def test_interceptor_rewrites_every_recipient_field() -> None:
    """to/cc/bcc go to the interceptor; the originals are kept in X-Original-* headers."""
    interceptor = Interceptor.of("staging@example.com")

    rewritten = interceptor(MESSAGE)

    assert rewritten is not None
    assert [a.addr_spec for a in rewritten.to] == ["staging@example.com"]
    assert rewritten.cc == ()
    assert rewritten.bcc == ()
    headers = dict(rewritten.headers)
    assert headers["X-Original-To"] == "Ann <ann@example.com>, bob@example.com"
    assert headers["X-Original-Cc"] == "boss@mycompany.com"
    assert headers["X-Original-Bcc"] == "audit@example.com"
    assert envelope_of(rewritten).recipients == ("staging@example.com",)


def test_interceptor_lets_allowed_recipients_through() -> None:
    """An allow-listed address stays where it was; the others are intercepted."""
    interceptor = Interceptor.of(["staging@example.com"], ["*@MyCompany.com"])

    rewritten = interceptor(MESSAGE)

    assert rewritten is not None
    assert [a.addr_spec for a in rewritten.cc] == ["boss@mycompany.com"]
    assert envelope_of(rewritten).recipients == ("staging@example.com", "boss@mycompany.com")


def test_interceptor_leaves_an_all_allowed_message_alone() -> None:
    """Nothing to intercept: None, the message goes out unchanged."""
    interceptor = Interceptor.of("staging@example.com", "*@example.com")
    internal = attrs.evolve(MESSAGE, cc=(), bcc=())

    assert interceptor(internal) is None


def test_interceptor_maps_a_retry_subset_onto_the_interceptor() -> None:
    """A retry's envelope_to named original recipients: they become the interceptor."""
    retry = attrs.evolve(MESSAGE, envelope_to=("bob@example.com",))

    rewritten = Interceptor.of("staging@example.com")(retry)

    assert rewritten is not None
    assert envelope_of(rewritten).recipients == ("staging@example.com",)


def test_interceptor_keeps_removed_allowed_recipients_out() -> None:
    """An allowed recipient that was out of the envelope (suppressed) stays out; one
    that was in stays in."""
    narrowed = attrs.evolve(MESSAGE, envelope_to=("ann@example.com",))
    interceptor = Interceptor.of("staging@example.com", "*@mycompany.com")

    rewritten = interceptor(narrowed)
    only_boss = interceptor(attrs.evolve(MESSAGE, envelope_to=("boss@mycompany.com",)))

    assert rewritten is not None
    assert envelope_of(rewritten).recipients == ("staging@example.com",)
    assert only_boss is not None
    assert envelope_of(only_boss).recipients == ("boss@mycompany.com",)


def test_interceptor_shows_bcc_only_to_the_interceptor() -> None:
    """X-Original-Bcc is written only when no allowed recipient gets the copy."""
    alone = Interceptor.of("staging@example.com")(MESSAGE)
    shared = Interceptor.of("staging@example.com", "*@mycompany.com")(MESSAGE)

    assert alone is not None
    assert shared is not None
    assert dict(alone.headers)["X-Original-Bcc"] == "audit@example.com"
    assert "X-Original-Bcc" not in dict(shared.headers)


@pytest.mark.parametrize(
    ("to", "allow", "error"),
    [
        ("not an address", (), InvalidAddress),
        ([], (), ConfigError),
        ("staging@example.com", [""], ConfigError),
        ("staging@example.com", [3], ConfigError),
    ],
)
def test_interceptor_settings_are_checked(to: object, allow: object, error: type) -> None:
    """A bad MAILER_INTERCEPT_TO or _ALLOW is refused, naming the setting."""
    with pytest.raises(error, match="MAILER_INTERCEPT"):
        Interceptor.of(to, allow)  # type: ignore[arg-type]
