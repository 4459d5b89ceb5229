"""BaseMailer: one port (deliver), and what is built around it once, for every mailer."""

from __future__ import annotations

import datetime as dt
import email.message
from typing import Any, ClassVar

import pytest

from proper_mail import (
    BaseMailer,
    ConfigError,
    DeliveryError,
    EmailMessageDict,
    Message,
    PermanentDeliveryError,
    SendResult,
    SerializationError,
    ToMemoryMailer,
    TransientDeliveryError,
)
from proper_mail.adapters.base import all_sent
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp
from proper_mail.tasks.serialization import CODEC, dump_message

STAMP = Stamp(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "base")
MESSAGE = compose(stamp=STAMP, from_email="app@example.com", to="a@example.com", body="Hi")


class RecipeMailer(BaseMailer):
    """The guide's 7.5 shape: send_now(*EmailMessageDict) -> int, render() inherited."""

    seen: ClassVar[list[tuple[EmailMessageDict, email.message.EmailMessage]]] = []
    answer: ClassVar[int | Exception] = 1

    def send_now(self, *messages: EmailMessageDict) -> int:  # type: ignore[override]
        for message in messages:
            type(self).seen.append((message, self.render(message)))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class BrokenClientError(Exception):
    """An error of some HTTP client, not ours."""


class DeliverMailer(BaseMailer):
    """A provider-style mailer: deliver() only, raising its client's errors."""

    def deliver(self, message: Message) -> SendResult:
        raise BrokenClientError("503 from the provider")

    def classify(self, error: Exception) -> DeliveryError:
        if isinstance(error, BrokenClientError) and "503" in str(error):
            return TransientDeliveryError(f"provider busy: {error}", code=503)
        return super().classify(error)


@pytest.fixture(autouse=True)
def _reset() -> None:
    """Each test starts with an empty recipe log and a recipe that counts 1."""
    RecipeMailer.seen = []
    RecipeMailer.answer = 1


def bound(mailer: BaseMailer, alias: str = "x") -> BaseMailer:
    """*mailer* as configure() hands it out: named, with the EmailMessageDict codec."""
    mailer.bind(alias, CODEC)
    return mailer


def test_the_recipe_receives_a_dict_and_renders_the_same_record() -> None:
    """deliver() hands the record to the recipe's send_now as an EmailMessageDict; its
    render() gives the record's MIME (no second parse of what was just dumped)."""
    mailer = bound(RecipeMailer(), "resend")

    result = mailer.deliver(MESSAGE)

    ((data, rendered),) = RecipeMailer.seen
    assert data == dump_message(MESSAGE)
    assert rendered["Message-ID"] == MESSAGE.message_id
    assert result == all_sent(MESSAGE.message_id, "resend", mailer.envelope(MESSAGE))


def test_a_recipe_counting_zero_reports_the_recipients_failed() -> None:
    """fail_silently in the recipe (it counts 0): every recipient is reported failed."""
    RecipeMailer.answer = 0

    result = bound(RecipeMailer()).deliver(MESSAGE)

    assert [r.status for r in result.recipients] == ["failed"]
    assert not result.sent


def test_a_foreign_error_in_the_recipe_is_a_delivery_error_with_its_cause() -> None:
    """httpx.HTTPStatusError or any error not ours: mapped once by classify(), permanent
    by default, the original kept as __cause__."""
    RecipeMailer.answer = BrokenClientError("boom")

    with pytest.raises(PermanentDeliveryError, match="RecipeMailer: BrokenClientError: boom") as e:
        bound(RecipeMailer()).deliver(MESSAGE)

    assert isinstance(e.value.__cause__, BrokenClientError)


def test_timeouts_and_connection_errors_are_transient_by_default() -> None:
    """classify(): TimeoutError and ConnectionError (and their kin) are transient."""
    mailer = RecipeMailer()

    assert isinstance(mailer.classify(TimeoutError("read")), TransientDeliveryError)
    assert isinstance(mailer.classify(ConnectionResetError()), TransientDeliveryError)
    assert isinstance(mailer.classify(KeyError("x")), PermanentDeliveryError)


def test_a_mailer_can_classify_its_own_errors() -> None:
    """A deliver() mailer overriding classify(): its 503 is transient, with the code."""
    with pytest.raises(TransientDeliveryError, match="provider busy") as e:
        DeliverMailer().deliver(MESSAGE)

    assert e.value.code == 503
    assert isinstance(e.value.__cause__, BrokenClientError)


def test_send_now_maps_foreign_errors_too() -> None:
    """The guide's task calls mailer.send_now(message) itself: still our error."""
    RecipeMailer.answer = BrokenClientError("boom")

    with pytest.raises(PermanentDeliveryError):
        bound(RecipeMailer()).send_now(dump_message(MESSAGE))


def test_a_mailer_that_overrides_nothing_is_a_config_error() -> None:
    """Neither deliver() nor send_now(): ConfigError saying which to write."""

    class Nothing(BaseMailer):
        pass

    with pytest.raises(ConfigError, match="must override deliver"):
        Nothing().deliver(MESSAGE)


def test_send_now_takes_every_sendable() -> None:
    """Records, EmailMessageDicts and hand-built stdlib messages all become records."""
    mailer = bound(ToMemoryMailer())
    built = email.message.EmailMessage()
    built["From"] = "app@example.com"
    built["To"] = "c@example.com"
    built.set_content("hand-built")

    sent = mailer.send_now(MESSAGE, dump_message(MESSAGE), built)

    assert sent == 3
    assert isinstance(mailer, ToMemoryMailer)
    assert [m.to[0].addr_spec for m in mailer.sent] == [
        "a@example.com",
        "a@example.com",
        "c@example.com",
    ]


def test_a_mailer_built_directly_reads_no_dicts() -> None:
    """An EmailMessageDict needs the codec configure() gives: ConfigError saying so."""
    with pytest.raises(ConfigError, match="built directly"):
        ToMemoryMailer().send_now(dump_message(MESSAGE))


def test_a_bad_message_in_a_batch_stops_it_before_anything_is_sent() -> None:
    """Every message becomes a record first: a malformed third one sends nothing."""
    mailer = bound(ToMemoryMailer())
    bad: dict[str, Any] = {**dump_message(MESSAGE), "to": ["not an address"]}

    with pytest.raises(SerializationError, match=r"@ \$\.to\[0\]"):
        mailer.send_now(MESSAGE, MESSAGE, bad)

    assert isinstance(mailer, ToMemoryMailer)
    assert mailer.outbox == []
