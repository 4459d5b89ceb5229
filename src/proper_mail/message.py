"""The guide's ``EmailMessage``: one class per email, class-level defaults, ``send()``.

An imperative shell over the pure core: attributes in, ``compose()`` -> Message record
-> the configured mailer. Anything set at class level is a default for every instance
(from_email, subject, content_subtype, charset, to, headers ... all of them); any other
instance attribute is free-form and becomes a template variable.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .adapters.base import new_stamp
from .core.compose import AddressInput, inline_part
from .core.records import Alternative, Attachment, Message, SendResult, Stamp
from .core.templates import Bodies, TemplatePaths, choose_bodies, template_paths
from .errors import EmailTemplateNotFound, MessageError
from .mail import Mail, compose, configured_mail, current_mail
from .tasks.serialization import EmailMessageDict, dump_message

__all__ = ["EmailMessage"]

_MISSING: Any = object()
#: Called with every email and the record it composed (the testing kit learns which
#: class a Message-ID came from).
compose_hooks: list[Callable[[EmailMessage, Message], None]] = []


class EmailMessage:
    """An email: keyword-only fields, class-level defaults, free-form attributes.

    ``EmailMessage(subject="Welcome!", body="Thanks.", to="alice@example.com").send()``
    """

    #: The constructor's fields; ``update()`` accepts exactly these.
    FIELDS: ClassVar[tuple[str, ...]] = (
        "from_email",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "subject",
        "body",
        "content_subtype",
        "charset",
        "headers",
        "attachments",
        "alternatives",
        "tags",
        "metadata",
        "provider_options",
    )

    from_email: str | None = None
    to: AddressInput = None
    cc: AddressInput = None
    bcc: AddressInput = None
    reply_to: AddressInput = None
    subject: str = ""
    body: str = ""
    content_subtype: str = "plain"
    charset: str = "utf-8"
    headers: Mapping[str, object] | None = None
    tags: Sequence[str] = ()
    metadata: Mapping[str, object] | None = None
    #: Per-provider extras, ``{"postmark": {"MessageStream": "broadcast"}}``.
    provider_options: Mapping[str, Mapping[str, object]] | None = None
    #: Seconds after composing past which a queued copy is dropped, not sent late.
    max_age: ClassVar[float | None] = None

    def __init__(
        self,
        *,
        from_email: str | None = None,
        to: AddressInput = None,
        cc: AddressInput = None,
        bcc: AddressInput = None,
        reply_to: AddressInput = None,
        subject: str | None = None,
        body: str | None = None,
        content_subtype: str | None = None,
        charset: str | None = None,
        headers: Mapping[str, object] | None = None,
        attachments: Sequence[Attachment] | None = None,
        alternatives: Sequence[Alternative | tuple[str, str]] | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, object] | None = None,
        provider_options: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        self.headers = dict(type(self).headers or {})
        self.attachments: list[Attachment] = list(getattr(type(self), "attachments", ()))
        self.alternatives: list[Alternative | tuple[str, str]] = list(
            getattr(type(self), "alternatives", ())
        )
        self._stamp: Stamp | None = None
        self.update(
            from_email=from_email,
            to=to,
            cc=cc,
            bcc=bcc,
            reply_to=reply_to,
            subject=subject,
            body=body,
            content_subtype=content_subtype,
            charset=charset,
            headers=headers,
            attachments=attachments,
            alternatives=alternatives,
            tags=tags,
            metadata=metadata,
            provider_options=provider_options,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} subject={self.subject!r} to={self.to!r}>"

    def update(self, **fields: Any) -> EmailMessage:
        """Set fields after construction (None leaves one as it is); headers merge.

        Raises TypeError for a name that is not a field, so a typo is not silently
        turned into a template variable.
        """
        unknown = [name for name in fields if name not in self.FIELDS]
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.update() got an unknown field {unknown[0]!r}; "
                f"the fields are: {', '.join(self.FIELDS)}"
            )
        for name, value in fields.items():
            if value is None:
                continue
            if name == "headers":
                self.headers = {**(self.headers or {}), **value}
            elif name in ("attachments", "alternatives"):
                setattr(self, name, list(value))
            else:
                setattr(self, name, value)
        return self

    # -- content ---------------------------------------------------------------------

    def attach(self, filename: str, content: bytes | str, mimetype: str | None = None) -> None:
        """Attach *content* (str is encoded as UTF-8) under *filename*."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        self.attachments.append(Attachment(filename, data, mimetype or _guess_type(filename)))

    def attach_file(
        self, path: str | Path, mimetype: str | None = None, *, inline: bool = False
    ) -> str | None:
        """Attach the file at *path*, read now (a missing file fails here, not in a worker).

        The type is guessed from the extension unless *mimetype* is given. With
        ``inline=True`` the file becomes an inline part and the returned content id goes
        in the HTML as ``<img src="cid:{id}">``.
        """
        path = Path(path)
        try:
            content = path.read_bytes()
        except OSError as e:
            raise MessageError(
                "attachments", str(path), f"cannot read the file ({e.strerror})"
            ) from None
        mimetype = mimetype or _guess_type(path.name)
        if not inline:
            self.attachments.append(Attachment(path.name, content, mimetype))
            return None
        part = inline_part(path.name, content, mimetype)
        self.attachments.append(part)
        return part.content_id

    def attach_alternative(self, content: str, mimetype: str) -> None:
        """Add another rendering of the body (e.g. the text/plain twin of HTML)."""
        self.alternatives.append((content, mimetype))

    # -- conversion --------------------------------------------------------------------

    def to_message(self, mail: Mail | None = None) -> Message:
        """Compose the Message record with *mail*'s (or the current) defaults.

        With no body and no alternatives, the templates are rendered first (the guide,
        4.1). The Date and Message-ID are fixed the first time, so every later call (a
        retry) carries the same ones.
        """
        if self._stamp is None:
            self._stamp = new_stamp()
        mail = mail if mail is not None else configured_mail()
        body, content_subtype = self.body, self.content_subtype
        alternatives, attachments = list(self.alternatives), list(self.attachments)
        if not body and not alternatives:
            bodies, inline = self._render(mail)
            body, content_subtype = bodies.body, bodies.content_subtype
            alternatives.extend(bodies.alternatives)
            attachments.extend(inline)
        fields = {
            "from_email": self.from_email,
            "to": self.to,
            "cc": self.cc,
            "bcc": self.bcc,
            "reply_to": self.reply_to,
            "subject": self.subject,
            "body": body,
            "content_subtype": content_subtype,
            "charset": self.charset,
            "headers": self.headers,
            "attachments": attachments,
            "alternatives": alternatives,
            "tags": self.tags,
            "metadata": self.metadata,
            "provider_options": self.provider_options,
            "expires": (
                self._stamp.date + dt.timedelta(seconds=self.max_age) if self.max_age else None
            ),
        }
        record = (
            compose(stamp=self._stamp, **fields)
            if mail is None
            else mail.compose(stamp=self._stamp, **fields)
        )
        for hook in list(compose_hooks):
            hook(self, record)
        return record

    def _render(self, mail: Mail | None) -> tuple[Bodies, tuple[Attachment, ...]]:
        """Render this email's templates (the guide's 4.1 table).

        EmailTemplateNotFound names the class, the absolute paths looked for, and VIEWS.
        """
        module = type(self).__module__
        try:
            if mail is None:
                paths = template_paths(module)
                return choose_bodies(
                    paths, None, None, body=self.body, content_subtype=self.content_subtype
                ), ()
            context = {
                "subject": self.subject,
                "from_email": self.from_email,
                "to": self.to,
                "cc": self.cc,
                "reply_to": self.reply_to,
                **self.template_context(),
            }
            return mail.render_bodies(
                module, context, body=self.body, content_subtype=self.content_subtype
            )
        except EmailTemplateNotFound:
            raise self._not_found(mail, template_paths(module)) from None

    def _not_found(self, mail: Mail | None, paths: TemplatePaths) -> EmailTemplateNotFound:
        name = type(self).__name__
        if mail is None:
            return EmailTemplateNotFound(
                "body",
                name,
                f"{name} has no body, and proper_mail is not configured, so there is no "
                "VIEWS folder to find its templates in (call proper_mail.configure first)",
            )
        if mail.views is None:
            return EmailTemplateNotFound(
                "body",
                name,
                f"{name} has no body, and VIEWS is not set: set VIEWS to the folder that "
                f"holds {paths.html} (or give the email a body)",
            )
        tried = (str(mail.views / paths.html), str(mail.views / paths.text))
        return EmailTemplateNotFound(
            "body",
            tried,
            f"{name} has no body and no template: neither {tried[0]} nor {tried[1]} exists "
            f"(VIEWS is {mail.views})",
        )

    def serialize(self) -> EmailMessageDict:
        """Return the message as an EmailMessageDict (JSON-safe, e.g. for a queue)."""
        return dump_message(self.to_message())

    def template_context(self) -> dict[str, Any]:
        """The free-form attributes: what a template sees (the guide, 4.2)."""
        return {
            name: value
            for name, value in vars(self).items()
            if not name.startswith("_") and name not in self.FIELDS
        }

    # -- sending -----------------------------------------------------------------------

    def send_later(
        self,
        *,
        via: str | None = None,
        delay: float | dt.timedelta | None = None,
        at: dt.datetime | None = None,
        mail: Mail | None = None,
        **options: Any,
    ) -> None:
        """Update with *options*, render, and queue for a worker (the guide, 6.2).

        *delay* (seconds or a timedelta) or *at* (an aware datetime) schedule it. The
        app's BaseEmail may override this with the guide's version, which calls its own
        ``send_email_task``.
        """
        self.update(**options)
        (mail or current_mail()).send_later(self, via=via, delay=delay, at=at)

    def send(
        self, *, via: str | None = None, mail: Mail | None = None, **options: Any
    ) -> SendResult:
        """Update with *options*, then send now through *via* or the default mailer.

        *mail* picks another configured app than the current one.
        """
        self.update(**options)
        mail = mail or current_mail()
        return mail.send(self.to_message(mail), via=via)


def _guess_type(filename: str) -> str:
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"
