"""The HTTP provider shell (HttpMailer) over real loopback HTTP: pooling, error mapping,
timeouts, client ownership. Each provider's own behaviour is tested in its own files."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from proper_mail import HttpMailer, HttpRequest, Secret, compose
from proper_mail.adapters.base import block_real_sends
from proper_mail.adapters.http import all_accepted, json_request, status_error
from proper_mail.core.records import Message, SendResult, Stamp
from proper_mail.errors import (
    ConfigError,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from tests.provider_server import ProviderServer, Received, Reply

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="shell1")
MESSAGE = compose(stamp=STAMP, from_email="app@example.com", to="a@example.com", body="Hi")
TOKEN = "tok-very-secret-123"


class EchoMailer(HttpMailer):
    """The smallest provider: POST /send with a bearer token; {"id": ...} back."""

    provider = "echo"
    default_base_url = "https://api.echo.invalid"

    def __init__(self, *, token: str, **options: Any) -> None:
        super().__init__(**options)
        self.token = Secret.of("token", token)

    def build_request(self, message: Message) -> HttpRequest:
        return json_request(
            "POST",
            f"{self.base_url}/send",
            {"to": [a.addr_spec for a in message.to], "id": message.message_id},
            (("Authorization", f"Bearer {self.token.reveal()}"),),
        )

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        if status >= 300:
            raise status_error(self.provider, status, headers, body.decode(errors="replace"))
        return all_accepted(message, json.loads(body)["id"])


def ok(request: Received) -> Reply:
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    return Reply(200, {"id": f"p-{len(request.body)}"})


@pytest.fixture
def server() -> Iterator[ProviderServer]:
    with ProviderServer(ok) as running:
        yield running
    running.check()


def test_a_send_is_one_request_and_one_result(server: ProviderServer) -> None:
    """deliver() posts once and returns the provider's id, the alias set."""
    with EchoMailer(token=TOKEN, base_url=server.url) as mailer:
        mailer.alias = "echo"
        result = mailer.deliver(MESSAGE)

    assert result.accepted == ("a@example.com",)
    assert result.provider_id == f"p-{len(server.received[0].body)}"
    assert result.mailer == "echo"
    assert len(server.received) == 1
    assert server.received[0].headers["user-agent"].startswith("proper-mail/")


def test_the_owned_client_keeps_connections_alive(server: ProviderServer) -> None:
    """Ten sends reuse one pooled connection (no new TCP connection per message)."""
    with EchoMailer(token=TOKEN, base_url=server.url) as mailer:
        for _ in range(10):
            mailer.deliver(MESSAGE)

    peers = {r.headers.get("x-peer") for r in server.received}
    assert peers == {server.peers[0]}
    assert len(server.peers) == 1


def test_an_injected_client_is_used_and_not_closed(server: ProviderServer) -> None:
    """close() leaves a client it was given open: it is the caller's."""
    with httpx.Client(timeout=5) as client:
        mailer = EchoMailer(token=TOKEN, base_url=server.url, client=client)
        mailer.deliver(MESSAGE)
        mailer.close()

        assert not client.is_closed
        assert mailer.client is client


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(429, RateLimited), (503, TransientDeliveryError), (401, PermanentDeliveryError)],
)
def test_statuses_become_classified_errors(status: int, error_type: type[Exception]) -> None:
    """The server's status decides transient or permanent; the token is never shown."""
    reply = Reply(status, {"message": "no"}, {"Retry-After": "3"})
    with (
        ProviderServer(lambda r: reply) as s,
        EchoMailer(token=TOKEN, base_url=s.url) as mailer,
        pytest.raises(error_type) as info,
    ):
        mailer.deliver(MESSAGE)

    assert TOKEN not in str(info.value) + repr(info.value)


def test_connection_refused_is_transient() -> None:
    """Nothing listening: a transient error (retry later), httpx's error as the cause."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        EchoMailer(token=TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=5) as mailer,
        pytest.raises(TransientDeliveryError) as info,
    ):
        mailer.deliver(MESSAGE)

    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_a_silent_server_times_out_as_transient() -> None:
    """A provider that never answers: the timeout ends it, and it is transient."""
    release = threading.Event()

    def stall(request: Received) -> Reply:
        release.wait(30)
        return Reply(200, {"id": "late"})

    with ProviderServer(stall) as s, EchoMailer(token=TOKEN, base_url=s.url, timeout=0.5) as mailer:
        try:
            with pytest.raises(TransientDeliveryError) as info:
                mailer.deliver(MESSAGE)
        finally:
            release.set()

    assert isinstance(info.value.__cause__, httpx.TimeoutException)


def test_repr_of_mailer_and_request_never_show_the_token(server: ProviderServer) -> None:
    """No credential in reprs: the mailer, its Secret, the request it builds."""
    mailer = EchoMailer(token=TOKEN, base_url=server.url)

    shown = repr(mailer) + repr(vars(mailer)) + repr(mailer.build_request(MESSAGE))

    assert TOKEN not in shown


def test_real_sends_are_blocked_in_the_test_kit(server: ProviderServer) -> None:
    """Inside block_real_sends() an HTTP mailer refuses to send; nothing reaches the server."""
    mailer = EchoMailer(token=TOKEN, base_url=server.url)

    with block_real_sends(), pytest.raises(ConfigError, match="blocked"):
        mailer.deliver(MESSAGE)

    assert server.received == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_url": "http://api.example.com"}, "plain http"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"http2": "yes"}, "http2"),
        ({"provider_options": ["x"]}, "provider_options"),
        ({"provider_options": {"x": object()}}, "JSON"),
    ],
)
def test_bad_shell_options_are_config_errors(options: dict[str, Any], match: str) -> None:
    """Every shared option is checked when the mailer is built."""
    with pytest.raises(ConfigError, match=match):
        EchoMailer(token=TOKEN, **options)
