"""The README's provider, failover, send hook, MAILER_INTERCEPT_TO, delivery event and
suppression list blocks, run exactly as the README shows them.

What the README shows is what a user does. Settings blocks (``# in myapp/config/main.py``)
are added as they are to the README's ``myapp/config/main.py``; file blocks
(``# myapp/hooks.py``) are written as they are; shell blocks run line by line. The fresh
app, in a folder of its own, is run in subprocesses: ``proper-mail suppressions``, a
real ``proper-mail worker`` on Redis with a real SMTP server, and the webhook app served
by wsgiref receiving Postmark's bounce (Basic auth) posted with httpx. Test-owned are
only what stands for the user's own choices (which mail server, which Redis), the
worker's tasks.py and the driver scripts.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import redis

from proper_mail import (
    ConfigError,
    FailoverMailer,
    Mail,
    MailgunMailer,
    PostmarkMailer,
    ResendMailer,
    SendGridMailer,
    SESMailer,
    SMTPMailer,
)
from proper_mail.tasks.ratelimit import Rate
from proper_mail.testing import outbox
from tests.integration.test_queue_redis import REDIS_URL, redis_or_skip
from tests.smtp_server import SMTPTestServer
from tests.unit.webhooks.test_postmark import BOUNCE as POSTMARK_BOUNCE

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def blocks(language: str) -> list[str]:
    """Every fenced block of *language* in the README, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def block(language: str, first_line: str) -> str:
    """The one README block of *language* whose first line is *first_line*."""
    found = [b for b in blocks(language) if b.split("\n", 1)[0] == first_line]
    assert len(found) == 1, f"{len(found)} README {language} blocks start with {first_line!r}"
    return found[0]


def block_with(language: str, text: str) -> str:
    """The one README block of *language* that contains *text*."""
    found = [b for b in blocks(language) if text in b]
    assert len(found) == 1, f"{len(found)} README {language} blocks contain {text!r}"
    return found[0]


PROVIDERS = block_with("python", '"type": "proper_mail.SESMailer"')
FAILOVER = block_with("python", '"type": "proper_mail.FailoverMailer"')
CONFIG_MAIN = block("python", "# myapp/config/main.py")
MAIN = block("python", "# myapp/main.py")
HOOKS = block("python", "# myapp/hooks.py")
HOOK_SETTINGS = block_with("python", "MAILER_BEFORE_SEND =")
DECORATED_HOOK = block("python", "# at the end of myapp/main.py")
INTERCEPT = block_with("python", "MAILER_INTERCEPT_TO =")
WEBHOOKS = block("python", "# myapp/webhooks.py")
SUPPRESSIONS_SETTING = block_with("python", "MAILER_SUPPRESSIONS =")
SUPPRESSIONS_CLI = block_with("sh", "proper-mail suppressions add")
SUPPRESSIONS_API = block_with("python", "mail.suppressions.add(")

#: The blocks of the README parts this module covers, each run by a test below.
COVERED = {
    PROVIDERS, FAILOVER, HOOKS, HOOK_SETTINGS, DECORATED_HOOK, INTERCEPT, WEBHOOKS,
    SUPPRESSIONS_SETTING, SUPPRESSIONS_CLI, SUPPRESSIONS_API,
}  # fmt: skip


def section(start: str, end: str) -> str:
    """The README text from the line *start* up to the line *end*."""
    return README[README.index(f"\n{start}\n") : README.index(f"\n{end}")]


def test_every_block_of_these_parts_is_run_here() -> None:
    """HTTP providers, failover, send hooks, interception, webhooks and the suppression
    list: each of their code blocks is one this module runs."""
    parts = section("### HTTP providers", "**Your own mailer**") + section(
        "## Send hooks", "## Errors"
    )

    found = re.findall(r"```(?:python|sh)\n(.*?)```", parts, flags=re.DOTALL)

    assert set(found) == COVERED
    assert len(found) == len(COVERED)


def settings_of(code: str, **namespace: Any) -> dict[str, Any]:
    """The upper-case names *code* defines when run with *namespace* (a settings module)."""
    exec(compile(code, "README.md", "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


# -- providers and failover: settings blocks, built ------------------------------------------


def test_the_providers_block_builds_each_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTTP providers block, its environment variables set: the settings make a Mail
    (as configure() does), every mailer builds, of the type it names; MAILER is Postmark."""
    for name in ("POSTMARK_TOKEN", "RESEND_API_KEY", "SENDGRID_API_KEY", "MAILGUN_API_KEY"):
        monkeypatch.setenv(name, f"fake-{name.lower()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    mail = Mail.from_settings(settings_of(PROVIDERS))

    built = {mailer.alias: type(mailer) for mailer in mail.mailers.build_all()}

    assert built == {
        "postmark": PostmarkMailer,
        "resend": ResendMailer,
        "sendgrid": SendGridMailer,
        "mailgun": MailgunMailer,
        "ses": SESMailer,
    }
    assert isinstance(mail.mailer, PostmarkMailer)
    assert "fake-postmark_token" not in repr(mail.mailer)
    mail.close()


def test_the_failover_block_builds_a_failover_over_a_rate_limited_mailer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The failover block: MAILER is a FailoverMailer over postmark then smtp, and
    postmark sends at most 50 a second."""
    monkeypatch.setenv("POSTMARK_SERVER_TOKEN", "fake-token")
    mail = Mail.from_settings(settings_of(FAILOVER))

    mail.mailers.build_all()

    assert isinstance(mail.mailer, FailoverMailer)
    assert mail.mailer.mailer_names == ("postmark", "smtp")
    assert isinstance(mail.mailers["smtp"], SMTPMailer)
    assert mail.mailers["postmark"]._limiter is not None
    assert mail.mailers["postmark"]._limiter.rate == Rate(50, 1.0, 1)  # type: ignore[attr-defined]
    mail.close()


# -- MAILER_INTERCEPT_TO ----------------------------------------------------------------------

#: What stands for the rest of the user's settings: one memory mailer.
MEMORY_SETTINGS = {
    "MAILERS": {"memory": {"type": "proper_mail.ToMemoryMailer"}},
    "MAILER_DEFAULT_OPTIONS": {"from": "shop@example.com"},
}


def test_the_intercept_block_sends_staging_mail_to_qa_only() -> None:
    """On staging: to and bcc go to qa@, the allow-listed cc still gets it, and the
    originals are in X-Original-* headers."""
    mail = Mail.from_settings(
        {**MEMORY_SETTINGS, **settings_of(INTERCEPT, env="staging"), "APP_ENV": "staging"}
    )

    result = mail.send(
        mail.compose(
            to="customer@example.org", cc="boss@mycompany.com", bcc="audit@example.org", body="x"
        )
    )

    sent = outbox(mail)[-1]
    assert (sent["To"], sent["Cc"]) == ("qa@mycompany.com", "boss@mycompany.com")
    assert sent["X-Original-To"] == "customer@example.org"
    assert sent["X-Original-Cc"] == "boss@mycompany.com"
    assert sent["X-Original-Bcc"] is None  # boss shares this copy: Bcc stays hidden
    assert result.accepted == ("qa@mycompany.com", "boss@mycompany.com")
    mail.close()


def test_the_intercept_block_is_off_elsewhere_and_refused_in_production() -> None:
    """The block sets nothing outside staging; MAILER_INTERCEPT_TO with APP_ENV=prod is
    a ConfigError unless MAILER_INTERCEPT_FORCE is True, as the README says."""
    staging = settings_of(INTERCEPT, env="staging")

    assert settings_of(INTERCEPT, env="prod") == {}
    with pytest.raises(ConfigError, match="MAILER_INTERCEPT_FORCE"):
        Mail.from_settings({**MEMORY_SETTINGS, **staging, "APP_ENV": "prod"})
    forced = Mail.from_settings(
        {**MEMORY_SETTINGS, **staging, "APP_ENV": "prod", "MAILER_INTERCEPT_FORCE": True}
    )
    assert forced.interceptor is not None


# -- the fresh app: the README's layout, in a folder of its own --------------------------------

#: The user's own choices, after the README's config/main.py: where mail goes (a test
#: SMTP server, and a mailer whose server is down) and the Redis of the queue.
OWN_SETTINGS = """\
smtp = {"type": "proper_mail.SMTPMailer", "host": "127.0.0.1", "timeout": 5}
MAILERS = {
    "smtp": {**smtp, "port": int(os.environ["SMTP_PORT"])},
    "down": {**smtp, "port": int(os.environ["DOWN_PORT"])},
}
MAILER = "smtp"
MAILER_DEFAULT_OPTIONS = {"from": "shop@example.com"}
QUEUE = os.environ["REDIS_URL"]
QUEUE_NAMESPACE = os.environ["QUEUE_NAMESPACE"]
QUEUE_MAX_RETRIES = 0
"""
#: What ``proper-mail worker --app myapp`` loads: the README's tasks.py, importing the
#: Mail from myapp/main.py as the send hooks section says.
TASKS = "from .main import mail\n\nbroker = mail.queue.broker\n"


@attrs.frozen
class App:
    """A fresh app: its parent folder (the cwd of every command) and their environment."""

    folder: Path
    env: dict[str, str]
    namespace: str

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command in the app's folder; assert it succeeded unless not *check*."""
        done = subprocess.run(
            argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=60
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    def python(self, name: str, code: str) -> subprocess.CompletedProcess[str]:
        """Write *code* to *name* in the app's folder and run it with this Python."""
        (self.folder / name).write_text(code)
        return self.run(sys.executable, name)

    def listed(self) -> list[dict[str, Any]]:
        """``proper-mail suppressions list --json --app myapp``, parsed."""
        entries: list[dict[str, Any]] = json.loads(
            self.run("proper-mail", "suppressions", "list", "--json", "--app", "myapp").stdout
        )
        return entries


def closed_port() -> int:
    """A loopback port nothing listens on (a mail server that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def app(tmp_path: Path, smtp_server: SMTPTestServer) -> Iterator[App]:
    """The README's app in a fresh folder: config/main.py (the README's, the user's own
    mailers and Redis, then the README's hook, interception and suppression list
    settings), main.py (the README's, with the decorated hook at its end), hooks.py,
    webhooks.py, views/ and tasks.py; Redis keys under a namespace of its own, removed
    afterwards."""
    client = redis_or_skip()
    namespace = f"pmtest-readme-{uuid.uuid4().hex[:12]}"
    package = tmp_path / "myapp"
    (package / "config").mkdir(parents=True)
    (package / "views").mkdir()
    (package / "__init__.py").touch()
    (package / "config" / "__init__.py").touch()
    settings = "\n".join(
        (CONFIG_MAIN, OWN_SETTINGS, HOOK_SETTINGS, INTERCEPT, SUPPRESSIONS_SETTING)
    )
    (package / "config" / "main.py").write_text(settings)
    (package / "main.py").write_text(f"{MAIN}\n\n{DECORATED_HOOK}")
    (package / "hooks.py").write_text(HOOKS)
    (package / "webhooks.py").write_text(WEBHOOKS)
    (package / "tasks.py").write_text(TASKS)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "APP_ENV": "dev",
        "PYTHONUNBUFFERED": "1",
        "SMTP_PORT": str(smtp_server.port),
        "DOWN_PORT": str(closed_port()),
        "REDIS_URL": REDIS_URL,
        "QUEUE_NAMESPACE": namespace,
        "POSTMARK_WEBHOOK_PASSWORD": f"pm-{uuid.uuid4().hex}",
        "RESEND_WEBHOOK_SECRET": "whsec_" + base64.b64encode(os.urandom(24)).decode(),
    }
    yield App(tmp_path, env, namespace)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# -- the suppression list: the README's commands and Python API --------------------------------


#: A line of the README's Python block that states its result: ``call(...)  # literal``,
#: the literal maybe followed by ``: words``.
CLAIMED_RESULT = re.compile(
    r"(mail\.suppressions\.\w+\(.*\))  # ('[^']*'|\{.*\}|True|False)(?::.*)?"
)


def checking_results(code: str) -> str:
    """*code* with each ``expression  # <literal>...`` line asserting that the expression
    is that literal (the results the README claims in its comments)."""
    lines = []
    for line in code.splitlines():
        match = CLAIMED_RESULT.fullmatch(line)
        lines.append(f"assert {match[1]} == {match[2]}, {match[1]!r}" if match else line)
    return "\n".join(lines) + "\n"


def test_checking_results_asserts_what_the_comments_say() -> None:
    """The README's Python block, with its claimed results checked: three assertions."""
    checked = checking_results(SUPPRESSIONS_API)

    assert checked.count("\nassert mail.suppressions.") == 3


def test_the_readme_commands_and_python_api_manage_the_list(app: App) -> None:
    """The shell block, line by line, then the Python block as a script (the results its
    comments claim asserted): what each adds, lists and removes is what the list holds
    after."""
    outputs = []
    for line in SUPPRESSIONS_CLI.splitlines():
        outputs.append(app.run(*shlex.split(line, comments=True)).stdout)
    api = app.python("api.py", checking_results(SUPPRESSIONS_API))

    listed, printed = outputs[2].splitlines(), api.stdout.splitlines()
    assert outputs[0] == "suppressed bob@example.com (asked by phone, permanent)\n"
    assert listed[0] == "bob@example.com    asked by phone  permanent"
    assert re.fullmatch(r"carol@example\.com  manual          \d{4}-\d\d-\d\dT[\d:]{8}Z", listed[1])
    assert outputs[3] == "removed bob@example.com\n"
    assert printed[0].startswith("carol@example.com manual 20")
    assert printed[1] == "dave@example.com asked by phone permanent"
    assert printed[2].startswith("erin@example.com mailbox full 20")
    assert [(e["address"], e["reason"]) for e in app.listed()] == [
        ("carol@example.com", "manual"),
        ("erin@example.com", "mailbox full"),
    ]


# -- hooks and the suppression list in a real worker --------------------------------------------

SEND_LATER = """\
from proper_mail import EmailMessage

import myapp.main  # noqa: F401 - configures the app, as the app's start-up does

to = ["ok@example.com", "gone@example.com", "tester@qa.invalid"]
EmailMessage(subject="Shipped", body="Your order is on its way.", to=to).send_later()
EmailMessage(subject="News", body="Read all.", to=to[0], tags=["newsletter"]).send_later()
EmailMessage(subject="Down", body="Never arrives.", to=to[0]).send_later(via="down")
"""


@contextlib.contextmanager
def worker(app: App, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``proper-mail worker --app myapp`` (1 process, 2 threads), its output in *log*;
    stopped with SIGTERM (SIGKILL if it lingers) at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["proper-mail", "worker", "--app", "myapp", "-p", "1", "-t", "2"],
            cwd=app.folder,
            env=app.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def hook_lines(text: str) -> list[str]:
    """The lines the README's hooks logged (logger myapp.mail), without their ids."""
    found = re.findall(r"\[myapp\.mail\] \[(\w+)\] <[^>]+>:? (.*)", text)
    return sorted(f"{level} {message}" for level, message in found)


def test_settings_hooks_and_the_suppression_list_run_in_a_real_worker(
    app: App, smtp_server: SMTPTestServer
) -> None:
    """An address suppressed with the CLI, three emails queued, a real worker: the one
    that is sent went through the settings hooks (its X-Environment header) and the
    decorated one (the .invalid test account cancelled), not to the suppressed address;
    the newsletter is cancelled; the failure reaches on_failure; after_send logs each."""
    app.run("proper-mail", "suppressions", "add", "gone@example.com", "--app", "myapp")
    log = app.folder / "worker.log"

    with worker(app, log) as process:
        app.python("send_later.py", SEND_LATER)
        deadline = time.monotonic() + 60
        while len(hook_lines(log.read_text(errors="replace"))) < 3 and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
    output = log.read_text(errors="replace")

    (received,) = smtp_server.messages
    assert received.rcpt_tos == ["ok@example.com"]
    headers = b"\r\n" + received.data.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    assert b"\r\nSubject: Shipped\r\n" in headers
    assert b"\r\nX-Environment: dev\r\n" in headers
    lines = hook_lines(output)
    assert lines[0].startswith("ERROR not sent: ")
    assert lines[1:] == [
        "INFO 0 sent, 0 suppressed, 1 cancelled",
        "INFO 1 sent, 1 suppressed, 1 cancelled",
    ]


# -- the webhook app: a bounce feeds the list, the next send skips the address ------------------

SERVE = """\
from wsgiref.simple_server import make_server

from myapp.webhooks import app

server = make_server("127.0.0.1", 0, app)
print(server.server_port, flush=True)
server.serve_forever()
"""
SEND_NOW = """\
import json

from myapp.main import mail

to = ["bounced@example.com", "ok@example.com"]
result = mail.send(mail.compose(subject="Receipt", body="Thanks!", to=to))
print(json.dumps({"suppressed": result.suppressed, "accepted": result.accepted}))
"""


def test_a_bounce_posted_to_the_readme_webhook_app_suppresses_the_next_send(
    app: App, smtp_server: SMTPTestServer
) -> None:
    """myapp.webhooks:app served by wsgiref in its own process; Postmark's documented
    bounce, with the Basic auth credentials, posted by httpx: 200, and a send from the
    app then reports bounced@ suppressed and sends only to ok@."""
    bounce_id = random.randrange(10**15, 10**16)
    bounce = {**POSTMARK_BOUNCE, "Email": "bounced@example.com", "ID": bounce_id}
    (app.folder / "serve.py").write_text(SERVE)
    server = subprocess.Popen(
        [sys.executable, "serve.py"],
        cwd=app.folder,
        env=app.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline() or "0")
        assert port, server.communicate(timeout=30)
        response = httpx.post(
            f"http://127.0.0.1:{port}/postmark",
            content=json.dumps(bounce),
            headers={"Content-Type": "application/json"},
            auth=("postmark", app.env["POSTMARK_WEBHOOK_PASSWORD"]),
            timeout=30,
        )
        sent = json.loads(app.python("send_now.py", SEND_NOW).stdout)
    finally:
        server.terminate()
        printed, _ = server.communicate(timeout=30)
        redis.Redis.from_url(REDIS_URL).delete(
            f"proper_mail:webhooks:seen:postmark:Bounce:{bounce_id}"
        )

    assert response.status_code == 200, response.text
    assert response.json()["events"] == 1
    assert "kind='bounced'" in printed  # on_event=print
    assert sent == {"suppressed": ["bounced@example.com"], "accepted": ["ok@example.com"]}
    assert [m.rcpt_tos for m in smtp_server.messages] == [["ok@example.com"]]
    assert [(e["address"], e["reason"], e["expires"]) for e in app.listed()] == [
        ("bounced@example.com", "hard-bounce", None)
    ]
