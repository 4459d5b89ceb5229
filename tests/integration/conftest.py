"""Fixtures: real SMTP test servers on 127.0.0.1 (see tests/smtp_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.smtp_server import (
    AUTH_CREDENTIALS,
    Faults,
    SilentServer,
    SMTPServerFactory,
    SMTPTestServer,
    TLSMode,
)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority; servers get certificates for localhost/127.0.0.1."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA's certificate as a PEM file (for `cafile=` arguments)."""
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(path)
    return path


@pytest.fixture
def smtp_pipelining() -> bool:
    """Whether test servers advertise PIPELINING unless told otherwise.

    True by default, as the servers mail goes to in production do (Postfix, Exim, the
    providers); test_smtp_mailer.py runs every test both ways.
    """
    return True


@pytest.fixture
def make_smtp_server(ca: trustme.CA, smtp_pipelining: bool) -> Iterator[SMTPServerFactory]:
    """Start an SMTPTestServer with the given options (TLS uses `ca`); stopped at teardown."""
    servers: list[SMTPTestServer] = []

    def make(
        *,
        tls: TLSMode = "none",
        auth: tuple[str, str] | None = None,
        data_size_limit: int | None = None,
        smtputf8: bool = True,
        pipelining: bool | None = None,
        faults: Faults | None = None,
    ) -> SMTPTestServer:
        server = SMTPTestServer(
            tls=tls,
            ca=ca,
            auth=auth,
            data_size_limit=data_size_limit,
            smtputf8=smtputf8,
            pipelining=smtp_pipelining if pipelining is None else pipelining,
            faults=faults,
        )
        server.start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: SMTPServerFactory) -> SMTPTestServer:
    """Plaintext, no AUTH."""
    return make_smtp_server()


@pytest.fixture
def starttls_server(make_smtp_server: SMTPServerFactory) -> SMTPTestServer:
    """Offers STARTTLS (not required), no AUTH."""
    return make_smtp_server(tls="starttls")


@pytest.fixture
def ssl_server(make_smtp_server: SMTPServerFactory) -> SMTPTestServer:
    """Implicit TLS (SMTPS), no AUTH."""
    return make_smtp_server(tls="implicit")


@pytest.fixture
def auth_server(make_smtp_server: SMTPServerFactory) -> SMTPTestServer:
    """Plaintext, AUTH PLAIN/LOGIN offered in cleartext and required (AUTH_CREDENTIALS)."""
    return make_smtp_server(auth=AUTH_CREDENTIALS)


@pytest.fixture
def starttls_auth_server(make_smtp_server: SMTPServerFactory) -> SMTPTestServer:
    """STARTTLS; AUTH (AUTH_CREDENTIALS) offered after STARTTLS only, and required."""
    return make_smtp_server(tls="starttls", auth=AUTH_CREDENTIALS)


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    """Accepts connections and never says anything."""
    with SilentServer() as server:
        yield server
