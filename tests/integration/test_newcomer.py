"""A newcomer's path, from the README alone: the wheel in a fresh venv outside the repo.

The package is built into a wheel and installed with pytest into a new virtualenv in a
temporary folder. There, as a user would: the README's quickstart runs; `proper-mail new
email` creates an app; `proper-mail check` passes; the generated test passes under
pytest, its `mail` fixture found through the package's pytest11 entry point.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel of this checkout and pytest installed."""
    base = tmp_path_factory.mktemp("newcomer")
    dist = base / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)])
    (wheel,) = dist.glob("proper_mail-*.whl")
    env_dir = base / "venv"
    run([sys.executable, "-m", "venv", str(env_dir)])
    run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), "pytest"])
    return env_dir


def run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run *argv* outside the repository's environment; fail with its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "APP_ENV")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def test_the_readme_quickstart_runs(venv: Path, tmp_path: Path) -> None:
    """The README's quickstart, as written, prints the message and its recipients."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(# quickstart\.py\n.*?)```", text, flags=re.DOTALL)
    (tmp_path / "quickstart.py").write_text(block)

    done = run([str(venv / "bin" / "python"), "quickstart.py"], cwd=tmp_path)

    assert "Subject: Hi\n" in done.stdout
    assert "---\n" in done.stdout
    assert done.stdout.endswith("('you@example.com',)\n")


def test_new_email_check_and_the_generated_test(venv: Path, tmp_path: Path) -> None:
    """new email -> check -> pytest on the generated test, all from the installed package."""
    proper_mail = str(venv / "bin" / "proper-mail")

    created = run([proper_mail, "new", "email", "Welcome", "--app", "shop"], cwd=tmp_path)
    checked = run([proper_mail, "check", "--app", "shop"], cwd=tmp_path)
    tested = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "shop/tests"], cwd=tmp_path)

    assert "created shop/tests/test_welcome_email.py" in created.stdout
    assert "all fine" in checked.stdout
    assert "1 passed" in tested.stdout


def test_the_version_is_the_packages(venv: Path) -> None:
    """`proper-mail --version` and proper_mail.__version__ name the installed version."""
    version = run([str(venv / "bin" / "proper-mail"), "--version"]).stdout.strip()
    module = run(
        [str(venv / "bin" / "python"), "-c", "import proper_mail; print(proper_mail.__version__)"]
    ).stdout.strip()

    assert re.fullmatch(r"proper-mail \d+\.\d+\.\d+\S*", version)
    assert version == f"proper-mail {module}"
