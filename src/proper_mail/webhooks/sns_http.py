"""The I/O that SNS verification needs: fetching signing certificates (cached) and
confirming subscriptions. Both are called by ``ses`` only with URLs that passed its
pin (https, ``sns.<region>.amazonaws.com``), and both are injected through
``SesConfig`` so the verification itself stays pure.

Every request has a timeout, follows no redirect (a redirect could leave the pinned
host) and verifies TLS; failures become ``WebhookUnavailable`` (answered 503, so SNS
retries) or ``WebhookVerificationError`` (the host said there is no such certificate).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from cryptography import x509

from ..errors import WebhookUnavailable, WebhookVerificationError

if TYPE_CHECKING:
    import httpx

__all__ = ["SnsCertificates", "confirm_subscription_url"]

PROVIDER = "ses"

#: SNS signing certificates are ~2 KB; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024


class SnsCertificates:
    """``url -> x509.Certificate``: GET the PEM at *url* once, then serve it from a
    small LRU cache (SNS signs with few certificates, rotated rarely).

    Arguments:
        timeout: seconds for the whole request.
        client: an ``httpx.Client`` to use (proxies, tests); by default one of its own.
        max_entries: certificates kept.
    """

    def __init__(
        self, *, timeout: float = 5.0, client: httpx.Client | None = None, max_entries: int = 16
    ) -> None:
        self.timeout = timeout
        self.max_entries = max_entries
        self._client = client
        self._owns_client = client is None
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<SnsCertificates {len(self._cache)} cached>"

    def __call__(self, url: str) -> x509.Certificate:
        with self._lock:
            found = self._cache.get(url)
            if found is not None:
                self._cache.move_to_end(url)
                return found
        certificate = self._fetch(url)
        with self._lock:
            self._cache[url] = certificate
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return certificate

    def close(self) -> None:
        """Close the HTTP client this object made (an injected one is left open)."""
        with self._lock:
            client, self._client = self._client, None
            owned, self._owns_client = self._owns_client, True
        if client is not None and owned:
            client.close()

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(timeout=self.timeout, follow_redirects=False)
        return self._client

    def _fetch(self, url: str) -> x509.Certificate:
        data = _get(self._http(), url, self.timeout, "the signing certificate")
        if len(data) > MAX_CERTIFICATE_BYTES:
            raise WebhookVerificationError(PROVIDER, "the signing certificate is too large")
        try:
            return x509.load_pem_x509_certificates(data)[0]
        except (ValueError, IndexError):
            raise WebhookVerificationError(
                PROVIDER, "SigningCertURL does not hold a PEM certificate"
            ) from None


def confirm_subscription_url(url: str, *, timeout: float = 5.0) -> None:
    """Confirm an SNS subscription: GET its SubscribeURL (already pinned)."""
    import httpx

    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        _get(client, url, timeout, "the subscription confirmation")


def _get(client: httpx.Client, url: str, timeout: float, what: str) -> bytes:
    import httpx

    try:
        response = client.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as e:
        raise WebhookUnavailable(
            PROVIDER, f"{what} could not be fetched: {type(e).__name__}"
        ) from e
    status = response.status_code
    if status == 200:
        return response.content
    if status == 429 or status >= 500:
        raise WebhookUnavailable(PROVIDER, f"{what}: HTTP {status}")
    raise WebhookVerificationError(PROVIDER, f"{what}: HTTP {status}")
