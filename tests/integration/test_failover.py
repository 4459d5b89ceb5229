"""FailoverMailer and RoundRobinMailer, configured and used the way an app does:
``proper_mail.configure(MAILERS=...)`` then ``send()`` / ``send_later()``, over small
mailers that fail on cue and the memory mailer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import proper_mail
from proper_mail import (
    BaseMailer,
    ConfigError,
    FailoverMailer,
    Mail,
    Message,
    PermanentDeliveryError,
    RateLimited,
    RecipientStatus,
    SendResult,
    ToMemoryMailer,
    TransientDeliveryError,
    UnsupportedFeature,
)
from proper_mail.adapters.base import all_sent, block_real_sends
from proper_mail.tasks.serialization import CODEC
from proper_mail.testing import capture, outbox


class Scripted(BaseMailer):
    """Plays *script* (one step per send, then ``ok`` forever); keeps every record it was
    handed, and the alias it answered as."""

    def __init__(self, *, script: Sequence[str] = (), fail_silently: bool = False) -> None:
        super().__init__(fail_silently=fail_silently)
        self.script = list(script)
        self.handed: list[Message] = []
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> SendResult:
        with self._lock:
            self.handed.append(message)
            step = self.script.pop(0) if self.script else "ok"
        if step == "transient":
            raise TransientDeliveryError(f"{self.alias}: 503 unavailable", code=503)
        if step == "slow-down":
            raise TransientDeliveryError(f"{self.alias}: 429", code=429, retry_after=7.0)
        if step == "limited":
            raise RateLimited(f"{self.alias}: over its rate limit", retry_after=3.0)
        if step == "permanent":
            raise PermanentDeliveryError(f"{self.alias}: 422 sender not verified", code=422)
        if step == "unsupported":
            raise UnsupportedFeature("cc", "x", "no cc", self.alias)
        if step == "deferred":
            recipients = self.envelope(message).recipients
            statuses = tuple(RecipientStatus(r, "deferred", 451) for r in recipients)
            return SendResult(message.message_id, self.alias, statuses)
        return all_sent(message.message_id, self.alias, self.envelope(message))


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_current() -> Iterator[None]:
    previous = proper_mail.mail._current
    yield
    proper_mail.mail._current = previous


def configure(
    a: Sequence[str] = (),
    b: Sequence[str] = (),
    *,
    kind: str = "proper_mail.FailoverMailer",
    **failover: Any,
) -> Mail:
    """The app: mailers a and b (scripted), and "main", a failover over them."""
    return proper_mail.configure(
        MAILERS={
            "a": {"type": Scripted, "script": list(a)},
            "b": {"type": Scripted, "script": list(b)},
            "main": {"type": kind, "mailers": ["a", "b"], **failover},
        },
        MAILER="main",
        MAILER_DEFAULT_OPTIONS={"from": "app@example.com"},
    )


def scripted(mail: Mail, name: str) -> Scripted:
    mailer = mail.mailers[name]
    assert isinstance(mailer, Scripted)
    return mailer


def message(n: int = 0) -> Message:
    return proper_mail.compose(
        from_email="app@example.com", to=f"user{n}@example.com", subject="Hi", body="secret body"
    )


def test_a_transient_failure_fails_over_to_the_next_mailer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """a answers 503: b sends, and the result says b sent it; a WARNING names the
    mailers, the Message-ID and the error class (not the message or the error's text)."""
    mail = configure(a=["transient"])
    record = message()
    caplog.set_level(logging.WARNING, logger="proper_mail")

    result = proper_mail.send(record)

    assert result.mailer == "b"
    assert result.accepted == ("user0@example.com",)
    assert len(scripted(mail, "a").handed) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"failover main: a failed to send {record.message_id} (TransientDeliveryError)"
    ]


def test_the_record_is_handed_on_unchanged() -> None:
    """Every mailer tried gets the very same record object."""
    mail = configure(a=["transient"])
    record = message()

    proper_mail.send(record)

    assert scripted(mail, "a").handed[0] is record
    assert scripted(mail, "b").handed[0] is record


@pytest.mark.parametrize(
    ("step", "error"),
    [("permanent", PermanentDeliveryError), ("unsupported", UnsupportedFeature)],
)
def test_a_permanent_error_or_a_bad_message_is_raised_without_a_second_attempt(
    step: str, error: type[Exception]
) -> None:
    """A 422 or an UnsupportedFeature from a: raised at once, b never called."""
    mail = configure(a=[step])

    with pytest.raises(error):
        proper_mail.send(message())

    assert scripted(mail, "b").handed == []


def test_deferred_recipients_are_a_result_not_a_failure() -> None:
    """a defers every recipient: that is a's answer (the queue retries them), b not tried."""
    mail = configure(a=["deferred"])

    result = proper_mail.send(message())

    assert (result.mailer, result.deferred) == ("a", ("user0@example.com",))
    assert scripted(mail, "b").handed == []


def test_when_every_mailer_fails_the_error_lists_each() -> None:
    """a 503 then b 429 (Retry-After 7): one transient error naming both, the shortest
    retry_after, the last error as its cause."""
    configure(a=["transient"], b=["slow-down"])

    with pytest.raises(TransientDeliveryError) as raised:
        proper_mail.send(message())

    text = str(raised.value)
    assert "a: TransientDeliveryError: a: 503 unavailable" in text
    assert "b: TransientDeliveryError: b: 429" in text
    assert raised.value.retry_after == 7.0
    assert isinstance(raised.value.__cause__, TransientDeliveryError)
    assert "b: 429" in str(raised.value.__cause__)
    assert not isinstance(raised.value, RateLimited)


def test_rate_limited_everywhere_is_rate_limited() -> None:
    """Both over their rate limits: RateLimited (the queue waits, not counting a retry)."""
    configure(a=["limited"], b=["limited"])

    with pytest.raises(RateLimited) as raised:
        proper_mail.send(message())

    assert raised.value.retry_after == 3.0


def test_the_circuit_opens_after_n_failures_and_closes_after_the_cool_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Threshold 3: three 503s from a open its circuit, a is skipped (not called) until
    the cool-down is over; then one trial that works closes it. Each change is a WARNING
    naming the mailers and never the message."""
    clock = Clock()
    mail = configure(a=["transient"] * 3, failure_threshold=3, cooldown=60.0, clock=clock)
    a = scripted(mail, "a")
    caplog.set_level(logging.WARNING, logger="proper_mail")

    senders = [proper_mail.send(message(n)).mailer for n in range(5)]
    calls_while_open = len(a.handed)
    clock.now += 59.9
    before_cool_down = proper_mail.send(message(5)).mailer
    clock.now += 0.1
    trial = proper_mail.send(message(6)).mailer
    after = proper_mail.send(message(7)).mailer

    assert senders == ["b"] * 5
    assert calls_while_open == 3
    assert (before_cool_down, trial, after) == ("b", "a", "a")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "failover main: circuit of a opened after 3 transient failure(s) in a row" in (
        "\n".join(warnings)
    )
    assert "failover main: circuit of a closed (a trial send was answered)" in warnings
    assert not any("secret body" in w or "user0@" in w for w in warnings)


def test_a_failed_trial_opens_the_circuit_again() -> None:
    """After the cool-down a's trial fails: open again for another full cool-down."""
    clock = Clock()
    mail = configure(a=["transient"] * 2, failure_threshold=1, cooldown=10.0, clock=clock)
    a = scripted(mail, "a")

    proper_mail.send(message(0))  # a fails: open
    clock.now += 10
    proper_mail.send(message(1))  # the trial fails: open again
    clock.now += 9
    skipped = proper_mail.send(message(2)).mailer
    clock.now += 1
    tried = proper_mail.send(message(3)).mailer

    assert len(a.handed) == 3
    assert (skipped, tried) == ("b", "a")


def test_with_every_circuit_open_the_first_to_cool_down_is_tried() -> None:
    """a and b both open (a first): the next send is not failed untried, it goes to a."""
    clock = Clock()
    mail = configure(
        a=["transient", "ok"], b=["transient"], failure_threshold=1, cooldown=60.0, clock=clock
    )

    with pytest.raises(TransientDeliveryError):
        proper_mail.send(message(0))
    clock.now += 1
    result = proper_mail.send(message(1))

    assert result.mailer == "a"
    assert len(scripted(mail, "b").handed) == 1


def test_a_skipped_mailer_is_named_in_the_error() -> None:
    """a open and b failing: the error says a was skipped."""
    clock = Clock()
    configure(a=["transient"], b=["ok", "transient"], failure_threshold=1, clock=clock)
    proper_mail.send(message(0))  # a fails (opens), b sends

    with pytest.raises(TransientDeliveryError, match=r"a: skipped \(circuit open\)"):
        proper_mail.send(message(1))


def test_a_rate_limit_fails_over_but_does_not_open_the_circuit() -> None:
    """a over its rate limit (threshold 1): b sends, and a is still tried next time."""
    mail = configure(a=["limited"], failure_threshold=1)

    first = proper_mail.send(message(0)).mailer
    second = proper_mail.send(message(1)).mailer

    assert (first, second) == ("b", "a")
    assert len(scripted(mail, "a").handed) == 2


def test_round_robin_spreads_the_sends() -> None:
    """Three memory mailers behind a round robin: 9 sends, 3 each, in turn."""
    mail = proper_mail.configure(
        MAILERS={
            "x": {"type": ToMemoryMailer},
            "y": {"type": ToMemoryMailer},
            "z": {"type": ToMemoryMailer},
            "spread": {"type": "proper_mail.RoundRobinMailer", "mailers": ["x", "y", "z"]},
        },
        MAILER="spread",
        MAILER_DEFAULT_OPTIONS={"from": "app@example.com"},
    )

    senders = [proper_mail.send(message(n)).mailer for n in range(9)]

    assert senders == ["x", "y", "z"] * 3
    assert [len(outbox(mail, n)) for n in "xyz"] == [3, 3, 3]


def test_round_robin_turns_are_shared_by_threads() -> None:
    """8 threads, 30 sends each, over 2 mailers: exactly 120 each."""
    mail = configure(kind="proper_mail.RoundRobinMailer")
    start = threading.Barrier(8)

    def send_30() -> None:
        start.wait()
        for n in range(30):
            proper_mail.send(message(n), mail=mail)

    threads = [threading.Thread(target=send_30) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert [len(scripted(mail, n).handed) for n in "ab"] == [120, 120]


def test_round_robin_fails_over_too() -> None:
    """The second send starts at b; b fails: a sends it."""
    configure(b=["transient"], kind="proper_mail.RoundRobinMailer")

    senders = [proper_mail.send(message(n)).mailer for n in range(2)]

    assert senders == ["a", "a"]


def test_send_later_fails_over_in_the_queue() -> None:
    """Immediate mode: the queued task goes through the failover like send()."""
    mail = configure(a=["transient"])

    proper_mail.send_later(message())

    assert [m.message_id for m in scripted(mail, "b").handed] == [
        scripted(mail, "a").handed[0].message_id
    ]


def test_a_failover_under_the_test_fixture_is_a_memory_mailer() -> None:
    """capture() (the `mail` fixture) replaces the failover like any mailer: the outbox
    names it, and the SMTP mailers behind it are never built."""
    proper_mail.configure(
        MAILERS={
            "smtp1": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 1},
            "smtp2": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 2},
            "main": {"type": "proper_mail.FailoverMailer", "mailers": ["smtp1", "smtp2"]},
        },
        MAILER="main",
        MAILER_DEFAULT_OPTIONS={"from": "app@example.com"},
    )

    with capture() as recorder:
        proper_mail.send(message())

    assert recorder.outbox.last.mailer == "main"


def test_a_hand_bound_failover_works_while_real_sends_are_blocked() -> None:
    """block_real_sends(): a failover over a memory mailer sends (it sends nothing itself);
    over a real mailer, that mailer's ConfigError is raised at once, not failed over."""
    memory, real = ToMemoryMailer(), Scripted()
    works = FailoverMailer(mailers=["memory"])
    works.bind("works", CODEC, mailers={"memory": memory})
    blocked = FailoverMailer(mailers=["real", "memory"])
    blocked.bind("blocked", CODEC, mailers={"real": real, "memory": memory})

    with block_real_sends():
        result = works.deliver(message())
        with pytest.raises(ConfigError, match="real sends are blocked"):
            blocked.deliver(message())

    assert result.mailer == "memory"
    assert len(memory.outbox) == 1


# -- configuration errors ----------------------------------------------------------------

MEMORY = {"type": "proper_mail.ToMemoryMailer"}


@pytest.mark.parametrize(
    ("mailers", "message"),
    [
        ({"f": {"type": "proper_mail.FailoverMailer", "mailers": ["a", "nope"]}, "a": MEMORY},
         r"MAILERS\['f'\] uses 'nope', which is not in MAILERS \(f, a\)"),
        ({"f": {"type": "proper_mail.FailoverMailer", "mailers": ["a", "f"]}, "a": MEMORY},
         r"MAILERS\['f'\] uses itself \('f'\)"),
        ({"f": {"type": "proper_mail.FailoverMailer", "mailers": []}, "a": MEMORY},
         r"MAILERS\['f'\]: 'mailers' is empty"),
        ({"f": {"type": "proper_mail.FailoverMailer", "mailers": ["a", 7]}, "a": MEMORY},
         r"MAILERS\['f'\]: 'mailers'\[1\] must be a MAILERS name \(a str\), not 7"),
        ({"f": {"type": "proper_mail.FailoverMailer", "mailers": "a"}, "a": MEMORY},
         r"MAILERS\['f'\]: 'mailers' must be a list of MAILERS names.*not 'a'"),
        ({"f": {"type": "proper_mail.FailoverMailer"}, "a": MEMORY},
         r"MAILERS\['f'\]: missing a required keyword-only argument: 'mailers'"),
        (
            {
                "f": {"type": "proper_mail.FailoverMailer", "mailers": ["a", "g"]},
                "g": {"type": "proper_mail.RoundRobinMailer", "mailers": ["a", "f"]},
                "a": MEMORY,
            },
            r"MAILERS\['f'\]: its mailers lead back to it: f -> g -> f",
        ),
        ({"a": {**MEMORY, "rate_limit": "14 per s"}},
         r"MAILERS\['a'\]\['rate_limit'\] must be .*, not '14 per s'"),
        ({"a": {**MEMORY, "rate_limit": "0/s"}}, r"MAILERS\['a'\]\['rate_limit'\].*not '0/s'"),
        ({"a": {**MEMORY, "rate_limit": "14/s", "rate_burst": 0}},
         r"MAILERS\['a'\]\['rate_burst'\] must be a whole number >= 1.*not 0"),
        ({"a": {**MEMORY, "rate_burst": 5}}, r"MAILERS\['a'\] has a rate_burst but no rate_limit"),
    ],
)  # fmt: skip
def test_configuration_errors(mailers: dict[str, Any], message: str) -> None:
    """Each is a ConfigError at configure time naming MAILERS[alias] and the bad value."""
    with pytest.raises(ConfigError, match=message):
        proper_mail.configure(MAILERS=mailers, MAILER="a" if "a" in mailers else None)


def test_a_failover_instance_in_mailers_is_checked_at_configure() -> None:
    """A FailoverMailer given as an instance: an unknown name is a ConfigError now."""
    with pytest.raises(ConfigError, match=r"MAILERS\['f'\] uses 'nope'"):
        Mail(mailers={"f": FailoverMailer(mailers=["nope"]), "a": MEMORY}, mailer="a")


def test_a_rate_limit_is_not_a_constructor_option() -> None:
    """rate_limit and rate_burst go to the limiter, whatever the mailer's signature."""
    mail = Mail(mailers={"a": {**MEMORY, "rate_limit": "14/s", "rate_burst": 3}})

    assert isinstance(mail.mailers["a"], ToMemoryMailer)
    assert repr(mail.mailers["a"]._limiter) == "<LocalRateLimiter a 14/s, burst 3>"


def test_a_failover_claims_a_queued_message_for_all_its_mailers_send_timeouts() -> None:
    """send_timeout (what the queue's claim is sized by) is the inner mailers' sum."""
    mail = Mail(
        mailers={
            "s1": {"type": "proper_mail.SMTPMailer", "send_timeout": 40},
            "s2": {"type": "proper_mail.SMTPMailer", "send_timeout": 50},
            "m": MEMORY,
            "main": {"type": "proper_mail.FailoverMailer", "mailers": ["s1", "m", "s2"]},
        },
        mailer="main",
    )

    assert mail.mailers["main"].send_timeout == 90.0  # type: ignore[attr-defined]


def test_a_bad_option_value_is_found_by_build_all() -> None:
    """Mailers are built on first use; build_all() builds them now (the worker does)."""
    mail = Mail(mailers={"smtp": {"type": "proper_mail.SMTPMailer", "port": 0}})

    with pytest.raises(ConfigError, match=r"MAILERS\['smtp'\]: SMTPMailer port must be"):
        mail.mailers.build_all()
