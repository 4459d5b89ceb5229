# tasks/__init__.py
from proper_mail import EmailMessageDict

from ..main import app


@app.queue.task()
def send_email_task(message: EmailMessageDict, via: str | None = None):
    # Edit freely: retries, tagging, multi-tenant routing. deliver() keeps the
    # guarantees: the rendered message is sent once per recipient (a ledger keyed by
    # Message-ID), transient failures are retried, permanent ones reported.
    app.queue.deliver(message, via=via)


# For `proper-mail worker` (and `dramatiq myapp.tasks:broker`); None in immediate mode.
broker = app.queue.broker
