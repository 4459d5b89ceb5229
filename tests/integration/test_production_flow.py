"""The README's production flow, end to end, exactly as the README shows it.

The app's files are the README's own code blocks (``# myapp/mail.py``, ``# myapp/tasks.py``,
``# send.py``), written to a fresh folder. A real ``proper-mail worker --app myapp`` runs
against Redis (and RabbitMQ), ``python send.py`` queues three messages the three ways
(``EmailMessage.send_later()``, ``proper_mail.send_later()``, the guide's
``send_email_task``), and a real SMTP server (STARTTLS, AUTH) must receive each once.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.test_queue_redis import redis_or_skip
from tests.smtp_server import AUTH_CREDENTIALS, SMTPTestServer

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
REDIS_DB = "redis://127.0.0.1:6379/13"  # a database of the tests' own
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
SUBJECTS = {"Welcome", "Receipt", "Reset"}


def readme_files() -> dict[str, str]:
    """The README's Python code blocks that start with a ``# path.py`` line, by path."""
    text = (ROOT / "README.md").read_text()
    files = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
        first = block.split("\n", 1)[0]
        match = re.fullmatch(r"# ([\w/]+\.py)(?::.*)?", first)
        if match:
            files[match.group(1)] = block
    return files


def write_app(folder: Path) -> None:
    """The README's app in *folder*: ``mkdir myapp && touch myapp/__init__.py``, then its files."""
    (folder / "myapp").mkdir()
    (folder / "myapp" / "__init__.py").touch()
    files = readme_files()
    assert set(files) >= {"myapp/mail.py", "myapp/tasks.py", "send.py"}
    for path in ("myapp/mail.py", "myapp/tasks.py", "send.py"):
        (folder / path).write_text(files[path])


def subjects(server: SMTPTestServer) -> collections.Counter[str]:
    """How many times each subject reached the server."""
    found: collections.Counter[str] = collections.Counter()
    for received in server.messages:
        match = re.search(rb"^Subject: (.*?)\r\n", received.data, flags=re.MULTILINE)
        found[match.group(1).decode() if match else "?"] += 1
    return found


def flush_redis_db(client: redis.Redis) -> None:
    """Remove the library's keys from the tests' Redis database."""
    keys = list(client.scan_iter(match="proper_mail*", count=1000))
    if keys:
        client.delete(*keys)


def purge_rabbitmq() -> None:
    """Empty the emails queues on the local RabbitMQ (left by an interrupted run)."""
    pika = pytest.importorskip("pika")
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        for name in ("emails", "emails.DQ", "emails.XQ"):
            with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):
                channel.queue_delete(name)
            if channel.is_closed:
                channel = connection.channel()
    finally:
        connection.close()


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    """The tests' Redis database, without the library's keys before and after."""
    redis_or_skip()
    client = redis.Redis.from_url(REDIS_DB, socket_timeout=5)
    flush_redis_db(client)
    yield client
    flush_redis_db(client)
    client.close()


def run_flow(
    folder: Path, server: SMTPTestServer, ca_file: Path, queue: dict[str, str]
) -> tuple[collections.Counter[str], str]:
    """Write the app, start the worker, run send.py; return what arrived, and the
    worker's output."""
    write_app(folder)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "SMTP_HOST": server.host,
        "SMTP_PORT": str(server.port),
        "SMTP_USERNAME": AUTH_CREDENTIALS[0],
        "SMTP_PASSWORD": AUTH_CREDENTIALS[1],
        "SMTP_CAFILE": str(ca_file),
        **queue,
    }
    log = folder / "worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            ["proper-mail", "worker", "--app", "myapp"],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            sent = subprocess.run(
                [sys.executable, "send.py"], cwd=folder, env=env, capture_output=True, timeout=60
            )
            assert sent.returncode == 0, sent.stderr.decode()
            deadline = time.monotonic() + 60
            while set(subjects(server)) < SUBJECTS and worker.poll() is None:
                assert time.monotonic() < deadline, f"not all arrived: {subjects(server)}"
                time.sleep(0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
    return subjects(server), log.read_text(errors="replace")


def test_the_readme_flow_with_redis(
    tmp_path: Path,
    starttls_auth_server: SMTPTestServer,
    ca_file: Path,
    redis_db: redis.Redis,
) -> None:
    """README app + Redis + `proper-mail worker` + STARTTLS/AUTH SMTP: each message once."""
    arrived, output = run_flow(tmp_path, starttls_auth_server, ca_file, {"QUEUE_URL": REDIS_DB})

    assert arrived == dict.fromkeys(SUBJECTS, 1), output
    assert all(m.tls and m.authenticated_as == "user" for m in starttls_auth_server.messages)
    assert "Traceback" not in output


def test_the_readme_flow_with_rabbitmq(
    tmp_path: Path,
    starttls_auth_server: SMTPTestServer,
    ca_file: Path,
    redis_db: redis.Redis,
) -> None:
    """The same app on RabbitMQ, the ledger in Redis (QUEUE_LEDGER): each message once."""
    purge_rabbitmq()
    try:
        arrived, output = run_flow(
            tmp_path,
            starttls_auth_server,
            ca_file,
            {"QUEUE_URL": AMQP_URL, "QUEUE_LEDGER": REDIS_DB},
        )
    finally:
        purge_rabbitmq()

    assert arrived == dict.fromkeys(SUBJECTS, 1), output
    assert "Traceback" not in output
