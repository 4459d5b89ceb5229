"""Every protocol fault, classified: SMTPMailer against the scripted fault server.

Each case states what the server did with the message (stored or not) and what the
library reports, serial and pipelined (RFC 2920); the two agree. The one documented
disagreement is a reply lost after the final dot: no 250 came, so the library reports a
transient failure (RFC 5321: no reply, no delivery), and a retry may deliver a second
copy (README, *Delivery guarantees*).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from proper_mail import (
    DeliveryError,
    Message,
    MessageTooLarge,
    PermanentDeliveryError,
    SMTPMailer,
    TransientDeliveryError,
)
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp
from tests.scripted_smtp import Reply, Rule, Script, ScriptedSMTPServer

STAMP = Stamp(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "fault")
MESSAGE = compose(
    stamp=STAMP, from_email="app@example.com", to=["a@example.com", "b@example.com"], body="Hi"
)


@pytest.fixture(params=[False, True], ids=["serial", "pipelined"])
def pipelining(request: pytest.FixtureRequest) -> bool:
    """Every case runs against a server without and with PIPELINING."""
    value = request.param
    assert isinstance(value, bool)
    return value


@pytest.fixture
def serve(pipelining: bool) -> Iterator[list[ScriptedSMTPServer]]:
    """Servers started by the test (through start()), stopped at teardown."""
    servers: list[ScriptedSMTPServer] = []
    yield servers
    for server in servers:
        server.stop()


def start(servers: list[ScriptedSMTPServer], pipelining: bool, *rules: Rule) -> ScriptedSMTPServer:
    """A scripted server with *rules*, PIPELINING as the test's parameter."""
    server = ScriptedSMTPServer(Script(rules, pipelining=pipelining))
    server.start()
    servers.append(server)
    return server


def mailer_for(server: ScriptedSMTPServer, **options: float) -> SMTPMailer:
    """An SMTPMailer for *server* with short timeouts."""
    settings: dict[str, float] = {"timeout": 5, "send_timeout": 20, **options}
    return SMTPMailer(host=server.host, port=server.port, **settings)  # type: ignore[arg-type]


def send(server: ScriptedSMTPServer, message: Message = MESSAGE, **options: float) -> object:
    """The SendResult of one send, or the error it raised."""
    with mailer_for(server, **options) as mailer:
        try:
            return mailer.deliver(message)
        except DeliveryError as e:
            return e


def test_a_normal_session_is_sent(serve: list[ScriptedSMTPServer], pipelining: bool) -> None:
    """No fault: stored, and every recipient reported sent."""
    server = start(serve, pipelining)

    result = send(server)

    (received,) = server.messages
    assert received.stored
    assert received.pipelined == pipelining
    assert getattr(result, "accepted", None) == ("a@example.com", "b@example.com")


def test_an_unreadable_rcpt_reply_drops_the_connection_and_sends_nothing(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """A garbage RCPT reply (the server took it as accepted): the session is dropped with
    no DATA content, not even a lone dot, so no empty message is stored; transient."""
    server = start(serve, pipelining, Rule("RCPT", Reply.raw(b"hello\r\n"), nth=1))

    error = send(server)

    assert isinstance(error, TransientDeliveryError)
    assert "unreadable" in str(error)
    assert server.messages == []


def test_an_unreadable_mail_reply_is_transient(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """A MAIL FROM reply without a code: transient, nothing stored."""
    server = start(serve, pipelining, Rule("MAIL", Reply.raw(b"what?\r\n")))

    error = send(server)

    assert isinstance(error, TransientDeliveryError)
    assert server.messages == []


def test_452_too_many_recipients_sends_the_rest_at_once(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """RFC 5321 4.5.3.1.10: a server taking 50 RCPTs per transaction, 1,000 recipients:
    20 transactions, one send, every recipient sent exactly once."""
    server = start(
        serve, pipelining, Rule("RCPT", Reply.smtp(452, "4.5.3 Too many recipients"), after=50)
    )
    recipients = [f"user{n}@example.com" for n in range(1000)]
    message = compose(stamp=STAMP, from_email="app@example.com", bcc=recipients, body="Hi")

    result = send(server, message)

    assert getattr(result, "accepted", None) == tuple(recipients)
    assert len(server.messages) == 20
    assert all(m.stored and len(m.rcpt_tos) == 50 for m in server.messages)
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == sorted(recipients)


def test_452_for_everyone_is_a_deferral_not_a_loop(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """452 to the very first RCPT: no transaction took anyone, so it is transient (a full
    mailbox or a full disk), not split forever."""
    server = start(serve, pipelining, Rule("RCPT", Reply.smtp(452, "4.3.1 Disk full")))

    error = send(server)

    assert isinstance(error, TransientDeliveryError)
    assert server.messages == []


@pytest.mark.parametrize(
    ("reply", "stored", "reported"),
    [
        (Reply.smtp(250, "2.0.0 queued as X"), True, "sent"),
        (Reply.raw(b"250 " + b"x" * 1_000_000 + b"\r\n"), True, "sent"),
        (Reply.raw(b"hello\r\n", store=True), True, "sent"),
        (Reply.raw(b"250-ok\r\n554 no\r\n", store=True), True, "sent"),
        (Reply.smtp(451, "4.3.0 try later"), False, "transient"),
        (Reply.smtp(554, "5.6.0 rejected"), False, "permanent"),
        (Reply.smtp(552, "5.3.4 too big"), False, "too large"),
        (Reply.close(store=True), True, "transient"),  # lost reply: the documented window
        (Reply.close(store=False), False, "transient"),
    ],
    ids=[
        "250",
        "250-and-1MB",
        "garbage-after-store",
        "mixed-codes-after-store",
        "451",
        "554",
        "552",
        "close-after-store",
        "close-before-store",
    ],
)
def test_the_reply_after_the_data_is_classified(
    serve: list[ScriptedSMTPServer], pipelining: bool, reply: Reply, stored: bool, reported: str
) -> None:
    """After the final dot: the server's decision (stored or not) and the library's
    report agree; an unreadable reply from a server that read the whole message is sent."""
    server = start(serve, pipelining, Rule("DATA_END", reply))

    outcome = send(server)

    (received,) = server.messages
    assert received.stored is stored
    kinds: dict[type, str] = {
        MessageTooLarge: "too large",
        PermanentDeliveryError: "permanent",
        TransientDeliveryError: "transient",
    }
    kind = kinds.get(type(outcome), "sent")
    assert kind == reported
    if kind == "sent":
        assert getattr(outcome, "accepted", None) == ("a@example.com", "b@example.com")


def test_a_lost_reply_says_a_retry_may_duplicate(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """The connection closed after the data went out: the error says the server may have
    stored it, and that a retry may deliver a second copy."""
    server = start(serve, pipelining, Rule("DATA_END", Reply.close(store=True)))

    error = send(server)

    assert isinstance(error, TransientDeliveryError)
    assert "may have stored it" in str(error)


def test_a_silent_server_times_out_per_read(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """No reply to RCPT: the per-read timeout ends the send, transient, nothing stored."""
    server = start(serve, pipelining, Rule("RCPT", Reply.silence()))

    error = send(server, timeout=0.5)

    assert isinstance(error, TransientDeliveryError)
    assert "timed out" in str(error)
    assert server.messages == []


def test_a_dripping_reply_cannot_outlast_send_timeout(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """A reply dripped a byte every 0.1 s (each read is quick, the whole is ~8 s) against
    send_timeout=1: the send ends on the deadline, long before the reply would."""
    slow = Reply.smtp(250, "2.0.0 " + "x" * 80, drip=0.1)
    server = start(serve, pipelining, Rule("DATA_END", slow))

    began = time.monotonic()
    error = send(server, timeout=2, send_timeout=1)
    took = time.monotonic() - began

    assert isinstance(error, TransientDeliveryError)
    assert "send_timeout" in str(error)
    assert took < 6  # the drip alone takes over 8 s


def test_a_dripping_greeting_cannot_outlast_send_timeout(
    serve: list[ScriptedSMTPServer], pipelining: bool
) -> None:
    """Connecting counts too: a greeting dripped over ~8 s ends at send_timeout=1."""
    slow = Reply.smtp(220, "x" * 80, drip=0.1)
    server = start(serve, pipelining, Rule("GREETING", slow))

    began = time.monotonic()
    error = send(server, timeout=2, send_timeout=1)
    took = time.monotonic() - began

    assert isinstance(error, TransientDeliveryError)
    assert took < 6
    assert server.messages == []
