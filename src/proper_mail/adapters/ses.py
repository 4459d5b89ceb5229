"""Amazon SES (API v2) mailer: SendEmail with our own MIME, signed with SigV4 by botocore.

The three parts every provider has (see ``http.py``):

- ``build_request(message, options)``: ``POST /v2/email/outbound-emails`` with
  ``Content.Raw.Data`` = base64 of ``to_bytes(message)``, the same bytes the SMTP mailer
  sends, so inline cid images, attachments, custom headers, cc and reply-to go exactly
  as composed. ``Destination`` lists the envelope recipients (bcc included, narrowed by
  ``envelope_to``): each under ToAddresses, CcAddresses or BccAddresses by the field it
  came from, while the headers still show every to and cc.
- ``parse_response(...)``: ``{"MessageId": ...}`` becomes the ``provider_id``; errors are
  classified by their AWS error type (``ERROR_CLASSES``), then by status.
- ``SESMailer``: ``prepare(request)`` signs with botocore's ``SigV4Auth`` (service
  ``ses``); credentials come from the options or botocore's default chain.

Field mapping (what SES cannot express raises ``UnsupportedFeature``):

=============================  ================================================
ours                           SES v2 SendEmail
=============================  ================================================
from, to, cc, reply_to,        the raw MIME (``Content.Raw.Data``); the From
subject, body, alternatives,   addr-spec also as ``FromEmailAddress`` (the
attachments, inline images,    identity SES checks)
headers, Message-ID, Date
to / cc / bcc (envelope)       ``Destination.ToAddresses`` / ``CcAddresses`` /
                               ``BccAddresses`` (ASCII, IDNA A-label domains)
envelope_to                    narrows ``Destination``; headers unchanged
envelope_from                  ``FeedbackForwardingEmailAddress`` (where SES sends
                               bounces and complaints); the mailer's
                               ``feedback_forwarding_address`` otherwise
metadata {key: value}          ``EmailTags`` ``{"Name": key, "Value": value}``
tags ["welcome"]               ``EmailTags`` ``{"Name": "welcome", "Value": "true"}``
idempotency key                none in SES
message_id (echo)              the Message-ID header of the raw message: SES
                               replaces it on the delivered copy, but its events
                               keep the original in ``mail.headers`` and
                               ``mail.commonHeaders.messageId`` (``echo.py``;
                               identity notifications need "Include original
                               headers"). No tag: SES publishes tags only through
                               configuration sets, whose events carry the headers
sandbox / test mode            none in SES (use the mailbox simulator addresses)
mailer options                 ``ConfigurationSetName``,
                               ``FromEmailAddressIdentityArn`` (``from_arn``),
                               ``FeedbackForwardingEmailAddressIdentityArn``
provider_options               merged into the JSON body at the top level, last
                               (they win): ``{"ses": {"TenantName": "t1"}}``
=============================  ================================================

Refused before sending: a non-ASCII local part anywhere (SES does not support SMTPUTF8),
more than 50 envelope recipients, a tag or metadata key/value outside SES's tag charset
(``[A-Za-z0-9_-]``, at most 256), a tag named like a metadata key, an attachment whose
extension SES refuses, a header SES accepts once given twice (``UnsupportedFeature``);
a raw message over 40 MB (``MessageTooLarge``).

Docs used (each cited again in the tests):

- SendEmail: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
- MessageTag: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_MessageTag.html
- Common errors: https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html
- Quotas (40 MB, 50 recipients): https://docs.aws.amazon.com/ses/latest/dg/quotas.html
- Throttling: https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
- Header fields: https://docs.aws.amazon.com/ses/latest/dg/header-fields.html
- Refused attachments: https://docs.aws.amazon.com/ses/latest/dg/mime-types.html
- The service model in botocore (``botocore/data/sesv2/2019-09-27/service-2.json``):
  shapes, error names and their HTTP statuses.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from ..core.addresses import Address, prep_address
from ..core.mime import DEFAULT_POLICY, envelope_of, to_bytes
from ..core.records import Message, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    InvalidAddress,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from .http import (
    HttpMailer,
    HttpRequest,
    Secret,
    all_accepted,
    decode_json,
    json_request,
    merged_options,
    retry_after_of,
    status_error,
    unsupported,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ERROR_CLASSES",
    "MAX_RAW_BYTES",
    "MAX_RECIPIENTS",
    "SESMailer",
    "SESOptions",
    "build_request",
    "endpoint_of",
    "error_code_of",
    "parse_response",
    "sign_request",
]

PROVIDER = "ses"
#: Request fields built from the message: provider_options may not replace them.
RESERVED: Final = frozenset(
    {"fromemailaddress", "destination", "content", "emailtags", "replytoaddresses"}
)
SEND_PATH = "/v2/email/outbound-emails"
#: "Using the SES v2 API - Maximum message size (including attachments): 40 MB per
#: message (after base64 encoding)" (quotas.html): the MIME bytes, attachments encoded.
#: Read as MiB, the larger reading: a message between the two is refused by SES itself
#: (MessageRejected, permanent) rather than here.
MAX_RAW_BYTES = 40 * 1024 * 1024
#: "Maximum number of recipients per message: 50" (quotas.html), to, cc and bcc together.
MAX_RECIPIENTS = 50
_TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TAG_VALUE = "true"
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: File extensions SES refuses as attachments (mime-types.html).
REFUSED_EXTENSIONS = frozenset(
    """
    ade adp app asp bas bat cer chm cmd com cpl crt csh der exe fxp gadget hlp hta inf
    ins isp its js jse ksh lib lnk mad maf mag mam maq mar mas mat mau mav maw mda mdb
    mde mdt mdw mdz msc msh msh1 msh2 mshxml msh1xml msh2xml msi msp mst ops pcd pif plg
    prf prg reg scf scr sct shb shs sys ps1 ps1xml ps2 ps2xml psc1 psc2 tmp url vb vbe
    vbs vps vsmacros vss vst vsw vxd ws wsc wsf wsh xnk
    """.split()  # noqa: SIM905 (a list as the docs print it)
)

#: Headers SES accepts at most once (header-fields.html), lower case.
SINGLE_HEADERS = frozenset(
    """
    accept-language acceptlanguage archived-at auto-submitted bounces-to comments
    content-alternative content-base content-class content-description
    content-disposition content-duration content-id content-language content-length
    content-location content-md5 content-transfer-encoding content-type date
    delivered-to disposition-notification-options disposition-notification-to
    dkim-signature domainkey-signature errors-to from importance in-reply-to keywords
    list-archive list-help list-id list-owner list-post list-subscribe list-unsubscribe
    list-unsubscribe-post message-context message-id mime-version organization
    original-from original-message-id original-recipient original-subject precedence
    priority references reply-to return-path return-receipt-to sender solicitation
    sensitivity subject thread-index thread-topic user-agent vbr-info
    """.split()  # noqa: SIM905 (a list as the docs print it)
)

#: How each AWS error type is classified. SendEmail's own errors (service-2.json) and the
#: common ones (CommonErrors.html). Anything else falls back to its HTTP status.
#:
#: - Throttling (TooManyRequestsException 429, ThrottlingException 400 "Maximum sending
#:   rate exceeded" / "Daily message quota exceeded", LimitExceededException): retry
#:   later, ``RateLimited``.
#: - SendingPausedException: "currently paused" (by you, or by AWS pending a review);
#:   transient, so queued mail goes out once sending resumes, and failover moves on.
#: - AccountSuspendedException: "permanently restricted": permanent.
#: - MessageRejected, MailFromDomainNotVerifiedException, BadRequestException,
#:   NotFoundException (no such configuration set), and the authentication errors:
#:   the same request fails again until someone changes something: permanent.
ERROR_CLASSES: Mapping[str, type[DeliveryError]] = {
    "TooManyRequestsException": RateLimited,
    "ThrottlingException": RateLimited,
    "Throttling": RateLimited,
    "LimitExceededException": RateLimited,
    "SendingPausedException": TransientDeliveryError,
    "InternalFailure": TransientDeliveryError,
    "InternalServiceErrorException": TransientDeliveryError,
    "ServiceUnavailable": TransientDeliveryError,
    "AccountSuspendedException": PermanentDeliveryError,
    "MessageRejected": PermanentDeliveryError,
    "MailFromDomainNotVerifiedException": PermanentDeliveryError,
    "BadRequestException": PermanentDeliveryError,
    "NotFoundException": PermanentDeliveryError,
    "AccessDeniedException": PermanentDeliveryError,
    "IncompleteSignature": PermanentDeliveryError,
    "InvalidClientTokenId": PermanentDeliveryError,
    "InvalidSignatureException": PermanentDeliveryError,
    "SignatureDoesNotMatch": PermanentDeliveryError,
    "UnrecognizedClientException": PermanentDeliveryError,
    "MissingAuthenticationToken": PermanentDeliveryError,
    "RequestExpired": PermanentDeliveryError,
}

# The sandbox refuses unverified recipients with a MessageRejected that names them:
# "Email address is not verified. The following identities failed the check in region
# US-EAST-1: a@example.com, b@example.com".
_UNVERIFIED = re.compile(r"failed the check in region [^:]*:\s*(.+)$", re.IGNORECASE | re.DOTALL)


_SIGNING_DETAILS = re.compile(r"\n\s*\n|The Canonical String|The String-to-Sign", re.IGNORECASE)


@attrs.frozen
class SESOptions:
    """What ``build_request`` needs from an SESMailer (credentials are only for signing,
    so they are not here).

    Attributes:
        region: the AWS region (``eu-west-1``).
        base_url: the API root, ``https://email.<region>.amazonaws.com`` by default.
        configuration_set: ``ConfigurationSetName``, or None.
        from_arn: ``FromEmailAddressIdentityArn`` (sending authorization), or None.
        feedback_forwarding_address: ``FeedbackForwardingEmailAddress`` when the message
            has no ``envelope_from``, or None.
        feedback_forwarding_arn: ``FeedbackForwardingEmailAddressIdentityArn``, or None.
        provider_options: request fields merged into every body (a message's own
            ``provider_options["ses"]`` win).
    """

    region: str
    base_url: str
    configuration_set: str | None = None
    from_arn: str | None = None
    feedback_forwarding_address: str | None = None
    feedback_forwarding_arn: str | None = None
    provider_options: Mapping[str, Any] = attrs.field(factory=dict)


def endpoint_of(region: str) -> str:
    """The SES v2 endpoint of *region* (``email.<region>.amazonaws.com``; ``.com.cn`` in
    the China regions)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://email.{region}.{suffix}"


# -- the request ----------------------------------------------------------------------


def build_request(message: Message, options: SESOptions) -> HttpRequest:
    """The SendEmail request for *message* (pure: unsigned; ``sign_request`` signs it).

    Raises UnsupportedFeature for what SES cannot take and MessageTooLarge for a raw
    message over ``MAX_RAW_BYTES``.
    """
    _check_ascii_addresses(message)
    _check_attachments(message)
    _check_headers(message)
    raw = to_bytes(message, DEFAULT_POLICY)
    if len(raw) > MAX_RAW_BYTES:
        raise MessageTooLarge(
            f"ses: the message is {len(raw)} bytes; SES accepts at most {MAX_RAW_BYTES} "
            "(40 MB, attachments included)",
            code=None,
            size=len(raw),
            limit=MAX_RAW_BYTES,
        )
    envelope = envelope_of(message, DEFAULT_POLICY)
    if len(envelope.recipients) > MAX_RECIPIENTS:
        raise unsupported(
            PROVIDER,
            "to",
            len(envelope.recipients),
            f"SES takes at most {MAX_RECIPIENTS} recipients (to, cc and bcc) per message; "
            "send it in batches",
        )
    payload: dict[str, Any] = {
        "FromEmailAddress": prep_address(message.from_email),
        "Destination": _destination_of(message, envelope.recipients),
        "Content": {"Raw": {"Data": base64.b64encode(raw).decode("ascii")}},
    }
    tags = _email_tags_of(message)
    if tags:
        payload["EmailTags"] = tags
    if options.configuration_set:
        payload["ConfigurationSetName"] = options.configuration_set
    if options.from_arn:
        payload["FromEmailAddressIdentityArn"] = options.from_arn
    feedback = (
        prep_address(message.envelope_from)
        if message.envelope_from is not None
        else options.feedback_forwarding_address
    )
    if feedback:
        payload["FeedbackForwardingEmailAddress"] = feedback
    if options.feedback_forwarding_arn:
        payload["FeedbackForwardingEmailAddressIdentityArn"] = options.feedback_forwarding_arn
    payload.update(merged_options(message, PROVIDER, options.provider_options, RESERVED))
    return json_request("POST", options.base_url + SEND_PATH, payload)


def _check_ascii_addresses(message: Message) -> None:
    fields: list[tuple[str, Address]] = [("from_email", message.from_email)]
    fields += [("to", a) for a in message.to]
    fields += [("cc", a) for a in message.cc]
    fields += [("bcc", a) for a in message.bcc]
    fields += [("reply_to", a) for a in message.reply_to]
    if message.envelope_from is not None:
        fields.append(("envelope_from", message.envelope_from))
    for field, address in fields:
        if not address.local_part.isascii():
            raise unsupported(
                PROVIDER,
                field,
                str(address),
                "SES does not support SMTPUTF8: the part before @ must be ASCII",
            )


def _check_attachments(message: Message) -> None:
    for attachment in message.attachments:
        _, dot, extension = attachment.filename.rpartition(".")
        if dot and extension.lower() in REFUSED_EXTENSIONS:
            raise unsupported(
                PROVIDER,
                "attachments",
                attachment.filename,
                f"SES refuses .{extension.lower()} attachments (see its list of unsupported "
                "attachment types); send a link, or an archive SES accepts",
            )


def _check_headers(message: Message) -> None:
    seen: set[str] = set()
    for name, _ in message.headers:
        lowered = name.lower()
        if lowered in SINGLE_HEADERS:
            if lowered in seen:
                raise unsupported(PROVIDER, "headers", name, "SES accepts this header at most once")
            seen.add(lowered)


def _destination_of(message: Message, recipients: tuple[str, ...]) -> dict[str, list[str]]:
    """The envelope recipients, each under the list of the field it first appears in."""
    field_of: dict[str, str] = {}
    for field, addresses in (
        ("ToAddresses", message.to),
        ("CcAddresses", message.cc),
        ("BccAddresses", message.bcc),
    ):
        for address in addresses:
            field_of.setdefault(prep_address(address), field)
    destination: dict[str, list[str]] = {}
    for recipient in recipients:
        destination.setdefault(field_of.get(recipient, "ToAddresses"), []).append(recipient)
    return destination


def _email_tags_of(message: Message) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    names: set[str] = set()
    for key, value in message.metadata:
        _check_tag_text("metadata", key, "a metadata key")
        _check_tag_text(f"metadata[{key!r}]", value, "a metadata value")
        tags.append({"Name": key, "Value": value})
        names.add(key)
    for tag in message.tags:
        _check_tag_text("tags", tag, "a tag")
        if tag in names:
            raise unsupported(
                PROVIDER,
                "tags",
                tag,
                "SES sends tags and metadata as one set of named message tags: "
                "a tag cannot share its name with a metadata key or another tag",
            )
        tags.append({"Name": tag, "Value": _TAG_VALUE})
        names.add(tag)
    return tags


def _check_tag_text(field: str, text: str, what: str) -> None:
    if not _TAG_TEXT.fullmatch(text):
        raise unsupported(
            PROVIDER,
            field,
            text,
            f"{what} becomes an SES message tag, which allows only ASCII letters, digits, "
            "_ and - (1 to 256 of them); put other data in a custom header",
        )


# -- the response ---------------------------------------------------------------------


def error_code_of(headers: Mapping[str, str], data: object) -> str:
    """The AWS error type of a response: the ``x-amzn-ErrorType`` header, else the body's
    ``code``/``Code``, else ``__type``; namespace (``...#``) and suffix (``:...``)
    removed, as botocore's rest-json parser does. "" when there is none."""
    code: object = None
    for name, value in headers.items():
        if name.lower() == "x-amzn-errortype":
            code = value
            break
    if code is None and isinstance(data, Mapping):
        code = data.get("code") or data.get("Code") or data.get("__type")
    if not isinstance(code, str):
        return ""
    return code.split(":", 1)[0].rsplit("#", 1)[-1].strip()


def _error_text_of(data: object, body: bytes) -> str:
    """SES's words, without what AWS appends to a signature error: the canonical
    request and string to sign, which hold the access key id and any session token."""
    text = ""
    if isinstance(data, Mapping):
        for key in ("message", "Message"):
            value = data.get(key)
            if isinstance(value, str):
                text = value
                break
    else:
        text = body[:300].decode("utf-8", "replace")
    return _SIGNING_DETAILS.split(text, maxsplit=1)[0].strip()


def parse_response(
    message: Message,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: dt.datetime | None = None,
) -> SendResult:
    """The SendResult for SES's answer to SendEmail, or the classified error raised.

    200 ``{"MessageId": ...}``: every envelope recipient ``sent``, the id as
    ``provider_id`` (a 200 without one is still accepted, with no id: resending would
    send twice). Otherwise the error type decides (``ERROR_CLASSES``), then the status
    (429 and 5xx transient, 413 too large, other 4xx permanent). A sandbox rejection
    that names unverified recipients reports those ``rejected`` and the others
    ``failed``.
    """
    data = decode_json(body)
    if 200 <= status < 300:
        provider_id = data.get("MessageId") if isinstance(data, Mapping) else None
        return all_accepted(message, provider_id if isinstance(provider_id, str) else None)
    code = error_code_of(headers, data)
    text = _error_text_of(data, body)
    detail = f"{code}: {text}" if code else text
    recipients = _named_recipients(message, status, code, text)
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        raise status_error(PROVIDER, status, headers, detail, recipients=recipients, now=now)
    words = " ".join(detail.split())
    words = words if len(words) <= 300 else f"{words[:297]}..."
    raise cls(
        f"{PROVIDER}: HTTP {status}: {words}",
        code=status,
        recipients=recipients,
        retry_after=retry_after_of(headers, now)
        if issubclass(cls, TransientDeliveryError)
        else None,
    )


def _named_recipients(
    message: Message, status: int, code: str, text: str
) -> tuple[RecipientStatus, ...]:
    """Per-recipient statuses when SES names the recipients it refused, else ()."""
    match = _UNVERIFIED.search(text) if code == "MessageRejected" else None
    if match is None:
        return ()
    named = {item.strip().lower() for item in match.group(1).split(",")}
    recipients = envelope_of(message, DEFAULT_POLICY).recipients
    if not named & {r.lower() for r in recipients}:
        return ()
    return tuple(
        RecipientStatus(r, "rejected", status, text)
        if r.lower() in named
        else RecipientStatus(r, "failed", status, "not sent: another recipient was refused")
        for r in recipients
    )


# -- signing --------------------------------------------------------------------------


def sign_request(request: HttpRequest, credentials: Any, region: str) -> HttpRequest:
    """*request* signed with AWS Signature Version 4 for SES in *region*, by botocore's
    ``SigV4Auth`` (adds ``X-Amz-Date``, ``Authorization`` and, for temporary
    credentials, ``X-Amz-Security-Token``). *credentials* has ``access_key``,
    ``secret_key`` and ``token`` (botocore's frozen credentials). Reads the clock."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    aws_request = AWSRequest(
        method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
    )
    SigV4Auth(credentials, "ses", region).add_auth(aws_request)
    return attrs.evolve(request, headers=tuple(aws_request.headers.items()))


# -- the mailer -----------------------------------------------------------------------


class SESMailer(HttpMailer):
    """Sends through Amazon SES's v2 API (``SendEmail`` with raw MIME), signed with SigV4.

    Needs ``pip install 'proper-mail[ses]'`` (botocore, for signing and credentials).

    Options (keyword-only, from MAILERS):
        region: the AWS region, required (``"eu-west-1"``).
        access_key_id, secret_access_key, session_token: explicit credentials; without
            them, botocore's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY,
            AWS_PROFILE and ~/.aws, container and instance roles) is resolved when the
            mailer is built, and refreshed by botocore as temporary credentials expire.
        profile: a named profile of ~/.aws/config to take credentials from.
        configuration_set: the SES configuration set (event publishing, IP pools).
        from_arn: ``FromEmailAddressIdentityArn`` for sending authorization.
        feedback_forwarding_address, feedback_forwarding_arn: where bounces and
            complaints go (a message's ``envelope_from`` wins over the address).
        base_url: the endpoint (default ``https://email.<region>.amazonaws.com``); http
            only to a loopback test server.
        client, timeout, http2, provider_options, fail_silently: as for every HTTP
            provider mailer (``HttpMailer``).
    """

    provider = PROVIDER

    def __init__(
        self,
        *,
        region: str,
        access_key_id: str | Secret | None = None,
        secret_access_key: str | Secret | None = None,
        session_token: str | Secret | None = None,
        profile: str | None = None,
        configuration_set: str | None = None,
        from_arn: str | None = None,
        feedback_forwarding_address: str | None = None,
        feedback_forwarding_arn: str | None = None,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        http2: bool = False,
        provider_options: Mapping[str, Any] | None = None,
        fail_silently: bool = False,
    ) -> None:
        region = _check_region(region)
        super().__init__(
            client=client,
            base_url=base_url or endpoint_of(region),
            timeout=timeout,
            http2=http2,
            provider_options=provider_options,
            fail_silently=fail_silently,
        )
        self.options = SESOptions(
            region=region,
            base_url=self.base_url,
            configuration_set=_check_configuration_set(configuration_set),
            from_arn=_check_arn("from_arn", from_arn),
            feedback_forwarding_address=_check_address_option(
                "feedback_forwarding_address", feedback_forwarding_address
            ),
            feedback_forwarding_arn=_check_arn("feedback_forwarding_arn", feedback_forwarding_arn),
            provider_options=self.provider_options,
        )
        self._credentials = _credentials_of(
            access_key_id, secret_access_key, session_token, profile
        )

    def build_request(self, message: Message) -> HttpRequest:
        """The unsigned SendEmail request for *message*."""
        return build_request(message, self.options)

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """*request* signed with this mailer's credentials (refreshed when they expire)."""
        from botocore.exceptions import BotoCoreError

        try:
            frozen = self._credentials.get_frozen_credentials()
        except BotoCoreError as e:  # an expired role whose refresh failed: try later
            raise TransientDeliveryError(
                f"ses: could not refresh the AWS credentials: {type(e).__name__}"
            ) from e
        return sign_request(request, frozen, self.options.region)

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """The SendResult, or the classified error (see ``parse_response``)."""
        return parse_response(message, status, headers, body, now=dt.datetime.now(dt.UTC))


def _check_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigError(f"region must be an AWS region name such as 'us-east-1', not {region!r}")
    return region


def _check_configuration_set(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CONFIGURATION_SET.fullmatch(value):
        raise ConfigError(
            "configuration_set must be an SES configuration set name (letters, digits, "
            f"_ and -, at most 64), not {value!r}"
        )
    return value


def _check_arn(field: str, value: object) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.startswith("arn:")
        or any(c.isspace() for c in value)
    ):
        raise ConfigError(f"{field} must be an ARN (arn:aws:ses:...), not {value!r}")
    return value


def _check_address_option(field: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{field} must be an email address, not {type(value).__name__}")
    try:
        return prep_address(value)
    except InvalidAddress as e:
        raise ConfigError(f"{field}: {e.reason}: {value!r}") from None


def _credentials_of(
    access_key_id: object, secret_access_key: object, session_token: object, profile: object
) -> Any:
    """botocore credentials: the explicit ones, else botocore's default chain (or
    *profile*'s). ConfigError saying what is missing; never showing a key."""
    try:
        import botocore.credentials
        import botocore.exceptions
        import botocore.session
    except ImportError:
        raise ConfigError(
            "SESMailer needs botocore (SigV4 signing, AWS credentials): "
            "pip install 'proper-mail[ses]'"
        ) from None
    explicit = access_key_id is not None or secret_access_key is not None
    if explicit:
        if profile is not None:
            raise ConfigError("give access_key_id/secret_access_key or profile, not both")
        if access_key_id is None:
            raise ConfigError("secret_access_key is set but access_key_id is missing")
        if secret_access_key is None:
            raise ConfigError("access_key_id is set but secret_access_key is missing")
        key_id = Secret.of("access_key_id", access_key_id)
        secret = Secret.of("secret_access_key", secret_access_key)
        token = None if session_token is None else Secret.of("session_token", session_token)
        return botocore.credentials.Credentials(
            key_id.reveal(), secret.reveal(), token.reveal() if token else None
        )
    if session_token is not None:
        raise ConfigError("session_token needs access_key_id and secret_access_key")
    if profile is not None and (not isinstance(profile, str) or not profile.strip()):
        raise ConfigError(f"profile must be a profile name, not {profile!r}")
    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except botocore.exceptions.ProfileNotFound:
        raise ConfigError(f"profile {profile!r} is not in the AWS config files") from None
    except botocore.exceptions.BotoCoreError as e:
        raise ConfigError(f"SESMailer could not load AWS credentials: {type(e).__name__}") from None
    if credentials is None:
        raise ConfigError(
            "SESMailer found no AWS credentials: pass access_key_id and secret_access_key, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile "
            "(profile= or AWS_PROFILE, ~/.aws/credentials), or run with an instance or "
            "container role"
        )
    return credentials
