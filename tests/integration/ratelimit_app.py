"""The app the rate-limit test's worker processes load: one HTTP API mailer with a
``rate_limit``, pointed at the test's local server, on the test's Redis namespace.

``broker`` is what ``proper-mail worker --module tests.integration.ratelimit_app`` serves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from proper_mail import HttpMailer, HttpRequest, Message, SendResult, configure
from proper_mail.adapters.http import all_accepted, decode_json, json_request, status_error
from proper_mail.core.mime import envelope_of


class ApiMailer(HttpMailer):
    """A minimal provider: POST /send with the Message-ID and recipients as JSON."""

    provider = "test-api"
    default_base_url = "http://127.0.0.1:1"

    def build_request(self, message: Message) -> HttpRequest:
        """The JSON request for *message*."""
        payload = {
            "message_id": message.message_id,
            "to": list(envelope_of(message).recipients),
        }
        return json_request("POST", f"{self.base_url}/send", payload)

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """200 with an id: every recipient sent; anything else classified."""
        if status != 200:
            raise status_error(self.provider, status, headers, body.decode(errors="replace"))
        answer = decode_json(body)
        return all_accepted(message, answer.get("id") if isinstance(answer, dict) else None)


def settings() -> dict[str, object]:
    """The configuration the test process and the workers share."""
    return {
        "MAILERS": {
            "api": {
                "type": ApiMailer,
                "base_url": os.environ["PM_TEST_API_URL"],
                "timeout": 20,
                "rate_limit": os.environ["PM_TEST_RATE"],
                "rate_burst": int(os.environ["PM_TEST_BURST"]),
            },
        },
        "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
        "QUEUE": os.environ["PM_TEST_REDIS_URL"],
        "QUEUE_NAMESPACE": os.environ["PM_TEST_NAMESPACE"],
        # No redelivery of a live worker's messages on a loaded machine: exactly once.
        "QUEUE_HEARTBEAT_TIMEOUT": 120_000,
        "QUEUE_MIN_BACKOFF": 0.5,
        "QUEUE_MAX_BACKOFF": 2,
    }


if "PM_TEST_API_URL" in os.environ:
    mail = configure(settings())
    broker = mail.queue.broker
    # Warm up at boot, as an app with a steady flow would be: the limiter spaces the
    # starts of sends, and a cold first send (httpx imported, its client built) would
    # arrive late, bunched with the next ones.
    api = mail.mailers["api"]
    assert isinstance(api, HttpMailer)
    api.client  # noqa: B018
