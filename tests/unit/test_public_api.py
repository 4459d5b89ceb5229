"""The public surface: proper_mail.__all__ and the error tree."""

from __future__ import annotations

import pickle

import pytest

import proper_mail
from proper_mail import errors


def test_all_is_sorted_and_importable() -> None:
    """__all__ is sorted and every name in it exists."""
    assert proper_mail.__all__ == sorted(proper_mail.__all__)
    assert all(hasattr(proper_mail, name) for name in proper_mail.__all__)


def test_every_error_is_exported() -> None:
    """Each class of the error tree is importable from proper_mail."""
    assert set(errors.__all__) <= set(proper_mail.__all__)


def test_message_errors_are_value_errors() -> None:
    """MessageError is a ValueError; EmailTemplateNotFound is also a LookupError."""
    assert issubclass(errors.InvalidAddress, ValueError)
    assert issubclass(errors.EmailTemplateNotFound, LookupError)
    assert issubclass(errors.TransientDeliveryError, errors.DeliveryError)


@pytest.mark.parametrize(
    "error",
    [
        errors.InvalidAddress("to", "a@b, c@d", "one string is one address"),
        errors.InvalidHeader("headers", "X\nY", "CR, LF or NUL"),
        errors.PayloadTooLarge("message", 10_000_000, "over the 5 MB limit"),
        errors.MessageTooLarge("DATA end: 552 too big", size=7_000_000, limit=5_000_000),
        errors.TransientDeliveryError("451 try again later", code=451, retry_after=30.0),
        errors.QueueUnavailable("the queue at redis://127.0.0.1:6379/0 could not take it"),
        errors.MessageInFlight("another worker is sending it", retry_after=12.5),
        errors.PermanentDeliveryError("550 no such user"),
        errors.ConfigError("Unknown mailer 'x'. Available mailers: a, b"),
        errors.SerializationError("missing key 'to' @ $.to"),
    ],
)
def test_errors_pickle_with_their_fields(error: errors.ProperMailError) -> None:
    """Dramatiq pickles errors: every one comes back equal in type, text and fields."""
    restored = pickle.loads(pickle.dumps(error))

    assert type(restored) is type(error)
    assert str(restored) == str(error)
    assert vars(restored) == vars(error)


def test_a_size_refusal_is_permanent_whichever_side_found_it() -> None:
    """MessageTooLarge is a PermanentDeliveryError; the queue's payload cap is a MessageError."""
    assert issubclass(errors.MessageTooLarge, errors.PermanentDeliveryError)
    assert issubclass(errors.PayloadTooLarge, errors.MessageError)
    assert not issubclass(errors.MessageTooLarge, errors.MessageError)


def test_long_values_are_shortened_in_messages() -> None:
    """An error never prints a megabyte value: it is cut to a readable length."""
    error = errors.InvalidHeader("subject", "x" * 1_000_000, "too long")

    assert len(str(error)) < 200
