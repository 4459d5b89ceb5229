"""A raw SMTP server on 127.0.0.1 whose replies are scripted, for fault-injection tests.

Unlike `tests/smtp_server.py` (aiosmtpd), this server reads the client's command lines
itself and writes whatever bytes a script says, so it can break the protocol on purpose.

The model:

- Without rules it is a well-behaved ESMTP server: 220 greeting, EHLO/HELO, MAIL, RCPT,
  DATA, RSET, NOOP, QUIT (other commands get 502). Lines end at CRLF only (RFC 5321
  2.3.8); DATA content is dot-unstuffed. Commands are answered one by one in the order
  they were read, so pipelined commands (RFC 2920) get their replies in order.
- Each reply the server is about to send belongs to a *step*: "GREETING", a command
  verb ("EHLO", "MAIL", "RCPT", "DATA" = the 354 step, ...) or "DATA_END" (the reply
  after the final dot). Steps are numbered by occurrence: RCPT per transaction (the
  count restarts at every MAIL command), every other step per connection. Connections
  are numbered from 1.
- A `Script` holds `Rule`s; the first rule matching the step (and its occurrence
  number and connection) replaces the default reply with its `Reply`.
- A `Reply` is bytes sent verbatim (a normal reply, or garbage, a 1 MB line, no CRLF,
  mismatched multi-line codes...), optionally drip-fed one byte at a time, followed by
  `then`: "continue" serving, "close" the connection, or "hang" (stay open, read and
  discard input, never send again). Silence is `b""` + hang; close is `b""` + close.
- The server's state follows the reply it actually sent: MAIL opens a transaction only
  if the reply starts with "2", RCPT adds the recipient only then, DATA reads content
  only after a reply starting with "354".
- Every DATA content received up to its final dot becomes a `ReceivedMessage` with
  `stored` saying whether the server *stored* it. The store decision happens before the
  reply is sent: `Reply.store` if set (only allowed on DATA_END rules), else "the reply
  starts with 2". So `Reply.close(store=True)` is "stored, but the reply was lost",
  `Reply.raw(b"hello\\r\\n", store=True)` is "stored, then a malformed reply", and
  `Reply.smtp(554, "5.6.0 Rejected")` is "not stored".

Every socket operation has a timeout; `stop()` shuts client sockets down and joins the
threads with a timeout, so it returns promptly even with clients still connected.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Final, Literal, Self, get_args

import attrs
from attrs.validators import ge, in_, optional

__all__ = [
    "HOST",
    "ReceivedMessage",
    "Reply",
    "Rule",
    "Script",
    "ScriptedSMTPServer",
    "Step",
    "Then",
]

HOST: Final = "127.0.0.1"

Step = Literal[
    "GREETING", "EHLO", "HELO", "MAIL", "RCPT", "DATA", "DATA_END", "RSET", "NOOP", "QUIT"
]
Then = Literal["continue", "close", "hang"]

_STEPS: Final[frozenset[str]] = frozenset(get_args(Step))
_POLL: Final = 0.05  # socket timeout of every recv/send/accept: how often stop() is noticed
_SEND_TIMEOUT: Final = 30.0  # a client that does not read a reply for this long is dropped
_STOP_TIMEOUT: Final = 10.0
_MAIL_RE: Final = re.compile(rb"FROM:\s*<([^>]*)>\s*(.*)", re.IGNORECASE | re.DOTALL)
_RCPT_RE: Final = re.compile(rb"TO:\s*<([^>]*)>", re.IGNORECASE)


@attrs.frozen
class Reply:
    """What the server does instead of its default reply; see the module docstring."""

    data: bytes
    """Sent verbatim (may be empty)."""
    drip: float = attrs.field(default=0.0, validator=ge(0.0))
    """If > 0: send `data` one byte at a time, with this many seconds between bytes."""
    then: Then = attrs.field(default="continue", validator=in_(get_args(Then)))
    store: bool | None = None
    """DATA_END only: whether the message is stored (before sending); None means
    "if `data` starts with 2"."""

    @classmethod
    def smtp(
        cls,
        code: int,
        text: str,
        *more: str,
        drip: float = 0.0,
        then: Then = "continue",
        store: bool | None = None,
    ) -> Reply:
        """A well-formed reply; several texts make a multi-line one (`250-a`, `250 b`)."""
        texts = (text, *more)
        lines = [f"{code}-{t}\r\n" for t in texts[:-1]] + [f"{code} {texts[-1]}\r\n"]
        return cls("".join(lines).encode(), drip=drip, then=then, store=store)

    @classmethod
    def raw(
        cls,
        data: bytes,
        *,
        drip: float = 0.0,
        then: Then = "continue",
        store: bool | None = None,
    ) -> Reply:
        """Exactly these bytes: garbage, an over-long line, no CRLF, mismatched codes..."""
        return cls(data, drip=drip, then=then, store=store)

    @classmethod
    def silence(cls, *, store: bool | None = None) -> Reply:
        """Never reply; keep the connection open until the client closes or `stop()`."""
        return cls(b"", then="hang", store=store)

    @classmethod
    def close(cls, *, store: bool | None = None) -> Reply:
        """Close the connection instead of replying (with `store=True` on DATA_END:
        the message was stored and the reply was lost)."""
        return cls(b"", then="close", store=store)


@attrs.frozen
class Rule:
    """Replace the reply of `step` when its occurrence number (and connection) match."""

    step: Step = attrs.field(validator=in_(_STEPS))
    reply: Reply
    nth: int | None = attrs.field(default=None, kw_only=True, validator=optional(ge(1)))
    """Only the nth occurrence (1-based): RCPT per transaction, others per connection."""
    after: int | None = attrs.field(default=None, kw_only=True, validator=optional(ge(0)))
    """Only occurrences whose number is > after (e.g. RCPT after=50: the 51st on)."""
    connection: int | None = attrs.field(default=None, kw_only=True, validator=optional(ge(1)))
    """Only on this connection (1-based, in accept order)."""

    def __attrs_post_init__(self) -> None:
        if self.reply.store is not None and self.step != "DATA_END":
            raise ValueError(f"Reply.store only applies to DATA_END, not {self.step}")

    def matches(self, step: str, occurrence: int, connection: int) -> bool:
        return (
            step == self.step
            and (self.nth is None or occurrence == self.nth)
            and (self.after is None or occurrence > self.after)
            and (self.connection is None or connection == self.connection)
        )


def _rules(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(rules)


@attrs.frozen
class Script:
    """The rules (first match wins) and the extensions the EHLO reply advertises."""

    rules: tuple[Rule, ...] = attrs.field(default=(), converter=_rules)
    pipelining: bool = True
    size: int | None = None
    """Advertise `SIZE n` and refuse (552) a larger MAIL SIZE= or DATA content."""
    eightbitmime: bool = True
    smtputf8: bool = True
    idle_timeout: float = 60.0
    """A connection with no input for this long is closed (silence included)."""

    def reply_for(self, step: str, occurrence: int, connection: int) -> Reply | None:
        for rule in self.rules:
            if rule.matches(step, occurrence, connection):
                return rule.reply
        return None


@attrs.frozen
class ReceivedMessage:
    """One DATA content received up to its final dot, stored or not."""

    connection: int
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    """CRLF line ends, dot-unstuffed, without the final `.` line."""
    stored: bool
    """The server stored it (before sending `reply`)."""
    reply: bytes
    """The bytes sent after the final dot (b"" for close or silence)."""
    pipelined: bool
    """The client's DATA command had already been received when MAIL was answered."""


class _ConnectionOverError(Exception):
    """The connection is over (closed by either side, hung up on purpose, or stop())."""


class ScriptedSMTPServer:
    """The scripted server; `start()`/`stop()` or a `with` block. See the module docstring.

    `script` may be replaced between connections or commands: it is read at every step.
    """

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script if script is not None else Script()
        self.host: str = HOST
        self.port: int = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: set[socket.socket] = set()
        self._messages: list[ReceivedMessage] = []
        self._commands: list[list[bytes]] = []

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Every DATA content received, in order (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def commands(self) -> list[list[bytes]]:
        """Per connection, the exact command lines read (CRLF included; not DATA content,
        nothing after a hang). A copy."""
        with self._lock:
            return [list(lines) for lines in self._commands]

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._commands)

    def start(self) -> None:
        if self._listener is not None:
            raise RuntimeError("ScriptedSMTPServer already started")
        listener = socket.create_server((HOST, 0))  # bound and listening: no port race
        listener.settimeout(_POLL)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="ScriptedSMTP-accept", daemon=True
        )
        self._accept_thread.start()

    def stop(self) -> None:
        """Stop accepting, shut every client socket down, join the threads (bounded)."""
        self._stopping.set()
        deadline = time.monotonic() + _STOP_TIMEOUT
        threads: list[threading.Thread] = []
        if self._accept_thread is not None:
            self._accept_thread.join(_STOP_TIMEOUT)
            threads.append(self._accept_thread)
            self._accept_thread = None
        with self._lock:
            for sock in self._sockets:
                _shutdown(sock)
            threads.extend(self._threads)
            self._threads = []
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
        alive = [t.name for t in threads if t.is_alive()]
        if alive:
            raise TimeoutError(f"ScriptedSMTPServer threads still running: {alive}")

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

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(_POLL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # drip: byte by byte
            with self._lock:
                self._commands.append([])
                number = len(self._commands)
                self._sockets.add(sock)
                thread = threading.Thread(
                    target=_Connection(self, sock, number).run,
                    name=f"ScriptedSMTP-{number}",
                    daemon=True,
                )
                self._threads.append(thread)
            thread.start()

    def _log_command(self, connection: int, line: bytes) -> None:
        with self._lock:
            self._commands[connection - 1].append(line)

    def _record(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def _forget(self, sock: socket.socket) -> None:
        """Close a connection's socket (unless stop() has it: then stop() closes it)."""
        with self._lock:
            if sock not in self._sockets:
                return
            self._sockets.discard(sock)
        _shutdown(sock)
        sock.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already disconnected
        sock.shutdown(socket.SHUT_RDWR)


class _Connection:
    """One client connection, served by its own thread."""

    def __init__(self, server: ScriptedSMTPServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.buffer = bytearray()
        self.counts: dict[str, int] = {}
        self.mail_from: str | None = None
        self.rcpt_tos: list[str] = []
        self.pipelined = False

    def run(self) -> None:
        try:
            self.serve()
        except (_ConnectionOverError, OSError):
            pass
        finally:
            self.server._forget(self.sock)

    def serve(self) -> None:
        self.answer("GREETING", Reply.smtp(220, "localhost ESMTP scripted"))
        while True:
            line = self.read_line()
            self.server._log_command(self.number, line)
            verb, _, arg = line[:-2].partition(b" ")
            step = verb.upper().decode("ascii", "replace")
            if step not in _STEPS or step in ("GREETING", "DATA_END"):
                self.send(b"502 5.5.2 Command not recognized\r\n")
                continue
            getattr(self, f"do_{step}")(step, arg)

    # --- steps -------------------------------------------------------------------------

    def do_EHLO(self, step: str, arg: bytes) -> None:
        script = self.server.script
        features = ["localhost"]
        features += ["PIPELINING"] if script.pipelining else []
        features += [f"SIZE {script.size}"] if script.size is not None else []
        features += ["8BITMIME"] if script.eightbitmime else []
        features += ["SMTPUTF8"] if script.smtputf8 else []
        reply = self.choose(step, Reply.smtp(250, *features))
        if _positive_reply(reply):
            self.reset()
        self.perform(reply)

    def do_HELO(self, step: str, arg: bytes) -> None:
        reply = self.choose(step, Reply.smtp(250, "localhost"))
        if _positive_reply(reply):
            self.reset()
        self.perform(reply)

    def do_MAIL(self, step: str, arg: bytes) -> None:
        self.counts["RCPT"] = 0
        size_limit = self.server.script.size
        match = _MAIL_RE.fullmatch(arg)
        if self.mail_from is not None:
            default = Reply.smtp(503, "5.5.1 Nested MAIL command")
        elif match is None:
            default = Reply.smtp(501, "5.5.4 Syntax: MAIL FROM:<address>")
        elif size_limit is not None and _size_param(match[2]) > size_limit:
            default = Reply.smtp(552, "5.3.4 Message size exceeds fixed limit")
        else:
            default = Reply.smtp(250, "2.1.0 OK")
        reply = self.choose(step, default)
        if _positive_reply(reply):
            self.mail_from = _text(match[1]) if match is not None else ""
            self.rcpt_tos = []
            self.pipelined = any(
                line.strip().upper() == b"DATA" for line in self.buffer.split(b"\r\n")
            )
        self.perform(reply)

    def do_RCPT(self, step: str, arg: bytes) -> None:
        match = _RCPT_RE.match(arg)
        if self.mail_from is None:
            default = Reply.smtp(503, "5.5.1 Need MAIL command")
        elif match is None:
            default = Reply.smtp(501, "5.5.4 Syntax: RCPT TO:<address>")
        else:
            default = Reply.smtp(250, "2.1.5 OK")
        reply = self.choose(step, default)
        if _positive_reply(reply) and self.mail_from is not None:
            self.rcpt_tos.append(_text(match[1]) if match is not None else "")
        self.perform(reply)

    def do_DATA(self, step: str, arg: bytes) -> None:
        if self.mail_from is None:
            default = Reply.smtp(503, "5.5.1 Need MAIL command")
        elif not self.rcpt_tos:
            default = Reply.smtp(554, "5.5.1 No valid recipients")
        else:
            default = Reply.smtp(354, "End data with <CR><LF>.<CR><LF>")
        reply = self.choose(step, default)
        self.perform(reply)
        if not reply.data.startswith(b"354"):
            return
        data = self.read_content()
        size_limit = self.server.script.size
        if size_limit is not None and len(data) > size_limit:
            default = Reply.smtp(552, "5.3.4 Message size exceeds fixed limit")
        else:
            default = Reply.smtp(250, "2.0.0 OK: stored")
        reply = self.choose("DATA_END", default)
        stored = reply.store if reply.store is not None else _positive_reply(reply)
        self.server._record(
            ReceivedMessage(
                connection=self.number,
                mail_from=self.mail_from or "",
                rcpt_tos=tuple(self.rcpt_tos),
                data=data,
                stored=stored,
                reply=reply.data,
                pipelined=self.pipelined,
            )
        )
        self.reset()
        self.perform(reply)

    def do_RSET(self, step: str, arg: bytes) -> None:
        reply = self.choose(step, Reply.smtp(250, "2.0.0 OK"))
        if _positive_reply(reply):
            self.reset()
        self.perform(reply)

    def do_NOOP(self, step: str, arg: bytes) -> None:
        self.perform(self.choose(step, Reply.smtp(250, "2.0.0 OK")))

    def do_QUIT(self, step: str, arg: bytes) -> None:
        reply = self.choose(step, Reply.smtp(221, "2.0.0 Bye"))
        self.perform(reply)
        raise _ConnectionOverError

    # --- helpers -------------------------------------------------------------------------

    def reset(self) -> None:
        self.mail_from = None
        self.rcpt_tos = []
        self.counts["RCPT"] = 0
        self.pipelined = False

    def answer(self, step: str, default: Reply) -> None:
        self.perform(self.choose(step, default))

    def choose(self, step: str, default: Reply) -> Reply:
        """Count this occurrence of `step` and pick the scripted reply or `default`."""
        occurrence = self.counts.get(step, 0) + 1
        self.counts[step] = occurrence
        scripted = self.server.script.reply_for(step, occurrence, self.number)
        return scripted if scripted is not None else default

    def perform(self, reply: Reply) -> None:
        if reply.drip > 0:
            for i in range(len(reply.data)):
                if i and self.server._stopping.wait(reply.drip):
                    raise _ConnectionOverError
                self.send(reply.data[i : i + 1])
        else:
            self.send(reply.data)
        if reply.then == "close":
            raise _ConnectionOverError
        if reply.then == "hang":
            while self.recv():
                pass  # discard input until EOF, idle timeout or stop()
            raise _ConnectionOverError

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + _SEND_TIMEOUT
        while view:
            if self.server._stopping.is_set() or time.monotonic() > deadline:
                raise _ConnectionOverError
            try:
                view = view[self.sock.send(view) :]
            except TimeoutError:
                continue

    def recv(self) -> bytes:
        """Some bytes; raises _ConnectionOverError on EOF, idle timeout or stop()."""
        deadline = time.monotonic() + self.server.script.idle_timeout
        while not self.server._stopping.is_set() and time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            return chunk
        raise _ConnectionOverError

    def read_line(self) -> bytes:
        """The next line, CRLF included."""
        while (end := self.buffer.find(b"\r\n")) < 0:
            self.buffer += self.recv()
        line = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 2]
        return line

    def read_content(self) -> bytes:
        """DATA content up to the final dot line, dot-unstuffed, without that line."""
        lines = []
        while (line := self.read_line()) != b".\r\n":
            lines.append(line[1:] if line.startswith(b".") else line)
        return b"".join(lines)


def _positive_reply(reply: Reply) -> bool:
    return reply.data.startswith(b"2")


def _text(address: bytes) -> str:
    return address.decode("utf-8", "surrogateescape")


def _size_param(params: bytes) -> int:
    for param in params.split():
        key, _, value = param.partition(b"=")
        if key.upper() == b"SIZE" and value.isdigit():
            return int(value)
    return 0
