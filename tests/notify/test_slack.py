"""The Slack notifier against a fake Slack Web API, through the real AsyncWebClient."""

from __future__ import annotations

import pytest

from bot.errors import DeliveryError
from bot.notify.base import OutgoingMessage, RejectedMessage, UncertainDelivery
from bot.notify.pacing import Pacer
from bot.notify.slack import SlackNotifier
from tests.fakes._server import html_page
from tests.fakes.slack_api import FakeSlackAPI
from tests.notify.builders import alert, digest
from tests.notify.test_pacing import FakeClock


def notifier(fake: FakeSlackAPI, **kw: object) -> SlackNotifier:
    kw.setdefault("pacer", Pacer.unlimited())
    return SlackNotifier("xoxb-test-token", base_url=fake.url, timeout=1, **kw)  # type: ignore[arg-type]


def message(**kw: object) -> OutgoingMessage:
    kw.setdefault("payload", alert("<!channel> Kyiv & power"))
    kw.setdefault("kind", "alert")
    kw.setdefault("delivery_id", "alert:slack:C123:7")
    return OutgoingMessage(channel_id="slack:C123", **kw)  # type: ignore[arg-type]


async def test_posts_block_kit_with_unfurling_off_and_delivery_metadata(
    slack_api: FakeSlackAPI,
) -> None:
    receipt = await notifier(slack_api).send(message(timezone="Europe/Kyiv"))
    [posted] = slack_api.messages
    assert receipt.message_id == posted["ts"]
    assert posted["channel"] == "C123"
    assert posted["unfurl_links"] is False and posted["unfurl_media"] is False
    assert posted["metadata"] == {
        "event_type": "skywatch_delivery",
        "event_payload": {"delivery_id": "alert:slack:C123:7"},
    }
    assert posted["text"].startswith("&lt;!channel&gt; Kyiv &amp; power")
    assert posted["blocks"][0]["text"]["text"].startswith("*<https://news.example/kyiv")
    assert "09:30 EET" in posted["blocks"][1]["elements"][0]["text"]
    assert posted["thread_ts"] is None


async def test_replies_in_the_story_thread(slack_api: FakeSlackAPI) -> None:
    await notifier(slack_api).send(message(kind="thread", thread_of="1700000000.000001"))
    assert slack_api.messages[0]["thread_ts"] == "1700000000.000001"


async def test_a_long_digest_is_posted_as_several_messages(slack_api: FakeSlackAPI) -> None:
    payload = digest(60, topics=("war", "energy", "economy"))
    receipt = await notifier(slack_api).send(message(kind="digest", payload=payload))
    assert receipt.parts == len(slack_api.messages) >= 2
    assert receipt.message_id == slack_api.messages[0]["ts"]
    ids = [m["metadata"]["event_payload"]["delivery_id"] for m in slack_api.messages]
    assert ids == [f"alert:slack:C123:7#{i + 1}" for i in range(receipt.parts)]


@pytest.mark.parametrize(
    ("fault", "kind", "permanent"),
    [
        ("server_error", DeliveryError, False),
        ("internal_error", DeliveryError, False),
        ("channel_not_found", DeliveryError, True),
        ("not_in_channel", DeliveryError, True),
        ("is_archived", DeliveryError, True),
        ("msg_too_long", RejectedMessage, False),
        ("hang", UncertainDelivery, False),
        ("reset", UncertainDelivery, False),
    ],
)
async def test_api_failures_become_delivery_errors(
    slack_api: FakeSlackAPI, fault: str, kind: type[DeliveryError], permanent: bool
) -> None:
    slack_api.inject("chat.postMessage", fault)
    with pytest.raises(DeliveryError) as caught:
        await notifier(slack_api).send(message())
    assert type(caught.value) is kind
    assert caught.value.permanent is permanent
    assert caught.value.retry_after is None
    assert caught.value.__cause__ is not None  # wrapped at the boundary, cause kept
    assert slack_api.messages == []


async def test_429_carries_retry_after(slack_api: FakeSlackAPI) -> None:
    slack_api.inject("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(DeliveryError) as caught:
        await notifier(slack_api).send(message())
    assert caught.value.retry_after == 7.0
    assert not caught.value.permanent
    # slack_sdk must not have retried on its own: one call, nothing posted
    assert [m for m, _ in slack_api.calls] == ["chat.postMessage"]
    assert slack_api.messages == []


async def test_refused_connection_is_plainly_transient() -> None:
    fake = FakeSlackAPI()
    await fake.start()
    await fake.close()
    with pytest.raises(DeliveryError) as caught:
        await notifier(fake).send(message())
    assert type(caught.value) is DeliveryError


async def test_reset_after_accept_is_uncertain_and_the_retry_finds_the_first_copy(
    slack_api: FakeSlackAPI,
) -> None:
    slack_api.inject("chat.postMessage", "reset_after_accept")
    slack = notifier(slack_api)
    with pytest.raises(UncertainDelivery):
        await slack.send(message())
    assert len(slack_api.messages) == 1  # Slack did get it
    receipt = await slack.send(message(maybe_sent=True))
    assert len(slack_api.messages) == 1  # B7: no duplicate
    assert receipt.message_id == slack_api.messages[0]["ts"]
    assert [m for m, _ in slack_api.calls][-1] == "conversations.history"


async def test_maybe_sent_posts_when_the_first_copy_is_not_there(slack_api: FakeSlackAPI) -> None:
    await notifier(slack_api).send(message(delivery_id="other"))
    await notifier(slack_api).send(message(maybe_sent=True))
    assert len(slack_api.messages) == 2


async def test_maybe_sent_posts_when_history_cannot_be_read(slack_api: FakeSlackAPI) -> None:
    slack_api.inject("conversations.history", "missing_scope")
    await notifier(slack_api).send(message(maybe_sent=True))
    assert len(slack_api.messages) == 1


async def test_each_message_waits_for_the_pacer(slack_api: FakeSlackAPI) -> None:
    clock = FakeClock()
    slack = notifier(slack_api, pacer=Pacer.slack(clock=clock, sleep=clock.sleep))
    for _ in range(3):
        await slack.send(message())
    assert clock.sleeps == [1.0, 1.0]
    assert len(slack_api.messages) == 3


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ({}, UncertainDelivery),  # 200, application/json, "{not json"
        ({"body": ""}, UncertainDelivery),
        ({"body": "[]"}, UncertainDelivery),
        ({"body": '{"ok": true}'}, UncertainDelivery),  # posted, but no ts to keep
        (html_page(502, "Bad Gateway"), DeliveryError),
        ({"status": 502, "body": ""}, DeliveryError),
        (html_page(403, "Forbidden"), DeliveryError),  # a proxy's, not Slack's: no pause
    ],
)  # fmt: skip
async def test_an_answer_that_is_not_slacks_is_transient(
    slack_api: FakeSlackAPI, answer: dict[str, object], kind: type[DeliveryError]
) -> None:
    slack_api.inject("chat.postMessage", "bad_answer", **answer)
    with pytest.raises(DeliveryError) as caught:
        await notifier(slack_api).send(message())
    assert type(caught.value) is kind
    assert not caught.value.permanent and caught.value.retry_after is None
    assert "\n" not in str(caught.value) and "<html>" not in str(caught.value)


async def test_an_unreadable_200_after_posting_is_not_posted_again(
    slack_api: FakeSlackAPI,
) -> None:
    slack_api.inject("chat.postMessage", "bad_answer", after_accept=True)
    slack = notifier(slack_api)
    with pytest.raises(UncertainDelivery):
        await slack.send(message())
    receipt = await slack.send(message(maybe_sent=True))
    assert len(slack_api.messages) == 1
    assert receipt.message_id == slack_api.messages[0]["ts"]
