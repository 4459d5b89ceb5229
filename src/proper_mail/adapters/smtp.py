"""SMTPMailer: send over SMTP with verified TLS, a connection pool and per-recipient results.

Beyond the guide's option table (7.3):

- TLS verifies certificates and host names (smtplib's ``starttls()`` without a context
  does not); ``ssl_cafile`` trusts a private CA. STARTTLS configured but not offered is
  an error before MAIL FROM, never a plaintext fallback. Credentials are never sent
  over a cleartext connection unless ``allow_cleartext_auth=True``.
- ``timeout`` (30 s) bounds every socket operation, and ``send_timeout`` (120 s) bounds
  a whole message, connecting included: a server that drips a byte a second cannot
  hold a send longer than that.
- Connections are pooled: kept open between messages up to ``idle_timeout``, shared by
  threads up to ``max_connections`` (never two commands interleaved on one), reopened
  when dropped; a failed transaction is followed by RSET.
- Every recipient's fate is reported (smtplib's ``sendmail`` hides partial refusals):
  2xx sent, 4xx deferred, 5xx rejected. All refused raises. A 452 "too many recipients"
  (RFC 5321 4.5.3.1.10, or a 552 at RCPT) sends the rest in further transactions at once.
- PIPELINING (RFC 2920) is used when the server offers it: MAIL FROM, every RCPT TO and
  DATA go in one write, and every reply is still checked. A DATA the server accepted
  although every recipient was refused gets a lone dot; when any reply of the group is
  unreadable the connection is closed instead, so nothing the server may have taken
  for a recipient can receive an empty message.
- Replies are read by our own reader: a reply line of any length is read (its code
  counts; the text is cut), a reply without a valid code is a protocol error.
- Errors are classified by pure functions (``reply_error``, ``rcpt_state``,
  ``data_end_outcome``): TransientDeliveryError (4xx, disconnects, timeouts, refused
  connections) or PermanentDeliveryError (5xx, authentication, certificates), and
  MessageTooLarge for a size refusal whichever side found it (SIZE, or a 552).
- The password never appears in ``repr()``, logs or exception text.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from email.policy import Policy
from typing import Literal, NamedTuple

import attrs

from ..core.mime import iter_bytes, to_bytes, wire_size
from ..core.records import Envelope, Message, RecipientState, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    MessageTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    TransientDeliveryError,
)
from .base import BaseMailer

__all__ = [
    "Reply",
    "SMTPMailer",
    "data_end_outcome",
    "dot_stuff",
    "map_smtp_errors",
    "parse_reply_line",
    "rcpt_state",
    "reply_error",
]

log = logging.getLogger("proper_mail.smtp")

#: The most of one reply line kept (the rest is read and dropped); RFC 5321 allows 512.
MAX_REPLY_LINE = 4096
#: The most lines one multi-line reply may have before it is called malformed.
MAX_REPLY_LINES = 1000
_CODE_FIRST = (b"2", b"3", b"4", b"5")
_new_reply = tuple.__new__
_WRITE_CHUNK = 1 << 20

Stage = Literal["MAIL FROM", "RCPT TO", "DATA", "DATA end", "RSET"]


# -- pure decisions: replies and their meaning ---------------------------------------


class Reply(NamedTuple):
    """One SMTP reply: its code (None when the server sent no valid one) and text.

    Attributes:
        code: the three-digit code, or None for a malformed reply (no code, mixed codes
            across lines, too many lines).
        text: the reply's text, lines joined by newlines, each cut at MAX_REPLY_LINE.
    """

    code: int | None
    text: str

    @property
    def malformed(self) -> bool:
        """True when the reply has no valid code: the session can no longer be trusted."""
        return self.code is None


def parse_reply_line(line: bytes) -> tuple[int | None, bool, str]:
    """Return (code, is_last, text) for one reply line (CRLF stripped, maybe cut).

    The code is None unless the line starts with three digits 2xx-5xx followed by a
    space, a hyphen (more lines follow) or nothing.
    """
    head = line[:3]
    sep = line[3:4]
    if len(head) == 3 and head.isdigit() and head[:1] in b"2345" and sep in (b" ", b"-", b""):
        return int(head), sep != b"-", line[4:].decode("utf-8", "replace").strip()
    return None, True, line.decode("utf-8", "replace").strip()


def reply_error(stage: str, code: int | None, text: str) -> DeliveryError:
    """The error for a refusal at *stage*: 4xx transient, 5xx permanent, a size refusal
    (552, or enhanced status 5.3.4) MessageTooLarge, an unreadable reply transient."""
    if code is None:
        return TransientDeliveryError(f"{stage}: the server's reply is unreadable: {text[:200]!r}")
    detail = f"{stage}: {code} {text}".rstrip()
    if 400 <= code < 500:
        return TransientDeliveryError(detail, code=code)
    if stage != "RCPT TO" and (code == 552 or text.startswith("5.3.4")):
        return MessageTooLarge(detail, code=code)
    return PermanentDeliveryError(detail, code=code)


def rcpt_state(code: int) -> tuple[RecipientState, bool]:
    """The state of a recipient after its RCPT reply, and whether the refusal means "too
    many recipients in this transaction" (452, or 552 treated alike: RFC 5321
    4.5.3.1.10), so that recipient goes in another transaction at once."""
    if 200 <= code < 300:
        return "sent", False
    if code in (452, 552):
        return "deferred", True
    if 400 <= code < 500:
        return "deferred", False
    return "rejected", False


DataEnd = Literal["sent", "deferred", "rejected", "too large"]


def data_end_outcome(reply: Reply) -> tuple[DataEnd, str]:
    """What the reply after the final dot means for the recipients that were accepted.

    2xx sent; 4xx deferred (retry); 552 or 5.3.4 too large; other 5xx rejected. A reply
    without a valid code came from a server that read the whole message and answered:
    it is reported sent, with the reply in the detail (retrying would send a copy the
    server most likely already stored). A lost reply (disconnect, timeout) is not a
    reply: the caller reports it deferred, as RFC 5321 asks (no 250, no delivery).
    """
    code = reply.code
    if code is None:
        return (
            "sent",
            f"unreadable reply after the message, most likely stored: {reply.text[:200]!r}",
        )
    if 200 <= code < 300:
        return "sent", reply.text
    if 400 <= code < 500:
        return "deferred", reply.text
    if code == 552 or reply.text.startswith("5.3.4"):
        return "too large", reply.text
    return "rejected", reply.text


@contextmanager
def map_smtp_errors(what: str) -> Iterator[None]:
    """Re-raise smtplib, ssl and socket errors as ours: the one place where this
    adapter's foreign exceptions become proper_mail errors (4xx transient, 5xx permanent).
    """
    try:
        yield
    except ProperMailError:
        raise
    except smtplib.SMTPResponseException as e:  # before OSError: SMTPException is one
        text = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else ""
        raise reply_error(what, e.smtp_code, text or str(e.smtp_error)) from e
    except smtplib.SMTPServerDisconnected as e:
        # smtplib reports a read timeout as a disconnect; the timeout is its context.
        if isinstance(e.__context__, TimeoutError):
            raise TransientDeliveryError(f"{what}: timed out") from e
        raise TransientDeliveryError(f"{what}: the server closed the connection ({e})") from e
    except ssl.SSLCertVerificationError as e:
        raise PermanentDeliveryError(
            f"{what}: TLS certificate verification failed ({e.verify_message})"
        ) from e
    except ssl.SSLError as e:
        raise PermanentDeliveryError(f"{what}: TLS failed ({e.reason or e})") from e
    except TimeoutError as e:
        raise TransientDeliveryError(f"{what}: timed out") from e
    except smtplib.SMTPException as e:  # e.g. "No suitable authentication method found."
        raise PermanentDeliveryError(f"{what}: {e}") from e
    except OSError as e:  # refused, reset, unreachable, name resolution
        raise TransientDeliveryError(f"{what}: {e.strerror or type(e).__name__}") from e


# -- the I/O shell -------------------------------------------------------------------


class _Deadline:
    """The moment a message's send must be over by."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def remaining(self, what: str) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.passed(what)
        return left

    def passed(self, what: str) -> TransientDeliveryError:
        return TransientDeliveryError(
            f"{what}: the message was not sent within send_timeout ({self.seconds:g} s)"
        )

    def bound(self, sock: socket.socket, timeout: float, what: str) -> bool:
        """Set *sock*'s timeout for one operation: the per-read *timeout*, cut to the time
        left. True when the deadline is the shorter (a timeout then means the deadline).

        ``settimeout`` is a system call or two each time; it is skipped while the socket
        already has the per-read timeout (the usual case, far from the deadline).
        """
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.passed(what)
        if left < timeout:
            sock.settimeout(left)
            return True
        if sock.gettimeout() != timeout:
            sock.settimeout(timeout)
        return False


class _Connection:
    """One SMTP session, what its EHLO said, and our reader of its replies."""

    def __init__(self, smtp: smtplib.SMTP, timeout: float, now: float) -> None:
        self.smtp = smtp
        self.timeout = timeout
        self.last_used = now
        self.fresh = True
        self.broken = False
        size = smtp.esmtp_features.get("size", "").strip()
        self.max_size = int(size) if size.isdigit() and int(size) > 0 else None
        self.smtputf8 = smtp.has_extn("smtputf8")
        self.pipelining = smtp.has_extn("pipelining")
        assert smtp.sock is not None
        self.sock: socket.socket = smtp.sock
        if smtp.file is None:
            smtp.file = self.sock.makefile("rb")
        self._file: io.BufferedReader = smtp.file
        self._pending = b""

    def send(self, data: bytes, deadline: _Deadline, what: str) -> None:
        """Write *data*, re-checking the deadline between chunks."""
        for start in range(0, len(data), _WRITE_CHUNK):
            cut = deadline.bound(self.sock, self.timeout, what)
            try:
                self.sock.sendall(data[start : start + _WRITE_CHUNK])
            except TimeoutError:
                if cut:
                    raise deadline.passed(what) from None
                raise

    def read_reply(self, deadline: _Deadline, what: str) -> Reply:
        """Read one (maybe multi-line) reply; the deadline is checked at every read."""
        line = self._read_line(deadline, what)
        if line[3:4] == b" " and line[:1] in _CODE_FIRST and line[1:3].isdigit():
            # The usual reply, one line, parsed inline (the same as parse_reply_line), the
            # tuple made without NamedTuple's Python-level __new__.
            return _new_reply(Reply, (int(line[:3]), line[4:].decode("utf-8", "replace").strip()))
        code, last, text = parse_reply_line(line)
        if last:
            return Reply(code, text)
        codes: set[int | None] = {code}
        texts = [text]
        for _ in range(MAX_REPLY_LINES - 1):
            code, last, text = parse_reply_line(self._read_line(deadline, what))
            codes.add(code)
            texts.append(text)
            if last:
                (only,) = codes if len(codes) == 1 else (None,)
                return Reply(only, "\n".join(texts))
        return Reply(None, f"more than {MAX_REPLY_LINES} reply lines")

    def _read_line(self, deadline: _Deadline, what: str) -> bytes:
        kept = b""
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line, self._pending = self._pending[:end], self._pending[end + 1 :]
                return (kept + line)[:MAX_REPLY_LINE].rstrip(b"\r")
            if len(kept) < MAX_REPLY_LINE:
                kept += self._pending[: MAX_REPLY_LINE - len(kept)]
            self._pending = b""  # a very long line: its tail is read and dropped
            cut = deadline.bound(self.sock, self.timeout, what)
            try:
                chunk = self._file.read1(65536)
            except TimeoutError:
                if cut:
                    raise deadline.passed(what) from None
                raise
            if not chunk:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self._pending = chunk

    @property
    def idle(self) -> bool:
        """True when no reply bytes are waiting (the session is in step with us)."""
        return not self._pending

    def close(self) -> None:
        try:
            self.sock.settimeout(min(self.timeout, 5.0))
            self.smtp.quit()
        except (smtplib.SMTPException, OSError, AttributeError):
            pass
        finally:
            self.smtp.close()

    def abort(self) -> None:
        """Drop the connection without a word (the server discards an unfinished DATA)."""
        self.broken = True
        self.smtp.close()


class _Pool:
    """Up to *size* connections, each used by one thread at a time."""

    def __init__(
        self, connect: Callable[[_Deadline], _Connection], size: int, idle_timeout: float
    ) -> None:
        self._connect = connect
        self._size = size
        self._idle_timeout = idle_timeout
        self._idle: list[_Connection] = []
        self._open = 0
        self._cond = threading.Condition()

    def acquire(self, deadline: _Deadline) -> _Connection:
        with self._cond:
            while True:
                while self._idle:
                    conn = self._idle.pop()
                    if time.monotonic() - conn.last_used <= self._idle_timeout:
                        conn.fresh = False
                        return conn
                    self._open -= 1
                    conn.close()
                if self._open < self._size:
                    self._open += 1
                    break
                self._cond.wait(deadline.remaining("waiting for a free SMTP connection"))
        try:
            return self._connect(deadline)
        except BaseException:
            self._forget()
            raise

    def replace_broken(self, conn: _Connection, deadline: _Deadline) -> _Connection:
        """Close a broken connection and open a new one in its slot (given up on failure)."""
        conn.close()
        try:
            return self._connect(deadline)
        except BaseException:
            self._forget()
            raise

    def release(self, conn: _Connection) -> None:
        if conn.broken or not conn.idle:
            conn.abort()
            self._forget()
            return
        conn.last_used = time.monotonic()
        with self._cond:
            self._idle.append(conn)
            self._cond.notify()

    def _forget(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()


class Secret:
    """A value that never shows itself in repr(), str() or vars() dumps."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled (it would end up in a queue or a log)")


class _StaleConnectionError(Exception):
    """A reused connection died before the transaction started: safe to retry."""


class _ProtocolError(Exception):
    """A reply without a valid code: the connection was dropped, nothing was sent."""

    def __init__(self, stage: str, reply: Reply) -> None:
        super().__init__(stage, reply)
        self.stage = stage
        self.reply = reply


class _Payload(NamedTuple):
    """The message's wire bytes for DATA: its size, whether it is all ASCII, and its
    dot-stuffed chunks (ending with the lone dot), made again for each transaction."""

    size: int
    ascii: bool
    chunks: Callable[[], Iterator[bytes]]


#: Attachments larger than this in all are streamed chunk by chunk (iter_bytes), so a
#: 50 MB file is never held as 50 MB of base64 plus a dot-stuffed copy.
STREAM_OVER = 1 << 20


def _one(data: bytes) -> Iterator[bytes]:
    yield dot_stuff(data)


def payload_of(message: Message, policy: Policy) -> _Payload:
    """The DATA payload of *message*: one bytes object for most messages, chunks for a
    message with large attachments."""
    if sum(len(a.content) for a in message.attachments) <= STREAM_OVER:
        data = to_bytes(message, policy)
        return _Payload(len(data), data.isascii(), functools.partial(_one, data))
    utf8 = bool(getattr(policy, "utf8", False))
    ascii_only = not utf8 or next(iter_bytes(message, policy)).isascii()

    def chunks() -> Iterator[bytes]:
        for chunk in iter_bytes(message, policy):  # each starts a line and ends with CRLF
            if chunk.startswith(b"."):
                chunk = b"." + chunk
            yield chunk.replace(b"\n.", b"\n..")
        yield b".\r\n"

    return _Payload(wire_size(message, policy), ascii_only, chunks)


@attrs.frozen
class _Round:
    """One transaction's outcome: a status per recipient tried, and those to try again
    at once in a new transaction (refused as too many for this one)."""

    statuses: tuple[RecipientStatus, ...]
    again: tuple[str, ...]


class SMTPMailer(BaseMailer):
    """Send through an SMTP server (the guide's 7.3 options, and safer defaults).

    Args:
        host, port: the server (default ``localhost:587``).
        username, password: credentials for AUTH, both or neither.
        use_tls: STARTTLS, required (never a plaintext fallback).
        use_ssl: implicit TLS from the first byte (port 465). Not with use_tls.
        timeout: seconds for each socket operation; 30 by default, never unlimited.
        send_timeout: seconds one message may take in all, connecting included
            (default 120); raise it for very large attachments on slow links.
        ssl_keyfile, ssl_certfile: a client certificate.
        ssl_cafile: CA certificates to trust instead of the system's.
        allow_cleartext_auth: send credentials over an unencrypted connection (only for
            a server on a trusted network).
        local_hostname: the EHLO name (default: the local FQDN, as smtplib does).
        max_connections: connections threads may use in parallel (default 1).
        idle_timeout: seconds an unused connection stays open (default 30).
        pipelining: when the server offers PIPELINING (RFC 2920), send MAIL FROM, every
            RCPT TO and DATA in one write: two round trips per message instead of
            three plus one per recipient (default True).
        fail_silently: swallow delivery errors instead of raising.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        use_ssl: bool = False,
        timeout: float | None = 30.0,
        send_timeout: float = 120.0,
        ssl_keyfile: str | None = None,
        ssl_certfile: str | None = None,
        ssl_cafile: str | None = None,
        allow_cleartext_auth: bool = False,
        local_hostname: str | None = None,
        max_connections: int = 1,
        idle_timeout: float = 30.0,
        pipelining: bool = True,
        fail_silently: bool = False,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        if use_tls and use_ssl:
            raise ValueError("use_tls (STARTTLS) and use_ssl (implicit TLS) are mutually exclusive")
        if (username is None) != (password is None):
            raise ConfigError("SMTPMailer needs both username and password, or neither")
        if username is not None and not (use_tls or use_ssl) and not allow_cleartext_auth:
            raise ConfigError(
                "SMTPMailer refuses to send credentials over an unencrypted connection: "
                "set use_tls=True or use_ssl=True (or allow_cleartext_auth=True)"
            )
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"SMTPMailer port must be 1-65535, not {port!r}")
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"SMTPMailer timeout must be positive, not {timeout!r}")
        if send_timeout <= 0:
            raise ConfigError(f"SMTPMailer send_timeout must be positive, not {send_timeout!r}")
        if max_connections < 1:
            raise ConfigError(f"SMTPMailer max_connections must be >= 1, not {max_connections!r}")
        self.host = host
        self.port = port
        self.username = username
        self._password = Secret(password) if password is not None else None
        self.use_tls = use_tls
        self.use_ssl = use_ssl
        self.timeout = 30.0 if timeout is None else float(timeout)
        self.send_timeout = float(send_timeout)
        self.local_hostname = local_hostname
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.pipelining = pipelining
        self._context = (
            _tls_context(ssl_cafile, ssl_certfile, ssl_keyfile) if use_tls or use_ssl else None
        )
        self._pool = _Pool(self._connect, max_connections, idle_timeout)

    def __repr__(self) -> str:
        password = "<set>" if self._password is not None else None
        return (
            f"SMTPMailer(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={password}, use_tls={self.use_tls}, use_ssl={self.use_ssl}, "
            f"timeout={self.timeout:g}, send_timeout={self.send_timeout:g}, "
            f"max_connections={self.max_connections})"
        )

    # -- the port ----------------------------------------------------------------------

    def deliver(self, message: Message) -> SendResult:
        """Send one record over a pooled connection; return per-recipient statuses."""
        envelope = self.envelope(message)
        data = payload_of(message, self.policy)
        deadline = _Deadline(self.send_timeout)
        conn: _Connection | None = self._pool.acquire(deadline)
        try:
            assert conn is not None
            try:
                statuses = self._send(conn, envelope, data, deadline)
            except _StaleConnectionError:
                broken, conn = conn, None  # the slot is given up if reconnecting fails
                conn = self._pool.replace_broken(broken, deadline)
                statuses = self._send(conn, envelope, data, deadline)
        finally:
            if conn is not None:
                self._pool.release(conn)
        return SendResult(message_id=message.message_id, mailer=self.alias, recipients=statuses)

    def _send(
        self, conn: _Connection, envelope: Envelope, data: _Payload, deadline: _Deadline
    ) -> tuple[RecipientStatus, ...]:
        """Every transaction the envelope needs (more than one after a 452 "too many")."""
        if conn.max_size is not None and data.size > conn.max_size:
            raise MessageTooLarge(
                f"the message is {data.size} bytes and the server accepts at most "
                f"{conn.max_size} (SIZE)",
                size=data.size,
                limit=conn.max_size,
            )
        options = self._mail_options(conn, envelope, data)
        _check_envelope(envelope)
        done: list[RecipientStatus] = []
        pending: Sequence[str] = envelope.recipients
        while pending:
            try:
                outcome = self._transaction(conn, envelope.sender, pending, options, data, deadline)
            except DeliveryError as e:
                if not done:
                    raise
                # An earlier transaction delivered: report the rest, do not raise.
                state: RecipientState = (
                    "deferred" if isinstance(e, TransientDeliveryError) else "rejected"
                )
                done.extend(RecipientStatus(a, state, e.code, str(e)) for a in pending)
                break
            done.extend(outcome.statuses)
            pending = outcome.again
        return tuple(done)

    def _transaction(
        self,
        conn: _Connection,
        sender: str,
        recipients: Sequence[str],
        options: Sequence[str],
        data: _Payload,
        deadline: _Deadline,
    ) -> _Round:
        pipelined = conn.pipelining and self.pipelining
        try:
            try:
                return self._commands(conn, sender, recipients, options, data, deadline, pipelined)
            except _ProtocolError as e:
                conn.abort()  # no lone dot: nothing reaches a recipient we misread
                raise reply_error(e.stage, None, e.reply.text) from None
        except DeliveryError as e:
            if e.code is None or conn.broken:
                conn.broken = True  # disconnects and timeouts leave the session unusable
            else:
                self._reset(conn, deadline)
            raise

    def _commands(
        self,
        conn: _Connection,
        sender: str,
        recipients: Sequence[str],
        options: Sequence[str],
        data: _Payload,
        deadline: _Deadline,
        pipelined: bool,
    ) -> _Round:
        optionlist = "".join(f" {o}" for o in options)
        mail_line = f"mail from:<{sender}>{optionlist}\r\n"
        if "SMTPUTF8" in options:
            conn.smtp.command_encoding = "utf-8"
        encoding = conn.smtp.command_encoding
        with map_smtp_errors("MAIL FROM"):
            try:
                if pipelined:
                    rcpts = "".join(f"rcpt to:<{a}>\r\n" for a in recipients)
                    conn.send(f"{mail_line}{rcpts}data\r\n".encode(encoding), deadline, "MAIL FROM")
                else:
                    conn.send(mail_line.encode(encoding), deadline, "MAIL FROM")
                mail = conn.read_reply(deadline, "MAIL FROM")
            except (smtplib.SMTPServerDisconnected, ConnectionError):
                if not conn.fresh:
                    conn.broken = True
                    raise _StaleConnectionError from None
                raise
        conn.fresh = False
        if mail.code is None:
            raise _ProtocolError("MAIL FROM", mail)
        if mail.code != 250:  # no RCPT is sent (or, pipelined, their replies are drained)
            if pipelined:
                self._finish_group(conn, len(recipients), deadline)
            raise reply_error("MAIL FROM", mail.code, mail.text)
        statuses: list[RecipientStatus] = []
        again: list[str] = []
        with map_smtp_errors("RCPT TO"):
            for address in recipients:
                if not pipelined:
                    conn.send(f"rcpt to:<{address}>\r\n".encode(encoding), deadline, "RCPT TO")
                reply = conn.read_reply(deadline, "RCPT TO")
                if reply.code is None:
                    raise _ProtocolError("RCPT TO", reply)
                state, too_many = rcpt_state(reply.code)
                statuses.append(RecipientStatus(address, state, reply.code, reply.text))
                if too_many:
                    again.append(address)
        accepted = [s for s in statuses if s.status == "sent"]
        if not accepted:
            if pipelined:
                self._finish_group(conn, 0, deadline)
            raise _all_refused(tuple(statuses))
        with map_smtp_errors("DATA"):
            if not pipelined:  # else DATA went with MAIL and RCPT: its reply is next
                conn.send(b"data\r\n", deadline, "DATA")
            go = conn.read_reply(deadline, "DATA")
            if go.code is None:
                raise _ProtocolError("DATA", go)
            if go.code != 354:
                raise reply_error("DATA", go.code, go.text)
            for chunk in data.chunks():
                conn.send(chunk, deadline, "DATA")
        try:
            with map_smtp_errors("DATA end"):
                end = conn.read_reply(deadline, "DATA end")
        except TransientDeliveryError as e:
            raise TransientDeliveryError(
                f"{e}: the message data was sent but no reply came; the server may have "
                "stored it, and a retry may deliver a second copy",
                code=e.code,
            ) from e
        outcome, detail = data_end_outcome(end)
        if end.code is None:
            conn.abort()
            log.warning("DATA end: %s", detail)
        if outcome == "too large":
            raise MessageTooLarge(f"DATA end: {end.code} {end.text}".rstrip(), code=end.code)
        if outcome != "sent":
            raise reply_error("DATA end", end.code, end.text)
        retry_now = tuple(again) if len(again) < len(recipients) else ()
        final = [s for s in statuses if s.address not in retry_now] if retry_now else statuses
        if end.code is None:  # the sent recipients' detail says what the server answered
            final = [attrs.evolve(s, detail=detail) if s.status == "sent" else s for s in final]
        return _Round(tuple(final), retry_now)

    def _finish_group(self, conn: _Connection, rcpt_replies: int, deadline: _Deadline) -> None:
        """Read what is left of a pipelined group after the transaction failed, so the
        session can be reset: *rcpt_replies* RCPT replies, then DATA's.

        RFC 2920 3.1: the client must not assume DATA was refused; after a 354 it sends a
        lone dot, so no message content follows. An unreadable reply in the group drops
        the connection instead. Never raises: a server that hangs up meanwhile leaves the
        connection marked broken, and the caller reports the failure that ended the
        transaction, not this one.
        """
        try:
            for _ in range(rcpt_replies):
                if conn.read_reply(deadline, "RCPT TO").malformed:
                    conn.abort()
                    return
            go = conn.read_reply(deadline, "DATA")
            if go.code is None:
                conn.abort()
            elif go.code == 354:
                conn.send(b".\r\n", deadline, "DATA")
                conn.read_reply(deadline, "DATA end")
        except (DeliveryError, smtplib.SMTPException, OSError):
            conn.broken = True

    def _mail_options(self, conn: _Connection, envelope: Envelope, data: _Payload) -> list[str]:
        options = [f"SIZE={data.size}"] if conn.max_size is not None else []
        needs_utf8 = not data.ascii or not all(
            a.isascii() for a in (envelope.sender, *envelope.recipients)
        )
        if needs_utf8:
            if not conn.smtputf8:
                raise PermanentDeliveryError(
                    "the message has Unicode addresses or headers (SMTPUTF8 policy) and the "
                    f"server {self.host} does not offer SMTPUTF8"
                )
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        return options

    @staticmethod
    def _reset(conn: _Connection, deadline: _Deadline) -> None:
        try:
            conn.send(b"rset\r\n", deadline, "RSET")
            conn.broken = conn.read_reply(deadline, "RSET").code != 250
        except (DeliveryError, smtplib.SMTPException, OSError):
            conn.broken = True

    # -- connections ---------------------------------------------------------------

    def _connect(self, deadline: _Deadline) -> _Connection:
        what = f"connecting to {self.host}:{self.port}"
        smtp: smtplib.SMTP
        if self.use_ssl:
            smtp = smtplib.SMTP_SSL(
                local_hostname=self.local_hostname,
                timeout=min(self.timeout, deadline.remaining(what)),
                context=self._context,
            )
        else:
            smtp = smtplib.SMTP(
                local_hostname=self.local_hostname,
                timeout=min(self.timeout, deadline.remaining(what)),
            )
        # What smtplib's constructor would keep for TLS's server_hostname (SNI and the
        # certificate's name check); connect() is called below, not by the constructor, so
        # that the watchdog holds the object before the first byte is read.
        smtp._host = self.host  # type: ignore[attr-defined]
        # smtplib reads with per-read timeouts only: a watchdog ends a set-up that drips.
        watchdog = threading.Timer(deadline.remaining(what), _shut, (smtp,))
        watchdog.daemon = True
        watchdog.start()
        try:
            with map_smtp_errors(what):
                code, reply = smtp.connect(self.host, self.port)
                if code != 220:
                    raise reply_error(what, code, reply.decode("utf-8", "replace"))
                smtp.ehlo_or_helo_if_needed()
                if self.use_tls:
                    if not smtp.has_extn("starttls"):
                        raise PermanentDeliveryError(
                            f"{what}: use_tls is set but the server does not offer STARTTLS "
                            "(refusing to continue in plaintext)"
                        )
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if self.username is not None and self._password is not None:
                    smtp.login(self.username, self._password.reveal())
                return _Connection(smtp, self.timeout, time.monotonic())
        except BaseException as e:
            smtp.close()
            if not watchdog.is_alive() and isinstance(e, TransientDeliveryError):
                deadline.remaining(what)  # the watchdog fired: say so
            raise
        finally:
            watchdog.cancel()

    def close(self) -> None:
        """Close the idle pooled connections (QUIT)."""
        self._pool.close()


def _shut(smtp: smtplib.SMTP) -> None:
    sock = getattr(smtp, "sock", None)
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


_BREAKS_COMMAND = re.compile(r"[\r\n<> \t\x00]")


def _check_envelope(envelope: Envelope) -> None:
    """Raise PermanentDeliveryError if an envelope address could break a command line.

    Never true for envelopes made by envelope_of (prep_address rejects CR, LF and the
    characters that end an address); a last guard against SMTP command injection.
    """
    for address in (envelope.sender, *envelope.recipients):
        if _BREAKS_COMMAND.search(address):
            raise PermanentDeliveryError(
                f"the envelope address {address!r} contains a character that would break the "
                "SMTP command"
            )


def dot_stuff(data: bytes) -> bytes:
    r"""Return *data* as the DATA payload: dots stuffed, CRLF-ended, ``.`` CRLF appended.

    The same bytes as smtplib's ``data()`` for any bytes input: its
    ``re.sub(rb"(?m)^\.", b"..", data)`` doubles a dot at the start of the data and
    after every LF (a bare LF too, not only CRLF), which is what the prefix and
    ``replace(b"\n.", b"\n..")`` do (the occurrences of ``\n.`` cannot overlap, and
    doubling a dot creates none); then CRLF is added unless the data ends with one, and
    the ``.`` CRLF terminator. ``bytes.replace`` scans in C without the regex engine's
    per-position work, and returns *data* itself when there is nothing to stuff.
    """
    if data.startswith(b"."):
        data = b"." + data
    data = data.replace(b"\n.", b"\n..")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _all_refused(statuses: tuple[RecipientStatus, ...]) -> DeliveryError:
    deferred = [s for s in statuses if s.status == "deferred"]
    cls = TransientDeliveryError if deferred else PermanentDeliveryError
    detail = "; ".join(f"{s.address}: {s.code} {s.detail}".rstrip() for s in statuses)
    code = (deferred or list(statuses))[0].code
    return cls(f"RCPT TO: every recipient was refused ({detail})", code=code, recipients=statuses)


def _tls_context(cafile: str | None, certfile: str | None, keyfile: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"SMTPMailer TLS set-up failed: {e}") from None
    return context
