"""Check an AWS Signature Version 4 the way AWS does, for the SES test servers.

The signature is recomputed with botocore's SigV4 primitives (canonical request, string
to sign, signing key) over the request as it was *received* (method, path, query, the
headers it says it signed, the body bytes), with the test's known secret, and compared in
constant time. A signer that signs the wrong body, region, service, host or headers, or
with the wrong key, fails here as it would fail at AWS. Also enforced, as AWS does:
``host`` and ``x-amz-date`` are signed, the credential scope matches, the date is within
the allowed skew, and a session token, when the key has one, is sent and signed.

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-signing-elements.html
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from pathlib import Path

import attrs
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/"
    r"(?P<service>[^/\s]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


@attrs.frozen
class SigningKey:
    """A key pair the server knows (and the session token it must come with, if any)."""

    secret: str
    token: str | None = None


class SignatureError(Exception):
    """The request would be refused by AWS: *code* is the AWS error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def verify_sigv4(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    keys: Mapping[str, SigningKey],
    region: str,
    service: str = "ses",
    now: dt.datetime | None = None,
    max_skew: dt.timedelta = dt.timedelta(minutes=5),
) -> str:
    """Return the access key id that signed the request, or raise SignatureError.

    *headers* are the received headers (any case); *url* the full URL as received.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization")
    if authorization is None:
        raise SignatureError("MissingAuthenticationToken", "no Authorization header")
    match = _AUTHORIZATION.fullmatch(authorization)
    if match is None:
        raise SignatureError("IncompleteSignature", "malformed Authorization header")
    key_id = match["key"]
    key = keys.get(key_id)
    if key is None:
        raise SignatureError("UnrecognizedClientException", "unknown access key")
    if (match["region"], match["service"]) != (region, service):
        raise SignatureError("InvalidSignatureException", "wrong credential scope")
    signed = match["signed"].split(";")
    if signed != sorted(signed) or not {"host", "x-amz-date"} <= set(signed):
        raise SignatureError("IncompleteSignature", "host and x-amz-date must be signed")
    missing = [name for name in signed if name not in lowered]
    if missing:
        raise SignatureError("IncompleteSignature", f"signed headers not sent: {missing}")
    if key.token is not None and (
        lowered.get("x-amz-security-token") != key.token or "x-amz-security-token" not in signed
    ):
        raise SignatureError("InvalidClientTokenId", "the security token is missing or wrong")
    amz_date = lowered["x-amz-date"]
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise SignatureError("IncompleteSignature", "bad X-Amz-Date") from None
    if amz_date[:8] != match["date"]:
        raise SignatureError("InvalidSignatureException", "scope date is not X-Amz-Date's")
    if abs((now or dt.datetime.now(dt.UTC)) - when) > max_skew:
        raise SignatureError("RequestExpired", "signature date outside the allowed skew")

    content_hash = lowered.get("x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(body).hexdigest():
        raise SignatureError("InvalidSignatureException", "the body is not what was signed")
    request = AWSRequest(
        method=method, url=url, data=body, headers={name: lowered[name] for name in signed}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(key_id, key.secret, key.token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    return key_id


#: The variables botocore's default credential chain reads.
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def isolate_aws_env(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make botocore's credential chain see only what the test sets: no AWS variables,
    config files in *folder* (absent until written), no instance metadata lookups."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
