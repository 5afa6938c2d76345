"""The outbox sender: claim due rows, send each one, mark it, one at a time.

    for each channel with due rows (channels run concurrently, rows in order):
        claim   one row: pending -> sending, claimed_at = now      (short transaction)
        send    via the platform's notifier                         (no transaction open)
        mark    sent + message_id, or reschedule                    (short transaction)

Delivery is at-least-once; neither Slack nor Telegram takes an idempotency
key. THE one window where a message can be delivered twice: the platform
accepted it and the process died (or the connection broke) before the "sent"
mark was committed. The row is then still `sending`, its lease runs out
(`LEASE`) and it is sent again. The window is kept as narrow as one send: each
row is claimed just before it is sent and marked right after, never in
batches. A timeout or reset after the send marks the retry `maybe_sent`, and
the Slack notifier then looks for the delivery id in the channel's recent
message metadata before posting again (RELIABILITY B7); a digest retried
after any failure is checked the same way, part by part. So on Slack the
window only stays open when that history lookup fails; on Telegram, which
offers no lookup, it is exactly the window above. Committed marks survive
power loss because SQLite runs with synchronous=FULL (B12).

Rows of a paused channel stay pending and are not claimed. Alerts and thread
follow-ups of a channel in quiet hours or muted are held, checked at each claim
(so a later `quiet`/`mute` command counts too), by one of two policies:

* "release" (default): they stay pending with `due_at` moved to the end of
  the window, and go out, in order, when it ends;
* "digest": they are marked `held`, and the channel's next digest folds them
  in (bot.notify.digest); they are not pinged one by one afterwards.

Either way nothing is lost. A story follow-up goes out as a reply to the
story's first message in the channel, after it (bot.store.outbox.claim_next).

What each failure does (see bot.notify.base):

* 429 `retry_after`: the row and every pending row of its channel wait exactly
  that long; the wait is not counted as an attempt (B6, B8).
* permanent (channel gone, bot removed): the channel is paused, its rows are
  kept, and the admin channels get one report for the pause.
* `migrate_to` (Telegram supergroup): the channel is renamed, rows follow, resend.
* `RejectedMessage`: the row is dead (resending would not help), admins are told.
* anything else: retry with exponential backoff and jitter, 30 s doubling to a
  cap of 1 h. Transient errors never kill a row quickly: only after
  `MAX_ATTEMPTS` (about a day of failures) is it marked dead and reported.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from bot.errors import DeliveryError
from bot.notify.base import Notifier, OutgoingMessage, Receipt, RejectedMessage, UncertainDelivery
from bot.notify.timing import hold_until
from bot.store import channels as channel_store
from bot.store import outbox
from bot.store.db import Database
from bot.store.outbox import MAYBE_SENT, Delivery

log = logging.getLogger(__name__)

#: a row claimed longer ago than this is taken over; above the longest pacing wait
#: (Telegram: 60 s for 20 messages per chat) plus a send timeout (30 s)
LEASE = timedelta(minutes=2)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
#: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly: ~24 h of failures before a row is dead
MAX_ATTEMPTS = 30
#: what quiet hours and mutes hold back; reports and digests always go out
HELD_KINDS = ("alert", "thread")
#: migrations followed per channel per drain (a loop would be a platform bug)
MAX_MIGRATIONS = 3

#: what happens to alerts held by quiet hours or a mute (see the module docstring)
QuietPolicy = Literal["release", "digest"]


@dataclass
class SendSummary:
    """What one drain did."""

    sent: int = 0
    #: transient failures rescheduled with backoff
    retried: int = 0
    #: 429: rows that wait for the platform's Retry-After
    deferred: int = 0
    #: channels paused by a permanent failure
    paused: int = 0
    #: rows given up (refused by the platform, or retries exhausted)
    dead: int = 0
    migrated: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Delay before attempt `attempts + 1`: doubling from 30 s, capped at 1 h, half jittered."""
    exp = BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20))
    delay = min(exp, BACKOFF_CAP)
    # "Equal jitter": never less than half the delay, so retries spread but never stampede.
    fraction = rng.random() if rng is not None else random.random()
    return delay / 2 + delay / 2 * fraction


async def drain_outbox(
    db: Database,
    notifiers: Mapping[str, Notifier],
    *,
    now: Callable[[], datetime],
    limit: int = 100,
    lease: timedelta = LEASE,
    rng: random.Random | None = None,
    quiet_policy: QuietPolicy = "release",
) -> SendSummary:
    """Send up to `limit` due messages; channels without a notifier wait in the outbox."""
    drain = _Drain(db, notifiers, now, lease, rng, limit, quiet_policy)
    if quiet_policy == "release":
        await asyncio.to_thread(drain.release_held)
    channels = await asyncio.to_thread(drain.due_channels)
    results = await asyncio.gather(
        *(drain.channel(channel_id) for channel_id in channels), return_exceptions=True
    )
    for channel_id, result in zip(channels, results, strict=True):
        if isinstance(result, Exception):
            # e.g. the database failed on a mark: the row stays `sending` and the lease
            # brings it back; the other channels carry on.
            log.error("sending stopped", extra={"channel": channel_id, "error": repr(result)})
            drain.summary.errors.append(f"{channel_id}: {type(result).__name__}: {result}")
        elif isinstance(result, BaseException):
            raise result
    summary = drain.summary
    if channels:
        log.info(
            "send: %d sent, %d retried, %d rate-limited, %d paused, %d dead, %d migrated",
            summary.sent, summary.retried, summary.deferred, summary.paused, summary.dead,
            summary.migrated,
        )  # fmt: skip
    return summary


class _Drain:
    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        now: Callable[[], datetime],
        lease: timedelta,
        rng: random.Random | None,
        limit: int,
        quiet_policy: QuietPolicy = "release",
    ) -> None:
        self.db, self.notifiers, self.now, self.lease, self.rng = db, notifiers, now, lease, rng
        self.budget = limit
        self.quiet_policy = quiet_policy
        self.summary = SendSummary()

    def release_held(self) -> None:
        """Rows held for a digest go out after all when the policy is "release"."""
        with self.db.read() as session:
            if not outbox.has_held(session):
                return  # the usual case: no write transaction every drain
        with self.db.write() as session:
            if released := outbox.release_held(session, self.now()):
                log.info("released %d held alerts (quiet policy: release)", released)

    def due_channels(self) -> list[str]:
        with self.db.read() as session:
            return outbox.due_channels(
                session, self.now(), lease=self.lease, platforms=set(self.notifiers)
            )

    async def channel(self, channel_id: str) -> None:
        """Send this channel's due rows in order; stop at its first failure."""
        migrations = 0
        while self.budget > 0:
            self.budget -= 1
            delivery = await asyncio.to_thread(self.claim, channel_id)
            if delivery is None:
                self.budget += 1
                return
            failure = await self.send(delivery)
            if failure is None:
                continue
            followed = await asyncio.to_thread(self.failed, delivery, failure)
            if followed is None or migrations >= MAX_MIGRATIONS:
                return
            migrations += 1
            channel_id = followed

    def claim(self, channel_id: str) -> Delivery | None:
        now = self.now()
        with self.db.write() as session:
            _hold_alerts(session, channel_id, now, self.quiet_policy)
            return outbox.claim_next(session, channel_id, now, lease=self.lease)

    async def send(self, delivery: Delivery) -> DeliveryError | None:
        """Send one claimed row and mark it sent; the error if it failed."""
        platform = delivery.channel_id.partition(":")[0]
        try:
            message = OutgoingMessage(
                channel_id=delivery.channel_id,
                kind=delivery.kind,
                payload=delivery.payload,
                thread_of=delivery.thread_of,
                timezone=delivery.timezone,
                delivery_id=delivery.dedup_key,
                maybe_sent=delivery.maybe_sent,
            )
            receipt = await self.notifiers[platform].send(message)
        except DeliveryError as e:
            return e
        except Exception as e:  # a bad address, a bug in rendering or a notifier: back off
            log.exception("notifier crashed", extra={"channel": delivery.channel_id})
            return DeliveryError(f"internal error: {type(e).__name__}: {e}")
        await asyncio.to_thread(self.mark_sent, delivery, receipt)
        return None

    def mark_sent(self, delivery: Delivery, receipt: Receipt) -> None:
        # Committed right after the send: this is what keeps the duplicate window narrow.
        with self.db.write() as session:
            outbox.mark_sent(session, delivery.id, receipt.message_id, self.now())
        self.summary.sent += 1

    def failed(self, delivery: Delivery, error: DeliveryError) -> str | None:
        """Record a failure; the channel's new id when it migrated (send again there)."""
        now = self.now()
        text = f"{type(error).__name__}: {error}"
        self.summary.errors.append(f"{delivery.channel_id}: {text}")
        log.warning(
            "delivery failed",
            extra={"channel": delivery.channel_id, "error": text, "row": delivery.id},
        )
        with self.db.write() as session:
            if error.migrate_to:
                return self._migrated(session, delivery, error.migrate_to, text, now)
            if error.retry_after is not None:
                self._rate_limited(session, delivery, error.retry_after, text, now)
            elif error.permanent:
                self._channel_gone(session, delivery, error, text, now)
            elif isinstance(error, RejectedMessage) or delivery.attempts + 1 >= MAX_ATTEMPTS:
                self._give_up(session, delivery, error, text, now)
            else:
                prefix = MAYBE_SENT if isinstance(error, UncertainDelivery) else ""
                due = now + backoff(delivery.attempts + 1, self.rng)
                outbox.retry_later(session, delivery.id, due_at=due, error=prefix + text)
                self.summary.retried += 1
        return None

    def _migrated(
        self, session: Session, delivery: Delivery, new_chat: str, text: str, now: datetime
    ) -> str:
        new_id = _migrated_id(delivery.channel_id, new_chat)
        channel_store.rename_channel(session, delivery.channel_id, new_id)
        outbox.retry_later(session, delivery.id, due_at=now, error=text, count_attempt=False)
        self.summary.migrated += 1
        return new_id

    def _rate_limited(
        self, session: Session, delivery: Delivery, seconds: float, text: str, now: datetime
    ) -> None:
        # Exactly the wait the platform asked for, for the whole channel, not an attempt.
        until = now + timedelta(seconds=max(seconds, 0))
        outbox.retry_later(session, delivery.id, due_at=until, error=text, count_attempt=False)
        outbox.defer_channel(session, delivery.channel_id, until)
        self.summary.deferred += 1

    def _channel_gone(
        self, session: Session, delivery: Delivery, error: DeliveryError, text: str, now: datetime
    ) -> None:
        # The row goes back to pending untouched: it is sent when the channel is resumed.
        outbox.retry_later(session, delivery.id, due_at=now, error=text, count_attempt=False)
        if not channel_store.pause_channel(session, delivery.channel_id, str(error), now):
            return  # paused already (a concurrent drain): reported there
        self.summary.paused += 1
        _report(
            session,
            delivery.channel_id,
            f"Paused {delivery.channel_id}: {error} — its messages are kept. Fix the channel "
            f"(invite the bot, check the id), then run "
            f"`skywatch channel resume {delivery.channel_id}`.",
            key=f"paused:{delivery.channel_id}:{now.isoformat()}",
            now=now,
        )

    def _give_up(
        self, session: Session, delivery: Delivery, error: DeliveryError, text: str, now: datetime
    ) -> None:
        outbox.mark_dead(session, delivery.id, text)
        self.summary.dead += 1
        if delivery.kind != "report":  # never report a failed report: no loops
            _report(
                session,
                delivery.channel_id,
                f"Gave up a {delivery.kind} to {delivery.channel_id} after "
                f"{delivery.attempts + 1} attempts: {error}",
                key=f"dead:{delivery.id}",
                now=now,
            )


def _hold_alerts(
    session: Session, channel_id: str, now: datetime, policy: QuietPolicy = "release"
) -> None:
    """Quiet hours and mutes hold alerts and follow-ups (never reports or digests).

    Checked at claim time, not at enqueue time, so a `quiet` or `mute` command
    also holds alerts queued before it. Under "release" they stay `pending`
    until the window ends; under "digest" they are `held` for the next digest.
    Never dropped.
    """
    window = channel_store.delivery_window(session, channel_id)
    if window is None or (window.quiet is None and window.muted_until is None):
        return
    try:
        zone = ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    until = hold_until(now, zone, window.quiet, window.muted_until)
    if until is None:
        return
    if policy == "digest":
        outbox.hold_channel(session, channel_id, until, kinds=HELD_KINDS)
    else:
        outbox.defer_channel(session, channel_id, until, kinds=HELD_KINDS)


def _report(session: Session, about: str, text: str, *, key: str, now: datetime) -> None:
    """One report per admin channel, never to the channel the report is about."""
    admins = channel_store.admin_channel_ids(session, exclude=about)
    for admin in admins:
        outbox.enqueue(
            session,
            channel_id=admin,
            kind="report",
            dedup_key=f"report:{admin}:{key}",
            payload={"text": text},
            now=now,
        )
    if not admins:
        log.warning("no admin channel to report to", extra={"report": text})


def _migrated_id(channel_id: str, new_chat: str) -> str:
    """`telegram:-123` → `telegram:-100123`, keeping a forum topic suffix if there was one."""
    platform, _, rest = channel_id.partition(":")
    _, slash, topic = rest.partition("/")
    return f"{platform}:{new_chat}{slash}{topic}"
