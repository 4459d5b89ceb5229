"""SMTPMailer against a real SMTP server on 127.0.0.1: TLS, AUTH, faults, pooling, results."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import proper_mail
from proper_mail import (
    ConfigError,
    Message,
    MessageTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    SendResult,
    SMTPMailer,
    TransientDeliveryError,
    to_bytes,
)
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp
from tests.smtp_server import (
    AUTH_CREDENTIALS,
    Faults,
    SilentServer,
    SMTPServerFactory,
    SMTPTestServer,
)

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "fixed")
PASSWORD = AUTH_CREDENTIALS[1]


def message(n: int = 0, **fields: Any) -> Message:
    """A small message with a distinct Message-ID and subject per *n*."""
    base: dict[str, Any] = {
        "from_email": "MyApp <no-reply@example.com>",
        "to": "Alice <alice@example.com>",
        "subject": f"Message {n} — ✓",
        "body": f"Body of message {n}\n",
        "message_id": f"<m{n}.test@example.com>",
        "stamp": STAMP,
    }
    return compose(**{**base, **fields})


def mailer_for(server: SMTPTestServer, **options: Any) -> SMTPMailer:
    """An SMTPMailer pointed at *server* with a short timeout."""
    return SMTPMailer(host=server.host, port=server.port, timeout=5, **options)


@pytest.fixture(params=[False, True], ids=["serial", "pipelined"])
def smtp_pipelining(request: pytest.FixtureRequest) -> bool:
    """Every test here runs against a server without and with PIPELINING."""
    value = request.param
    assert isinstance(value, bool)
    return value


def test_pipelining_is_used_exactly_when_offered(
    make_smtp_server: SMTPServerFactory, smtp_pipelining: bool
) -> None:
    """MAIL, RCPT x3 and DATA go in one write when the server offers PIPELINING (and the
    mailer allows it); otherwise one command at a time. The message arrives the same."""
    sent = message(cc="Bob <bob@example.com>", bcc="audit@example.com")
    server = make_smtp_server()

    with mailer_for(server) as mailer:
        mailer.deliver(sent)
    with mailer_for(server, pipelining=False) as mailer:
        mailer.deliver(sent)

    assert [m.pipelined for m in server.messages] == [smtp_pipelining, False]
    assert [m.data for m in server.messages] == [to_bytes(sent)] * 2
    assert [m.rcpt_tos for m in server.messages] == [
        ["alice@example.com", "bob@example.com", "audit@example.com"]
    ] * 2


def test_a_354_without_recipients_gets_a_lone_dot(
    make_smtp_server: SMTPServerFactory, smtp_pipelining: bool
) -> None:
    """RFC 2920 3.1: when every RCPT was refused but the pipelined DATA got 354 anyway,
    the client ends it with a lone dot (no content), raises, and the session stays usable.
    Without pipelining DATA is never sent after every recipient was refused."""
    faults = Faults(
        rcpt_replies={"alice@example.com": "550 5.1.1 No such user"},
        accept_data_without_recipients=True,
    )
    server = make_smtp_server(faults=faults)

    with mailer_for(server) as mailer:
        with pytest.raises(PermanentDeliveryError) as caught:
            mailer.deliver(message(1))
        result = mailer.deliver(message(2, to="bob@example.com"))

    assert caught.value.code == 550
    assert faults.empty_data_after_354 == (1 if smtp_pipelining else 0)
    assert faults.messages_seen == 1
    assert [m.rcpt_tos for m in server.messages] == [["bob@example.com"]]
    assert result.accepted == ("bob@example.com",)
    assert server.connections == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 Try later", TransientDeliveryError),
        ("553 5.7.1 Sender not allowed", PermanentDeliveryError),
    ],
)
def test_mail_from_refused_is_classified_and_the_session_reset(
    make_smtp_server: SMTPServerFactory, reply: str, error: type[Exception], smtp_pipelining: bool
) -> None:
    """A refused MAIL FROM raises by class (the pipelined RCPTs' and DATA's 503 replies are
    read, not mistaken for the next message's); the next message uses the same session."""
    server = make_smtp_server(faults=Faults(mail_reply=reply))

    with mailer_for(server) as mailer:
        with pytest.raises(error) as caught:
            mailer.deliver(message(1, cc="bob@example.com"))
        server.faults.mail_reply = None
        result = mailer.deliver(message(2))

    assert str(caught.value).startswith(f"MAIL FROM: {reply}")
    assert result.accepted == ("alice@example.com",)
    assert [m.data for m in server.messages] == [to_bytes(message(2))]
    assert server.connections == 1
    refused = ["MAIL", "RCPT", "RCPT", "DATA", "RSET"] if smtp_pipelining else ["MAIL", "RSET"]
    assert server.commands == [*refused, "MAIL", "RCPT", "DATA"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("421 4.3.2 Shutting down", TransientDeliveryError),
        ("554 5.7.1 Go away", PermanentDeliveryError),
    ],
)
def test_mail_from_refused_then_a_hang_up_keeps_the_refusal(
    make_smtp_server: SMTPServerFactory, reply: str, error: type[Exception]
) -> None:
    """A server that refuses MAIL FROM and hangs up: the error is the refusal (class and
    code), not the disconnect met while reading what followed; the next send reconnects."""
    server = make_smtp_server(faults=Faults(mail_reply=reply, drop_after_mail_reply=True))

    with mailer_for(server) as mailer:
        with pytest.raises(error) as caught:
            mailer.deliver(message(1, cc="bob@example.com"))
        server.faults.reset()
        mailer.deliver(message(2))

    assert caught.value.code == int(reply[:3])  # type: ignore[attr-defined]
    assert str(caught.value).startswith(f"MAIL FROM: {reply}")
    assert [m.data for m in server.messages] == [to_bytes(message(2))]
    assert server.connections == 2


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("451 4.3.0 Busy", TransientDeliveryError),
        ("554 5.5.1 No valid recipients", PermanentDeliveryError),
    ],
)
def test_the_data_command_refused_sends_no_content(
    make_smtp_server: SMTPServerFactory, reply: str, error: type[Exception]
) -> None:
    """DATA itself refused (not 354): raised by class, no content goes out, RSET, and the
    same session sends the next message."""
    server = make_smtp_server(faults=Faults(data_command_reply=reply))

    with mailer_for(server) as mailer:
        with pytest.raises(error) as caught:
            mailer.deliver(message(1))
        server.faults.reset()
        mailer.deliver(message(2))

    assert caught.value.code == int(reply[:3])  # type: ignore[attr-defined]
    assert server.commands == ["MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"]
    assert server.faults.messages_seen == 1
    assert [m.data for m in server.messages] == [to_bytes(message(2))]
    assert server.connections == 1


def test_a_message_arrives_byte_for_byte(smtp_server: SMTPTestServer) -> None:
    """The server receives exactly to_bytes(message), with the envelope from envelope_of."""
    sent = message(cc="Bob <bob@example.com>", bcc="audit@example.com")

    with mailer_for(smtp_server) as mailer:
        result = mailer.deliver(sent)

    (received,) = smtp_server.messages
    assert received.data == to_bytes(sent)
    assert received.mail_from == "no-reply@example.com"
    assert received.rcpt_tos == ["alice@example.com", "bob@example.com", "audit@example.com"]
    assert b"audit@example.com" not in received.data
    assert result.accepted == ("alice@example.com", "bob@example.com", "audit@example.com")


def test_starttls_verifies_with_the_test_ca(starttls_server: SMTPTestServer, ca_file: Path) -> None:
    """use_tls with ssl_cafile: STARTTLS, certificate and host name verified."""
    with mailer_for(starttls_server, use_tls=True, ssl_cafile=str(ca_file)) as mailer:
        mailer.deliver(message())

    assert starttls_server.messages[0].tls


def test_starttls_fails_without_the_ca(starttls_server: SMTPTestServer) -> None:
    """Without the test CA the certificate is refused: permanent, nothing sent."""
    with (
        mailer_for(starttls_server, use_tls=True) as mailer,
        pytest.raises(PermanentDeliveryError, match="certificate verification failed"),
    ):
        mailer.deliver(message())

    assert starttls_server.messages == []


def test_implicit_tls_verifies_with_the_test_ca(ssl_server: SMTPTestServer, ca_file: Path) -> None:
    """use_ssl speaks TLS from the first byte and verifies the certificate."""
    with mailer_for(ssl_server, use_ssl=True, ssl_cafile=str(ca_file)) as mailer:
        mailer.deliver(message())

    assert ssl_server.messages[0].tls


def test_implicit_tls_fails_without_the_ca(ssl_server: SMTPTestServer) -> None:
    """Implicit TLS with an unknown CA fails as a permanent error."""
    with (
        mailer_for(ssl_server, use_ssl=True) as mailer,
        pytest.raises(PermanentDeliveryError, match="certificate"),
    ):
        mailer.deliver(message())


def test_starttls_not_offered_is_an_error_before_mail_from(smtp_server: SMTPTestServer) -> None:
    """use_tls against a server without STARTTLS: an error, never plaintext."""
    with (
        mailer_for(smtp_server, use_tls=True) as mailer,
        pytest.raises(PermanentDeliveryError, match="does not offer STARTTLS"),
    ):
        mailer.deliver(message())

    assert smtp_server.messages == []


def test_auth_succeeds_over_starttls(make_smtp_server: SMTPServerFactory, ca_file: Path) -> None:
    """username/password log in after STARTTLS."""
    server = make_smtp_server(tls="starttls", auth=AUTH_CREDENTIALS)
    user, password = AUTH_CREDENTIALS

    with mailer_for(
        server, use_tls=True, ssl_cafile=str(ca_file), username=user, password=password
    ) as mailer:
        mailer.deliver(message())

    assert server.messages[0].authenticated_as == user


def test_auth_failure_is_permanent_and_keeps_the_password_secret(
    make_smtp_server: SMTPServerFactory, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password: PermanentDeliveryError (535), no password in the error or logs."""
    server = make_smtp_server(tls="starttls", auth=AUTH_CREDENTIALS)
    caplog.set_level(logging.DEBUG)
    mailer = mailer_for(
        server, use_tls=True, ssl_cafile=str(ca_file), username="user", password="wrong-pw-123"
    )

    with pytest.raises(PermanentDeliveryError) as caught:
        mailer.deliver(message())

    assert caught.value.code == 535
    assert "wrong-pw-123" not in str(caught.value) + repr(caught.value) + repr(mailer)
    assert "wrong-pw-123" not in caplog.text
    assert server.messages == []


def test_cleartext_auth_is_refused_unless_allowed(auth_server: SMTPTestServer) -> None:
    """Credentials over plaintext need allow_cleartext_auth=True; then they work."""
    user, password = AUTH_CREDENTIALS
    with pytest.raises(ConfigError, match="unencrypted"):
        mailer_for(auth_server, username=user, password=password)

    with mailer_for(auth_server, username=user, password=password, allow_cleartext_auth=True) as m:
        m.deliver(message())

    assert auth_server.messages[0].authenticated_as == user


def test_use_tls_and_use_ssl_together_is_a_value_error() -> None:
    """The guide: both set raises ValueError."""
    with pytest.raises(ValueError, match="mutually exclusive"):
        SMTPMailer(use_tls=True, use_ssl=True)


def test_timeout_defaults_to_30_seconds() -> None:
    """timeout is never None: 30 s by default, and None means the default."""
    assert SMTPMailer().timeout == 30
    assert SMTPMailer(timeout=None).timeout == 30


def test_refused_recipients_are_reported(make_smtp_server: SMTPServerFactory) -> None:
    """550 and 450 per recipient: rejected and deferred in the result, the rest sent."""
    faults = Faults(
        rcpt_replies={
            "gone@example.com": "550 5.1.1 No such user",
            "busy@example.com": "450 4.2.1 Busy",
        }
    )
    server = make_smtp_server(faults=faults)

    with mailer_for(server) as mailer:
        result = mailer.deliver(
            message(to=["alice@example.com", "gone@example.com", "busy@example.com"])
        )

    assert result.accepted == ("alice@example.com",)
    assert result.rejected == ("gone@example.com",)
    assert result.deferred == ("busy@example.com",)
    assert server.messages[0].rcpt_tos == ["alice@example.com"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("450 4.2.1 Busy", TransientDeliveryError),
        ("550 5.1.1 No such user", PermanentDeliveryError),
    ],
)
def test_all_recipients_refused_raises(
    make_smtp_server: SMTPServerFactory, reply: str, error: type[Exception]
) -> None:
    """When nobody accepts: 4xx transient, 5xx permanent, with per-recipient statuses."""
    server = make_smtp_server(faults=Faults(rcpt_replies={"alice@example.com": reply}))

    with mailer_for(server) as mailer, pytest.raises(error) as caught:
        mailer.deliver(message())

    assert [s.address for s in caught.value.recipients] == ["alice@example.com"]  # type: ignore[attr-defined]
    assert server.messages == []


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        ("451 4.3.0 Try later", TransientDeliveryError, 451),
        ("554 5.7.1 Rejected", PermanentDeliveryError, 554),
    ],
)
def test_data_refusals_are_classified_and_the_session_reset(
    make_smtp_server: SMTPServerFactory, reply: str, error: type[Exception], code: int
) -> None:
    """451/554 after DATA raise by class; RSET keeps the connection for the next message."""
    server = make_smtp_server(faults=Faults(data_reply=reply))
    mailer = mailer_for(server)

    with pytest.raises(error) as caught:
        mailer.deliver(message(1))
    server.faults.data_reply = None
    mailer.deliver(message(2))
    mailer.close()

    assert caught.value.code == code  # type: ignore[attr-defined]
    assert [m.session_id for m in server.messages] == [1]
    assert server.connections == 1


def test_disconnect_during_data_is_transient_and_reconnects(
    make_smtp_server: SMTPServerFactory,
) -> None:
    """A dropped connection during DATA: TransientDeliveryError; the next send reconnects."""
    server = make_smtp_server(faults=Faults(disconnect_during_data=True))
    mailer = mailer_for(server)

    with pytest.raises(TransientDeliveryError):
        mailer.deliver(message(1))
    server.faults.disconnect_during_data = False
    mailer.deliver(message(2))
    mailer.close()

    assert [m.data for m in server.messages] == [to_bytes(message(2))]
    assert server.connections == 2


def test_a_silent_server_times_out(silent_server: SilentServer) -> None:
    """A server that never answers: the timeout holds and the error is transient."""
    mailer = SMTPMailer(host=silent_server.host, port=silent_server.port, timeout=0.5)
    started = time.monotonic()

    with pytest.raises(TransientDeliveryError, match="timed out"):
        mailer.deliver(message())

    assert time.monotonic() - started < 3


def test_a_refused_connection_is_transient() -> None:
    """Nothing listening: TransientDeliveryError, not a socket error."""
    with SilentServer() as server:
        port = server.port  # free now that the server is gone

    with pytest.raises(TransientDeliveryError):
        SMTPMailer(host="127.0.0.1", port=port, timeout=2).deliver(message())


def test_size_is_checked_before_mail_from(make_smtp_server: SMTPServerFactory) -> None:
    """A message over the server's SIZE raises MessageTooLarge (a PermanentDeliveryError
    with the size and the limit) and is never sent."""
    server = make_smtp_server(data_size_limit=2000)

    with mailer_for(server) as mailer, pytest.raises(MessageTooLarge, match="at most 2000") as e:
        mailer.deliver(message(body="x" * 5000))

    assert isinstance(e.value, PermanentDeliveryError)
    assert (e.value.limit, e.value.code) == (2000, 552)
    assert e.value.size is not None
    assert e.value.size > 5000
    assert server.messages == []


def test_a_552_after_data_is_message_too_large(make_smtp_server: SMTPServerFactory) -> None:
    """The server's own size refusal after DATA is the same MessageTooLarge as the
    client's SIZE check, and fail_silently swallows it like any delivery error."""
    server = make_smtp_server(faults=Faults(data_reply="552 5.3.4 Message too big"))

    with mailer_for(server) as mailer, pytest.raises(MessageTooLarge, match="552"):
        mailer.deliver(message())
    with mailer_for(server, fail_silently=True) as quiet:
        sent = quiet.send_now(message())

    assert sent == 0


def test_smtputf8_is_used_when_needed(make_smtp_server: SMTPServerFactory) -> None:
    """The guide's 9: an SMTPUTF8-policy subclass keeps Unicode addresses end to end."""

    class UTF8SMTPMailer(SMTPMailer):
        policy = email.policy.SMTPUTF8

    server = make_smtp_server()
    sent = message(to="José <josé@münchen.de>", from_email="zoë@example.com")

    with UTF8SMTPMailer(host=server.host, port=server.port, timeout=5) as mailer:
        mailer.deliver(sent)

    (received,) = server.messages
    assert received.rcpt_tos == ["josé@münchen.de"]
    assert received.mail_from == "zoë@example.com"
    assert "SMTPUTF8" in received.mail_options
    assert "To: José <josé@münchen.de>".encode() in received.data


def test_smtputf8_missing_on_the_server_is_a_clear_error(
    make_smtp_server: SMTPServerFactory,
) -> None:
    """A Unicode address and a server without SMTPUTF8: a permanent error saying so."""

    class UTF8SMTPMailer(SMTPMailer):
        policy = email.policy.SMTPUTF8

    server = make_smtp_server(smtputf8=False)

    with (
        UTF8SMTPMailer(host=server.host, port=server.port, timeout=5) as mailer,
        pytest.raises(PermanentDeliveryError, match="does not offer SMTPUTF8"),
    ):
        mailer.deliver(message(to="josé@example.com"))


def test_ascii_messages_do_not_ask_for_smtputf8(make_smtp_server: SMTPServerFactory) -> None:
    """Under the SMTPUTF8 policy an all-ASCII message still goes without SMTPUTF8."""

    class UTF8SMTPMailer(SMTPMailer):
        policy = email.policy.SMTPUTF8

    server = make_smtp_server(smtputf8=False)

    with UTF8SMTPMailer(host=server.host, port=server.port, timeout=5) as mailer:
        mailer.deliver(message(subject="plain ascii"))

    assert len(server.messages) == 1


def test_one_send_now_uses_one_connection(smtp_server: SMTPTestServer) -> None:
    """send_now with many messages reuses one TCP connection (the guide, 7.3)."""
    with mailer_for(smtp_server) as mailer:
        assert mailer.send_now(*(message(n) for n in range(10))) == 10

    assert {m.session_id for m in smtp_server.messages} == {1}


def test_connections_stay_open_between_calls_until_idle(smtp_server: SMTPTestServer) -> None:
    """A second call reuses the idle connection; past idle_timeout a new one is opened."""
    mailer = mailer_for(smtp_server, idle_timeout=0.3)

    mailer.deliver(message(1))
    mailer.deliver(message(2))
    time.sleep(0.5)
    mailer.deliver(message(3))
    mailer.close()

    assert [m.session_id for m in smtp_server.messages] == [1, 1, 2]


def test_a_dropped_idle_connection_is_noticed_and_reopened(smtp_server: SMTPTestServer) -> None:
    """The server drops an idle connection: the next send reconnects and succeeds."""
    mailer = mailer_for(smtp_server)
    mailer.deliver(message(1))

    smtp_server.drop_connections()
    mailer.deliver(message(2))
    mailer.close()

    assert [m.session_id for m in smtp_server.messages] == [1, 2]


def test_batch_with_a_disconnect_at_50(make_smtp_server: SMTPServerFactory) -> None:
    """100 messages, the server drops at the 50th: 99 delivered, 1 reported, none twice."""
    server = make_smtp_server(faults=Faults(disconnect_on_message=50))
    batch = [message(n) for n in range(100)]

    with mailer_for(server) as mailer, pytest.raises(TransientDeliveryError) as caught:
        mailer.send_now(*batch)

    results = caught.value.results
    failed = [i for i, r in enumerate(results) if isinstance(r, ProperMailError)]
    ids = [m.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0] for m in server.messages]
    assert len(results) == 100
    assert failed == [49]
    assert all(isinstance(r, SendResult) and r.sent for i, r in enumerate(results) if i != 49)
    assert len(server.messages) == 99
    assert len(set(ids)) == 99
    assert b"<m49.test@example.com>" not in ids
    assert {m.session_id for m in server.messages} == {1, 2}


def test_fail_silently_counts_instead_of_raising(make_smtp_server: SMTPServerFactory) -> None:
    """fail_silently=True: send_now returns how many were sent and raises nothing."""
    server = make_smtp_server(faults=Faults(disconnect_on_message=2))

    with mailer_for(server, fail_silently=True) as mailer:
        assert mailer.send_now(message(1), message(2), message(3)) == 2


def test_threads_share_one_mailer_without_interleaving(smtp_server: SMTPTestServer) -> None:
    """8 threads x 200 messages through one mailer: exactly 1,600 intact messages."""
    mailer = mailer_for(smtp_server, max_connections=4)
    batches = [[message(t * 1000 + n) for n in range(200)] for t in range(8)]
    errors: list[BaseException] = []

    def run(batch: list[Message]) -> None:
        try:
            for m in batch:
                mailer.deliver(m)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    mailer.close()

    expected = {to_bytes(m) for batch in batches for m in batch}
    assert errors == []
    assert len(smtp_server.messages) == 1600
    assert {m.data for m in smtp_server.messages} == expected
    assert smtp_server.connections <= 4


def test_a_hand_built_stdlib_message_is_sent_as_a_record(smtp_server: SMTPTestServer) -> None:
    """The guide's 5.3 workaround 3: the stdlib message becomes a record at the edge;
    envelope from its headers, Bcc removed from the data, inline image kept."""
    built = email.message.EmailMessage()
    built["From"] = "MyApp <no-reply@example.com>"
    built["To"] = "Alice <alice@example.com>, bob@example.com"
    built["Bcc"] = "audit@example.com"
    built["Subject"] = "Hand-built"
    built["Message-ID"] = "<hand@example.com>"
    built.set_content("Hello")
    related = email.message.EmailMessage()
    related.set_content("<img src='cid:logo'>", subtype="html")
    related.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>")
    built.make_mixed()
    built.attach(related)

    with mailer_for(smtp_server) as mailer:
        assert mailer.send_now(built) == 1

    (received,) = smtp_server.messages
    parsed = email.message_from_bytes(received.data, policy=email.policy.default)
    assert received.rcpt_tos == ["alice@example.com", "bob@example.com", "audit@example.com"]
    assert parsed["Bcc"] is None
    assert b"audit@" not in received.data
    assert parsed["Subject"] == "Hand-built"
    assert b"\r\n" in received.data
    assert b"\n" not in received.data.replace(b"\r\n", b"")


def test_no_foreign_exception_leaks(
    make_smtp_server: SMTPServerFactory, silent_server: SilentServer, ca_file: Path
) -> None:
    """Every failure mode surfaces as a ProperMailError, never smtplib/ssl/socket errors."""
    plain = make_smtp_server()
    tls = make_smtp_server(tls="starttls")
    cases: list[tuple[SMTPMailer, Message]] = [
        (SMTPMailer(host=silent_server.host, port=silent_server.port, timeout=0.3), message()),
        (mailer_for(tls, use_tls=True), message()),
        (mailer_for(plain, use_tls=True), message()),
        (
            mailer_for(make_smtp_server(faults=Faults(mail_reply="421 4.3.2 Shutting down"))),
            message(),
        ),
        (mailer_for(make_smtp_server(faults=Faults(data_reply="552 5.3.4 Too big"))), message()),
        (mailer_for(make_smtp_server(faults=Faults(disconnect_during_data=True))), message()),
    ]

    for mailer, sent in cases:
        with pytest.raises(ProperMailError):
            mailer.deliver(sent)
        mailer.close()


def test_repr_hides_the_password() -> None:
    """repr() of the mailer says a password is set, never what it is."""
    mailer = SMTPMailer(username="u", password="hunter2-secret", use_tls=True)

    assert "hunter2-secret" not in repr(mailer)
    assert "hunter2-secret" not in str(vars(mailer))


def test_lines_starting_with_dots_arrive_intact(smtp_server: SMTPTestServer) -> None:
    """Dot-stuffing: bodies, files and a hand-built message with leading dots arrive as sent."""
    with_dots = message(1, body=".one\n..two\n.\n")
    with_file = message(
        2, attachments=[proper_mail.Attachment("a.txt", b".x\r\n.y\r\n", "text/plain")]
    )
    built = email.message.EmailMessage()
    built["From"] = "a@example.com"
    built["To"] = "b@example.com"
    built.set_content(".starts with a dot\n.\n")

    with mailer_for(smtp_server) as mailer:
        mailer.send_now(with_dots, with_file, built)

    first, second, third = smtp_server.messages
    assert first.data == to_bytes(with_dots)
    assert second.data == to_bytes(with_file)
    parsed = email.message_from_bytes(third.data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed.get_content().replace("\r\n", "\n") == ".starts with a dot\n.\n"


def test_a_hand_built_message_with_an_injected_header_never_reaches_the_server(
    smtp_server: SMTPTestServer,
) -> None:
    """CVE-2024-6923 on this Python: a compat32 Subject "Hi\\n\\nInjected" is refused at the
    edge (InvalidHeader), and nothing is sent."""
    built = email.message.Message()
    built["From"] = "a@example.com"
    built["To"] = "b@example.com"
    built["Subject"] = "Hi\n\nInjected body line"
    built.set_payload("body")

    with mailer_for(smtp_server) as mailer, pytest.raises(proper_mail.InvalidHeader):
        mailer.send_now(built)

    assert smtp_server.messages == []


def test_a_large_attachment_is_streamed_and_arrives_intact(
    make_smtp_server: SMTPServerFactory,
) -> None:
    """Over 1 MiB of files: SIZE from wire_size, the data written chunk by chunk and
    dot-stuffed per chunk; the server gets exactly to_bytes (lines starting with a dot
    in the body included)."""
    smtp_server = make_smtp_server(data_size_limit=10_000_000)
    big = proper_mail.Attachment("data.bin", bytes(range(256)) * 8192, "application/pdf")
    record = message(1, body=".one\n..two\nend\n", attachments=[big])

    with mailer_for(smtp_server) as mailer:
        result = mailer.deliver(record)

    (received,) = smtp_server.messages
    assert result.accepted
    assert received.data == to_bytes(record)
    assert f"SIZE={len(to_bytes(record))}" in received.mail_options
