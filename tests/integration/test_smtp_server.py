"""The SMTP test server itself, driven by plain smtplib."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from tests.smtp_server import (
    AUTH_CREDENTIALS,
    Faults,
    SilentServer,
    SMTPServerFactory,
    SMTPTestServer,
    TLSMode,
)

TIMEOUT = 5
SENDER = "sender@example.org"
MESSAGE = (
    b"From: sender@example.org\r\n"
    b"To: a@example.org\r\n"
    b"Subject: Hello\r\n"
    b"\r\n"
    b"First line\r\n"
    b".leading dot, stuffed on the wire\r\n"
    b"..two dots\r\n"
    b"last line\r\n"
)


def numbered(i: int) -> bytes:
    return b"Subject: message %d\r\n\r\nbody %d\r\n" % (i, i)


def connect(server: SMTPTestServer) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, timeout=TIMEOUT)


def ca_context(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def test_message_arrives_with_envelope_and_exact_bytes(smtp_server: SMTPTestServer) -> None:
    """A message is stored with its envelope and its DATA bytes, dot-unstuffed."""
    with connect(smtp_server) as client:
        refused = client.sendmail(SENDER, ["a@example.org", "b@example.org"], MESSAGE)
    assert refused == {}
    smtp_server.wait_for(1)
    [received] = smtp_server.messages
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["a@example.org", "b@example.org"]
    assert received.data == MESSAGE
    assert received.mail_options == []
    assert received.rcpt_options == []
    assert received.session_id == 1
    assert received.authenticated_as is None
    assert received.tls is False


def test_session_id_counts_connections(smtp_server: SMTPTestServer) -> None:
    """session_id and connections count TCP connections, not messages."""
    with connect(smtp_server) as client:
        client.sendmail(SENDER, ["a@example.org"], numbered(1))
        client.sendmail(SENDER, ["a@example.org"], numbered(2))
    with connect(smtp_server) as client:
        client.sendmail(SENDER, ["a@example.org"], numbered(3))
    smtp_server.wait_for(3)
    assert [m.session_id for m in smtp_server.messages] == [1, 1, 2]
    assert smtp_server.connections == 2


def test_no_auth_advertised_without_auth(smtp_server: SMTPTestServer) -> None:
    """A server without `auth` does not advertise AUTH."""
    with connect(smtp_server) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert not client.has_extn("starttls")


def test_starttls_verifies_with_test_ca(starttls_server: SMTPTestServer, ca_file: Path) -> None:
    """STARTTLS succeeds with a verifying context that trusts the test CA; tls=True."""
    with connect(starttls_server) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        client.starttls(context=ca_context(ca_file))
        client.ehlo()
        assert not client.has_extn("starttls")
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    starttls_server.wait_for(1)
    assert starttls_server.messages[0].tls is True


def test_implicit_tls(ssl_server: SMTPTestServer, ca_file: Path) -> None:
    """SMTP_SSL with the test CA connects, and the message is marked tls=True."""
    with smtplib.SMTP_SSL(
        ssl_server.host, ssl_server.port, context=ca_context(ca_file), timeout=TIMEOUT
    ) as client:
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    ssl_server.wait_for(1)
    assert ssl_server.messages[0].tls is True
    assert ssl_server.messages[0].data == MESSAGE


def test_starttls_without_test_ca_fails_verification(starttls_server: SMTPTestServer) -> None:
    """A client context without the test CA rejects the STARTTLS certificate."""
    with connect(starttls_server) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())
    assert starttls_server.messages == []


def test_implicit_tls_without_test_ca_fails_verification(ssl_server: SMTPTestServer) -> None:
    """A client context without the test CA rejects the implicit-TLS certificate."""
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            ssl_server.host,
            ssl_server.port,
            context=ssl.create_default_context(),
            timeout=TIMEOUT,
        )


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_success(auth_server: SMTPTestServer, mechanism: str) -> None:
    """AUTH PLAIN and LOGIN over plaintext succeed and are recorded in authenticated_as."""
    with connect(auth_server) as client:
        client.ehlo()
        assert set(client.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        client.user, client.password = AUTH_CREDENTIALS
        authobject = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        code, _ = client.auth(mechanism, authobject)
        assert code == 235
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    auth_server.wait_for(1)
    assert auth_server.messages[0].authenticated_as == "user"


def test_auth_wrong_password_is_535_quickly(auth_server: SMTPTestServer) -> None:
    """A wrong password gets 535 at once (no hang)."""
    started = time.monotonic()
    with connect(auth_server) as client, pytest.raises(smtplib.SMTPAuthenticationError) as info:
        client.login("user", "wrong")
    assert info.value.smtp_code == 535
    assert time.monotonic() - started < 2


def test_auth_required_before_mail(auth_server: SMTPTestServer) -> None:
    """Without AUTH, MAIL FROM is refused with 530."""
    with connect(auth_server) as client, pytest.raises(smtplib.SMTPSenderRefused) as info:
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    assert info.value.smtp_code == 530
    assert auth_server.messages == []


def test_starttls_auth_offered_after_starttls_only(
    starttls_auth_server: SMTPTestServer, ca_file: Path
) -> None:
    """A STARTTLS server with auth offers AUTH only once TLS is up, where login works."""
    with connect(starttls_auth_server) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        client.starttls(context=ca_context(ca_file))
        client.ehlo()
        assert client.has_extn("auth")
        client.login(*AUTH_CREDENTIALS)
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    starttls_auth_server.wait_for(1)
    received = starttls_auth_server.messages[0]
    assert (received.tls, received.authenticated_as) == (True, "user")


def test_rcpt_replies_refuse_some_recipients(smtp_server: SMTPTestServer) -> None:
    """rcpt_replies refuse listed recipients; sendmail returns them, others get the message."""
    smtp_server.faults.rcpt_replies = {
        "busy@example.org": "450 4.2.1 Mailbox busy",
        "nouser@example.org": "550 5.1.1 No such user",
    }
    rcpts = ["busy@example.org", "ok@example.org", "nouser@example.org"]
    with connect(smtp_server) as client:
        refused = client.sendmail(SENDER, rcpts, MESSAGE)
    assert refused == {
        "busy@example.org": (450, b"4.2.1 Mailbox busy"),
        "nouser@example.org": (550, b"5.1.1 No such user"),
    }
    smtp_server.wait_for(1)
    assert smtp_server.messages[0].rcpt_tos == ["ok@example.org"]


def test_all_recipients_refused(smtp_server: SMTPTestServer) -> None:
    """When every recipient is refused, smtplib raises SMTPRecipientsRefused."""
    smtp_server.faults.rcpt_replies = {"nouser@example.org": "550 5.1.1 No such user"}
    with connect(smtp_server) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        client.sendmail(SENDER, ["nouser@example.org"], MESSAGE)
    assert info.value.recipients == {"nouser@example.org": (550, b"5.1.1 No such user")}


def test_mail_reply(smtp_server: SMTPTestServer) -> None:
    """mail_reply answers MAIL FROM, so smtplib raises SMTPSenderRefused with that code."""
    smtp_server.faults.mail_reply = "451 4.3.0 Try later"
    with connect(smtp_server) as client, pytest.raises(smtplib.SMTPSenderRefused) as info:
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    assert (info.value.smtp_code, info.value.smtp_error) == (451, b"4.3.0 Try later")


@pytest.mark.parametrize("reply", ["451 4.3.0 Try later", "554 5.7.1 Rejected"])
def test_data_reply(smtp_server: SMTPTestServer, reply: str) -> None:
    """data_reply answers the DATA content: SMTPDataError with that code, nothing stored."""
    smtp_server.faults.data_reply = reply
    with connect(smtp_server) as client:
        with pytest.raises(smtplib.SMTPDataError) as info:
            client.sendmail(SENDER, ["a@example.org"], MESSAGE)
        assert info.value.smtp_code == int(reply[:3])
        smtp_server.faults.data_reply = None  # changed mid-connection
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1
    assert smtp_server.faults.messages_seen == 2


def test_disconnect_on_third_message(smtp_server: SMTPTestServer) -> None:
    """disconnect_on_message=3 drops the connection at the 3rd DATA, even on one connection."""
    smtp_server.faults.disconnect_on_message = 3
    client = connect(smtp_server)
    try:
        client.sendmail(SENDER, ["a@example.org"], numbered(1))
        client.sendmail(SENDER, ["a@example.org"], numbered(2))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.sendmail(SENDER, ["a@example.org"], numbered(3))
    finally:
        client.close()
    assert [m.data for m in smtp_server.messages] == [numbered(1), numbered(2)]
    # Only the 3rd message overall: a new connection delivers the 4th and 5th.
    with connect(smtp_server) as client:
        client.sendmail(SENDER, ["a@example.org"], numbered(4))
        client.sendmail(SENDER, ["a@example.org"], numbered(5))
    smtp_server.wait_for(4)
    assert [m.data for m in smtp_server.messages] == [numbered(i) for i in (1, 2, 4, 5)]
    assert [m.session_id for m in smtp_server.messages] == [1, 1, 2, 2]


def test_disconnect_on_message_over_implicit_tls(ssl_server: SMTPTestServer, ca_file: Path) -> None:
    """The disconnect fault also drops TLS connections."""
    ssl_server.faults.disconnect_on_message = 1
    with (
        smtplib.SMTP_SSL(
            ssl_server.host, ssl_server.port, context=ca_context(ca_file), timeout=TIMEOUT
        ) as client,
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    assert ssl_server.messages == []


def test_disconnect_during_data(smtp_server: SMTPTestServer) -> None:
    """disconnect_during_data drops the connection after 354: SMTPServerDisconnected."""
    smtp_server.faults.disconnect_during_data = True
    big = MESSAGE + b"x" * 998 + b"\r\n" * 200
    with connect(smtp_server) as client, pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail(SENDER, ["a@example.org"], big)
    assert smtp_server.messages == []
    assert smtp_server.faults.messages_seen == 0


def test_delay_before_each_reply(smtp_server: SMTPTestServer) -> None:
    """delay sleeps before each reply; a shorter client timeout then expires."""
    with connect(smtp_server) as client:
        smtp_server.faults.delay = 0.3
        started = time.monotonic()
        assert client.noop()[0] == 250
        assert time.monotonic() - started >= 0.3
        assert client.sock is not None
        client.sock.settimeout(0.1)
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            client.noop()


def test_faults_reset() -> None:
    """Faults.reset() restores the defaults and restarts the message count."""
    faults = Faults(rcpt_replies={"a@example.org": "550 no"}, data_reply="554 no", delay=1)
    faults.messages_seen = 7
    faults.reset()
    assert faults == Faults()


def test_silent_server_times_out_client(silent_server: SilentServer) -> None:
    """A client waiting for the greeting times out; smtplib reports SMTPServerDisconnected."""
    started = time.monotonic()
    with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out") as info:
        smtplib.SMTP(silent_server.host, silent_server.port, timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5
    # smtplib turns the socket timeout into SMTPServerDisconnected; the cause stays visible.
    assert isinstance(info.value.__context__, TimeoutError)
    assert silent_server.connections == 1


def test_silent_server_raw_socket_times_out(silent_server: SilentServer) -> None:
    """A raw socket reading from the silent server gets TimeoutError."""
    address = (silent_server.host, silent_server.port)
    with socket.create_connection(address, timeout=0.3) as sock, pytest.raises(TimeoutError):
        sock.recv(1)


def test_size_advertised_and_enforced(make_smtp_server: SMTPServerFactory) -> None:
    """data_size_limit is advertised as SIZE; bigger messages get 552 at MAIL or at DATA."""
    server = make_smtp_server(data_size_limit=1000)
    big = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 20 + b"y" * 1000 + b"\r\n"
    with connect(server) as client:
        client.ehlo()
        assert client.esmtp_features["size"] == "1000"
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail(SENDER, ["a@example.org"], big)
        assert info.value.smtp_code == 552
        # Without the SIZE parameter the server refuses after reading the content.
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt("a@example.org")[0] == 250
        assert client.data(big)[0] == 552
        client.rset()
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    server.wait_for(1)
    assert server.messages[0].mail_options == [f"SIZE={len(MESSAGE)}"]


def test_smtputf8(smtp_server: SMTPTestServer) -> None:
    """SMTPUTF8 is advertised and a non-ASCII envelope arrives intact."""
    message = "Subject: Grüße\r\n\r\nHallo Jürgen\r\n".encode()
    with connect(smtp_server) as client:
        client.ehlo()
        assert client.has_extn("smtputf8")
        client.sendmail(
            "jürgen@exämple.org", ["用户@例子.广告"], message, mail_options=["SMTPUTF8"]
        )
    smtp_server.wait_for(1)
    received = smtp_server.messages[0]
    assert received.mail_from == "jürgen@exämple.org"
    assert received.rcpt_tos == ["用户@例子.广告"]
    assert "SMTPUTF8" in received.mail_options
    assert received.data == message


def test_smtputf8_disabled(make_smtp_server: SMTPServerFactory) -> None:
    """With smtputf8=False, SMTPUTF8 is not advertised and smtplib refuses to use it."""
    server = make_smtp_server(smtputf8=False)
    with connect(server) as client:
        client.ehlo()
        assert not client.has_extn("smtputf8")
        with pytest.raises(smtplib.SMTPNotSupportedError):
            client.sendmail("jürgen@exämple.org", ["a@example.org"], MESSAGE, ["SMTPUTF8"])


@pytest.mark.parametrize("tls", ["none", "starttls", "implicit"])
def test_stop_with_idle_client_is_quick(ca: trustme.CA, ca_file: Path, tls: TLSMode) -> None:
    """stop() returns promptly while a client is still connected, and frees the port."""
    server = SMTPTestServer(tls=tls, ca=ca)
    with server:
        if tls == "implicit":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, context=ca_context(ca_file), timeout=TIMEOUT
            )
        else:
            client = connect(server)
            if tls == "starttls":
                client.starttls(context=ca_context(ca_file))
        client.ehlo()
        started = time.monotonic()
    try:
        assert time.monotonic() - started < 1
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.noop()
    finally:
        client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.port), timeout=TIMEOUT)
    server.stop()  # a second stop() is harmless


def test_tls_needs_a_ca() -> None:
    """TLS modes refuse to start without a CA to issue the certificate."""
    with pytest.raises(ValueError, match="CA"):
        SMTPTestServer(tls="starttls")
