# Sourced by scripts/demo and scripts/check: makes .venv from a Python >= 3.12 and
# installs the project with its dev extra when pyproject.toml changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

find_python() {
    local c candidates=(python3.13 python3.12 python3.14 python3 python)
    # pyenv shims can exist on PATH without their version being selected: try the installs too.
    for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        [ -x "$c" ] && candidates+=("$c")
    done
    for c in "${candidates[@]}"; do
        if "$c" -c 'import sys; raise SystemExit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; raise SystemExit(sys.version_info < (3, 12))' 2>/dev/null; then
    if ! py="$(find_python)"; then
        echo "proper_mail needs Python >= 3.12 (jx 0.16 does), and none was found." >&2
        echo "Tried python3.13, python3.12, python3.14, python3, python and ~/.pyenv/versions/3.1x." >&2
        echo "Install one (e.g. 'pyenv install 3.13' or your OS package) and run this again." >&2
        exit 1
    fi
    echo "Creating .venv with $py ($("$py" --version))" >&2
    rm -rf "$venv"
    "$py" -m venv "$venv"
fi

stamp="$venv/.installed-$(cat "$root/pyproject.toml" | "$venv/bin/python" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')"
if [ ! -e "$stamp" ]; then
    echo "Installing proper-mail[dev] into .venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
