"""The guide's 1.4 controller, without a web framework around it."""

from __future__ import annotations

from ..emails.password_reset_email import PasswordResetEmail
from ..main import app
from ..models import User


def create(params: dict[str, str]) -> tuple[int, str]:
    """POST /password-reset: send the email in the background, redirect at once."""
    user = User.get_by_login(params["login"])
    PasswordResetEmail(user).send_later(to=user.email)
    return 302, app.url_for("PasswordReset.show", token="sent")  # noqa: S106 - not a secret
