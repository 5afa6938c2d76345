"""The Slack notifier: chat.postMessage through slack_sdk's AsyncWebClient.

Messages are Block Kit rendered by bot.notify.render, with link unfurling off
(A6) and each delivery's id in message metadata
(https://docs.slack.dev/messaging/message-metadata). When an earlier attempt
may have arrived (a timeout or a connection cut after the send), the channel's
recent messages are searched for that id first and the post is skipped if
found (RELIABILITY B7); if the search itself fails we post anyway
(at-least-once).

slack_sdk retries only connection errors by default and never 429 (S4); its
retry handlers are switched off so that every retry goes through the outbox,
which knows the delivery's history. Errors are mapped at this boundary:

    429 / ratelimited                      DeliveryError(retry_after=Retry-After)
    channel_not_found, not_in_channel, …   DeliveryError(permanent=True)
    msg_too_long, invalid_blocks, …        RejectedMessage
    timeout, connection cut                UncertainDelivery
    HTTP 2xx that is not Slack's answer    UncertainDelivery
    5xx, other errors                      DeliveryError

An answer that is not Slack's JSON (a proxy's HTML page, an empty or cut
body) is transient whatever its status: only Slack's own error codes pause a
channel or refuse a message. After a 2xx we cannot tell whether the message
was posted, so the retry looks for it first.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DeliveryError
from bot.notify.base import OutgoingMessage, Receipt, RejectedMessage, UncertainDelivery
from bot.notify.pacing import Pacer
from bot.notify.render import SlackMessage, render_slack

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://slack.com/api/"
#: the event type of our message metadata, searched on a maybe-duplicate retry
EVENT_TYPE = "skywatch_delivery"

#: errors about the channel or our access to it: pause the channel, keep its rows
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
    "account_inactive", "invalid_auth", "not_authed", "token_revoked", "token_expired",
    "missing_scope", "restricted_action", "restricted_action_read_only_channel",
    "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
    "team_access_not_granted", "ekm_access_denied", "access_denied", "no_permission",
})  # fmt: skip
#: errors about the message itself: resending the same message will not help
REJECTED = frozenset({
    "msg_too_long", "msg_blocks_too_long", "no_text", "invalid_blocks", "invalid_blocks_format",
    "invalid_metadata_format", "invalid_metadata_schema", "metadata_too_large",
    "metadata_must_be_sent_from_app", "invalid_arguments", "too_many_attachments",
    "invalid_attachments", "duplicate_channel_not_found",
})  # fmt: skip


class SlackNotifier:
    """Posts outbox deliveries to Slack channels (`slack:C0123ABCD`)."""

    platform = "slack"

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        client: AsyncWebClient | None = None,
        pacer: Pacer | None = None,
        timeout: int = 30,
    ) -> None:
        url = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/"
        self.client = client or AsyncWebClient(
            token=token, base_url=url, timeout=timeout, retry_handlers=[]
        )
        self.pacer = pacer or Pacer.slack()

    async def send(self, message: OutgoingMessage) -> Receipt:
        """Post the delivery (a long digest as several messages); the first message's ts."""
        channel = message.address.chat
        parts = render_slack(message.kind, message.payload, message.timezone)
        ids = [_part_id(message.delivery_id, i, len(parts)) for i in range(len(parts))]
        already = await self._already_posted(message, channel) if message.maybe_sent else {}
        first: str | None = None
        for part, delivery_id in zip(parts, ids, strict=True):
            ts = already.get(delivery_id)
            if ts is None:
                await self.pacer.wait(channel)
                ts = await self._post(channel, part, message.thread_of, delivery_id)
            first = first or ts
        assert first is not None
        return Receipt(message_id=first, parts=len(parts))

    async def _post(
        self, channel: str, part: SlackMessage, thread_ts: str | None, delivery_id: str
    ) -> str:
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                text=part.text,
                blocks=list(part.blocks),
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"delivery_id": delivery_id}},
            )
        except SlackApiError as e:
            raise api_error(e) from e
        except TimeoutError as e:
            raise UncertainDelivery("Slack did not answer in time") from e
        except aiohttp.ClientConnectorError as e:
            raise DeliveryError(f"cannot connect to Slack: {e.os_error}") from e
        except aiohttp.ClientError as e:
            raise UncertainDelivery(f"connection to Slack failed: {type(e).__name__}") from e
        ts = response.get("ts")
        if not ts:  # "ok" but no ts: posted, most likely; the retry will find it
            raise UncertainDelivery("Slack accepted the message but sent no ts")
        return str(ts)

    async def _already_posted(self, message: OutgoingMessage, channel: str) -> dict[str, str]:
        """Delivery id → ts of our recent messages in the channel (or thread); {} if unknown."""
        try:
            if message.thread_of:
                response = await self.client.conversations_replies(
                    channel=channel, ts=message.thread_of, include_all_metadata=True, limit=200
                )
            else:
                response = await self.client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=100
                )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as e:
            log.info("cannot check for an earlier copy; posting", extra={"error": str(e)})
            return {}
        found: dict[str, str] = {}
        for item in response.get("messages") or []:
            metadata: Any = item.get("metadata") or {}
            if metadata.get("event_type") == EVENT_TYPE:
                payload = metadata.get("event_payload") or {}
                found[str(payload.get("delivery_id"))] = str(item.get("ts"))
        return found

    async def aclose(self) -> None:
        """Nothing to close: AsyncWebClient opens a session per request."""


def _part_id(delivery_id: str, index: int, total: int) -> str:
    return delivery_id if total == 1 else f"{delivery_id}#{index + 1}"


def api_error(e: SlackApiError) -> DeliveryError:
    """Map a Slack API error response to the DeliveryError the sender understands."""
    # slack_sdk hands over an AsyncSlackResponse, or the raw aiohttp ClientResponse
    # (`status`, no `data`) when a JSON content type came with a body it could not parse.
    response: Any = e.response
    status = int(getattr(response, "status_code", None) or getattr(response, "status", 0) or 0)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    code = str(error or f"HTTP {status}")
    if status == 429 or code == "ratelimited":
        headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
        value = headers.get("retry-after")
        retry_after = _seconds(value[0] if isinstance(value, list) else value)
        return DeliveryError(
            f"Slack rate limit: retry after {retry_after:g}s", retry_after=retry_after
        )
    if code in PERMANENT:
        return DeliveryError(code, permanent=True)
    if code in REJECTED:
        return RejectedMessage(f"Slack refused the message: {code}")
    if error is None and 200 <= status < 300:
        return UncertainDelivery(f"Slack answered HTTP {status} with {_describe(response)}")
    return DeliveryError(f"Slack error: {code}")


def _describe(response: object) -> str:
    """What a 2xx body without Slack's answer in it was, for the one-line error."""
    if not hasattr(response, "data"):
        return "a body that is not JSON"
    data = getattr(response, "data", None)
    return "an empty answer" if data in (None, "", b"", {}) else "JSON that is not Slack's answer"


def _seconds(value: object) -> float:
    try:
        return max(float(str(value)), 0.0)
    except ValueError:
        return 1.0  # no usable Retry-After: Slack's documented minimum wait
