# tasks/__init__.py
from proper_mail import EmailMessageDict

from ..main import app


# Immediate mode: runs in the calling process. The queue (Dramatiq) replaces this
# decorator-less function with an actor; its body stays the guide's.
def send_email_task(message: EmailMessageDict, via: str | None = None):
    mailer = app.mailers[via] if via else app.mailer
    mailer.send_now(message)
