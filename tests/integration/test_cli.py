"""The proper-mail command: the generator (the guide, 2), check, help, user errors, the
worker, and the suppression list."""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import proper_mail
from proper_mail.cli import TEST_PY, build_parser, load_app, main
from tests.integration.test_queue_redis import REDIS_URL, redis_or_skip

EXAMPLE = Path(__file__).parents[2] / "examples" / "myapp"
PROPER_MAIL = Path(sys.executable).parent / "proper-mail"
# Mailers are built on first use; the worker builds them all before it starts.
TASKS_WITH_A_BAD_MAILER = """import proper_mail

mail = proper_mail.Mail(
    mailers={"smtp": {"type": "proper_mail.SMTPMailer", "port": 0}}, queue="stub"
)
broker = mail.queue.broker
"""
# A broker built by hand: a proper_mail queue always declares its send actor.
TASKS_WITHOUT_ACTOR = """from dramatiq.brokers.stub import StubBroker

broker = StubBroker()
"""


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no Mail configured, as a fresh `proper-mail` process does."""
    monkeypatch.setattr(proper_mail.mail, "_current", None)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A generated app with a Welcome email, under a package name of its own."""
    folder = tmp_path / f"app_{uuid.uuid4().hex[:8]}"
    assert main(["new", "email", "Welcome", "--app", str(folder)]) == 0
    return folder


def user_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the command; assert exit status 2 and one line on stderr; return that line."""
    capsys.readouterr()
    status: int | str | None
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code  # argparse
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# -- new email ----------------------------------------------------------------------------


def test_new_email_writes_the_three_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """proper-mail new email Welcome: emails/welcome_email.py and its two templates."""
    app = tmp_path / "shop"

    status = main(["new", "email", "Welcome", "--app", str(app)])

    assert status == 0
    assert (
        (app / "emails" / "welcome_email.py")
        .read_text()
        .startswith("from .base_email import BaseEmail")
    )
    assert "class WelcomeEmail(BaseEmail):" in (app / "emails" / "welcome_email.py").read_text()
    assert (app / "views" / "emails" / "welcome.jx").is_file()
    assert (app / "views" / "emails" / "welcome.txt.jx").is_file()
    assert "created" in capsys.readouterr().out


def test_new_email_has_a_subject_and_the_app_a_package(app: Path) -> None:
    """The class gets a non-empty subject; the app gets its __init__.py."""
    assert 'subject = "Welcome"' in (app / "emails" / "welcome_email.py").read_text()
    assert (app / "__init__.py").is_file()


def test_new_email_writes_a_preview_with_its_imports(app: Path) -> None:
    """emails/previews.py is created with the preview import, the class and a welcome()."""
    text = (app / "emails" / "previews.py").read_text()

    assert (
        "from proper_mail.preview import preview\n\nfrom .welcome_email import WelcomeEmail\n"
        in (text)
    )
    assert '@preview\ndef welcome(params):\n    return WelcomeEmail(to=params.get("to"' in text


def test_a_second_email_joins_the_previews_file(app: Path) -> None:
    """The next email's import goes after the last import, its preview at the end."""
    assert main(["new", "email", "PasswordReset", "--app", str(app)]) == 0

    text = (app / "emails" / "previews.py").read_text()
    tree = ast.parse(text)
    assert [type(node).__name__ for node in tree.body] == [
        "Expr", "ImportFrom", "ImportFrom", "ImportFrom", "FunctionDef", "FunctionDef",
    ]  # fmt: skip
    assert [node.name for node in tree.body if isinstance(node, ast.FunctionDef)] == [
        "welcome",
        "password_reset",
    ]


def test_new_email_writes_a_test_using_the_mail_fixture(app: Path) -> None:
    """tests/test_welcome_email.py, from the TEST_PY template, sends and asserts with `mail`."""
    text = (app / "tests" / "test_welcome_email.py").read_text()

    assert text == TEST_PY.format(package=app.name, module="welcome", cls="WelcomeEmail")
    assert "def test_welcome_email_is_sent(mail):" in text
    assert 'mail.assert_sent(WelcomeEmail, to="someone@example.com")' in text
    assert (app / "tests" / "__init__.py").is_file()
    compile(text, "test_welcome_email.py", "exec")


def test_new_email_prints_the_next_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the files: edit the template, preview with --app, run the test."""
    app = tmp_path / "steps"

    main(["new", "email", "Welcome", "--app", str(app)])

    out = capsys.readouterr().out
    assert "Next steps:" in out
    assert "views/emails/welcome.jx" in out
    assert f"proper-mail preview --app {app}" in out
    assert f"pytest {app}/tests/test_welcome_email.py" in out


def test_new_email_writes_a_configuration_only_when_the_app_has_none(app: Path) -> None:
    """A bare app gets config/main.py; an app with a main.py gets none."""
    other = app.parent / f"app_{uuid.uuid4().hex[:8]}"
    other.mkdir()
    (other / "main.py").write_text("# configures itself\n")

    main(["new", "email", "Welcome", "--app", str(other)])

    assert "MAILERS" in (app / "config" / "main.py").read_text()
    assert not (other / "config").exists()


def test_generated_app_passes_check(tmp_path: Path) -> None:
    """The generator's output passes proper-mail check."""
    app = tmp_path / "genapp"
    main(["new", "email", "PasswordReset", "--app", str(app)])

    assert main(["check", "--app", str(app)]) == 0


def test_new_email_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Running the generator twice changes nothing and exits non-zero."""
    app = tmp_path / "shop2"
    main(["new", "email", "Welcome", "--app", str(app)])
    (app / "emails" / "welcome_email.py").write_text("# mine\n")

    status = main(["new", "email", "Welcome", "--app", str(app)])

    assert status == 2
    assert (app / "emails" / "welcome_email.py").read_text() == "# mine\n"
    assert "refusing to overwrite" in capsys.readouterr().err


def test_new_email_refuses_a_preview_name_in_use(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A previews.py that already defines invoice(): nothing is written, exit 2."""
    previews = app / "emails" / "previews.py"
    previews.write_text(previews.read_text() + "\n\n@preview\ndef invoice(params):\n    pass\n")
    before = previews.read_text()

    line = user_error(capsys, ["new", "email", "Invoice", "--app", str(app)])

    assert "refusing to overwrite the preview 'invoice'" in line
    assert previews.read_text() == before
    assert not (app / "emails" / "invoice_email.py").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("welcome", "PascalCase"),
        ("Welcome_Email", "PascalCase"),
        ("WelcomeEmail", "leave out the Email suffix; use 'Welcome'"),
        ("Invoices", "singular"),
    ],
)
def test_bad_names_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, message: str
) -> None:
    """The name must be PascalCase, singular, without an _email suffix."""
    assert main(["new", "email", name, "--app", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# -- check --------------------------------------------------------------------------------


def test_check_reports_problems_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken template, a relative URL and an email with nothing to send: file:line each."""
    app = tmp_path / "brokenapp"
    main(["new", "email", "Welcome", "--app", str(app)])
    (app / "views" / "emails" / "welcome.jx").write_text(
        '{#import "layouts/nope.jx" as Nope #}\n{#def subject #}\n<a href="/dashboard">x</a>\n'
    )
    (app / "emails" / "ghost_email.py").write_text(
        "from .base_email import BaseEmail\n\n\nclass GhostEmail(BaseEmail):\n    subject = 'x'\n"
    )

    status = main(["check", "--app", str(app)])

    out = capsys.readouterr().out
    assert status == 1
    assert "welcome.jx:3: relative URL '/dashboard'" in out
    assert "nope.jx" in out
    assert "ghost_email.py:4: GhostEmail has no body" in out


def test_the_example_app_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    """examples/myapp is clean, and check says what it looked at."""
    assert main(["check", "--app", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == "checked 2 emails, 5 templates, 2 previews: all fine\n"


def test_check_renders_previews_and_names_an_undefined_variable(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """{{ usr.name }} (undefined) in a previewed template: a problem at the template's line."""
    (app / "views" / "emails" / "welcome.jx").write_text(
        "{#def subject #}\n<p>Hi</p>\n<p>{{ usr.name }}</p>\n"
    )

    status = main(["check", "--app", str(app)])

    out = capsys.readouterr().out
    assert status == 1
    assert "welcome.jx:3: preview welcome: undefined variable: 'usr' is undefined" in out
    assert out.endswith("checked 1 email, 3 templates, 1 preview: 1 problem\n")


def test_check_reports_a_preview_that_fails_where_it_fails(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A preview raising (here: a bad address) is a problem at the line in the app's code."""
    previews = app / "emails" / "previews.py"
    previews.write_text(previews.read_text().replace('"someone@example.com"', '"not an address"'))

    status = main(["check", "--app", str(app)])

    out = capsys.readouterr().out
    assert status == 1
    assert "previews.py:" in out
    assert "preview welcome: InvalidAddress: to:" in out


def test_check_warns_on_an_empty_subject(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An email whose subject is empty: a warning, and the check still passes."""
    email = app / "emails" / "welcome_email.py"
    email.write_text(email.read_text().replace('subject = "Welcome"', 'subject = ""'))

    status = main(["check", "--app", str(app)])

    out = capsys.readouterr().out
    assert status == 0
    assert "warning: preview welcome: no-subject: the subject is empty" in out
    assert out.endswith("checked 1 email, 3 templates, 1 preview: 1 warning\n")


def test_check_warns_about_an_email_without_a_preview(
    app: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An email class no preview returns was not rendered: check says so."""
    (app / "emails" / "previews.py").write_text("")

    status = main(["check", "--app", str(app)])

    assert status == 0
    assert "WelcomeEmail has no preview in emails/previews.py" in capsys.readouterr().out


def test_check_fails_where_there_is_no_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run on a folder that is not an app, check fails instead of finding nothing wrong."""
    line = user_error(capsys, ["check", "--app", str(tmp_path)])

    assert "not a Python package" in line


# -- the configuration rule ----------------------------------------------------------------


def test_check_configures_the_app_from_config_main(app: Path) -> None:
    """No configure() in the package or main.py: config/main.py is the configuration."""
    main(["check", "--app", str(app)])

    mail = proper_mail.mail.configured_mail()
    assert mail is not None
    assert mail.views == app / "views"


def test_a_main_that_configures_comes_before_config(app: Path) -> None:
    """<app>.main configures: config/main.py is not used."""
    (app / "main.py").write_text(
        "import proper_mail\n"
        "from .config import main as config\n"
        "memory = {'type': 'proper_mail.ToMemoryMailer'}\n"
        "proper_mail.configure(config, MAILERS={'from_main': memory}, MAILER=None)\n"
    )

    assert main(["check", "--app", str(app)]) == 0
    mail = proper_mail.mail.configured_mail()
    assert mail is not None
    assert list(mail.mailers) == ["from_main"]


def test_a_mail_module_that_configures_is_found(app: Path) -> None:
    """<app>.mail (the README's production layout) configures: config/main.py is unused."""
    (app / "mail.py").write_text(
        "import proper_mail\n"
        "from .config import main as config\n"
        "memory = {'type': 'proper_mail.ToMemoryMailer'}\n"
        "mail = proper_mail.configure(config, MAILERS={'from_mail_py': memory}, MAILER=None)\n"
    )

    assert main(["check", "--app", str(app)]) == 0
    mail = proper_mail.mail.configured_mail()
    assert mail is not None
    assert list(mail.mailers) == ["from_mail_py"]


def test_a_package_that_configures_itself_is_left_alone(app: Path) -> None:
    """The package's __init__ configures: main.py is never imported."""
    (app / "__init__.py").write_text(
        "import proper_mail\nfrom .config import main as config\nproper_mail.configure(config)\n"
    )
    (app / "main.py").write_text("raise RuntimeError('main.py must not be imported')\n")

    assert main(["check", "--app", str(app)]) == 0


def test_a_config_module_is_the_last_resort(app: Path) -> None:
    """config.py (a module, no config/ package) configures the app too."""
    shutil.rmtree(app / "config")
    (app / "config.py").write_text(
        "from pathlib import Path\n"
        "VIEWS = Path(__file__).parent / 'views'\n"
        "MAILERS = {'only': {'type': 'proper_mail.ToMemoryMailer'}}\n"
        "MAILER_DEFAULT_OPTIONS = {'from': 'a@example.com'}\n"
    )

    assert main(["check", "--app", str(app)]) == 0
    mail = proper_mail.mail.configured_mail()
    assert mail is not None
    assert list(mail.mailers) == ["only"]


def test_preview_configures_the_app_itself(tmp_path: Path) -> None:
    """`proper-mail preview` serves an app whose emails never import its configuration."""
    app = tmp_path / f"app_{uuid.uuid4().hex[:8]}"
    main(["new", "email", "Welcome", "--app", str(app)])
    (app / "__init__.py").write_text("")
    (app / "config").mkdir(exist_ok=True)
    (app / "config" / "main.py").write_text(
        f"VIEWS = {str(app / 'views')!r}\n"
        "MAILERS = {'console': {'type': 'proper_mail.ToConsoleMailer'}}\n"
        "MAILER_DEFAULT_OPTIONS = {'from': 'no-reply@example.com'}\n"
    )
    (app / "emails" / "previews.py").write_text(
        "from proper_mail.preview import preview\n\n"
        "from .welcome_email import WelcomeEmail\n\n\n"
        "@preview\n"
        "def welcome(params):\n"
        "    return WelcomeEmail(to='someone@example.com', subject='Welcome')\n"
    )
    server = subprocess.Popen(
        [PROPER_MAIL, "preview", "--app", str(app), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("Previews at http://127.0.0.1:"), server.communicate(timeout=30)
        with urlopen_loopback(first.split()[2]) as response:
            index = response.read().decode()
    finally:
        server.terminate()
        server.communicate(timeout=30)

    assert "not configured" not in index
    assert "<td>Welcome</td>" in index


def urlopen_loopback(url: str) -> Any:
    """GET *url* (a loopback URL) with a generous timeout."""
    assert url.startswith("http://127.0.0.1:")
    return urllib.request.urlopen(url, timeout=30)


# -- help and version -----------------------------------------------------------------------


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of every subcommand, by name."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_is_plain_text_naming_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """--help: no reStructuredText, every command with a line, the configuration rule."""
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])

    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "``" not in out
    assert "::" not in out
    for command in ("new", "check", "preview", "worker", "suppressions"):
        assert f"    {command} " in out or f"    {command}\n" in out
    assert "<app>.main" in out
    assert "config/main.py" in out


@pytest.mark.parametrize("command", ["new", "check", "preview", "worker"])
def test_every_command_has_a_description_and_every_option_its_default(command: str) -> None:
    """Each subcommand is described; each of its options says its default."""
    parser = subparsers()[command]

    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]

    assert parser.description
    assert options
    for option in options:
        assert option.help is not None
        assert "default" in option.help, option.option_strings


@pytest.mark.parametrize("action", ["list", "add", "remove"])
def test_every_suppressions_action_has_a_description_and_its_options_defaults(
    action: str,
) -> None:
    """suppressions list/add/remove: each is described; each option says its default."""
    parent = subparsers()["suppressions"]
    actions = next(a for a in parent._actions if isinstance(a, argparse._SubParsersAction))
    parser = actions.choices[action]

    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]

    assert parser.description
    assert "--app" in {flag for option in options for flag in option.option_strings}
    for option in options:
        assert option.help is not None
        assert "default" in option.help, option.option_strings


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints 'proper-mail <version>' from the installed distribution."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"proper-mail {importlib.metadata.version('proper-mail')}\n"


# -- user errors: one line, status 2, no traceback -------------------------------------------


Setup = Callable[[Path], object]


def nothing(app: Path) -> None:
    """A setup step that leaves the app as generated."""


def writes(relative: str, text: str) -> Setup:
    """A setup step: write *text* to the app's file *relative*."""

    def write(app: Path) -> None:
        (app / relative).parent.mkdir(parents=True, exist_ok=True)
        (app / relative).write_text(text)

    return write


def removes(relative: str) -> Setup:
    """A setup step: remove the app's file or folder *relative*."""

    def remove(app: Path) -> None:
        path = app / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return remove


def appends(relative: str, text: str) -> Setup:
    """A setup step: add *text* at the end of the app's file *relative*."""

    def append(app: Path) -> None:
        path = app / relative
        path.write_text(path.read_text() + text)

    return append


def stdlib_named_app(app: Path) -> None:
    """A setup step: an app folder named json (inside the app), shadowed by the stdlib json."""
    writes("json/__init__.py", "")(app)
    writes("json/emails/__init__.py", "")(app)


# (case, setup, argv with {app} for the app folder, what the line says)
ERRORS: list[tuple[str, Setup, list[str], str]] = [
    ("no command", nothing, [], "the following arguments are required: COMMAND"),
    ("unknown command", nothing, ["frob"], "invalid choice: 'frob'"),
    ("unknown option", nothing, ["check", "--bogus"], "unrecognized arguments: --bogus"),
    ("bad number", nothing, ["preview", "--port", "x"], "invalid int value: 'x'"),
    ("missing folder", nothing, ["check", "--app", "{app}/nope"], "not a folder"),
    ("a file", nothing, ["check", "--app", "{app}/__init__.py"], "not a folder"),
    ("not a package", nothing, ["check", "--app", "{app}/.."], "not a Python package"),
    ("no emails folder", removes("emails"), ["check", "--app", "{app}"], "has no emails/ folder"),
    (
        "a package name the stdlib has",
        stdlib_named_app,
        ["check", "--app", "{app}/json"],
        "importing 'json' finds",
    ),
    (
        "import error",
        writes("__init__.py", "import nope_not_installed\n"),
        ["check", "--app", "{app}"],
        "ModuleNotFoundError: No module named 'nope_not_installed' (",
    ),
    (
        "syntax error in main",
        writes("main.py", "x = (\n"),
        ["check", "--app", "{app}"],
        "SyntaxError: '(' was never closed (",
    ),
    ("no configuration", removes("config"), ["check", "--app", "{app}"], "no configuration for"),
    (
        "configuration without MAILERS",
        writes("config/main.py", "X = 1\n"),
        ["check", "--app", "{app}"],
        ".config.main: MAILERS is not set",
    ),
    (
        "preview without previews.py",
        removes("emails/previews.py"),
        ["preview", "--app", "{app}"],
        "no previews:",
    ),
    (
        "preview on a host that is not loopback",
        nothing,
        ["preview", "--app", "{app}", "--host", "192.0.2.1"],
        "refusing to listen on 192.0.2.1",
    ),
    (
        "bad allowed host",
        nothing,
        ["preview", "--app", "{app}", "--allowed-host", "not a host"],
        "allowed host 'not a host' is not a host name",
    ),
    ("worker without tasks", nothing, ["worker", "--app", "{app}"], "has no tasks module"),
    (
        "worker for an immediate queue",
        writes("tasks/__init__.py", "broker = None\n"),
        ["worker", "--app", "{app}"],
        "broker is None: QUEUE is 'immediate'",
    ),
    (
        "worker without actors",
        writes("tasks/__init__.py", TASKS_WITHOUT_ACTOR),
        ["worker", "--app", "{app}"],
        ":broker declares no actor",
    ),
    (
        "worker with a mailer option of a wrong value",
        writes("tasks/__init__.py", TASKS_WITH_A_BAD_MAILER),
        ["worker", "--app", "{app}"],
        "MAILERS['smtp']: SMTPMailer port must be 1-65535, not 0",
    ),
    (
        "worker with --app and --module",
        nothing,
        ["worker", "--app", "{app}", "--module", "x"],
        "pass --app or --module, not both",
    ),
    (
        "suppressions without MAILER_SUPPRESSIONS",
        nothing,
        ["suppressions", "list", "--app", "{app}"],
        "has no suppression list: MAILER_SUPPRESSIONS is not set",
    ),
    (
        "suppressions kept in memory",
        appends("config/main.py", "MAILER_SUPPRESSIONS = 'memory'\n"),
        ["suppressions", "add", "a@example.com", "--app", "{app}"],
        "MAILER_SUPPRESSIONS is 'memory': that list lives inside each process of the app",
    ),
    (
        "suppressions with a bad MAILER_SUPPRESSIONS",
        appends("config/main.py", "MAILER_SUPPRESSIONS = 'postgres://db'\n"),
        ["suppressions", "list", "--app", "{app}"],
        "MAILER_SUPPRESSIONS must be 'memory', a redis:// URL or a store",
    ),
    (
        "suppressions with an unreachable Redis",
        appends("config/main.py", "MAILER_SUPPRESSIONS = 'redis://127.0.0.1:1/0'\n"),
        ["suppressions", "list", "--app", "{app}"],
        "the suppression list: ConnectionError",
    ),
    (
        "suppressions add with expires not a positive number",
        nothing,
        ["suppressions", "add", "a@example.com", "--expires", "0", "--app", "{app}"],
        "--expires: must be a positive number of seconds, not '0'",
    ),
    ("suppressions add without address", nothing, ["suppressions", "add"], "ADDRESS"),
    ("suppressions without action", nothing, ["suppressions"], "required: ACTION"),
    (
        "new in a file",
        nothing,
        ["new", "email", "Other", "--app", "{app}/__init__.py"],
        "not a folder",
    ),
    (
        "new with a broken previews.py",
        writes("emails/previews.py", "def (\n"),
        ["new", "email", "Other", "--app", "{app}"],
        "it has a syntax error (line 1)",
    ),
]


@pytest.mark.parametrize(
    ("setup", "argv", "expected"), [case[1:] for case in ERRORS], ids=[case[0] for case in ERRORS]
)
def test_a_user_error_is_one_line_and_status_2(
    app: Path, capsys: pytest.CaptureFixture[str], setup: Setup, argv: list[str], expected: str
) -> None:
    """Each user error: one line on stderr naming the problem, exit status 2, no traceback."""
    setup(app)

    line = user_error(capsys, [arg.format(app=app) for arg in argv])

    assert expected in line


def test_a_busy_port_is_one_line(app: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """preview on a port another socket holds: one line naming the address, status 2."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        line = user_error(capsys, ["preview", "--app", str(app), "--port", str(port)])

    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in line


def test_preview_refuses_prod(
    app: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """APP_ENV=prod: the preview server does not start, nor import the app."""
    (app / "__init__.py").write_text("raise RuntimeError('the app was imported')\n")
    monkeypatch.setenv("APP_ENV", "prod")

    assert "APP_ENV=prod" in user_error(capsys, ["preview", "--app", str(app)])


def test_the_console_script_is_installed(tmp_path: Path) -> None:
    """`proper-mail` runs as a command."""
    result = subprocess.run(
        [PROPER_MAIL, "check", "--app", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_the_console_script_reports_a_broken_app_in_one_line(app: Path) -> None:
    """The real command, on an app whose import raises: one line, status 2, no traceback."""
    (app / "__init__.py").write_text("raise RuntimeError('boom')\n")

    result = subprocess.run(
        [PROPER_MAIL, "check", "--app", str(app)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"proper-mail: cannot import {app.name}: RuntimeError: boom ({app}/__init__.py:1)"
    ]


# -- worker ---------------------------------------------------------------------------------


def test_the_worker_says_what_it_serves_before_starting(tmp_path: Path) -> None:
    """worker logs its broker's queues and actors on stderr, then runs dramatiq."""
    module = f"wapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "import proper_mail\n\n"
        'mail = proper_mail.Mail(mailers={"m": {"type": "proper_mail.ToMemoryMailer"}}, '
        'queue="stub")\n'
        "broker = mail.queue.broker  # the send actor is declared with the queue\n"
    )
    worker = subprocess.Popen(
        [PROPER_MAIL, "worker", "--module", module, "--path", str(tmp_path), "-p", "1", "-t", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert worker.stderr is not None
        first = worker.stderr.readline()
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)

    assert first == (
        f"proper-mail: worker for {module}:broker (1 process x 1 thread);"
        " queues: emails; actors: proper_mail.send_email\n"
    )


# -- suppressions -----------------------------------------------------------------------------


@pytest.fixture
def listed_app(app: Path) -> Iterator[Path]:
    """The generated app with MAILER_SUPPRESSIONS in Redis, under a namespace of its own
    (removed afterwards)."""
    client = redis_or_skip()
    namespace = f"pmtest-cli-{uuid.uuid4().hex[:12]}"
    config = app / "config" / "main.py"
    settings = f"MAILER_SUPPRESSIONS = {REDIS_URL!r}\nQUEUE_NAMESPACE = {namespace!r}\n"
    config.write_text(config.read_text() + settings)
    yield app
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def suppressions(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``proper-mail suppressions ARGS --app APP`` as a command."""
    return subprocess.run(
        [PROPER_MAIL, "suppressions", *args, "--app", str(app)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_suppressions_add_list_and_remove(listed_app: Path) -> None:
    """add (normalized, permanent or expiring), list as lines and as JSON, remove."""
    added = suppressions(listed_app, "add", "Bob@Bücher.DE", "--reason", "asked by phone")
    expiring = suppressions(listed_app, "add", "carol@example.com", "--expires", "3600")

    lines = suppressions(listed_app, "list")
    entries = json.loads(suppressions(listed_app, "list", "--json").stdout)
    removed = suppressions(listed_app, "remove", "bob@BÜCHER.de")
    left = json.loads(suppressions(listed_app, "list", "--json").stdout)

    assert (added.returncode, added.stdout) == (
        0,
        "suppressed bob@xn--bcher-kva.de (asked by phone, permanent)\n",
    )
    assert expiring.returncode == 0
    assert expiring.stdout.startswith("suppressed carol@example.com (manual, 20")
    assert lines.stdout.splitlines()[0] == "bob@xn--bcher-kva.de  asked by phone  permanent"
    assert lines.stdout.splitlines()[1].startswith("carol@example.com     manual          20")
    assert entries[0] == {
        "address": "bob@xn--bcher-kva.de",
        "reason": "asked by phone",
        "expires": None,
    }
    assert entries[1]["address"] == "carol@example.com"
    assert entries[1]["expires"].endswith("Z")
    assert (removed.returncode, removed.stdout) == (0, "removed bob@xn--bcher-kva.de\n")
    assert [e["address"] for e in left] == ["carol@example.com"]


def test_an_empty_list_prints_nothing_on_stdout(listed_app: Path) -> None:
    """list on an empty list: nothing to parse on stdout, a line on stderr; --json: []."""
    lines = suppressions(listed_app, "list")
    as_json = suppressions(listed_app, "list", "--json")

    assert (lines.returncode, lines.stdout, lines.stderr) == (
        0,
        "",
        "the suppression list is empty\n",
    )
    assert json.loads(as_json.stdout) == []


def test_removing_an_address_not_on_the_list_is_status_1(listed_app: Path) -> None:
    """remove of an address that is not suppressed: status 1, saying so on stderr."""
    result = suppressions(listed_app, "remove", "nobody@example.com")

    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "nobody@example.com is not on the suppression list\n"


def test_an_expiring_entry_never_shortens_a_suppression(listed_app: Path) -> None:
    """add --expires of an address already suppressed: status 1, the entry unchanged."""
    suppressions(listed_app, "add", "gone@example.com", "--reason", "hard-bounce")

    result = suppressions(listed_app, "add", "gone@example.com", "--expires", "60")

    assert result.returncode == 1
    assert result.stderr.startswith("gone@example.com is already suppressed (hard-bounce)")
    assert json.loads(suppressions(listed_app, "list", "--json").stdout) == [
        {"address": "gone@example.com", "reason": "hard-bounce", "expires": None}
    ]


def test_a_bad_address_is_one_line_and_status_2(listed_app: Path) -> None:
    """add of something that is not an address: one line naming it, status 2."""
    result = suppressions(listed_app, "add", "not an address")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "proper-mail: address: an address needs an '@': 'not an address'"
    ]


def test_what_the_command_adds_the_app_does_not_send_to(listed_app: Path) -> None:
    """The command and the app share the list: an address the command suppressed is
    reported suppressed by the app's send()."""
    suppressions(listed_app, "add", "gone@example.com")
    mail = load_app(listed_app)

    result = mail.send(mail.compose(to=["gone@example.com", "ok@example.com"], body="x"))

    assert result.suppressed == ("gone@example.com",)
    assert result.recipients[-1].detail == "on the suppression list: manual"
    mail.close()
