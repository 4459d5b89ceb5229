"""Queue benchmark: ``send_later`` through the local Redis, against plain Dramatiq.

Every part uses the message of ``bench.compose_bench`` (html ~3 KB + text, non-ASCII
subject, To/Cc/Bcc/Reply-To, a custom header), the Redis at 127.0.0.1:6379 and a key
namespace of its own (``pmbench-<hex>``), deleted at the end, also on error. Workers are
real processes (1 process x 8 threads by default, the same for both; each in its own
session, killed at the end):

1. send_later, end to end: ``mail.send_later(mail.compose(**FIELDS))`` from this process,
   run by ``proper-mail worker --module bench.queue_worker_app``, whose SMTPMailer
   (``max_connections`` = threads) sends to a counting SMTP sink in its own spawned
   process (``bench.smtp_bench.Sink``); a message is done when the sink has counted it.
   The sink is the lean one (``_LeanSMTP``: the SMTP states, PIPELINING, ~0.1 ms of CPU
   per message, as a remote server costs this machine nothing). Once more, for
   information, against aiosmtpd, which burns ~1-1.5 ms of CPU per message on the same
   two cores the worker needs.
2. the baseline: a no-op actor (``bench.queue_noop_app``, run by ``python -m dramatiq``)
   on a RedisBroker with the same settings, taking the same keyword arguments with a
   payload of the same JSON length; its only work is one Redis INCR, the counter.
   For information, once: the issue's other reference, a stdlib-compose SMTP actor
   (``bench.queue_stdlib_app``: ``EmailMessage`` + ``smtplib.send_message`` on a
   connection per thread, no ledger, no log line) to the same lean sink.

   Method, the same for both: WARMUP + N messages are enqueued *before* the worker
   starts (this enqueue is timed too, for information). Then the worker starts; the clock
   starts when the WARMUP-th message is done (the worker is up, its threads and SMTP
   connections are open, the queue still holds ~N) and stops when the last one is done.
   Rate = messages done in that window / its length: the worker's throughput from a full
   queue, without its start-up and without an enqueue competing for the CPUs. The
   counters are polled every 5 ms. 1 and 2 run in --rounds interleaved rounds (the
   order alternates); the best round of each counts, and every round's own ratio is
   printed too (this machine's speed drifts by up to 1.5x between runs).
3. enqueue: ``mail.queue.send_later(record)`` of N records composed beforehand, against
   Dramatiq's ``actor.send(message=payload, via=None)`` of the same payload dicts
   (``dump_message`` done beforehand) on the same broker; no worker runs, the queue is
   emptied before every round; best of --rounds interleaved rounds.
4. payload size: the message Dramatiq stores in Redis for one ``send_later`` (read back
   with HGET) and the send task's keyword-argument JSON, against the MIME bytes
   (``to_bytes``) of the same record.

``--profile`` adds where a worker's time goes: ``mail.queue.deliver(payload)`` (the send
task's body) in this process, one thread, against the same sink and Redis: its rate and
CPU per message, each step alone in a loop, and a cProfile on the CPU clock.

Run it with ``./scripts/bench queue`` or ``.venv/bin/python -m bench.queue_bench [--n N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib.metadata
import io
import json
import os
import pstats
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final, NamedTuple

import redis

from bench import queue_noop_app, queue_stdlib_app, queue_worker_app
from bench.compose_bench import FIELDS
from bench.smtp_bench import Sink
from proper_mail import Mail, Message, envelope_of, to_bytes
from proper_mail.tasks.serialization import dump_message, load_message

__all__ = ["main"]

ROOT: Final = Path(__file__).resolve().parent.parent
REDIS_URL: Final = "redis://127.0.0.1:6379/0"
LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
PROCESSES: Final = 1
THREADS: Final = 8
"""The issue's reference shape: 1 worker process x 8 threads (--processes, --threads)."""
HEARTBEAT_TIMEOUT: Final = 60_000
"""ms; Dramatiq's default, for both workers."""
MAINTENANCE_CHANCE: Final = 1_000
"""per million commands; Dramatiq's default, for both workers."""
QUEUE_NAME: Final = "emails"
TIMEOUT: Final = 30.0
"""Seconds for every Redis socket operation."""
STARTUP_TIMEOUT: Final = 60.0
"""Seconds for a worker to start and finish the warm-up messages."""
STOP_TIMEOUT: Final = 15.0
"""Seconds a worker gets to exit after SIGTERM before SIGKILL."""
POLL: Final = 0.005
ENQUEUE_WARMUP: Final = 100
TARGET_THROUGHPUT: Final = 0.5
TARGET_ENQUEUE: Final = 0.5
TARGET_PAYLOAD: Final = 1.4
SEPARATORS: Final = (",", ":")
"""What Dramatiq's JSONEncoder and proper_mail's Queue.encode use."""


# -- processes and Redis ------------------------------------------------------------------


class Worker:
    """A worker command in its own session (process group), its output in a log file."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log: Path):
        self.name = name
        self._log_path = log
        self._log: IO[bytes] = log.open("wb")
        try:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except BaseException:
            self._log.close()
            raise

    def check_alive(self) -> None:
        """RuntimeError, with the end of the worker's log, when it has exited."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the {self.name} worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 20) -> str:
        """The last *lines* lines of the worker's output."""
        self._log.flush()
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the worker's group (Linux /proc)."""
        return group_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        """SIGTERM to the whole group; SIGKILL if it has not exited in STOP_TIMEOUT.

        Idempotent: the second call does nothing.
        """
        if self._log.closed:
            return
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_TIMEOUT)
            # Children can outlive the leader: kill whatever is left of the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        finally:
            self._log.close()


_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU seconds of the live processes of group *pgid*; nan without /proc."""
    if not os.path.isdir("/proc"):
        return float("nan")
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(b")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _TICKS


def redis_cpu_seconds(client: redis.Redis) -> float:
    """The Redis server's user + system CPU seconds so far."""
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def delete_namespace(client: redis.Redis, namespace: str) -> int:
    """Delete every key of *namespace*; return how many there were."""
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])
    return len(keys)


def new_namespace(stack: contextlib.ExitStack, client: redis.Redis) -> str:
    """A fresh ``pmbench-<hex>`` namespace, deleted when *stack* closes."""
    namespace = f"pmbench-{uuid.uuid4().hex[:12]}"
    stack.callback(delete_namespace, client, namespace)
    return namespace


class Shape(NamedTuple):
    """Worker processes and threads per process, the same for every worker."""

    processes: int = PROCESSES
    threads: int = THREADS

    def options(self) -> list[str]:
        """The command-line options of both worker commands."""
        return ["--processes", str(self.processes), "--threads", str(self.threads)]


DEFAULT_SHAPE: Final = Shape()


def worker_env(
    redis_url: str, namespace: str, smtp_port: int | None, shape: Shape = DEFAULT_SHAPE
) -> dict[str, str]:
    """The PMBENCH_* variables the worker apps read."""
    env = {
        "PMBENCH_REDIS_URL": redis_url,
        "PMBENCH_NAMESPACE": namespace,
        "PMBENCH_THREADS": str(shape.threads),
        "PMBENCH_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "PMBENCH_MAINTENANCE_CHANCE": str(MAINTENANCE_CHANCE),
    }
    if smtp_port is not None:
        env["PMBENCH_SMTP_PORT"] = str(smtp_port)
    return env


# -- 1 and 2: worker throughput from a pre-filled queue -----------------------------------


class Drain(NamedTuple):
    """One measured window of a worker draining a pre-filled queue."""

    name: str
    round: int
    enqueue_rate: float
    """msg/s of the enqueue before the worker started (information only)."""
    done: int
    seconds: float
    backlog: int
    """Messages still waiting in the Redis list when the window opened."""
    worker_cpu: float
    sink_cpu: float
    redis_cpu: float
    total: int
    """Messages done in all, counted once more after the run (duplicates would show)."""

    @property
    def rate(self) -> float:
        """Messages per second inside the window."""
        return self.done / self.seconds


def _wait_count(
    count: Callable[[], int], target: int, worker: Worker, timeout: float, what: str
) -> tuple[int, float]:
    """Poll *count* until it reaches *target*; return (count, perf_counter of that read)."""
    deadline = time.monotonic() + timeout
    while True:
        value = count()
        now = time.perf_counter()
        if value >= target:
            return value, now
        worker.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what}: {value} of {target} done after {timeout:g} s; the worker's log:\n"
                f"{worker.log_tail()}"
            )
        time.sleep(POLL)


def drain(
    name: str,
    *,
    round_: int,
    worker: Callable[[], Worker],
    count: Callable[[], int],
    sink_cpu: Callable[[], float],
    client: redis.Redis,
    namespace: str,
    warmup: int,
    total: int,
    enqueue_rate: float,
) -> Drain:
    """Start the worker on a queue holding *total* messages and time the window from the
    *warmup*-th message done to the last."""
    running = worker()
    try:
        c0, t0 = _wait_count(count, warmup, running, STARTUP_TIMEOUT, f"{name} warm-up")
        cpu0, sink0, redis0 = running.cpu_seconds(), sink_cpu(), redis_cpu_seconds(client)
        backlog = int(client.llen(f"{namespace}:{QUEUE_NAME}"))
        timeout = max(TIMEOUT, total / 50)
        c1, t1 = _wait_count(count, total, running, timeout, name)
        cpu1, sink1, redis1 = running.cpu_seconds(), sink_cpu(), redis_cpu_seconds(client)
        time.sleep(0.3)  # anything still running would show as more than total
        final = count()
        dead = int(client.zcard(f"{namespace}:{QUEUE_NAME}.XQ"))
        if dead:
            raise AssertionError(f"{name}: {dead} message(s) dead-lettered:\n{running.log_tail()}")
    finally:
        running.stop()
    return Drain(
        name=name,
        round=round_,
        enqueue_rate=enqueue_rate,
        done=c1 - c0,
        seconds=t1 - t0,
        backlog=backlog,
        worker_cpu=cpu1 - cpu0,
        sink_cpu=sink1 - sink0,
        redis_cpu=redis1 - redis0,
        total=final,
    )


def _timed(fn: Callable[[], object], n: int) -> float:
    """msg/s of one call of *fn* that handles *n* messages."""
    gc.collect()
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def _prefilled_drain(
    name: str,
    *,
    stack: contextlib.ExitStack,
    client: redis.Redis,
    namespace: str,
    env: Mapping[str, str],
    command: Sequence[str],
    log: Path,
    send_one: Callable[[], object],
    count: Callable[[], int],
    sink_cpu: Callable[[], float],
    warmup: int,
    n: int,
    round_: int,
) -> Drain:
    """The method of parts 1 and 2: enqueue warmup + n messages with *send_one* (timed,
    for information), then start *command* as a worker and ``drain`` the queue."""
    total = warmup + n

    def enqueue() -> None:
        for _ in range(total):
            send_one()

    rate = _timed(enqueue, total)

    def start() -> Worker:
        worker = Worker(name, command, env, log)
        stack.callback(worker.stop)
        return worker

    return drain(
        name,
        round_=round_,
        worker=start,
        count=count,
        sink_cpu=sink_cpu,
        client=client,
        namespace=namespace,
        warmup=warmup,
        total=total,
        enqueue_rate=rate,
    )


def _dramatiq_command(shape: Shape, broker: str) -> list[str]:
    """``python -m dramatiq`` for the broker object *broker* (``module:attribute``)."""
    return [sys.executable, "-m", "dramatiq", "--path", str(ROOT), *shape.options(), broker]


def run_send_later(
    stack: contextlib.ExitStack,
    client: redis.Redis,
    redis_url: str,
    sink: Sink,
    logs: Path,
    *,
    shape: Shape,
    warmup: int,
    n: int,
    round_: int,
    floor: str | None = None,
) -> Drain:
    """Part 1: proper-mail worker -> SMTPMailer -> the sink (with *floor*: a cut-down
    send step of ``queue_worker_app.FLOORS``, for --floors)."""
    namespace = new_namespace(stack, client)
    env = worker_env(redis_url, namespace, sink.port, shape)
    if floor is not None:
        env["PMBENCH_FLOOR"] = floor
    mail = Mail.from_settings(queue_worker_app.settings(env))
    stack.callback(mail.close)
    command = [
        str(Path(sys.executable).parent / "proper-mail"), "worker",
        "--module", "bench.queue_worker_app", "--path", str(ROOT), *shape.options(),
    ]  # fmt: skip
    sink.reset()  # no worker runs during the enqueue: nothing reaches the sink before
    return _prefilled_drain(
        f"floor: {floor} -> {sink.kind} sink" if floor else f"send_later -> {sink.kind} sink",
        stack=stack,
        client=client,
        namespace=namespace,
        env=env,
        command=command,
        log=logs / f"proper-mail-{namespace}.log",
        send_one=lambda: mail.send_later(mail.compose(**FIELDS)),
        count=lambda: sink.read()[0],
        sink_cpu=lambda: sink.read()[1],
        warmup=warmup,
        n=n,
        round_=round_,
    )


def run_stdlib(
    stack: contextlib.ExitStack,
    client: redis.Redis,
    redis_url: str,
    sink: Sink,
    logs: Path,
    *,
    shape: Shape,
    warmup: int,
    n: int,
) -> Drain:
    """The issue's second reference: python -m dramatiq -> a stdlib-compose SMTP actor."""
    namespace = new_namespace(stack, client)
    env = {**worker_env(redis_url, namespace, sink.port, shape), "PMBENCH_STDLIB": "1"}
    broker, actor = queue_stdlib_app.from_env(env)
    stack.callback(broker.close)
    payload = queue_stdlib_app.fields_payload(FIELDS)
    sink.reset()
    return _prefilled_drain(
        f"stdlib actor -> {sink.kind} sink",
        stack=stack,
        client=client,
        namespace=namespace,
        env=env,
        command=_dramatiq_command(shape, "bench.queue_stdlib_app:broker"),
        log=logs / f"stdlib-{namespace}.log",
        send_one=lambda: actor.send(message=payload, via=None),
        count=lambda: sink.read()[0],
        sink_cpu=lambda: sink.read()[1],
        warmup=warmup,
        n=n,
        round_=1,
    )


def noop_payload(length: int) -> dict[str, str]:
    """A ``message`` dict whose kwargs JSON ``{"message":...,"via":null}`` is *length* long."""
    empty = len(json.dumps({"message": {"body": ""}, "via": None}, separators=SEPARATORS))
    return {"body": "x" * (length - empty)}


def run_noop(
    stack: contextlib.ExitStack,
    client: redis.Redis,
    redis_url: str,
    logs: Path,
    *,
    shape: Shape,
    payload_length: int,
    warmup: int,
    n: int,
    round_: int,
) -> Drain:
    """Part 2: python -m dramatiq -> the no-op actor (one INCR)."""
    namespace = new_namespace(stack, client)
    env = worker_env(redis_url, namespace, None, shape)
    broker, actor = queue_noop_app.from_env(env)
    stack.callback(broker.close)
    payload = noop_payload(payload_length)
    assert len(json.dumps({"message": payload, "via": None}, separators=SEPARATORS)) == (
        payload_length
    )
    key = queue_noop_app.counter_key(namespace)
    return _prefilled_drain(
        "no-op actor (one INCR)",
        stack=stack,
        client=client,
        namespace=namespace,
        env=env,
        command=_dramatiq_command(shape, "bench.queue_noop_app:broker"),
        log=logs / f"noop-{namespace}.log",
        send_one=lambda: actor.send(message=payload, via=None),
        count=lambda: int(client.get(key) or 0),
        sink_cpu=lambda: 0.0,
        warmup=warmup,
        n=n,
        round_=round_,
    )


def report_drains(drains: Sequence[Drain], warmup: int, n: int) -> None:
    """Print the table of parts 1 and 2."""
    print(
        f"1-2. Worker throughput from a pre-filled queue: {warmup} + {n} messages enqueued "
        "before the worker starts;"
    )
    print(
        f"     the clock runs from the {warmup}th message done (worker up, threads and "
        "connections open)"
    )
    print("     to the last one done; msg/s = messages done in that window / its length.")
    print()
    print(
        f"{'round':<6}{'variant':<28}{'msg/s':>8}{'window s':>10}{'backlog':>9}{'worker µs':>11}"
        f"{'sink µs':>9}{'redis µs':>10}{'enqueue msg/s':>15}"
    )
    for d in drains:
        sink = f"{1e6 * d.sink_cpu / d.done:>9.0f}" if d.sink_cpu else f"{'-':>9}"
        print(
            f"{d.round:<6}{d.name:<28}{d.rate:>8,.0f}{d.seconds:>10.2f}{d.backlog:>9}"
            f"{1e6 * d.worker_cpu / d.done:>11.0f}{sink}{1e6 * d.redis_cpu / d.done:>10.0f}"
            f"{d.enqueue_rate:>15,.0f}"
        )
    print()
    print(
        "(backlog: messages still in the Redis list when the window opened; worker/sink/redis"
        " µs: CPU per message"
    )
    print(
        " inside the window of the worker's process group, the sink process, redis-server; "
        "enqueue msg/s: the"
    )
    print(
        " pre-fill, compose + send_later resp. actor.send, before the worker started, for "
        "information)"
    )
    for d in drains:
        if d.total != warmup + n:
            print(f"WARNING {d.name}: {d.total} done in all, {warmup + n} enqueued")


# -- 3 and 4: enqueue rate and payload size -------------------------------------------------


class Enqueue(NamedTuple):
    """Part 3 and 4 results."""

    ours: float
    raw: float
    mime: int
    kwargs_json: int
    stored: int


def run_enqueue(
    stack: contextlib.ExitStack,
    client: redis.Redis,
    redis_url: str,
    sink_port: int,
    *,
    n: int,
    rounds: int,
) -> Enqueue:
    """Parts 3 and 4, on one broker with no worker."""
    namespace = new_namespace(stack, client)
    mail = Mail.from_settings(
        queue_worker_app.settings(worker_env(redis_url, namespace, sink_port))
    )
    stack.callback(mail.close)
    queue = mail.queue
    actor = queue.send_task.actor
    assert actor is not None
    records = [mail.compose(**FIELDS) for _ in range(n)]
    payloads = [dump_message(r) for r in records]

    # 4. One send_later, read back from Redis.
    first: Message = records[0]
    queue.send_later(first)
    stored = client.hvals(f"{namespace}:{QUEUE_NAME}.msgs")
    assert len(stored) == 1, f"expected one stored message, found {len(stored)}"
    kwargs_json = json.dumps({"message": payloads[0], "via": None}, separators=SEPARATORS)
    sizes = (len(to_bytes(first)), len(kwargs_json), len(stored[0]))

    def ours(batch: Sequence[Message]) -> None:
        for record in batch:
            queue.send_later(record)

    def raw(batch: Sequence[Mapping[str, Any]]) -> None:
        for payload in batch:
            actor.send(message=payload, via=None)

    ours(records[:ENQUEUE_WARMUP])
    raw(payloads[:ENQUEUE_WARMUP])
    runs: list[tuple[str, Callable[[], None]]] = [
        ("ours", lambda: ours(records)),
        ("raw", lambda: raw(payloads)),
    ]
    best = {"ours": 0.0, "raw": 0.0}
    for r in range(rounds):
        for name, run in [*runs[r % 2 :], *runs[: r % 2]]:
            delete_namespace(client, namespace)
            best[name] = max(best[name], _timed(run, n))
    delete_namespace(client, namespace)
    return Enqueue(best["ours"], best["raw"], *sizes)


def report_enqueue(result: Enqueue, n: int, rounds: int) -> None:
    """Print the tables of parts 3 and 4."""
    print(
        f"3. Enqueue of records composed beforehand, no worker: best of {rounds} interleaved "
        f"rounds of {n}"
    )
    print()
    print(f"{'call':<44}{'msg/s':>8}{'µs/msg':>9}")
    for label, rate in (
        ("mail.queue.send_later(record)", result.ours),
        ("actor.send(message=payload, via=None) (raw)", result.raw),
    ):
        print(f"{label:<44}{rate:>8,.0f}{1e6 / rate:>9.1f}")
    print()
    print("4. Payload size of one message")
    print()
    print(f"{'what':<44}{'bytes':>8}{'× MIME':>9}")
    for label, size in (
        ("MIME bytes, to_bytes(record)", result.mime),
        ('send task kwargs JSON {"message":..,"via":..}', result.kwargs_json),
        ("Dramatiq message stored in Redis (HGET)", result.stored),
    ):
        print(f"{label:<44}{size:>8,}{size / result.mime:>8.2f}x")


# -- --profile: the send task's body, in this process ---------------------------------------


def _cpu_per_call(fn: Callable[[int], object], n: int) -> float:
    """CPU µs per call of ``fn(i)`` for i in range(n)."""
    gc.collect()
    cpu = time.process_time()
    for i in range(n):
        fn(i)
    return 1e6 * (time.process_time() - cpu) / n


def profile(
    stack: contextlib.ExitStack, client: redis.Redis, redis_url: str, sink: Sink, n: int
) -> None:
    """Print the rate, steps and cProfile of ``queue.deliver`` in this process, one thread."""
    namespace = new_namespace(stack, client)
    mail = Mail.from_settings(
        queue_worker_app.settings(worker_env(redis_url, namespace, sink.port))
    )
    stack.callback(mail.close)
    queue, mailer = mail.queue, mail.mailer
    for _ in range(ENQUEUE_WARMUP):
        queue.deliver(dump_message(mail.compose(**FIELDS)))
    payloads = [dump_message(mail.compose(**FIELDS)) for _ in range(n)]
    records = [load_message(p) for p in payloads]
    sink.reset()
    gc.collect()
    cpu, start = time.process_time(), time.perf_counter()
    for payload in payloads:
        queue.deliver(payload)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, sink_cpu = sink.read()
    print(f"Profile: mail.queue.deliver(payload), the send task's body, {n} times in this process")
    print(
        f"(one thread, same sink and Redis, no Dramatiq): {n / wall:,.0f} msg/s, "
        f"CPU {1e6 * cpu / n:.0f} µs/msg here, {1e6 * sink_cpu / n:.0f} µs/msg in the sink"
    )
    print()
    envelope = envelope_of(records[0])
    data = to_bytes(records[0])
    recipients = list(envelope.recipients)
    smtp = smtplib.SMTP(sink.host, sink.port, timeout=TIMEOUT)
    try:
        steps: list[tuple[str, Callable[[int], object]]] = [
            ("load_message(payload)", lambda i: load_message(payloads[i])),
            (
                "ledger.claim(id, 3 rcpts): one script",
                lambda i: queue.ledger.claim(f"p{i}", recipients, "t", 600),
            ),
            (
                "ledger.settle(id, 3 rcpts): one script",
                lambda i: queue.ledger.settle(f"p{i}", recipients, recipients, "t"),
            ),
            ("to_bytes(record)", lambda i: to_bytes(records[i])),
            ("mailer.deliver(record): to_bytes + SMTP", lambda i: mailer.deliver(records[i])),
            (
                "smtplib sendmail of prebuilt bytes",
                lambda i: smtp.sendmail(envelope.sender, recipients, data),
            ),
            ("smtplib.quoteaddr(address) x4", lambda i: [smtplib.quoteaddr(a) for a in recipients]),
        ]
        print(f"{'step, alone in a loop':<48}{'CPU µs/msg':>11}")
        for label, step in steps:
            print(f"{label:<48}{_cpu_per_call(step, n):>11.0f}")
    finally:
        smtp.quit()
    fresh = [dump_message(mail.compose(**FIELDS)) for _ in range(n)]  # not in the ledger yet
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for payload in fresh:
        queue.deliver(payload)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(key).print_stats(r"proper_mail|smtplib|redis|cattrs|email", 15)
        lines = out.getvalue().splitlines()
        first = next(i for i, line in enumerate(lines) if "function calls" in line)
        print()
        print(f"cProfile (CPU clock) of queue.deliver, {n} messages, sorted by {key}:")
        print("\n".join(line for line in lines[first:] if line.strip()))


# -- main -----------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    """Return "PASS" or "FAIL"."""
    return "PASS" if ok else "FAIL"


def report_targets(send: Drain, noop: Drain, enqueue: Enqueue) -> None:
    """Print the PASS/FAIL lines."""
    checks = [
        (
            f"send_later end to end >= {TARGET_THROUGHPUT:g}x no-op actor",
            send.rate / noop.rate,
            send.rate / noop.rate >= TARGET_THROUGHPUT,
        ),
        (
            f"queue.send_later enqueue >= {TARGET_ENQUEUE:g}x raw actor.send",
            enqueue.ours / enqueue.raw,
            enqueue.ours / enqueue.raw >= TARGET_ENQUEUE,
        ),
        (
            f"stored payload <= {TARGET_PAYLOAD:g}x MIME bytes",
            enqueue.stored / enqueue.mime,
            enqueue.stored / enqueue.mime <= TARGET_PAYLOAD,
        ),
    ]
    width = max(len(label) for label, _, _ in checks)
    for label, ratio, ok in checks:
        print(f"target {label:<{width}} {ratio:6.2f}x  {_verdict(ok)}")


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into SystemExit, so the clean-up runs."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments, run the four parts, print the tables; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.queue_bench", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="messages measured (2000)")
    parser.add_argument("--warmup", type=int, default=200, help="worker warm-up messages (200)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds of drains and of enqueues (3)",
    )
    parser.add_argument("--processes", type=int, default=PROCESSES, help="worker processes (1)")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per worker (8)")
    parser.add_argument(
        "--floors",
        action="store_true",
        help="also run cut-down send steps (SMTP only; + load and render; + ledger), one round",
    )
    parser.add_argument("--redis-url", default=REDIS_URL, help=f"a loopback Redis ({REDIS_URL})")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the send task's body in-process"
    )
    args = parser.parse_args(argv)
    if min(args.n, args.warmup, args.rounds, args.processes, args.threads) < 1:
        parser.error("--n, --warmup, --rounds, --processes and --threads must be at least 1")
    shape = Shape(args.processes, args.threads)
    if urllib.parse.urlsplit(args.redis_url).hostname not in LOOPBACK:
        parser.error("--redis-url must point at a loopback address")
    command = (
        f".venv/bin/python -m bench.queue_bench --n {args.n} --warmup {args.warmup} "
        f"--rounds {args.rounds}"
        + (f" --processes {shape.processes}" if shape.processes != PROCESSES else "")
        + (f" --threads {shape.threads}" if shape.threads != THREADS else "")
        + (f" --redis-url {args.redis_url}" if args.redis_url != REDIS_URL else "")
        + (" --floors" if args.floors else "")
        + (" --profile" if args.profile else "")
    )
    started = time.perf_counter()
    client = redis.Redis.from_url(args.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=5)
    server: dict[str, Any] = client.info("server")
    print(
        f"Python {sys.version.split()[0]}, dramatiq {importlib.metadata.version('dramatiq')}, "
        f"redis-py {importlib.metadata.version('redis')}, redis-server "
        f"{server['redis_version']} at {args.redis_url}, {os.cpu_count()} CPUs"
    )
    print(
        f"workers: {shape.processes} process(es) x {shape.threads} threads, heartbeat_timeout "
        f"{HEARTBEAT_TIMEOUT} ms, maintenance_chance {MAINTENANCE_CHANCE} (Dramatiq's defaults)"
    )
    with (
        _sigterm_exits(),
        tempfile.TemporaryDirectory(prefix="pmbench-") as logs,
        contextlib.ExitStack() as stack,  # closed first: workers stop before their logs go
    ):
        stack.callback(client.close)
        sink = stack.enter_context(Sink("lean"))
        aiosmtpd_sink = stack.enter_context(Sink("aiosmtpd"))
        probe = Mail.from_settings(
            queue_worker_app.settings(worker_env(args.redis_url, "pmbench-probe", sink.port))
        )
        stack.callback(probe.close)
        record = probe.compose(**FIELDS)
        payload_length = len(
            json.dumps({"message": dump_message(record), "via": None}, separators=SEPARATORS)
        )
        print(
            f"message: bench.compose_bench FIELDS, {len(to_bytes(record)):,} MIME bytes, "
            f"{payload_length:,} bytes of send-task kwargs JSON"
        )
        print()
        drains: list[Drain] = []
        runs: list[Callable[[int], Drain]] = [
            lambda r: run_send_later(
                stack, client, args.redis_url, sink, Path(logs),
                shape=shape, warmup=args.warmup, n=args.n, round_=r,
            ),
            lambda r: run_noop(
                stack, client, args.redis_url, Path(logs),
                shape=shape, payload_length=payload_length, warmup=args.warmup, n=args.n,
                round_=r,
            ),
        ]  # fmt: skip
        for r in range(1, args.rounds + 1):
            for run in runs if r % 2 else runs[::-1]:
                drains.append(run(r))
        drains.append(  # for information: the naive reference actor
            run_stdlib(
                stack, client, args.redis_url, sink, Path(logs),
                shape=shape, warmup=args.warmup, n=args.n,
            )
        )  # fmt: skip
        drains.append(  # for information: the same worker against aiosmtpd's CPU
            run_send_later(
                stack, client, args.redis_url, aiosmtpd_sink, Path(logs),
                shape=shape, warmup=args.warmup, n=args.n, round_=1,
            )
        )  # fmt: skip
        if args.floors:
            for floor in queue_worker_app.FLOORS:
                drains.append(
                    run_send_later(
                        stack, client, args.redis_url, sink, Path(logs),
                        shape=shape, warmup=args.warmup, n=args.n, round_=1, floor=floor,
                    )
                )  # fmt: skip
        report_drains(drains, args.warmup, args.n)
        send = max((d for d in drains if d.name == "send_later -> lean sink"), key=lambda d: d.rate)
        noop = max((d for d in drains if d.name.startswith("no-op")), key=lambda d: d.rate)
        aiosmtpd = next(d for d in drains if d.name.endswith("aiosmtpd sink"))
        per_round = [
            next(d for d in drains if d.round == r and d.name == send.name).rate
            / next(d for d in drains if d.round == r and d.name == noop.name).rate
            for r in range(1, args.rounds + 1)
        ]
        print()
        print(
            f"best of {args.rounds} rounds: send_later -> lean sink {send.rate:,.0f} msg/s, no-op "
            f"{noop.rate:,.0f} msg/s; the same round's ratio: "
            + ", ".join(f"{x:.2f}x" for x in per_round)
            + f" (median {statistics.median(per_round):.2f}x)"
        )
        print(
            f"send_later -> aiosmtpd sink (one round, for information): {aiosmtpd.rate:,.0f} "
            f"msg/s = {aiosmtpd.rate / noop.rate:.2f}x the best no-op"
        )
        stdlib = next(d for d in drains if d.name.startswith("stdlib actor"))
        print(
            f"stdlib-compose SMTP actor (one round, for information): {stdlib.rate:,.0f} msg/s "
            f"= {stdlib.rate / noop.rate:.2f}x the best no-op; send_later is "
            f"{send.rate / stdlib.rate:.2f}x it"
        )
        for d in drains:
            if d.name.startswith("floor:"):
                print(f"{d.name} (one round): {d.rate / noop.rate:.2f}x the best no-op")
        print()
        enqueue = run_enqueue(
            stack, client, args.redis_url, sink.port, n=args.n, rounds=args.rounds
        )
        report_enqueue(enqueue, args.n, args.rounds)
        print()
        print(f"{'send_later / no-op throughput':<44}{send.rate / noop.rate:>16.2f}x")
        print(f"{'queue.send_later / actor.send enqueue':<44}{enqueue.ours / enqueue.raw:>16.2f}x")
        print()
        report_targets(send, noop, enqueue)
        if args.profile:
            print()
            profile(stack, client, args.redis_url, sink, min(args.n, 1000))
    print()
    print(f"took {time.perf_counter() - started:.0f} s; reproduce with: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
