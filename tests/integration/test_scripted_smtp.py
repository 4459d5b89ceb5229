"""The scripted fault-injecting SMTP server, driven by raw sockets and by smtplib."""

from __future__ import annotations

import smtplib
import socket
import time

import pytest

from tests.scripted_smtp import HOST, ReceivedMessage, Reply, Rule, Script, ScriptedSMTPServer

TIMEOUT = 5.0
SENDER = "sender@example.org"
MESSAGE = (
    b"Subject: Hello\r\n"
    b"\r\n"
    b"First line\r\n"
    b".leading dot, stuffed on the wire\r\n"
    b"..two dots\r\n"
    b"last line\r\n"
)
CONTENT = b"Subject: x\r\n\r\nbody\r\n.\r\n"
"""A DATA content as sent on the wire, final dot included."""


class Wire:
    """A raw client socket that reads CRLF lines and whole (multi-line) replies."""

    def __init__(self, server: ScriptedSMTPServer, timeout: float = TIMEOUT) -> None:
        self.sock = socket.create_connection((HOST, server.port), timeout=timeout)
        self.buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def line(self) -> bytes:
        """The next line, CRLF included."""
        while (end := self.buffer.find(b"\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed; unterminated bytes: {bytes(self.buffer)!r}")
            self.buffer += chunk
        line = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 2]
        return line

    def reply(self) -> bytes:
        """Lines up to one without a `-` after its code."""
        lines = [self.line()]
        while lines[-1][3:4] == b"-":
            lines.append(self.line())
        return b"".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def until_eof(self) -> bytes:
        while chunk := self.sock.recv(65536):
            self.buffer += chunk
        rest = bytes(self.buffer)
        self.buffer.clear()
        return rest

    def start_transaction(self) -> None:
        """Greeting, EHLO and MAIL FROM, each answered normally."""
        assert self.reply().startswith(b"220 ")
        assert self.command(b"EHLO client.example").startswith(b"250-")
        assert self.command(b"MAIL FROM:<%s>" % SENDER.encode()) == b"250 2.1.0 OK\r\n"


def wait_for_messages(server: ScriptedSMTPServer, count: int) -> list[ReceivedMessage]:
    """The server's messages once it has `count` (when no reply tells the client so)."""
    deadline = time.monotonic() + TIMEOUT
    while len(messages := server.messages) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return messages


def smtp(server: ScriptedSMTPServer, timeout: float = TIMEOUT) -> smtplib.SMTP:
    """An smtplib client; close it with `.close()` (its `with` block sends QUIT)."""
    return smtplib.SMTP(HOST, server.port, local_hostname="client.example", timeout=timeout)


def test_default_session_stores_message() -> None:
    """Without rules a whole smtplib session is accepted and the message stored, unstuffed."""
    with ScriptedSMTPServer() as server, smtp(server) as client:
        refused = client.sendmail(SENDER, ["a@example.org", "b@example.org"], MESSAGE)
    assert refused == {}
    assert server.messages == [
        ReceivedMessage(
            connection=1,
            mail_from=SENDER,
            rcpt_tos=("a@example.org", "b@example.org"),
            data=MESSAGE,
            stored=True,
            reply=b"250 2.0.0 OK: stored\r\n",
            pipelined=False,
        )
    ]


def test_command_log_has_exact_lines_per_connection() -> None:
    """`commands` holds each connection's command lines byte for byte, without content."""
    with ScriptedSMTPServer() as server:
        with smtp(server) as client:
            client.sendmail(SENDER, ["a@example.org"], MESSAGE)
        with smtp(server) as client:
            client.noop()
    assert server.commands == [
        [
            b"ehlo client.example\r\n",
            b"mail FROM:<sender@example.org>\r\n",
            b"rcpt TO:<a@example.org>\r\n",
            b"data\r\n",
            b"QUIT\r\n",
        ],
        [b"noop\r\n", b"QUIT\r\n"],
    ]


def test_ehlo_advertises_configured_extensions() -> None:
    """The EHLO reply lists exactly the extensions the script turns on."""
    script = Script(pipelining=False, size=1000, eightbitmime=True, smtputf8=False)
    with ScriptedSMTPServer(script) as server, smtp(server) as client:
        client.ehlo()
        assert set(client.esmtp_features) == {"size", "8bitmime"}
        assert client.esmtp_features["size"] == "1000"


def test_size_limit_refuses_larger_mail() -> None:
    """With `size`, a MAIL FROM declaring a larger SIZE= is refused with 552."""
    with (
        ScriptedSMTPServer(Script(size=10)) as server,
        smtp(server) as client,
        pytest.raises(smtplib.SMTPSenderRefused) as refused,
    ):
        client.sendmail(SENDER, ["a@example.org"], MESSAGE)
    assert refused.value.smtp_code == 552
    assert server.messages == []


def test_452_after_n_recipients() -> None:
    """RCPT after=N answers 452 from the (N+1)th recipient on; the first N are delivered."""
    rule = Rule("RCPT", Reply.smtp(452, "4.5.3 Too many recipients"), after=3)
    recipients = [f"r{i}@example.org" for i in range(5)]
    with ScriptedSMTPServer(Script([rule])) as server, smtp(server) as client:
        refused = client.sendmail(SENDER, recipients, MESSAGE)
    assert refused == dict.fromkeys(recipients[3:], (452, b"4.5.3 Too many recipients"))
    [message] = server.messages
    assert message.rcpt_tos == tuple(recipients[:3])
    assert message.stored


def test_nth_rcpt_counts_per_transaction() -> None:
    """RCPT nth=2 refuses the second recipient of every transaction."""
    rule = Rule("RCPT", Reply.smtp(550, "5.1.1 No such user"), nth=2)
    with ScriptedSMTPServer(Script([rule])) as server, smtp(server) as client:
        first = client.sendmail(SENDER, ["a@example.org", "b@example.org"], MESSAGE)
        second = client.sendmail(SENDER, ["c@example.org", "d@example.org"], MESSAGE)
    assert first == {"b@example.org": (550, b"5.1.1 No such user")}
    assert second == {"d@example.org": (550, b"5.1.1 No such user")}
    assert [m.rcpt_tos for m in server.messages] == [("a@example.org",), ("c@example.org",)]


def test_rule_limited_to_one_connection() -> None:
    """A rule with connection=1 applies to the first connection only."""
    rule = Rule("GREETING", Reply.smtp(421, "4.3.2 Busy", then="close"), connection=1)
    with ScriptedSMTPServer(Script([rule])) as server:
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtp(server)
        assert refused.value.smtp_code == 421
        with smtp(server) as client:
            assert client.noop()[0] == 250


def test_garbage_reply_is_sent_verbatim() -> None:
    """A raw reply without any SMTP code reaches the client byte for byte."""
    rule = Rule("RCPT", Reply.raw(b"hello\r\n"))
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.start_transaction()
            assert wire.command(b"RCPT TO:<a@example.org>") == b"hello\r\n"
            assert wire.command(b"NOOP") == b"250 2.0.0 OK\r\n"  # the session goes on
        finally:
            wire.close()


def test_invalid_code_reaches_smtplib() -> None:
    """A reply with code 999 is read by smtplib as code 999."""
    rule = Rule("MAIL", Reply.raw(b"999 x\r\n"))
    with ScriptedSMTPServer(Script([rule])) as server:
        client = smtp(server)
        try:
            client.ehlo()
            assert client.mail(SENDER) == (999, b"x")
        finally:
            client.close()


def test_over_long_line_after_data_with_message_stored() -> None:
    """DATA_END can answer `250 ` + 1 MB on one line after storing the message."""
    huge = b"250 " + b"x" * 1_000_000 + b"\r\n"
    rule = Rule("DATA_END", Reply.raw(huge, store=True))
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.start_transaction()
            assert wire.command(b"RCPT TO:<a@example.org>") == b"250 2.1.5 OK\r\n"
            assert wire.command(b"DATA").startswith(b"354 ")
            wire.sock.sendall(CONTENT)
            assert wire.line() == huge
        finally:
            wire.close()
    [message] = server.messages
    assert message.stored
    assert message.reply == huge


def test_multi_line_reply() -> None:
    """Several texts make a well-formed multi-line reply, which smtplib parses."""
    rule = Rule("EHLO", Reply.smtp(250, "localhost", "PIPELINING", "SIZE 10"))
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.reply()
            assert wire.command(b"EHLO client.example") == (
                b"250-localhost\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
            )
        finally:
            wire.close()
        with smtp(server) as client:
            client.ehlo()
            assert client.esmtp_features == {"pipelining": "", "size": "10"}


def test_multi_line_reply_with_mismatched_codes() -> None:
    """A multi-line reply whose lines disagree on the code arrives as written."""
    rule = Rule("RCPT", Reply.raw(b"250-first\r\n451 second\r\n"))
    with ScriptedSMTPServer(Script([rule])) as server:
        client = smtp(server)
        try:
            client.ehlo()
            client.mail(SENDER)
            assert client.rcpt("a@example.org") == (451, b"first\nsecond")
        finally:
            client.close()


def test_reply_without_crlf_then_close() -> None:
    """A reply without CRLF followed by a close leaves the client an unterminated line."""
    rule = Rule("MAIL", Reply.raw(b"250 OK", then="close"))
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.reply()
            wire.command(b"EHLO client.example")
            wire.sock.sendall(b"MAIL FROM:<a@example.org>\r\n")
            assert wire.until_eof() == b"250 OK"
        finally:
            wire.close()


def test_drip_feed_arrives_byte_by_byte() -> None:
    """A dripped reply takes longer than the client's per-read timeout, yet no read times out."""
    per_read_timeout = 1.0
    rule = Rule("GREETING", Reply.smtp(220, "drip-fed", drip=0.1))  # 14 bytes, 13 gaps
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server, timeout=per_read_timeout)
        try:
            started = time.monotonic()
            chunks: list[bytes] = []
            while not b"".join(chunks).endswith(b"\r\n"):
                chunks.append(wire.sock.recv(100))
            elapsed = time.monotonic() - started
        finally:
            wire.close()
    assert b"".join(chunks) == b"220 drip-fed\r\n"
    assert len(chunks) > 1
    assert elapsed > per_read_timeout  # the server sleeps 13 x 0.1 s at least


def test_silence_makes_client_read_time_out() -> None:
    """Silence sends nothing and keeps the connection open: the client's read times out."""
    rule = Rule("MAIL", Reply.silence())
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.reply()
            wire.command(b"EHLO client.example")
            wire.sock.settimeout(0.2)
            wire.sock.sendall(b"MAIL FROM:<a@example.org>\r\n")
            with pytest.raises(TimeoutError):
                wire.sock.recv(100)
            with pytest.raises(TimeoutError):  # still open: no EOF either
                wire.sock.recv(100)
        finally:
            wire.close()
        assert server.commands[0][-1] == b"MAIL FROM:<a@example.org>\r\n"


def test_close_after_data_stores_message() -> None:
    """Reply.close(store=True) on DATA_END stores the message, then hangs up without a reply."""
    rule = Rule("DATA_END", Reply.close(store=True))
    with ScriptedSMTPServer(Script([rule])) as server:
        client = smtp(server)
        try:
            with pytest.raises(smtplib.SMTPServerDisconnected):
                client.sendmail(SENDER, ["a@example.org"], MESSAGE)
        finally:
            client.close()
    [message] = server.messages
    assert message.stored
    assert message.reply == b""
    assert message.data == MESSAGE


@pytest.mark.parametrize(
    ("reply", "stored"),
    [
        (Reply.smtp(250, "2.0.0 OK"), True),
        (Reply.smtp(554, "5.6.0 Rejected"), False),
        (Reply.smtp(451, "4.3.0 Stored but said otherwise", store=True), True),
        (Reply.raw(b"hello\r\n"), False),
        (Reply.raw(b"hello\r\n", store=True), True),
        (Reply.close(), False),
        (Reply.silence(store=True), True),
    ],
)
def test_data_end_store_semantics(reply: Reply, stored: bool) -> None:
    """`stored` is Reply.store when given, else whether the DATA_END reply starts with 2."""
    with ScriptedSMTPServer(Script([Rule("DATA_END", reply)])) as server:
        wire = Wire(server)
        try:
            wire.start_transaction()
            wire.command(b"RCPT TO:<a@example.org>")
            wire.command(b"DATA")
            wire.sock.sendall(CONTENT)
            if reply.data:
                assert wire.line() == reply.data
            [message] = wait_for_messages(server, 1)
        finally:
            wire.close()
    assert message.stored is stored
    assert message.reply == reply.data


def test_data_command_refused_reads_no_content() -> None:
    """A non-354 reply to DATA leaves the server in command mode: no message is received."""
    rule = Rule("DATA", Reply.smtp(451, "4.3.0 Busy"))
    with ScriptedSMTPServer(Script([rule])) as server:
        client = smtp(server)
        try:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail(SENDER, ["a@example.org"], MESSAGE)
            assert refused.value.smtp_code == 451
            assert client.noop()[0] == 250
        finally:
            client.close()
    assert server.messages == []


def test_pipelined_commands_answered_in_order() -> None:
    """MAIL+RCPT+RCPT+DATA in one write get their four replies in order (RFC 2920)."""
    rule = Rule("RCPT", Reply.smtp(550, "5.1.1 No such user"), nth=2)
    with ScriptedSMTPServer(Script([rule])) as server:
        wire = Wire(server)
        try:
            wire.reply()
            assert b"250-PIPELINING\r\n" in wire.command(b"EHLO client.example")
            wire.sock.sendall(
                b"MAIL FROM:<s@example.org>\r\n"
                b"RCPT TO:<a@example.org>\r\n"
                b"RCPT TO:<b@example.org>\r\n"
                b"DATA\r\n"
            )
            replies = [wire.reply() for _ in range(4)]
            wire.sock.sendall(CONTENT)
            assert wire.reply() == b"250 2.0.0 OK: stored\r\n"
            assert wire.command(b"QUIT") == b"221 2.0.0 Bye\r\n"
        finally:
            wire.close()
    assert replies == [
        b"250 2.1.0 OK\r\n",
        b"250 2.1.5 OK\r\n",
        b"550 5.1.1 No such user\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
    ]
    [message] = server.messages
    assert message.rcpt_tos == ("a@example.org",)
    assert message.pipelined


def test_stop_with_connected_client_returns_promptly() -> None:
    """stop() returns while a client is still connected, and the client sees the close."""
    server = ScriptedSMTPServer(Script([Rule("GREETING", Reply.silence())]))
    server.start()
    wire = Wire(server)
    try:
        while server.connections == 0:  # the accept loop has handed it to a thread
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5  # stop() itself raises after 10 s
        assert wire.sock.recv(100) == b""
    finally:
        wire.close()


def test_store_is_only_for_data_end() -> None:
    """A Reply with `store` set is refused on any step but DATA_END."""
    with pytest.raises(ValueError, match="DATA_END"):
        Rule("RCPT", Reply.close(store=True))
