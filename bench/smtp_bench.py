"""SMTP benchmark: compose + send one realistic message N times over a loopback connection.

Every implementation sends the message of ``bench.compose_bench`` (3 recipients: To, Cc,
Bcc) to the same SMTP sink on 127.0.0.1: a minimal aiosmtpd server in its own process
(spawned), whose DATA hook only counts messages and answers ``250 OK`` (or, with
``--sink lean``, ``_LeanSMTP``, which also offers PIPELINING and costs far less CPU;
smtplib and Django do not pipeline, proper_mail does). One timed run is
connect + EHLO + N transactions (MAIL, 3 x RCPT, DATA) + QUIT, on a fresh connection:

1. ceiling: raw ``smtplib.SMTP.sendmail`` of bytes built once, before the clock starts;
2. proper_mail: ``SMTPMailer.send_now(*[compose(**FIELDS) for _ in range(N)])``, so
   composing, rendering and sending are all timed;
3. Django 5.2: ``EmailMultiAlternatives`` + ``attach_alternative`` built inside the clock,
   sent with ``EmailBackend.send_messages`` on a connection opened once (``with backend:``);
4. proper_mail, 4 threads sharing one ``SMTPMailer(max_connections=4)``, each composing
   and sending N/4 messages.

The rounds are interleaved (the order rotates every round); the best round counts. After
every run the sink's count must equal the messages sent, or the benchmark stops.

Besides msg/s, the table gives the CPU time per message of the client process
(``time.process_time``: the sink is elsewhere, so this is only the sender's work) and of
the sink process: on loopback the sink's CPU is a large part of every round trip.

Run it with ``./scripts/bench smtp`` or ``.venv/bin/python -m bench.smtp_bench [--n N]``;
``--profile`` adds a cProfile of the proper_mail single-connection run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import multiprocessing
import pstats
import smtplib
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Final, Literal, NamedTuple, Self

from bench.compose_bench import (
    FIELDS,
    _django_maker,
    django_email,
)
from proper_mail import SMTPMailer, compose, envelope_of, to_bytes

__all__ = ["Sink", "main"]

HOST: Final = "127.0.0.1"
TIMEOUT: Final = 30.0
"""Seconds for every socket operation (client and sink) and every pipe read."""
WARMUP: Final = 100
THREADS: Final = 4
TARGET_CEILING: Final = 0.85
TARGET_DJANGO: Final = 1.5
TARGET_THREADS: Final = 1.0

Sender = Callable[[str, int, int], int]
"""(host, port, n) -> messages the client reports sent."""


# -- the sink (runs in its own process) -------------------------------------------------


class _CountingHandler:
    """aiosmtpd handler: count every message, keep nothing."""

    def __init__(self) -> None:
        self.count = 0
        self.recipients = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        self.recipients += len(envelope.rcpt_tos)
        return "250 OK"


SinkKind = Literal["aiosmtpd", "lean"]


class _LeanSMTP(asyncio.Protocol):
    """A minimal SMTP server for benchmarks: the protocol's states, nothing else.

    It speaks what a submission server needs for plain sends: EHLO (offering PIPELINING,
    8BITMIME, SMTPUTF8 and SIZE, as Postfix and the providers do), HELO, MAIL, RCPT,
    DATA with the content up to the ``CRLF . CRLF`` terminator, RSET, NOOP and QUIT, in
    order, answering out-of-sequence commands with 503 and unknown ones with 500. A
    client's pipelined commands are answered with one write per read. It keeps nothing
    of a message but counts it (and its recipients). Its point is to cost the machine
    as little CPU as a remote server would: aiosmtpd spends ~1-1.5 ms of CPU per message,
    more than the client does, and on a 2-core machine that CPU is taken from the
    process being measured.
    """

    def __init__(self, handler: _CountingHandler, open_: set[asyncio.Transport]) -> None:
        self._handler = handler
        self._open = open_
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._in_data = False
        self._mail = False
        self._rcpts = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._open.add(transport)
        transport.write(b"220 sink.localhost ESMTP\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._open.discard(self._transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        replies: list[bytes] = []
        pos = 0
        while True:
            if self._in_data:
                if buffer.startswith(b".\r\n", pos):
                    end = pos
                else:
                    end = buffer.find(b"\r\n.\r\n", pos)
                    if end < 0:
                        break
                    end += 2
                pos = end + 3
                self._handler.count += 1
                self._handler.recipients += self._rcpts
                self._in_data, self._mail, self._rcpts = False, False, 0
                replies.append(b"250 2.0.0 OK\r\n")
                continue
            eol = buffer.find(b"\r\n", pos)
            if eol < 0:
                break
            line = bytes(buffer[pos:eol])
            pos = eol + 2
            replies.append(self._command(line[:4].upper(), line))
        del buffer[:pos]
        if replies and self._transport is not None:
            self._transport.write(b"".join(replies))
            if replies[-1].startswith(b"221"):
                self._transport.close()

    def _command(self, verb: bytes, line: bytes) -> bytes:
        if verb == b"MAIL":
            if self._mail:
                return b"503 5.5.1 Nested MAIL command\r\n"
            self._mail = True
            return b"250 2.1.0 OK\r\n"
        if verb == b"RCPT":
            if not self._mail:
                return b"503 5.5.1 Need MAIL command\r\n"
            self._rcpts += 1
            return b"250 2.1.5 OK\r\n"
        if verb == b"DATA":
            if not self._rcpts:
                return b"503 5.5.1 Need RCPT command\r\n"
            self._in_data = True
            return b"354 End data with <CR><LF>.<CR><LF>\r\n"
        if verb == b"EHLO":
            return (
                b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                b"250-SMTPUTF8\r\n250 SIZE 52428800\r\n"
            )
        if verb in (b"HELO", b"NOOP"):
            return b"250 OK\r\n"
        if verb == b"RSET":
            self._mail, self._rcpts = False, 0
            return b"250 OK\r\n"
        if verb == b"QUIT":
            return b"221 Bye\r\n"
        return b"500 5.5.2 Command unrecognized\r\n"


def _sink_main(conn: Connection, kind: SinkKind) -> None:
    """Entry point of the sink process: serve until told to stop or the parent goes."""
    asyncio.run(_serve(conn, kind))


async def _serve(conn: Connection, kind: SinkKind) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    handler = _CountingHandler()
    factory: Callable[[], asyncio.BaseProtocol]
    lean_open: set[asyncio.Transport] = set()
    if kind == "lean":
        factory = lambda: _LeanSMTP(handler, lean_open)  # noqa: E731
    else:
        factory = lambda: SMTP(handler, hostname="sink.localhost", timeout=TIMEOUT)  # noqa: E731
    server = await loop.create_server(factory, HOST, 0)
    stopped: asyncio.Future[None] = loop.create_future()
    cpu_start = time.process_time()

    def on_command() -> None:
        nonlocal cpu_start
        try:
            command = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            command = "stop"
        if command == "reset":
            handler.count = handler.recipients = 0
            cpu_start = time.process_time()
            conn.send(None)
        elif command == "read":
            conn.send((handler.count, time.process_time() - cpu_start, handler.recipients))
        else:
            loop.remove_reader(conn.fileno())
            if not stopped.done():
                stopped.set_result(None)

    loop.add_reader(conn.fileno(), on_command)
    conn.send(server.sockets[0].getsockname()[1])
    await stopped
    server.close()
    for transport in list(lean_open):
        transport.abort()
    abort_clients = getattr(server, "abort_clients", None)  # Python 3.13+
    if abort_clients is not None:
        abort_clients()
    await asyncio.wait_for(server.wait_closed(), 5)
    conn.close()


class Sink:
    """The counting SMTP sink in a spawned process, driven over a pipe.

    *kind* "aiosmtpd" is aiosmtpd's SMTP with a counting DATA hook; "lean" is
    `_LeanSMTP`, which costs the machine far less CPU per message.
    """

    def __init__(self, kind: SinkKind = "aiosmtpd") -> None:
        self.kind: SinkKind = kind
        self.host: str = HOST
        self.port: int = 0
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_sink_main, args=(child, kind), name="smtp-sink")
        self._process.start()
        child.close()
        try:
            port = self._recv()
            assert isinstance(port, int)
            self.port = port
        except BaseException:
            self.close()
            raise

    def _recv(self) -> object:
        deadline = time.monotonic() + TIMEOUT
        while not self._conn.poll(0.1):
            if not self._process.is_alive():
                raise RuntimeError(f"the SMTP sink died (exit code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the SMTP sink did not answer within {TIMEOUT:g} s")
        try:
            return self._conn.recv()
        except EOFError:
            self._process.join(5)
            raise RuntimeError(f"the SMTP sink died (exit code {self._process.exitcode})") from None

    def reset(self) -> None:
        """Zero the message count and the CPU clock."""
        self._conn.send("reset")
        self._recv()

    def read(self) -> tuple[int, float]:
        """(messages received, sink CPU seconds) since the last reset."""
        self._conn.send("read")
        reply = self._recv()
        assert isinstance(reply, tuple)
        count, cpu, _ = reply
        return int(count), float(cpu)

    def recipients(self) -> int:
        """Recipients of the messages received since the last reset."""
        self._conn.send("read")
        reply = self._recv()
        assert isinstance(reply, tuple)
        return int(reply[2])

    def close(self) -> None:
        """Stop the sink process (terminate it if it does not stop in 10 s)."""
        with contextlib.suppress(OSError):  # the sink is already gone
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- the senders ------------------------------------------------------------------------


def _ceiling_sender() -> Sender:
    """Raw smtplib: the bytes and envelope are built here, once, outside the clock."""
    message = compose(**FIELDS)
    data = to_bytes(message)
    envelope = envelope_of(message)
    sender, recipients = envelope.sender, list(envelope.recipients)

    def send(host: str, port: int, n: int) -> int:
        with smtplib.SMTP(host, port, timeout=TIMEOUT) as smtp:
            for _ in range(n):
                refused = smtp.sendmail(sender, recipients, data)
                if refused:
                    raise AssertionError(f"the sink refused {refused}")
        return n

    return send


def send_proper_mail(host: str, port: int, n: int) -> int:
    """proper_mail: compose, render and send *n* messages over one connection."""
    mailer = SMTPMailer(host=host, port=port, timeout=TIMEOUT)
    try:
        return mailer.send_now(*[compose(**FIELDS) for _ in range(n)])
    finally:
        mailer.close()


def send_threaded(host: str, port: int, n: int) -> int:
    """proper_mail: THREADS threads share one mailer with THREADS connections."""
    mailer = SMTPMailer(host=host, port=port, timeout=TIMEOUT, max_connections=THREADS)
    shares = [n // THREADS + (i < n % THREADS) for i in range(THREADS)]
    sent = [0] * THREADS
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            sent[i] = mailer.send_now(*[compose(**FIELDS) for _ in range(shares[i])])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,), name=f"sender-{i}") for i in range(THREADS)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 4 * TIMEOUT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise TimeoutError(f"{thread.name} did not finish within {4 * TIMEOUT:g} s")
    finally:
        mailer.close()
    if errors:
        raise errors[0]
    return sum(sent)


def _django_sender() -> Sender:
    """Django's SMTP backend; configures Django the way compose_bench does."""
    _django_maker()  # settings.configure() + django.setup(), once
    from django.core.mail import EmailMultiAlternatives
    from django.core.mail.backends.smtp import EmailBackend

    def send(host: str, port: int, n: int) -> int:
        with EmailBackend(host=host, port=port, timeout=TIMEOUT) as backend:
            messages = []
            for _ in range(n):
                messages.append(django_email(EmailMultiAlternatives))
            sent: int = backend.send_messages(messages)
        return sent

    return send


# -- measuring ----------------------------------------------------------------------------


class Run(NamedTuple):
    """One timed run: wall seconds, client CPU seconds, sink CPU seconds."""

    wall: float
    client_cpu: float
    sink_cpu: float


def _run(sink: Sink, name: str, send: Sender, n: int) -> Run:
    """Time one run of *send*; fail loudly unless the sink got exactly *n* messages."""
    sink.reset()
    gc.collect()
    cpu = time.process_time()
    start = time.perf_counter()
    sent = send(sink.host, sink.port, n)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    received, sink_cpu = sink.read()
    if sent != n or received != n:
        raise AssertionError(f"{name}: sent {n}, client reports {sent}, sink counted {received}")
    return Run(wall, cpu, sink_cpu)


def bench(sink: Sink, senders: Sequence[tuple[str, Sender]], n: int, rounds: int) -> dict[str, Run]:
    """Return each sender's best run over *rounds* interleaved rounds of *n* messages."""
    for name, send in senders:
        _run(sink, name, send, WARMUP)
    best: dict[str, Run] = {}
    for r in range(rounds):
        order = [*senders[r % len(senders) :], *senders[: r % len(senders)]]
        for name, send in order:
            run = _run(sink, name, send, n)
            if name not in best or run.wall < best[name].wall:
                best[name] = run
    return best


def _verdict(ok: bool) -> str:
    """Return "PASS" or "FAIL"."""
    return "PASS" if ok else "FAIL"


def report(sink: Sink, n: int, rounds: int) -> None:
    """Run the benchmark and print its table and targets."""
    import aiosmtpd
    import django

    django_name = f"Django {django.get_version()}"
    ceiling, ours, threaded = (
        "raw smtplib (ceiling)",
        "proper_mail",
        f"proper_mail {THREADS} threads",
    )
    senders: list[tuple[str, Sender]] = [
        (ceiling, _ceiling_sender()),
        (ours, send_proper_mail),
        (django_name, _django_sender()),
        (threaded, send_threaded),
    ]
    message = compose(**FIELDS)
    size = len(to_bytes(message))
    recipients = len(envelope_of(message).recipients)
    server = (
        f"an aiosmtpd {aiosmtpd.__version__}" if sink.kind == "aiosmtpd" else "a lean (PIPELINING)"
    )
    print(f"SMTP: compose + send over loopback to {server} sink in its own process")
    print(
        f"best of {rounds} interleaved rounds of {n} messages, each on a fresh connection "
        f"(warm-up {WARMUP} each; {size} B, {recipients} recipients)"
    )
    print()
    best = bench(sink, senders, n, rounds)
    rate = {name: n / run.wall for name, run in best.items()}
    header = f"{'msg/s':>9}{'client µs/msg':>15}{'sink µs/msg':>13}{'× ceiling':>11}"
    print(f"{'implementation':<24}{header}")
    for name, _ in senders:
        run = best[name]
        print(
            f"{name:<24}{rate[name]:>9,.0f}{1e6 * run.client_cpu / n:>15.0f}"
            f"{1e6 * run.sink_cpu / n:>13.0f}{rate[name] / rate[ceiling]:>10.2f}x"
        )
    print()
    checks = [
        (f"{ours} >= {TARGET_CEILING:g}x {ceiling}", rate[ours] / rate[ceiling], TARGET_CEILING),
        (
            f"{ours} >= {TARGET_DJANGO:g}x {django_name}",
            rate[ours] / rate[django_name],
            TARGET_DJANGO,
        ),
        (
            f"{threaded} >= {TARGET_THREADS:g}x ceiling",
            rate[threaded] / rate[ceiling],
            TARGET_THREADS,
        ),
    ]
    width = max(len(label) for label, _, _ in checks)
    for label, ratio, target in checks:
        print(f"target {label:<{width}} {ratio:6.2f}x  {_verdict(ratio >= target)}")


def profile(sink: Sink, n: int) -> None:
    """cProfile one proper_mail single-connection run; print the top proper_mail/smtplib
    entries by cumulative and by own time, on the wall clock and on the CPU clock."""
    for clock, timer in (("wall clock", time.perf_counter), ("client CPU", time.process_time)):
        profiler = cProfile.Profile(timer)
        sink.reset()
        profiler.enable()
        sent = send_proper_mail(sink.host, sink.port, n)
        profiler.disable()
        received, _ = sink.read()
        if sent != n or received != n:
            raise AssertionError(f"profile: sent {n}, client {sent}, sink {received}")
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(key).print_stats(r"proper_mail|smtplib", 15)
            print()
            print(f"Profile ({clock}) of proper_mail, {n} messages, sorted by {key}:")
            lines = out.getvalue().splitlines()
            start = next(i for i, line in enumerate(lines) if "function calls" in line)
            print("\n".join(line for line in lines[start:] if line.strip()))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, start the sink, run the benchmark; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.smtp_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=3000, help="messages per round (3000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--profile", action="store_true", help="also cProfile proper_mail")
    parser.add_argument(
        "--sink",
        choices=["aiosmtpd", "lean"],
        default="aiosmtpd",
        help="aiosmtpd (no PIPELINING, ~1.5 ms CPU/msg) or the lean sink (PIPELINING)",
    )
    args = parser.parse_args(argv)
    if args.n < THREADS:
        parser.error(f"--n must be at least {THREADS}")
    print(f"Python {sys.version.split()[0]}")
    with Sink(args.sink) as sink:
        report(sink, args.n, args.rounds)
        if args.profile:
            profile(sink, args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
