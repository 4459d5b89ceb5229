"""A real SMTP server on 127.0.0.1 for integration tests and benchmarks.

`SMTPTestServer` runs aiosmtpd in a background thread (its own event loop), stores every
accepted message as a `Received`, and injects faults described by a mutable `Faults`
object that the handler reads at every command. `SilentServer` accepts TCP connections
and never answers (for client timeout tests).

aiosmtpd details this module deals with (aiosmtpd 1.4.6):

- Hooks replace aiosmtpd's default behaviour: `handle_MAIL`/`handle_RCPT` must record the
  envelope themselves and `handle_EHLO` must set `session.host_name`.
- AUTH is advertised whenever `auth_require_tls=False`, even without an authenticator, so
  the EHLO hook removes it from servers without `auth`.
- `auth_required=True` with `auth_require_tls=False` emits a UserWarning (an error under
  our `filterwarnings = error`), so "AUTH before MAIL" is enforced in `handle_MAIL`.
- aiosmtpd's `auth_require_tls` only knows STARTTLS: with implicit TLS it would refuse
  AUTH, so it is only set for `tls="starttls"` (AUTH offered after STARTTLS only).
- `Controller` binds the port itself and then connects once to check it is up; here it
  listens on a socket bound to port 0 beforehand (no free-port race) and the connection
  counter is reset after that check connection.
- `Server.wait_closed()` (Python >= 3.12.1) waits for every client connection, so `stop()`
  aborts open connections first: an idle client cannot make it hang.
- aiosmtpd reads one command line at a time from its StreamReader, so pipelined commands
  (RFC 2920) are answered in order; it just does not advertise PIPELINING. With
  `pipelining=True` the EHLO hook adds it, and `handle_MAIL` looks into the reader's
  buffer (`_buffer`, private) to tell whether the client sent its RCPTs and DATA along.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import socket
import ssl
import threading
import weakref
from collections.abc import Awaitable
from types import TracebackType
from typing import AnyStr, Final, Literal, Protocol, Self

import attrs
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

__all__ = [
    "AUTH_CREDENTIALS",
    "HOST",
    "Faults",
    "Received",
    "SMTPServerFactory",
    "SMTPTestServer",
    "SilentServer",
    "TLSMode",
]

HOST: Final = "127.0.0.1"
AUTH_CREDENTIALS: Final = ("user", "s3cret-pass")
"""The (username, password) of the `auth_server` fixtures."""

TLSMode = Literal["none", "starttls", "implicit"]

_START_TIMEOUT: Final = 5.0
_STOP_TIMEOUT: Final = 10.0
_DROP_WAIT: Final = 30.0  # connection_lost() cancels the wait long before this


@attrs.define
class Received:
    """One message the server accepted (its DATA was answered with 250)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    """The DATA content exactly as received: CRLF line ends, dot-unstuffed, without the
    final `.` line."""
    mail_options: list[str]
    """ESMTP MAIL parameters, upper-cased by aiosmtpd (e.g. `SIZE=123`, `SMTPUTF8`)."""
    rcpt_options: list[str]
    session_id: int
    """1 for the first TCP connection after `start()`, 2 for the next, ..."""
    authenticated_as: str | None
    tls: bool
    pipelined: bool
    """The DATA command was already in the server's input buffer when MAIL FROM was
    answered: the client pipelined the transaction (RFC 2920)."""


@attrs.define
class Faults:
    """Misbehaviour to inject; read at every command, so a test may change it mid-run."""

    rcpt_replies: dict[str, str] = attrs.Factory(dict)
    """Recipient address -> full reply (e.g. "550 5.1.1 No such user"); others get 250."""
    mail_reply: str | None = None
    """Reply to MAIL FROM instead of 250 (e.g. "451 4.3.0 Try later")."""
    drop_after_mail_reply: bool = False
    """With `mail_reply`: drop the connection right after sending it."""
    data_command_reply: str | None = None
    """Reply to the DATA command itself instead of 354 (e.g. "451 4.3.0 Busy"); no
    content is read, so a client that sends some anyway shows up as bad commands."""
    data_reply: str | None = None
    """Reply after the DATA content instead of 250; the message is not stored."""
    disconnect_on_message: int | None = None
    """Drop the connection without a reply when the Nth message (1-based, counted in
    `messages_seen`) has been received; that message is not stored."""
    disconnect_during_data: bool = False
    """Answer DATA with 354, read one content line, then drop the connection."""
    accept_data_without_recipients: bool = False
    """Answer DATA with 354 even when no recipient was accepted (RFC 2920 allows it),
    read the content up to the final dot (counted in `empty_data_after_354` when it is
    only the dot), then reply 554."""
    delay: float = 0.0
    """Seconds to sleep before each reply (before the last line of a multi-line one)."""
    messages_seen: int = attrs.field(default=0, init=False)
    """DATA contents fully received since creation or `reset()` (stored or not)."""
    empty_data_after_354: int = attrs.field(default=0, init=False)
    """Lone-dot contents sent after a 354 to a DATA without recipients."""

    def reset(self) -> None:
        """Back to no faults, and restart the message count of `disconnect_on_message`."""
        self.rcpt_replies = {}
        self.mail_reply = None
        self.drop_after_mail_reply = False
        self.data_command_reply = None
        self.data_reply = None
        self.disconnect_on_message = None
        self.disconnect_during_data = False
        self.accept_data_without_recipients = False
        self.delay = 0.0
        self.messages_seen = 0
        self.empty_data_after_354 = 0


class SMTPServerFactory(Protocol):
    """Type of the `make_smtp_server` fixture: starts a server, stopped at teardown."""

    def __call__(
        self,
        *,
        tls: TLSMode = "none",
        auth: tuple[str, str] | None = None,
        data_size_limit: int | None = None,
        smtputf8: bool = True,
        pipelining: bool | None = None,
        faults: Faults | None = None,
    ) -> SMTPTestServer: ...


class SMTPTestServer:
    """An aiosmtpd server on 127.0.0.1 in a background thread; see the module docstring.

    `tls="starttls"` offers STARTTLS (not required); `tls="implicit"` speaks TLS from the
    first byte. Both need `ca`, which issues a certificate for "localhost" and
    "127.0.0.1". With `auth`, AUTH PLAIN and LOGIN are offered (over plaintext too,
    except for STARTTLS servers, which offer it after STARTTLS only) and required before
    MAIL FROM. `data_size_limit=None` means no SIZE extension and no limit.
    `pipelining=True` advertises PIPELINING.
    """

    def __init__(
        self,
        *,
        tls: TLSMode = "none",
        ca: trustme.CA | None = None,
        auth: tuple[str, str] | None = None,
        data_size_limit: int | None = None,
        smtputf8: bool = True,
        pipelining: bool = False,
        faults: Faults | None = None,
    ) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"unknown tls mode {tls!r}")
        self._ssl_context: ssl.SSLContext | None = None
        if tls != "none":
            if ca is None:
                raise ValueError(f"tls={tls!r} needs a trustme.CA")
            self._ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("localhost", HOST).configure_cert(self._ssl_context)
        self.tls: TLSMode = tls
        self.ca = ca
        self.auth = auth
        self.data_size_limit = data_size_limit
        self.smtputf8 = smtputf8
        self.pipelining = pipelining
        self.faults = faults if faults is not None else Faults()
        self.host: str = HOST
        self.port: int = 0
        self.messages: list[Received] = []
        self.commands: list[str] = []
        """The verbs of every MAIL, RCPT, DATA and RSET received, in order, all sessions."""
        self.connections: int = 0
        self._cond = threading.Condition()
        self._handler = _Handler(self)
        self._controller: _Controller | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Listen and return once the server answers connections."""
        if self._controller is not None:
            raise RuntimeError("SMTPTestServer already started")
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto
        # is IPPROTO_TCP (proto 0 inherited by accepted sockets would skip it), and with
        # Nagle on, every multi-line reply (EHLO) waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((HOST, 0))
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        controller = _Controller(self, sock, self._ssl_context if self.tls == "implicit" else None)
        try:
            controller.start()
        except BaseException:
            controller.shutdown()
            raise
        self._controller = controller
        # Controller.start() made one connection to check the server; do not count it.
        with self._cond:
            self.connections = 0

    def stop(self) -> None:
        """Abort open connections and stop the thread; safe to call twice or after faults."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.shutdown()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- for tests -------------------------------------------------------------------

    def wait_for(self, n: int, timeout: float = 10) -> None:
        """Wait until at least `n` messages were stored; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise TimeoutError(
                    f"{len(self.messages)} message(s) stored after {timeout} s, expected {n}"
                )

    def drop_connections(self) -> None:
        """Abort every open client connection (a server that drops idle clients)."""
        controller = self._controller
        if controller is None:
            return
        done = threading.Event()

        def abort() -> None:
            for protocol in list(controller._protocols):
                protocol.abort()
            done.set()

        controller.loop.call_soon_threadsafe(abort)
        if not done.wait(_STOP_TIMEOUT):
            raise TimeoutError("the server did not drop its connections")

    # -- called from the server thread -------------------------------------------------

    def _store(self, message: Received) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def _next_session_id(self) -> int:
        with self._cond:
            self.connections += 1
            return self.connections

    def _starttls_context(self) -> ssl.SSLContext | None:
        return self._ssl_context if self.tls == "starttls" else None

    def _check_login(self, login: bytes, password: bytes) -> str | None:
        if self.auth is None:
            return None
        user, secret = self.auth
        user_ok = hmac.compare_digest(login, user.encode())
        password_ok = hmac.compare_digest(password, secret.encode())
        return user if user_ok and password_ok else None


class _SMTPProtocol(SMTP):
    """One connection: aiosmtpd's SMTP plus session id, reply delay and dropping."""

    def __init__(
        self, owner: SMTPTestServer, session_id: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.owner = owner
        self.session_id = session_id
        # Not "auth_user": aiosmtpd takes every auth_* attribute for an AUTH mechanism.
        self.logged_in_as: str | None = None
        self.pipelined = False
        super().__init__(
            owner._handler,
            data_size_limit=owner.data_size_limit,
            enable_SMTPUTF8=owner.smtputf8,
            hostname="localhost",  # the default, socket.getfqdn(), can wait for DNS
            tls_context=owner._starttls_context(),
            require_starttls=False,
            auth_require_tls=owner.tls == "starttls",
            authenticator=_authenticate,
            loop=loop,  # else aiosmtpd changes the global warning filters to find one
        )

    @property
    def encrypted(self) -> bool:
        transport = self.transport
        return transport is not None and transport.get_extra_info("ssl_object") is not None

    async def push(self, status: AnyStr) -> None:
        delay = self.owner.faults.delay
        marker = status[3:4]
        if delay > 0 and marker not in ("-", b"-"):
            await asyncio.sleep(delay)
        await super().push(status)

    async def drop(self) -> None:
        """Close the TCP connection without a reply; never returns normally."""
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()
        # connection_lost() cancels the task running this (aiosmtpd's _handle_client);
        # returning early would let aiosmtpd write a reply to the closing transport.
        await asyncio.sleep(_DROP_WAIT)

    def abort(self) -> None:
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg: str) -> None:
        self.owner.commands.append("MAIL")
        await super().smtp_MAIL(arg)
        faults = self.owner.faults
        if faults.drop_after_mail_reply and faults.mail_reply is not None:
            await self.drop()

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str) -> None:
        self.owner.commands.append("RCPT")
        await super().smtp_RCPT(arg)

    @syntax("RSET")
    async def smtp_RSET(self, arg: str) -> None:
        self.owner.commands.append("RSET")
        await super().smtp_RSET(arg)

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        self.owner.commands.append("DATA")
        envelope = self.envelope
        data_command_reply = self.owner.faults.data_command_reply
        if data_command_reply is not None and not arg:
            await self.push(data_command_reply)
            return
        if self.owner.faults.disconnect_during_data and envelope and envelope.rcpt_tos and not arg:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            # Wait for the first content line so the drop happens "during" DATA.
            with contextlib.suppress(TimeoutError, ValueError):
                await asyncio.wait_for(self._reader.readline(), timeout=5)
            await self.drop()
            return
        no_recipients = envelope is None or not envelope.rcpt_tos
        if self.owner.faults.accept_data_without_recipients and not arg and no_recipients:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            lines = []
            while (line := await self._reader.readline()) not in (b".\r\n", b""):
                lines.append(line)
            if not lines:
                self.owner.faults.empty_data_after_354 += 1
            await self.push("554 5.5.1 No valid recipients")
            return
        await super().smtp_DATA(arg)

    def data_already_sent(self) -> bool:
        """Whether the client's DATA command already waits in the input buffer."""
        buffer = bytes(getattr(self._reader, "_buffer", b""))
        return any(line.strip().upper() == b"DATA" for line in buffer.split(b"\n"))


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
) -> AuthResult:
    assert isinstance(server, _SMTPProtocol)
    user = None
    if isinstance(data, LoginPassword):
        user = server.owner._check_login(data.login, data.password)
    if user is None:
        # handled=False makes aiosmtpd send 535; with the default handled=True it sends
        # nothing and the client hangs.
        return AuthResult(success=False, handled=False)
    server.logged_in_as = user
    return AuthResult(success=True, auth_data=user)


class _Handler:
    """aiosmtpd hooks; `server` is the connection's `_SMTPProtocol`."""

    def __init__(self, owner: SMTPTestServer) -> None:
        self._owner = owner

    async def handle_EHLO(
        self,
        server: _SMTPProtocol,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self._owner.auth is None:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        if self._owner.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: _SMTPProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self._owner.auth is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        reply = self._owner.faults.mail_reply
        if reply is not None:
            return reply
        server.pipelined = server.data_already_sent()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: _SMTPProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = self._owner.faults.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: _SMTPProtocol, session: Session, envelope: Envelope) -> str:
        faults = self._owner.faults
        faults.messages_seen += 1
        if faults.disconnect_on_message == faults.messages_seen:
            await server.drop()
            return "421 4.4.2 Connection should have been dropped"
        if faults.data_reply is not None:
            return faults.data_reply
        assert envelope.mail_from is not None
        assert envelope.original_content is not None
        self._owner._store(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                data=envelope.original_content,
                mail_options=list(envelope.mail_options),
                rcpt_options=list(envelope.rcpt_options),
                session_id=server.session_id,
                authenticated_as=server.logged_in_as if session.authenticated else None,
                tls=server.encrypted,
                pipelined=server.pipelined,
            )
        )
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's threaded Controller on a pre-bound socket, with a stop that cannot hang."""

    def __init__(
        self, owner: SMTPTestServer, sock: socket.socket, ssl_context: ssl.SSLContext | None
    ) -> None:
        super().__init__(
            owner._handler,
            hostname=HOST,
            port=sock.getsockname()[1],
            ready_timeout=_START_TIMEOUT,
            ssl_context=ssl_context,
        )
        self._owner = owner
        self._sock = sock
        self._protocols: weakref.WeakSet[_SMTPProtocol] = weakref.WeakSet()

    def factory(self) -> _SMTPProtocol:
        protocol = _SMTPProtocol(self._owner, self._owner._next_session_id(), self.loop)
        self._protocols.add(protocol)
        return protocol

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    def _abort_all_and_cancel(self) -> None:
        for protocol in list(self._protocols):
            protocol.abort()
        # Python 3.13+: also connections whose TLS handshake has not finished yet.
        abort_clients = getattr(self.server, "abort_clients", None)
        if abort_clients is not None:
            abort_clients()
        self.cancel_tasks()

    def shutdown(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._abort_all_and_cancel)
            thread.join(_STOP_TIMEOUT)
            if thread.is_alive():
                raise TimeoutError(f"SMTP test server did not stop within {_STOP_TIMEOUT} s")
        self._thread = None
        if not self.loop.is_closed():  # _run() failed before its own cleanup
            self.loop.close()
        self._sock.close()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self.host: str = HOST
        self.port: int = 0
        self.connections: int = 0
        self._listener: socket.socket | None = None
        self._accepted: list[socket.socket] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError("SilentServer already started")
        listener = socket.create_server((HOST, 0))
        listener.settimeout(0.05)  # how often the accept loop checks for stop()
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="SilentServer", daemon=True
        )
        self._thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(conn)
            self.connections += 1

    def stop(self) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_STOP_TIMEOUT)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        accepted, self._accepted = self._accepted, []
        for conn in accepted:
            conn.close()
        if thread is not None and thread.is_alive():
            raise TimeoutError(f"SilentServer did not stop within {_STOP_TIMEOUT} s")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
