"""Send hooks: what runs around every send, in ``send()`` and in the worker alike.

- ``before_send(message)`` returns None (send as is), a changed ``Message`` (the next
  hook and the mailer get that one), or a ``Skip``: don't send to some recipients (or
  to any), with a reason that the SendResult reports as their status (``cancelled``,
  or ``suppressed`` for the suppression list).
- ``after_send(message, result)`` sees every SendResult, skipped recipients included.
- ``on_failure(message, error)`` sees every failure (a DeliveryError, a hook's error).

The hooks themselves are the app's functions, passed in; this module only runs them in
order and merges what they say, with no I/O of its own. Built-in hooks (the interceptor,
the suppression list) are ordinary before_send hooks: user hooks run first, then the
suppression check, then the interceptor, last, so nothing can add a recipient after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from email.policy import Policy
from typing import Literal

import attrs

from ..errors import ConfigError, HookError, ProperMailError
from .addresses import Address
from .compose import parse_addresses
from .mime import envelope_of
from .records import Message, RecipientStatus, SendResult

__all__ = [
    "AfterSend",
    "BeforeSend",
    "Interceptor",
    "OnFailure",
    "SendHooks",
    "Skip",
    "Skipped",
    "merge_skipped",
    "original_error",
    "run_after_send",
    "run_before_send",
    "run_on_failure",
]

SkipStatus = Literal["cancelled", "suppressed"]


@attrs.frozen
class Skip:
    """What a before_send hook returns to not send the message, or not to some of its
    recipients.

    Attributes:
        reason: why, in words; it becomes each skipped recipient's ``detail``.
        recipients: the addresses not to send to (as in the message, any case); empty
            means every recipient: the message is not sent at all.
        status: ``cancelled`` (the default) or ``suppressed``.
    """

    reason: str
    recipients: tuple[str, ...] = ()
    status: SkipStatus = "cancelled"


BeforeSend = Callable[[Message], "Message | Skip | Sequence[Skip] | None"]
AfterSend = Callable[[Message, SendResult], object]
OnFailure = Callable[[Message, Exception], object]


@attrs.frozen
class SendHooks:
    """The hooks of one Mail, in the order they run."""

    before_send: tuple[BeforeSend, ...] = ()
    after_send: tuple[AfterSend, ...] = ()
    on_failure: tuple[OnFailure, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.before_send or self.after_send or self.on_failure)


@attrs.frozen
class Skipped:
    """The outcome of the before_send hooks.

    Attributes:
        message: the message to send (hooks' changes applied, skipped recipients out of
            its envelope), or None when nobody is left to send to.
        statuses: one status per skipped envelope recipient.
    """

    message: Message | None
    statuses: tuple[RecipientStatus, ...] = ()


def _key(address: str) -> str:
    return address.strip().lower()


def run_before_send(hooks: Iterable[BeforeSend], message: Message, policy: Policy) -> Skipped:
    """Run the before_send *hooks* in order over *message* (envelope under *policy*).

    A hook's exception becomes a HookError naming the hook (the exception as its cause;
    ours pass as they are); the caller reports it. A hook that returns something else
    than None, a Message or a Skip is a ConfigError.
    """
    skipped: dict[str, RecipientStatus] = {}
    for hook in hooks:
        try:
            outcome = hook(message)
        except ProperMailError:
            raise  # ours (a suppression list that cannot be reached): as it is
        except Exception as e:
            raise HookError(_name(hook), f"before_send raised {type(e).__name__}: {e}") from e
        if outcome is None:
            continue
        if isinstance(outcome, Message):
            message = outcome
            continue
        skips = (outcome,) if isinstance(outcome, Skip) else outcome
        if not isinstance(skips, Sequence) or not all(isinstance(s, Skip) for s in skips):
            raise ConfigError(
                f"before_send hook {_name(hook)} returned {type(outcome).__name__}; "
                "return None, a Message, a Skip or a list of Skips"
            )
        remaining = envelope_of(message, policy).recipients
        left = list(remaining)
        for skip in skips:
            targets = {_key(a) for a in skip.recipients} if skip.recipients else None
            for address in [a for a in left if targets is None or _key(a) in targets]:
                skipped[address] = RecipientStatus(address, skip.status, None, skip.reason)
                left.remove(address)
        if not left:
            return Skipped(None, tuple(skipped.values()))
        if len(left) != len(remaining):
            message = attrs.evolve(message, envelope_to=tuple(left))
    return Skipped(message, tuple(skipped.values()))


def original_error(error: Exception) -> Exception:
    """What the on_failure hooks see: a HookError's own cause (the exception the app's
    hook raised), any other error as it is."""
    cause = error.__cause__
    return cause if isinstance(error, HookError) and isinstance(cause, Exception) else error


def run_after_send(
    hooks: Iterable[AfterSend], message: Message, result: SendResult
) -> list[tuple[str, Exception]]:
    """Run every after_send hook; return the (hook name, error) of each that raised (the
    others still run: the message was sent, whatever a hook does)."""
    errors = []
    for hook in hooks:
        try:
            hook(message, result)
        except Exception as e:
            errors.append((_name(hook), e))
    return errors


def run_on_failure(
    hooks: Iterable[OnFailure], message: Message, error: Exception
) -> list[tuple[str, Exception]]:
    """Run every on_failure hook; return the (hook name, error) of each that raised."""
    errors = []
    for hook in hooks:
        try:
            hook(message, error)
        except Exception as e:
            errors.append((_name(hook), e))
    return errors


@attrs.frozen
class Interceptor:
    """MAILER_INTERCEPT_TO as a before_send hook: outside production, every recipient
    goes to *to* instead, except those an *allow* pattern matches.

    The original to, cc and bcc are kept in ``X-Original-To``, ``X-Original-Cc`` and
    ``X-Original-Bcc`` headers (the interceptor's inbox is the only one that sees them).

    Attributes:
        to: the addresses every intercepted message goes to (``Interceptor.of`` parses
            them from strs).
        allow: patterns of recipients that pass through unchanged; ``*`` matches any
            run of characters (``"*@mycompany.com"``), case-insensitive.
    """

    to: tuple[Address, ...]
    allow: tuple[str, ...] = ()
    _patterns: tuple[re.Pattern[str], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        patterns = tuple(
            re.compile(".*".join(re.escape(part) for part in p.split("*")), re.IGNORECASE)
            for p in self.allow
        )
        object.__setattr__(self, "_patterns", patterns)

    @classmethod
    def of(cls, to: str | Iterable[str], allow: str | Iterable[str] = ()) -> Interceptor:
        """An Interceptor from MAILER_INTERCEPT_TO and MAILER_INTERCEPT_ALLOW values;
        InvalidAddress naming the setting for a bad address, ConfigError for no address."""
        targets = parse_addresses("MAILER_INTERCEPT_TO", to)
        if not targets:
            raise ConfigError("MAILER_INTERCEPT_TO is set but holds no address")
        patterns = (allow,) if isinstance(allow, str) else tuple(allow)
        for pattern in patterns:
            if not isinstance(pattern, str) or not pattern.strip():
                raise ConfigError(
                    f"MAILER_INTERCEPT_ALLOW holds {pattern!r}; give patterns such as "
                    "'*@mycompany.com'"
                )
        return cls(to=targets, allow=patterns)

    def allows(self, address: str) -> bool:
        """Whether *address* (an addr-spec) passes through."""
        return any(p.fullmatch(address) for p in self._patterns)

    def _passes(self, address: Address) -> bool:
        return self.allows(address.addr_spec) or any(
            address.addr_spec.lower() == t.addr_spec.lower() for t in self.to
        )

    def __call__(self, message: Message) -> Message | None:
        """*message* with its recipients rewritten (None: all allowed, unchanged).

        Recipients already out of the envelope (``envelope_to``: a retry's subset, or
        addresses a suppression check removed) stay out: allowed ones pass only if they
        were in it. ``X-Original-Bcc`` is written only when no allowed recipient gets
        the message, so Bcc addresses are never shown to a real recipient.
        """
        fields = (message.to, message.cc, message.bcc)
        if all(self._passes(a) for group in fields for a in group):
            return None  # nothing to intercept, or intercepted already (idempotent)
        kept = [tuple(a for a in group if self.allows(a.addr_spec)) for group in fields]
        headers = [(k, v) for k, v in message.headers if not k.lower().startswith("x-original-")]
        originals = [("X-Original-To", message.to), ("X-Original-Cc", message.cc)]
        if not any(kept):
            originals.append(("X-Original-Bcc", message.bcc))
        headers.extend(
            (name, ", ".join(str(a) for a in group)) for name, group in originals if group
        )
        to = kept[0] + tuple(t for t in self.to if t not in kept[0])
        envelope_to: tuple[str, ...] = ()
        if message.envelope_to:
            still = {a.lower() for a in message.envelope_to}
            allowed = [a for group in kept for a in group if a.addr_spec.lower() in still]
            intercepted = len(allowed) < len(message.envelope_to)
            targets = [t.addr_spec for t in self.to] if intercepted else []
            envelope_to = tuple(dict.fromkeys([*targets, *(a.addr_spec for a in allowed)]))
        return attrs.evolve(
            message,
            to=to,
            cc=kept[1],
            bcc=kept[2],
            headers=tuple(headers),
            envelope_to=envelope_to,
        )


def merge_skipped(result: SendResult, statuses: tuple[RecipientStatus, ...]) -> SendResult:
    """*result* with the skipped recipients' statuses added after the sent ones."""
    if not statuses:
        return result
    return attrs.evolve(result, recipients=(*result.recipients, *statuses))


def _name(hook: object) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)
