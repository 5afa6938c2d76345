"""The Telegram notifier against a fake Bot API, through the real python-telegram-bot."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.errors import DeliveryError
from bot.notify.base import OutgoingMessage, RejectedMessage, UncertainDelivery
from bot.notify.pacing import Pacer
from bot.notify.telegram import TelegramNotifier, bot_base_url
from tests.fakes._server import html_page
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.notify.builders import alert, digest

# PTB 22 warns inside RetryAfter.__init__ about retry_after becoming a timedelta.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*`retry_after` will be of type:telegram.warnings.PTBDeprecationWarning"
)

TOKEN = "123456:AAH-secret-token-value-for-tests-0123"


@pytest.fixture
async def telegram(telegram_api: FakeTelegramAPI) -> AsyncIterator[TelegramNotifier]:
    notifier = TelegramNotifier(
        TOKEN, base_url=telegram_api.url, pacer=Pacer.unlimited(), timeout=1
    )
    yield notifier
    await notifier.aclose()


def message(channel_id: str = "telegram:-1001234", **kw: object) -> OutgoingMessage:
    kw.setdefault("payload", alert("<script>x</script> & Kyiv"))
    kw.setdefault("kind", "alert")
    return OutgoingMessage(channel_id=channel_id, **kw)  # type: ignore[arg-type]


async def test_sends_html_without_link_previews(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    receipt = await telegram.send(message())
    [sent] = telegram_api.messages
    assert receipt.message_id == str(sent["message_id"])
    assert sent["chat_id"] == "-1001234"
    assert sent["parse_mode"] == "HTML"
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert sent["text"].startswith(
        '<b><a href="https://news.example/kyiv?id=1&amp;lang=en">'
        "&lt;script&gt;x&lt;/script&gt; &amp; Kyiv</a></b>"
    )
    assert sent["message_thread_id"] is None and sent["reply_parameters"] is None


async def test_forum_topics_usernames_and_thread_replies(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    await telegram.send(message("telegram:-1001234/42", kind="thread", thread_of="17"))
    await telegram.send(message("telegram:@skywatch_news"))
    topic, username = telegram_api.messages
    assert (topic["chat_id"], topic["message_thread_id"]) == ("-1001234", "42")
    assert topic["reply_parameters"] == {"message_id": 17, "allow_sending_without_reply": True}
    assert username["chat_id"] == "@skywatch_news"


async def test_a_long_digest_is_sent_in_parts(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    receipt = await telegram.send(message(kind="digest", payload=digest(150, title="😀 Новини")))
    assert receipt.parts == len(telegram_api.messages) >= 2
    assert all(len(m["text"].encode("utf-16-le")) // 2 <= 4096 for m in telegram_api.messages)


async def test_rejected_entities_are_resent_once_as_plain_text(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.inject("sendMessage", "parse_entities")
    receipt = await telegram.send(message())
    [sent] = telegram_api.messages
    assert receipt.message_id == str(sent["message_id"])
    assert sent["parse_mode"] is None
    assert sent["text"].splitlines()[0] == (
        "<script>x</script> & Kyiv (https://news.example/kyiv?id=1&lang=en)"
    )
    assert [m for m, _ in telegram_api.calls] == ["sendMessage", "sendMessage"]


async def test_plain_text_resend_happens_only_once(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.inject("sendMessage", "parse_entities", times=2)
    with pytest.raises(RejectedMessage):
        await telegram.send(message())
    assert len(telegram_api.calls) == 2 and telegram_api.messages == []


@pytest.mark.parametrize(
    ("fault", "kind", "permanent"),
    [
        ("kicked", DeliveryError, True),
        ("chat_not_found", DeliveryError, True),
        ("server_error", DeliveryError, False),
        ("hang", UncertainDelivery, False),
        ("reset", UncertainDelivery, False),
        ("reset_after_accept", UncertainDelivery, False),
    ],
)
async def test_api_failures_become_delivery_errors(
    telegram: TelegramNotifier,
    telegram_api: FakeTelegramAPI,
    fault: str,
    kind: type[DeliveryError],
    permanent: bool,
) -> None:
    telegram_api.inject("sendMessage", fault)
    with pytest.raises(DeliveryError) as caught:
        await telegram.send(message())
    assert type(caught.value) is kind
    assert caught.value.permanent is permanent
    assert caught.value.retry_after is None and caught.value.migrate_to is None
    assert len(telegram_api.messages) == (1 if fault == "reset_after_accept" else 0)


async def test_flood_control_and_migration_are_mapped(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.inject("sendMessage", "retry_after", retry_after=5)
    with pytest.raises(DeliveryError) as flood:
        await telegram.send(message())
    assert flood.value.retry_after == 5.0
    telegram_api.inject("sendMessage", "migrate", migrate_to=-100999)
    with pytest.raises(DeliveryError) as migrated:
        await telegram.send(message())
    assert migrated.value.migrate_to == "-100999"
    assert telegram_api.messages == []


async def test_refused_connection_is_plainly_transient() -> None:
    fake = FakeTelegramAPI()
    await fake.start()
    await fake.close()
    telegram = TelegramNotifier(TOKEN, base_url=fake.url, pacer=Pacer.unlimited(), timeout=1)
    with pytest.raises(DeliveryError) as caught:
        await telegram.send(message())
    await telegram.aclose()
    assert type(caught.value) is DeliveryError


async def test_the_token_never_reaches_the_logs(
    telegram: TelegramNotifier, telegram_api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    telegram_api.inject("sendMessage", "server_error")
    with pytest.raises(DeliveryError):
        await telegram.send(message())
    await telegram.send(message())
    assert caplog.records  # PTB did log at DEBUG
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    assert logging.getLogger("httpx").level == logging.WARNING


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "https://api.telegram.org/bot"),
        ("http://127.0.0.1:81", "http://127.0.0.1:81/bot"),
        ("http://127.0.0.1:81/bot/", "http://127.0.0.1:81/bot"),
        ("http://h/custom/{token}/x", "http://h/custom/{token}/x"),
    ],
)
def test_bot_base_url(given: str | None, expected: str) -> None:
    assert bot_base_url(given) == expected


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({}, UncertainDelivery),  # 200, application/json, "{not json"
        ({"body": ""}, UncertainDelivery),
        ({"body": "[]"}, UncertainDelivery),
        ({"body": '{"ok": true}'}, UncertainDelivery),
        ({"body": '{"ok": true, "result": true}'}, UncertainDelivery),  # no message id
        (html_page(502, "Bad Gateway"), DeliveryError),
        ({"status": 502, "body": ""}, DeliveryError),
        (html_page(400, "Bad Request"), DeliveryError),  # a proxy's, not Telegram's: not refused
        (html_page(403, "Forbidden"), DeliveryError),  # nor a reason to pause the chat
    ],
)
async def test_an_answer_that_is_not_the_bot_apis_is_transient_and_quiet(
    telegram: TelegramNotifier,
    telegram_api: FakeTelegramAPI,
    caplog: pytest.LogCaptureFixture,
    answer: dict[str, object],
    kind: type[DeliveryError],
) -> None:
    caplog.set_level(logging.INFO)
    telegram_api.inject("sendMessage", "bad_answer", **answer)
    with pytest.raises(DeliveryError) as caught:
        await telegram.send(message())
    assert type(caught.value) is kind
    assert not caught.value.permanent and caught.value.retry_after is None
    assert "\n" not in str(caught.value) and "<html>" not in str(caught.value)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    await telegram.send(message())  # the next good answer goes through
    assert len(telegram_api.messages) == 1
