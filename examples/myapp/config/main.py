"""MAILERS, MAILER and MAILER_DEFAULT_OPTIONS (the guide, 7.4), plus views and URLs."""

import os
from pathlib import Path

env = os.getenv("APP_ENV", "dev")

VIEWS = Path(__file__).parent.parent / "views"
PROTOCOL = "https"
HOST = "myapp.example.com"

MAILERS = {
    "console": {"type": "proper_mail.ToConsoleMailer"},
    "memory": {"type": "proper_mail.ToMemoryMailer"},
    "ses_smtp": {
        "type": "proper_mail.SMTPMailer",
        "host": "smtp.example.com",
        "port": 587,
        "username": os.getenv("SMTP_USERNAME"),
        "password": os.getenv("SMTP_PASSWORD"),
        "use_tls": True,
    },
}

# Default - print to console in dev
MAILER = "console"

MAILER_DEFAULT_OPTIONS = {
    "from": "no-reply@example.com",
}

# send_later: in-process in dev and test, Redis in production.
QUEUE = "immediate"

if env == "test":
    MAILER = "memory"
elif env == "prod":
    MAILER = "ses_smtp"
    QUEUE = os.getenv("REDIS_URL", "redis://127.0.0.1:6379/0")
