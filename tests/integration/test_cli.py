"""The proper-mail command: the generator (the guide, 2) and check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proper_mail.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "myapp"


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


def test_the_example_app_passes_check() -> None:
    """examples/myapp is clean."""
    assert main(["check", "--app", str(EXAMPLE)]) == 0


def test_the_console_script_is_installed(tmp_path: Path) -> None:
    """`proper-mail` runs as a command."""
    result = subprocess.run(
        [Path(sys.executable).parent / "proper-mail", "check", "--app", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
