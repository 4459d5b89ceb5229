"""A tiny user model: enough for the password-reset flow."""

from __future__ import annotations

import hashlib
import hmac

SECRET = b"dev-only-secret"


class User:
    """A user with a name, an email and signed tokens."""

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email

    def generate_token_for(self, purpose: str) -> str:
        """A token for *purpose*, signed with the app's secret."""
        digest = hmac.new(SECRET, f"{purpose}:{self.email}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    @classmethod
    def get_by_login(cls, login: str) -> User:
        """Look a user up by login (here: everyone exists)."""
        return USERS.get(login) or cls(login.split("@")[0].title(), login)


USERS = {"alice@example.com": User("Alice", "alice@example.com")}
