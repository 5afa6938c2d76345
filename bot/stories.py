"""The pipeline's story bookkeeping: an in-memory `StoryIndex` kept in step with the store.

bot/match/cluster.py decides which story an item joins; this module owns the
index's life and the `Story` rows:

    tracker.load(db, now)                  # once: members of the last window, from the items
    with tracker.transaction():            # one write transaction (the lock: one writer at a time)
        with tracker.savepoint():          # one feed's SAVEPOINT
            tracker.assign(session, item_id, item, feed_id, now)   # Story row + index member
        tracker.flush(session)             # before the commit: items' story ids, stories' counts

The index is only a cache of committed rows: a member added inside a
transaction or savepoint that rolls back is removed again, so a story id the
database never kept can never be joined. The lock keeps the index to one
thread at a time (the pipeline's writer runs in worker threads).

A new story's row is written at once (its id is needed); which story each item
joined, and how many items each earlier story gained, wait for `flush`: two
statements per transaction instead of two per matched item (bench_ingest's cold
cycle assigns 1,046 items).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.match.cluster import StoryCandidate, StoryIndex
from bot.match.similarity import Fingerprint
from bot.match.thresholds import DEFAULT, ClusterConfig
from bot.store import items as item_store
from bot.store.db import Database
from bot.types import Item

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoryAssignment:
    """The story an item was placed in."""

    story_id: int
    #: the item started the story (it alerts); False: it joined an earlier one
    is_new: bool


class StoryTracker:
    """Clusters new matched items into stories, across outlets, within a time window."""

    def __init__(self, config: ClusterConfig = DEFAULT) -> None:
        self.index = StoryIndex(config)
        self.loaded = False
        self._lock = threading.RLock()
        #: index handles of the members this transaction added
        self._staged: list[int] = []
        #: (item id, story id, when it joined an earlier story, else None) of this
        #: transaction, for `flush`
        self._links: list[tuple[int, int, datetime | None]] = []

    def load(self, db: Database, now: datetime) -> int:
        """Rebuild the index from the stored members of the last window (once); how many."""
        with self._lock:
            if self.loaded:
                return 0
            with db.read() as session:
                members = item_store.story_members(session, now - self.index.config.window)
            for m in members:
                fingerprint = Fingerprint.of(m.title, m.summary)
                self.index.add(
                    StoryCandidate.of(m.story_id, m.feed_id, m.published_at, fingerprint, m.lang)
                )
            self.loaded = True
            log.info("story index rebuilt", extra={"members": len(members)})
            return len(members)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One writer at a time; on any error, forget what this transaction added."""
        with self._lock:
            self._staged, self._links = [], []
            try:
                yield
            except BaseException:
                self._drop(0, 0)
                raise
            finally:
                self._staged, self._links = [], []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside `transaction`: on an error, forget what this savepoint added."""
        marks = len(self._staged), len(self._links)
        try:
            yield
        except BaseException:
            self._drop(*marks)
            raise

    def _drop(self, staged: int, links: int) -> None:
        for handle in self._staged[staged:]:
            self.index.remove(handle)
        del self._staged[staged:]
        del self._links[links:]

    def flush(self, session: Session) -> None:
        """Write which story each item of this transaction joined (before its commit):
        each earlier story gains its items and keeps the time of the last one."""
        joined: dict[int, tuple[int, datetime]] = {}
        for _, story_id, when in self._links:
            if when is not None:
                count, _ = joined.get(story_id, (0, when))
                joined[story_id] = (count + 1, when)
        links = [(item_id, story_id) for item_id, story_id, _ in self._links]
        item_store.link_stories(session, links, joined)
        self._links = []

    def assign(
        self,
        session: Session,
        item_id: int,
        item: Item,
        *,
        feed_id: int,
        now: datetime,
        fingerprint: Fingerprint | None = None,
    ) -> StoryAssignment:
        """Place a stored item in a story, new or one it reports (inside `transaction`;
        `flush` writes the item's story id).

        `fingerprint`: the item's `Fingerprint.of(title, summary)`, when a parser
        worker computed it already (bot/feeds/prepare.py).
        """
        if fingerprint is None:
            fingerprint = Fingerprint.of(item.title, item.summary)
        match = self.index.assign(
            fingerprint, lang=item.lang, feed_id=feed_id, published_at=item.published_at, now=now
        )
        if match is None:
            signature = fingerprint.signature.to_str()
            story_id = item_store.create_story(session, now=now, signature=signature)
        else:
            story_id = match.story_id
        self._links.append((item_id, story_id, None if match is None else now))
        member = StoryCandidate.of(story_id, feed_id, item.published_at, fingerprint, item.lang)
        self._staged.append(self.index.add(member))
        return StoryAssignment(story_id, is_new=match is None)
