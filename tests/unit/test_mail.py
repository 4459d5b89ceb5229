"""configure(), Mail, MAILERS validation, via= and send() (the guide, 6.1, 6.4, 7)."""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker

import proper_mail
from proper_mail import (
    BaseMailer,
    ConfigError,
    Mail,
    MessageError,
    SMTPMailer,
    ToConsoleMailer,
    ToMemoryMailer,
    configure,
    send,
    using,
)
from proper_mail.mail import current_mail
from proper_mail.testing import outbox

SETTINGS: dict[str, Any] = {
    "MAILERS": {
        "console": {"type": "proper_mail.ToConsoleMailer"},
        "memory": {"type": "proper_mail.ToMemoryMailer"},
        "smtp": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 2525},
    },
    "MAILER": "memory",
    "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
}


@pytest.fixture(autouse=True)
def no_current_mail() -> Iterator[None]:
    """Each test starts without a configured Mail and leaves none behind."""
    previous = proper_mail.mail._current
    proper_mail.mail._current = None
    yield
    proper_mail.mail._current = previous


def test_configure_makes_the_mail_current() -> None:
    """configure() returns the Mail that send() and EmailMessage.send() then use."""
    mail = configure(SETTINGS)

    assert current_mail() is mail
    assert isinstance(mail.mailer, ToMemoryMailer)
    assert isinstance(mail.mailers["smtp"], SMTPMailer)


def test_overrides_win_over_settings() -> None:
    """Keyword overrides replace settings keys (MAILER="console")."""
    mail = configure(SETTINGS, MAILER="console")

    assert isinstance(mail.mailer, ToConsoleMailer)


def test_mailers_are_built_once_and_lazily() -> None:
    """A mailer is built on first access and the same object is returned after."""
    mail = Mail.from_settings(SETTINGS)

    assert mail.mailers.built() == []
    assert mail.mailers["memory"] is mail.mailers["memory"]
    assert [m.alias for m in mail.mailers.built()] == ["memory"]


def test_mailers_build_once_across_threads() -> None:
    """Eight threads asking for the same mailer at once all get one object."""
    mail = Mail.from_settings(SETTINGS)
    seen: list[BaseMailer] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(mail.mailers["smtp"])

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len({id(m) for m in seen}) == 1


def test_unknown_via_names_the_available_mailers() -> None:
    """via= with an unknown name: ConfigError "Unknown mailer 'x'. Available mailers: ..."."""
    mail = Mail.from_settings(SETTINGS)

    with pytest.raises(
        ConfigError, match=r"^Unknown mailer 'x'\. Available mailers: console, memory, smtp$"
    ):
        mail.mailer_for("x")


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({**SETTINGS, "MAILER": "nope"}, "MAILER is 'nope', which is not in MAILERS"),
        ({"MAILER": "x"}, "MAILERS is not set"),
        ({"MAILERS": {}}, "MAILERS is empty"),
        ({"MAILERS": {"a": {"host": "x"}}, "MAILER": "a"}, "MAILERS\\['a'\\] has no 'type'"),
        ({"MAILERS": {"a": "proper_mail.SMTPMailer"}}, "must be a dict with a 'type' key"),
        ({"MAILERS": {"a": {"type": "no.such.Mailer"}}}, "cannot import 'no.such.Mailer'"),
        ({"MAILERS": {"a": {"type": "proper_mail.Nope"}}}, "cannot import 'proper_mail.Nope'"),
        ({"MAILERS": {"a": {"type": "proper_mail.Message"}}}, "is not a BaseMailer subclass"),
        ({"MAILERS": {"a": {"type": "Mailer"}}}, "must be a dotted path"),
        (
            {"MAILERS": {"a": {"type": "proper_mail.SMTPMailer", "hots": "x"}}},
            "MAILERS\\['a'\\]: SMTPMailer takes no option 'hots'; it takes: host, port",
        ),
        (
            {
                "MAILERS": {
                    "a": {"type": "proper_mail.ToMemoryMailer"},
                    "b": {"type": "proper_mail.ToMemoryMailer"},
                }
            },
            "MAILER is not set",
        ),
        (
            {**SETTINGS, "MAILER_DEFAULT_OPTIONS": {"sender": "x@example.com"}},
            "unknown key 'sender'",
        ),
    ],
)
def test_bad_configuration_is_reported_when_configuring(
    settings: dict[str, Any], match: str
) -> None:
    """Each configuration problem is a ConfigError naming the key, raised by configure()."""
    with pytest.raises(ConfigError, match=match):
        configure(settings)


def test_guide_spelling_of_types_is_accepted() -> None:
    """ "proper.emails.SMTPMailer" (the guide's import path) means proper_mail.SMTPMailer."""
    mail = Mail.from_settings({"MAILERS": {"m": {"type": "proper.emails.ToMemoryMailer"}}})

    assert isinstance(mail.mailer, ToMemoryMailer)


def test_a_class_can_be_given_instead_of_a_path() -> None:
    """MAILERS entries take a class object as type."""
    mail = Mail.from_settings({"MAILERS": {"m": {"type": ToMemoryMailer}}})

    assert isinstance(mail.mailer, ToMemoryMailer)


def test_constructor_errors_become_config_errors_naming_the_mailer() -> None:
    """use_tls with use_ssl (a ValueError from the constructor) names the MAILERS key."""
    mail = Mail.from_settings(
        {"MAILERS": {"prod": {"type": "proper_mail.SMTPMailer", "use_tls": True, "use_ssl": True}}}
    )

    with pytest.raises(ConfigError, match=r"MAILERS\['prod'\]: use_tls .* mutually exclusive"):
        _ = mail.mailer


def test_per_environment_config_module_works_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's 7.4 config module: APP_ENV picks console, memory or ses_smtp."""
    source = """
import os

env = os.getenv("APP_ENV", "dev")

MAILERS = {
    "console": {"type": "proper_mail.ToConsoleMailer"},
    "memory": {"type": "proper_mail.ToMemoryMailer"},
    "ses_smtp": {
        "type": "proper_mail.SMTPMailer",
        "host": "smtp.example.com",
        "port": 587,
        "username": os.getenv("SMTP_USERNAME"),
        "password": os.getenv("SMTP_PASSWORD"),
        "use_tls": True,
    },
}

# Default - print to console in dev
MAILER = "console"

MAILER_DEFAULT_OPTIONS = {
    "from": "no-reply@example.com",
}

if env == "test":
    MAILER = "memory"
elif env == "prod":
    MAILER = "ses_smtp"
"""
    kinds = {}
    for env in ("dev", "test", "prod"):
        monkeypatch.setenv("APP_ENV", env)
        monkeypatch.setenv("SMTP_USERNAME", "user")
        monkeypatch.setenv("SMTP_PASSWORD", "s3cret")
        module = types.ModuleType("config_main")
        exec(compile(source, "config/main.py", "exec"), module.__dict__)
        kinds[env] = type(configure(module).mailer)

    assert kinds == {"dev": ToConsoleMailer, "test": ToMemoryMailer, "prod": SMTPMailer}


def test_send_uses_the_current_mail_and_via() -> None:
    """send(message, via=...) goes through the named mailer and reports its alias."""
    mail = configure(SETTINGS)
    message = mail.compose(to="alice@example.com", subject="Hi", body="Hello")

    result = send(message, via="memory")

    assert result.mailer == "memory"
    assert result.accepted == ("alice@example.com",)
    assert result.message_id == message.message_id
    assert outbox(mail, "memory")[-1]["Subject"] == "Hi"


def test_send_without_configure_is_a_clear_error() -> None:
    """Nothing configured: a ConfigError that says to call configure(), never a silent print."""
    with pytest.raises(ConfigError, match=r"call proper_mail\.configure"):
        send(Mail.from_settings(SETTINGS).compose(to="a@example.com"))


def test_using_swaps_the_current_mail() -> None:
    """using(mail) makes another Mail current for a block, then restores the previous one."""
    first = configure(SETTINGS)
    second = Mail.from_settings(SETTINGS)

    with using(second):
        assert current_mail() is second
    assert current_mail() is first


def test_compose_uses_the_app_defaults() -> None:
    """Mail.compose fills From from MAILER_DEFAULT_OPTIONS."""
    mail = Mail.from_settings(SETTINGS)

    assert str(mail.compose(to="a@example.com").from_email) == "no-reply@example.com"


def test_message_id_domain_is_configurable() -> None:
    """MESSAGE_ID_DOMAIN sets the Message-ID's right-hand side (never the host's FQDN)."""
    mail = Mail.from_settings({**SETTINGS, "MESSAGE_ID_DOMAIN": "mail.example.net"})

    assert mail.compose(to="a@example.com").message_id.endswith("@mail.example.net>")


def test_mail_repr_shows_no_secrets() -> None:
    """Neither the Mail nor the SMTP mailer prints its password."""
    mail = Mail.from_settings(
        {
            "MAILERS": {
                "s": {"type": SMTPMailer, "username": "u", "password": "s3cret-pw", "use_tls": True}
            }
        }
    )

    assert "s3cret-pw" not in repr(mail) + repr(mail.mailer)
    assert "password=<set>" in repr(mail.mailer)


def test_closing_a_mail_closes_built_mailers() -> None:
    """Mail.close() closes the mailers it built (pooled connections)."""
    closed: list[str] = []

    class Tracking(ToMemoryMailer):
        def close(self) -> None:
            closed.append(self.alias)

    mail = Mail.from_settings({"MAILERS": {"t": {"type": Tracking}}})
    _ = mail.mailer

    mail.close()

    assert closed == ["t"]


def test_stream_option_is_passed_to_the_console_mailer() -> None:
    """The guide's 7.1: {"type": "...ToConsoleMailer", "stream": sys.stderr}."""
    mail = Mail.from_settings(
        {"MAILERS": {"c": {"type": "proper_mail.ToConsoleMailer", "stream": sys.stderr}}}
    )

    assert mail.mailer.stream is sys.stderr  # type: ignore[attr-defined]


def test_no_repr_of_the_configuration_shows_a_password() -> None:
    """The registry's specs (options kept for building mailers later) never show values."""
    mail = Mail.from_settings(
        {
            "MAILERS": {
                "smtp": {
                    "type": "proper_mail.SMTPMailer",
                    "username": "u",
                    "password": "hunter2-spec",
                    "use_tls": True,
                }
            },
        }
    )

    shown = repr(mail.mailers._specs) + repr(mail) + repr(mail.mailer)

    assert "hunter2-spec" not in shown


SCHEDULE = {
    "MAILERS": {"m": {"type": "proper_mail.ToMemoryMailer"}},
    "MAILER_DEFAULT_OPTIONS": {"from": "app@example.com"},
}


@pytest.mark.parametrize(
    ("delay", "at", "expected"),
    [
        (None, None, None),
        (90, None, 90.0),
        (dt.timedelta(minutes=5), None, 300.0),
        (None, dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC), 3600.0),
    ],
)
def test_send_later_schedules_by_delay_or_at(
    delay: float | dt.timedelta | None, at: dt.datetime | None, expected: float | None
) -> None:
    """delay= seconds or a timedelta, at= an aware datetime: seconds from now."""
    mail = Mail.from_settings(SCHEDULE)
    mail._clock = lambda: dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    assert mail._delay_of(delay, at) == expected


@pytest.mark.parametrize(
    ("delay", "at", "reason"),
    [
        (None, dt.datetime(2026, 12, 1, 10, 0), "timezone-aware"),
        (None, dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC), "in the past"),
        (-1, None, "seconds (>= 0)"),
        ("soon", None, "seconds (>= 0)"),
        (60, dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC), "not both"),
    ],
)
def test_a_bad_schedule_is_a_message_error(delay: object, at: object, reason: str) -> None:
    """A naive or past at=, a negative or non-number delay=, or both: MessageError."""
    mail = Mail.from_settings(SCHEDULE)
    mail._clock = lambda: dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    record = mail.compose(to="a@example.com", body="x")

    with pytest.raises(MessageError, match=re.escape(reason)):
        mail.send_later(record, delay=delay, at=at)  # type: ignore[arg-type]


def test_a_delayed_send_goes_to_dramatiqs_delay_queue() -> None:
    """With a broker, send_later(delay=) is a Dramatiq delay: the message waits in the
    emails delay queue with its eta, not in the queue workers take from at once."""
    mail = Mail.from_settings({**SCHEDULE, "QUEUE": "stub"})
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)

    mail.send_later(mail.compose(to="a@example.com", body="x"), delay=3600)

    assert broker.queues["emails"].qsize() == 0
    assert broker.queues["emails.DQ"].qsize() == 1
    mail.close()


def test_the_library_logs_to_a_null_handler() -> None:
    """An app without logging set up sees no stray lines: proper_mail has a NullHandler."""
    assert any(
        isinstance(h, logging.NullHandler) for h in logging.getLogger("proper_mail").handlers
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("QUEUE_CLAIM_TTL", 0), ("QUEUE_CLAIM_TTL", "600"), ("QUEUE_MAX_PAYLOAD", -1)],
)
def test_queue_numbers_are_checked_at_configure(key: str, value: object) -> None:
    """A claim TTL or payload cap that is not a positive number: ConfigError naming it."""
    with pytest.raises(ConfigError, match=key):
        Mail.from_settings({**SCHEDULE, key: value})
