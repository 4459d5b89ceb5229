"""SMTPMailer: send over SMTP with verified TLS, a connection pool and per-recipient results.

Beyond the guide's option table (7.3):

- TLS verifies certificates and host names (smtplib's ``starttls()`` without a context
  does not); ``ssl_cafile`` trusts a private CA. STARTTLS configured but not offered is
  an error before MAIL FROM, never a plaintext fallback. Credentials are never sent
  over a cleartext connection unless ``allow_cleartext_auth=True``.
- ``timeout`` is 30 s by default, never None: every socket operation has a deadline.
- One ``send_now`` call with many messages uses one connection. Connections are kept
  open between calls up to ``idle_timeout``; a dropped one is noticed and reopened; a
  failed transaction is followed by RSET. Threads share up to ``max_connections``
  connections and never interleave commands on one.
- Every recipient's fate is reported (smtplib's ``sendmail`` hides partial refusals):
  2xx sent, 4xx deferred, 5xx rejected. All refused raises.
- PIPELINING (RFC 2920) is used when the server offers it: MAIL FROM, every RCPT TO and
  DATA go in one write, and every reply is still checked; a DATA the server accepted
  although no recipient was is ended with a lone dot, so nothing is sent.
- Errors are classified: TransientDeliveryError (4xx, disconnects, timeouts, refused
  connections) or PermanentDeliveryError (5xx, authentication, certificates). The
  server's SIZE is checked before MAIL FROM (MessageTooLarge). SMTPUTF8 is used when a
  message needs it and the server offers it.
- The password never appears in ``repr()``, logs or exception text.
"""

from __future__ import annotations

import email.message
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from ..core.mime import envelope_of, to_bytes
from ..core.records import Envelope, Message, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    MessageTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    TransientDeliveryError,
)
from .base import BaseMailer, MessageLike, as_record, envelope_of_mime, without_bcc

__all__ = ["SMTPMailer", "map_smtp_errors"]

log = logging.getLogger("proper_mail.smtp")


@contextmanager
def map_smtp_errors(what: str) -> Iterator[None]:
    """Re-raise smtplib, ssl and socket errors as ours: 4xx transient, 5xx permanent.

    The one place where foreign exceptions become proper_mail errors.
    """
    try:
        yield
    except ProperMailError:
        raise
    except smtplib.SMTPResponseException as e:  # before OSError: SMTPException is one
        raise reply_error(what, e.smtp_code, e.smtp_error) from None
    except smtplib.SMTPServerDisconnected as e:
        # smtplib reports a read timeout as a disconnect; the timeout is its context.
        if isinstance(e.__context__, TimeoutError):
            raise TransientDeliveryError(f"{what}: timed out") from None
        raise TransientDeliveryError(f"{what}: the server closed the connection ({e})") from None
    except ssl.SSLCertVerificationError as e:
        raise PermanentDeliveryError(
            f"{what}: TLS certificate verification failed ({e.verify_message})"
        ) from None
    except ssl.SSLError as e:
        raise PermanentDeliveryError(f"{what}: TLS failed ({e.reason or e})") from None
    except TimeoutError:
        raise TransientDeliveryError(f"{what}: timed out") from None
    except smtplib.SMTPException as e:  # e.g. "No suitable authentication method found."
        raise PermanentDeliveryError(f"{what}: {e}") from None
    except OSError as e:  # refused, reset, unreachable, name resolution
        raise TransientDeliveryError(f"{what}: {e.strerror or type(e).__name__}") from None


def reply_error(what: str, code: int, reply: bytes | str) -> DeliveryError:
    """The error for an SMTP reply: 4xx transient, anything else permanent."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    cls = TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError
    return cls(f"{what}: {code} {text}".rstrip(), code=code)


class _Connection:
    """One SMTP session and what its EHLO said."""

    def __init__(self, smtp: smtplib.SMTP, now: float) -> None:
        self.smtp = smtp
        self.last_used = now
        self.fresh = True
        self.broken = False
        size = smtp.esmtp_features.get("size", "").strip()
        self.max_size = int(size) if size.isdigit() and int(size) > 0 else None
        self.smtputf8 = smtp.has_extn("smtputf8")
        self.pipelining = smtp.has_extn("pipelining")

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.smtp.close()


class _Pool:
    """Up to *size* connections, each used by one thread at a time."""

    def __init__(
        self,
        connect: Callable[[], _Connection],
        size: int,
        idle_timeout: float,
        wait_timeout: float,
    ) -> None:
        self._connect = connect
        self._size = size
        self._idle_timeout = idle_timeout
        self._wait_timeout = wait_timeout
        self._idle: list[_Connection] = []
        self._open = 0
        self._cond = threading.Condition()

    def acquire(self) -> _Connection:
        deadline = time.monotonic() + self._wait_timeout
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
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TransientDeliveryError(
                        f"no SMTP connection became free within {self._wait_timeout:g} s"
                    )
                self._cond.wait(remaining)
        try:
            return self._connect()
        except BaseException:
            self._forget()
            raise

    def replace_broken(self, conn: _Connection) -> _Connection:
        """Close a broken connection and open a new one in its slot.

        If connecting fails, the slot is given up and the error raised.
        """
        conn.close()
        try:
            return self._connect()
        except BaseException:
            self._forget()
            raise

    def release(self, conn: _Connection) -> None:
        if conn.broken:
            conn.close()
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


class SMTPMailer(BaseMailer):
    """Send through an SMTP server (the guide's 7.3 options, and safer defaults).

    Args:
        host, port: the server (default ``localhost:587``).
        username, password: credentials for AUTH, both or neither.
        use_tls: STARTTLS, required (never a plaintext fallback).
        use_ssl: implicit TLS from the first byte (port 465). Not with use_tls.
        timeout: seconds for each socket operation; 30 by default, never unlimited.
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
        if max_connections < 1:
            raise ConfigError(f"SMTPMailer max_connections must be >= 1, not {max_connections!r}")
        self.host = host
        self.port = port
        self.username = username
        self._password = Secret(password) if password is not None else None
        self.use_tls = use_tls
        self.use_ssl = use_ssl
        self.timeout = 30.0 if timeout is None else float(timeout)
        self.local_hostname = local_hostname
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.pipelining = pipelining
        self._context = (
            _tls_context(ssl_cafile, ssl_certfile, ssl_keyfile) if use_tls or use_ssl else None
        )
        self._pool = _Pool(self._connect, max_connections, idle_timeout, self.timeout)

    def __repr__(self) -> str:
        password = "<set>" if self._password is not None else None
        return (
            f"SMTPMailer(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={password}, use_tls={self.use_tls}, use_ssl={self.use_ssl}, "
            f"timeout={self.timeout:g}, max_connections={self.max_connections})"
        )

    # -- sending ---------------------------------------------------------------------

    def deliver(self, message: Message) -> SendResult:
        """Send one record over a pooled connection; return per-recipient statuses."""
        (outcome,) = self.send_many((message,))
        if isinstance(outcome, ProperMailError):
            raise outcome
        return outcome

    def deliver_mime(self, message: email.message.EmailMessage) -> SendResult:
        """Send a hand-built stdlib message as it is; Bcc goes to the envelope only."""
        (outcome,) = self.send_many((message,))
        if isinstance(outcome, ProperMailError):
            raise outcome
        return outcome

    def send_many(
        self, messages: Iterable[MessageLike]
    ) -> tuple[SendResult | ProperMailError, ...]:
        """Send *messages* over one connection; return each one's result or error.

        Every message is rendered first, so a malformed one raises before anything is
        sent. A connection that drops is reopened for the next message; the message in
        flight when it dropped is reported failed, never sent twice.
        """
        batch = [self._prepare(m) for m in messages]
        outcomes: list[SendResult | ProperMailError] = []
        conn: _Connection | None = None
        try:
            for message_id, envelope, data in batch:
                try:
                    if conn is None:
                        conn = self._pool.acquire()
                    elif conn.broken:
                        broken, conn = conn, None  # the slot is given up if reconnecting fails
                        conn = self._pool.replace_broken(broken)
                    try:
                        outcomes.append(self._transaction(conn, message_id, envelope, data))
                    except _StaleConnectionError:
                        broken, conn = conn, None
                        conn = self._pool.replace_broken(broken)
                        outcomes.append(self._transaction(conn, message_id, envelope, data))
                except (DeliveryError, MessageTooLarge) as e:
                    outcomes.append(e)
                    log.info("SMTP send of %s failed: %s", message_id, type(e).__name__)
        finally:
            if conn is not None:
                self._pool.release(conn)
        return tuple(outcomes)

    def _prepare(self, message: MessageLike) -> tuple[str, Envelope, bytes]:
        if isinstance(message, email.message.EmailMessage):
            envelope = envelope_of_mime(message, self.policy)
            data = without_bcc(message).as_bytes(policy=self.policy.clone(linesep="\r\n"))
            return str(message.get("Message-ID", "")), envelope, data
        record = as_record(message)
        return record.message_id, envelope_of(record, self.policy), to_bytes(record, self.policy)

    def _transaction(
        self, conn: _Connection, message_id: str, envelope: Envelope, data: bytes
    ) -> SendResult:
        smtp = conn.smtp
        if conn.max_size is not None and len(data) > conn.max_size:
            raise MessageTooLarge(
                "message", len(data), f"the server accepts at most {conn.max_size} bytes"
            )
        options = self._mail_options(conn, envelope, data)
        _check_envelope(envelope)
        pipelined = conn.pipelining and self.pipelining
        try:
            with map_smtp_errors("MAIL FROM"):
                try:
                    _send_mail(smtp, envelope, options, pipelined)
                    code, reply = smtp.getreply()
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    if not conn.fresh:
                        conn.broken = True
                        raise _StaleConnectionError from None
                    raise
            conn.fresh = False
            if code != 250:  # no RCPT is sent (or, pipelined, their replies are drained)
                if pipelined:
                    _finish_group(conn, len(envelope.recipients))
                raise reply_error("MAIL FROM", code, reply)
            statuses = self._recipients(smtp, envelope.recipients, pipelined)
            if not any(s.status == "sent" for s in statuses):
                if pipelined:
                    _finish_group(conn, 0)
                raise _all_refused(statuses)
            with map_smtp_errors("DATA"):
                if not pipelined:  # else DATA went with MAIL and RCPT: its reply is next
                    smtp.putcmd("data")
                data_code, data_reply = smtp.getreply()
                if data_code != 354:
                    raise reply_error("DATA", data_code, data_reply)
                smtp.send(dot_stuff(data))
                code, reply = smtp.getreply()
            if code != 250:
                raise reply_error("DATA", code, reply)
        except DeliveryError as e:
            if e.code is None or conn.broken:
                conn.broken = True  # disconnects and timeouts leave the session unusable
            else:
                self._reset(conn)
            raise
        return SendResult(message_id=message_id, mailer=self.alias, recipients=statuses)

    def _mail_options(self, conn: _Connection, envelope: Envelope, data: bytes) -> list[str]:
        options = [f"SIZE={len(data)}"] if conn.max_size is not None else []
        needs_utf8 = not data.isascii() or not all(
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
    def _recipients(
        smtp: smtplib.SMTP, recipients: Sequence[str], pipelined: bool
    ) -> tuple[RecipientStatus, ...]:
        """Each recipient's status; sends the RCPT commands unless they were pipelined."""
        statuses = []
        for address in recipients:
            with map_smtp_errors("RCPT TO"):
                if not pipelined:
                    smtp.putcmd("rcpt", f"to:<{address}>")
                code, reply = smtp.getreply()
            text = reply.decode("utf-8", "replace")
            if code in (250, 251):
                statuses.append(RecipientStatus(address, "sent", code, text))
            elif 400 <= code < 500:
                statuses.append(RecipientStatus(address, "deferred", code, text))
            else:
                statuses.append(RecipientStatus(address, "rejected", code, text))
        return tuple(statuses)

    @staticmethod
    def _reset(conn: _Connection) -> None:
        try:
            code, _ = conn.smtp.rset()
            conn.broken = code != 250
        except (smtplib.SMTPException, OSError):
            conn.broken = True

    # -- connections ---------------------------------------------------------------

    def _connect(self) -> _Connection:
        what = f"connecting to {self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            with map_smtp_errors(what):
                if self.use_ssl:
                    smtp = smtplib.SMTP_SSL(
                        self.host,
                        self.port,
                        self.local_hostname,
                        timeout=self.timeout,
                        context=self._context,
                    )
                else:
                    smtp = smtplib.SMTP(
                        self.host, self.port, self.local_hostname, timeout=self.timeout
                    )
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
        except BaseException:
            if smtp is not None:
                smtp.close()
            raise
        return _Connection(smtp, time.monotonic())

    def close(self) -> None:
        """Close the idle pooled connections (QUIT)."""
        self._pool.close()


# -- the SMTP commands of a transaction ----------------------------------------------
#
# smtplib's mail(), rcpt() and data(), minus the work that our input makes useless:
# mail() and rcpt() pass every address through quoteaddr(), which re-parses it with
# email.utils.parseaddr (~7 us each); data() dot-stuffs with a multi-line regex (~20 us
# for a 6 KB message). Our envelope addresses come from envelope_of / envelope_of_mime,
# i.e. from prep_address: bare addr-specs, validated by our strict parser, without CR
# or LF. For those, quoteaddr(a) == f"<{a}>" except when parseaddr mangles the address
# (Unicode white space at the edge of a local part: '\xa0@x' became '<@x>'); we send
# the address that was validated. The wire bytes are otherwise those smtplib writes:
# lower-case "mail from:<a> OPTIONS", "rcpt to:<a>", "data", the stuffed payload and
# its ".\r\n" in one send().


def _check_envelope(envelope: Envelope) -> None:
    """Raise PermanentDeliveryError if an envelope address could break a command line.

    Never true for envelopes made by envelope_of (prep_address rejects CR and LF); the
    check keeps smtplib's putcmd() from raising a bare ValueError if it ever were.
    """
    for address in (envelope.sender, *envelope.recipients):
        if "\r" in address or "\n" in address:
            raise PermanentDeliveryError(f"the envelope address {address!r} contains CR or LF")


def _send_mail(
    smtp: smtplib.SMTP, envelope: Envelope, options: Sequence[str], pipelined: bool
) -> None:
    """Send MAIL FROM (``smtp.mail()`` without the quoteaddr re-parse); with *pipelined*,
    every RCPT TO and DATA too, in one write (RFC 2920). The replies are read by the caller.
    """
    optionlist = ""
    if options and smtp.does_esmtp:
        if any(x.lower() == "smtputf8" for x in options):
            if smtp.has_extn("smtputf8"):
                smtp.command_encoding = "utf-8"
            else:
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
        optionlist = " " + " ".join(options)
    if not pipelined:
        smtp.putcmd("mail", f"from:<{envelope.sender}>{optionlist}")
        return
    rcpts = "".join(f"rcpt to:<{a}>\r\n" for a in envelope.recipients)
    smtp.send(f"mail from:<{envelope.sender}>{optionlist}\r\n{rcpts}data\r\n")


def _finish_group(conn: _Connection, rcpt_replies: int) -> None:
    """Read what is left of a pipelined group after the transaction failed, so the
    session can be reset: *rcpt_replies* RCPT replies, then DATA's.

    RFC 2920 3.1: the client must not assume DATA was refused; after a 354 it sends a
    lone dot, so no message content follows, and reads that reply too. Never raises: a
    server that hangs up meanwhile leaves the connection marked broken, and the caller
    reports the failure that ended the transaction, not this one.
    """
    smtp = conn.smtp
    try:
        for _ in range(rcpt_replies):
            smtp.getreply()
        code, _ = smtp.getreply()
        if code == 354:
            smtp.send(b".\r\n")
            smtp.getreply()
    except (smtplib.SMTPException, OSError):
        conn.broken = True


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
