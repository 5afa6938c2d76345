"""The seam between the outbox sender and the chat platforms.

Every notifier has the same shape (STYLE.md convention 10): `platform` and
`async send(message) -> Receipt`. It renders the payload for its platform,
paces itself below the platform's limits, and turns every library exception
into one of the `DeliveryError` cases the sender understands:

    DeliveryError(retry_after=s)      429: wait exactly s seconds; the channel waits too
    DeliveryError(permanent=True)     channel gone, bot removed or forbidden: pause the channel
    DeliveryError(migrate_to=id)      Telegram group became a supergroup: follow it, resend
    RejectedMessage                   the platform refuses this message itself: give it up
    UncertainDelivery                 timeout or cut connection: it may have arrived; retry
    DeliveryError                     anything else (5xx, refused connection): retry with backoff
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import DeliveryError


class RejectedMessage(DeliveryError):
    """The platform refused this message (not the channel); resending will not help."""


class UncertainDelivery(DeliveryError):
    """Transient, and the platform may have accepted the message before the failure.

    The retry is marked `maybe_sent`, so a notifier that can look (Slack message
    metadata) checks before posting again (RELIABILITY B7, B9).
    """


@dataclass(frozen=True, slots=True)
class Address:
    """Where a channel id points: `slack:C1`, `telegram:-100123/7`, `telegram:@name`, `console`."""

    platform: str
    #: Slack channel id, Telegram chat id (or @username), or "" for the console
    chat: str
    #: Telegram forum topic (message_thread_id)
    topic: int | None = None

    @classmethod
    def parse(cls, channel_id: str) -> Address:
        platform, _, rest = channel_id.partition(":")
        if platform == "console":
            return cls("console", "")
        chat, _, topic = rest.partition("/")
        if platform not in ("slack", "telegram") or not chat:
            raise ValueError(f"{channel_id!r} is not a channel address")
        return cls(platform, chat, int(topic) if topic else None)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One delivery, as the sender hands it to a notifier."""

    channel_id: str
    #: alert, thread, digest or report (see bot.store.schema.OutboxRow.kind)
    kind: str
    payload: dict[str, Any]
    #: the platform message to reply to (Slack ts / Telegram message_id), if any
    thread_of: str | None = None
    #: the channel's time zone, for the local time shown in alerts
    timezone: str = "UTC"
    #: a stable id for this delivery (the outbox dedup key), attached where the platform allows
    delivery_id: str = ""
    #: True when an earlier attempt may have reached the platform (timeout, reset)
    maybe_sent: bool = False
    address: Address = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", Address.parse(self.channel_id))


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the platform answered: its id for the (first) message we posted."""

    message_id: str
    #: how many platform messages the delivery took (long digests are split)
    parts: int = 1


class Notifier(Protocol):
    """Sends one outgoing message to one platform."""

    platform: str

    async def send(self, message: OutgoingMessage) -> Receipt: ...
