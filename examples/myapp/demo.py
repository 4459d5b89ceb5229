"""The README's demo: the password-reset flow and a welcome email, printed to the console."""

from __future__ import annotations

from .controllers import password_reset_controller
from .emails.welcome_email import WelcomeEmail
from .models import User


def main() -> int:
    """Run the flow of the guide's section 1, then send a welcome email."""
    status, location = password_reset_controller.create({"login": "alice@example.com"})
    print(f"# POST /password-reset -> {status} {location}\n")
    WelcomeEmail(User("Zoë Müller", "zoe@münchen.de")).send(to="Zoë Müller <zoe@münchen.de>")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
