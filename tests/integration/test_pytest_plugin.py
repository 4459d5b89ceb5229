"""The pytest plugin, run the way a user's project runs it (pytester, a subprocess, the
plugin found through the package's ``pytest11`` entry point)."""

from __future__ import annotations

import pytest

CONFTEST = """
import proper_mail
from proper_mail import EmailMessage, EmailMessageDict

# An app configured for production: real SMTP, a Redis queue nobody can reach.
app_mail = proper_mail.configure(
    MAILERS={
        "smtp": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 1},
        "bulk": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 2},
    },
    MAILER="smtp",
    MAILER_DEFAULT_OPTIONS={"from": "app@example.com"},
    QUEUE="redis://127.0.0.1:1/0",
)


class WelcomeEmail(EmailMessage):
    subject = "Welcome"
    body = "Hi, your dashboard is ready."


class ReceiptEmail(EmailMessage):
    subject = "Your receipt"
    body = "Thanks."


@app_mail.queue.task()
def send_email_task(message: EmailMessageDict, via: str | None = None) -> None:
    app_mail.queue.deliver(message, via=via)
"""

TESTS = """
import datetime as dt

import pytest

import proper_mail
from proper_mail import ConfigError, SMTPMailer
from conftest import ReceiptEmail, WelcomeEmail, send_email_task


def test_send_is_captured(mail):
    WelcomeEmail(to="Alice <alice@example.com>", cc="boss@example.com").send()

    sent = mail.assert_sent(WelcomeEmail, to="alice@example.com", count=1)
    assert sent[0].subject == "Welcome"
    assert mail.outbox.last.text.startswith("Hi, your dashboard")
    assert [s.subject for s in mail.outbox.for_("boss@example.com")] == ["Welcome"]
    mail.assert_not_sent(ReceiptEmail)
    mail.assert_nothing_queued()


def test_each_test_starts_empty(mail):
    assert len(mail.outbox) == 0
    ReceiptEmail(to="bob@example.com").send()
    assert len(mail.outbox) == 1


def test_send_later_is_queued_with_its_delay_and_sent(mail):
    WelcomeEmail(to="carol@example.com").send_later(delay=dt.timedelta(minutes=5))

    mail.assert_queued(WelcomeEmail, to="carol@example.com", delay=300)
    mail.assert_sent(WelcomeEmail, to="carol@example.com")


def test_the_apps_own_task_is_run_at_once(mail):
    send_email_task(message=ReceiptEmail(to="dan@example.com").serialize(), via="bulk")

    (queued,) = mail.queued
    assert queued.task.endswith("send_email_task")
    assert mail.assert_sent(ReceiptEmail)[0].mailer == "bulk"


def test_where_takes_a_predicate(mail):
    WelcomeEmail(to="erin@example.com").send()

    mail.assert_sent(where=lambda sent: "dashboard" in sent.text)


def test_real_sends_are_impossible(mail):
    record = proper_mail.compose(to="x@example.com", body="x")

    with pytest.raises(ConfigError, match="real sends are blocked"):
        SMTPMailer(host="127.0.0.1", port=1).send_now(record)


def test_a_mail_configured_during_the_test_is_captured_too(mail):
    proper_mail.configure(
        MAILERS={"ses": {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "port": 3}},
        MAILER_DEFAULT_OPTIONS={"from": "other@example.com"},
    )
    WelcomeEmail(to="fay@example.com").send()

    assert mail.outbox.last.mailer == "ses"


def test_a_failed_assertion_says_what_was_sent(mail):
    WelcomeEmail(to="gus@example.com").send()

    mail.assert_sent(ReceiptEmail, to="gus@example.com")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: a conftest that configures the app, and its tests."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_emails=TESTS)
    return pytester


def test_the_fixture_captures_and_asserts(project: pytest.Pytester) -> None:
    """Every test of the user's file passes but the one whose assertion is wrong."""
    result = project.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=7, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: expected a ReceiptEmail to gus@example.com sent; "
            "found 0 matching, sent 1 in all",
            "*1. WelcomeEmail 'Welcome' to gus@example.com via smtp",
        ]
    )


def test_the_app_is_put_back_after_the_test(pytester: pytest.Pytester) -> None:
    """After a test with the fixture, the app's own mailers and queue are back."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_after="""
import proper_mail
from conftest import app_mail


def test_with(mail):
    assert type(app_mail.mailer).__name__ == "ToMemoryMailer"


def test_without():
    assert type(app_mail.mailer).__name__ == "SMTPMailer"
    assert app_mail.queue._intercept is None
"""
    )

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly")

    result.assert_outcomes(passed=2)


def test_the_plugin_is_registered_by_entry_point(pytester: pytest.Pytester) -> None:
    """`pytest --fixtures` in a project with nothing of ours lists the mail fixture."""
    result = pytester.runpytest_subprocess("--fixtures", "-p", "no:cacheprovider")

    result.stdout.fnmatch_lines(["*mail*", "*Capture what the app sends and queues*"])
