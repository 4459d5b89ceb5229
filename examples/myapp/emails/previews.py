"""Previews for `proper-mail preview`: each builds an email from fixture data.

Query parameters vary the fixtures: /preview/welcome?name=Bob&email=bob@example.com
"""

from proper_mail.preview import preview

from ..models import User
from .password_reset_email import PasswordResetEmail
from .welcome_email import WelcomeEmail


def _user(params):
    return User(params.get("name", "Alice"), params.get("email", "alice@example.com"))


@preview
def password_reset(params):
    user = _user(params)
    return PasswordResetEmail(user, to=user.email)


@preview
def welcome(params):
    user = _user(params)
    return WelcomeEmail(user, to=f"{user.name} <{user.email}>")
