"""Feed bookkeeping in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import FeedSpec
from bot.errors import StoreError
from bot.store import feeds as feed_store
from bot.store import items as item_store
from bot.store.db import Database
from bot.types import Item

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def specs(*urls: str) -> list[FeedSpec]:
    return [FeedSpec(url=u, name=u.rsplit("/", 1)[-1]) for u in urls]


def test_sync_adds_updates_and_stops_config_feeds(database: Database) -> None:
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/1", "https://a.example/2"), NOW)
    with database.write() as s:
        feed_store.add_feed(s, "https://c.example/added", NOW)
        feed_store.sync_feeds(s, specs("https://a.example/2"), NOW)
    with database.read() as s:
        health = {f.url: f for f in feed_store.feed_health(s)}
    assert health["https://a.example/1"].status == "stopped"
    assert health["https://a.example/2"].status == "active"
    assert health["https://c.example/added"].status == "active"  # commands' feeds are kept


def test_due_feeds_are_those_whose_time_has_come(database: Database) -> None:
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/1", "https://a.example/2"), NOW)
    with database.read() as s:
        due = feed_store.due_feeds(s, NOW)
    assert [f.url for f in due] == ["https://a.example/1", "https://a.example/2"]
    with database.write() as s:
        feed_store.record_success(
            s, due[0].id, now=NOW, next_check_at=NOW + timedelta(minutes=15), etag='"v1"'
        )
    with database.read() as s:
        assert [f.url for f in feed_store.due_feeds(s, NOW)] == ["https://a.example/2"]
        later = feed_store.due_feeds(s, NOW + timedelta(minutes=16))
    assert {f.url for f in later} == {"https://a.example/1", "https://a.example/2"}
    assert next(f for f in later if f.id == due[0].id).etag == '"v1"'


def test_success_is_seen_by_a_feed_loaded_in_the_same_session(database: Database) -> None:
    """record_success writes past the ORM; a loaded row must neither go stale nor win later."""
    with database.write() as s:
        feed = feed_store.add_feed(s, "https://a.example/f", NOW)
        feed_store.record_error(
            s, feed.id, now=NOW, error="boom", next_check_at=NOW, permanent=False, report_after=1
        )
        feed.name = "Renamed"  # a pending change, flushed before the update
        later = NOW + timedelta(hours=1)
        feed_store.record_success(s, feed.id, now=later, next_check_at=later, etag='"v2"')
        assert (feed.status, feed.consecutive_errors, feed.last_error) == ("active", 0, None)
        assert (feed.etag, feed.error_reported, feed.name) == ('"v2"', False, "Renamed")
    with database.read() as s:
        (health,) = feed_store.feed_health(s)
    assert (health.status, health.consecutive_errors, health.name) == ("active", 0, "Renamed")
    assert health.next_check_at.replace(tzinfo=UTC) == NOW + timedelta(hours=1)


def test_errors_count_up_and_report_once(database: Database) -> None:
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/1"), NOW)
        feed_id = feed_store.due_feeds(s, NOW)[0].id
    reports = []
    for n in range(5):
        with database.write() as s:
            reports.append(
                feed_store.record_error(
                    s,
                    feed_id,
                    now=NOW,
                    error=f"boom {n}",
                    next_check_at=NOW,
                    permanent=False,
                    report_after=3,
                )
            )
    assert reports == [False, False, True, False, False]
    with database.read() as s:
        (health,) = feed_store.feed_health(s)
    assert (health.consecutive_errors, health.last_error, health.status) == (5, "boom 4", "failing")
    with database.write() as s:
        feed_store.record_success(s, feed_id, now=NOW, next_check_at=NOW)
        feed_store.record_error(
            s, feed_id, now=NOW, error="gone", next_check_at=NOW, permanent=True, report_after=3
        )
    with database.read() as s:
        (health,) = feed_store.feed_health(s)
        assert feed_store.due_feeds(s, NOW + timedelta(days=1)) == []  # stopped: not polled
    assert (health.status, health.consecutive_errors) == ("stopped", 1)


def test_adding_a_followed_feed_twice_is_refused(database: Database) -> None:
    with database.write() as s:
        feed_store.add_feed(s, "https://a.example/f", NOW)
    with pytest.raises(StoreError, match="already followed"), database.write() as s:
        feed_store.add_feed(s, "https://a.example/f", NOW)
    with database.write() as s:
        feed_store.remove_feed(s, "https://a.example/f")
    with database.write() as s:
        feed_store.add_feed(s, "https://a.example/f", NOW)  # re-activating is fine
    with pytest.raises(StoreError, match="no followed feed"), database.write() as s:
        feed_store.remove_feed(s, "https://unknown.example/")


def test_permanent_redirect_moves_the_feed(database: Database) -> None:
    with database.write() as s:
        feed = feed_store.add_feed(s, "https://old.example/rss", NOW)
    with database.write() as s:
        feed_store.record_success(
            s, feed.id, now=NOW, next_check_at=NOW, moved_to="https://new.example/rss"
        )
    with database.read() as s:
        assert [f.url for f in feed_store.due_feeds(s, NOW)] == ["https://new.example/rss"]


def make_item(key: str, title: str = "Patriot battery arrives") -> Item:
    return Item(
        key=key,
        title=title,
        link=f"https://n.example/{key}",
        summary="",
        published_at=NOW,
        content_hash=f"h-{title}",
        lang="en",
    )


def test_an_item_is_stored_once_per_feed(database: Database) -> None:
    with database.write() as s:
        feed = feed_store.add_feed(s, "https://a.example/rss", NOW)
        first = item_store.insert_item(s, feed.id, make_item("k1"), now=NOW, alerted=True)
        again = item_store.insert_item(
            s, feed.id, make_item("k1", "Retitled"), now=NOW, alerted=True
        )
    assert first is not None and again is None
    with database.write() as s:
        item_store.update_item(s, feed.id, make_item("k1", "Retitled"))
    with database.read() as s:
        assert item_store.known_keys(s, feed.id, ["k1", "k2"]) == {"k1": "h-Retitled"}
        stored = item_store.get_item(s, first)
    assert stored is not None and stored.title == "Retitled"


def test_a_config_feed_an_admin_removed_stays_removed(database: Database) -> None:
    """`remove_feed` outlasts the restarts (each one syncs feeds.yaml) while the file
    lists the feed; taken out of the file and put back, it is polled again."""
    both = specs("https://a.example/1", "https://a.example/2")

    def status() -> str:
        with database.read() as s:
            return {f.url: f.status for f in feed_store.feed_health(s)}["https://a.example/1"]

    with database.write() as s:
        feed_store.sync_feeds(s, both, NOW)
        feed_store.remove_feed(s, "https://a.example/1")
    with database.write() as s:
        feed_store.sync_feeds(s, both, NOW)  # a restart
    assert status() == "removed"
    with database.read() as s:
        assert [f.url for f in feed_store.due_feeds(s, NOW)] == ["https://a.example/2"]
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/2"), NOW)  # taken out of the file
    assert status() == "stopped"
    with database.write() as s:
        feed_store.sync_feeds(s, both, NOW)  # and put back
    assert status() == "active"
    with database.write() as s:
        feed_store.remove_feed(s, "https://a.example/1")
        feed_store.add_feed(s, "https://a.example/1", NOW)  # `feeds add` brings it back
    assert status() == "active"


def test_results_of_a_fetch_under_way_leave_a_removed_feed_removed(database: Database) -> None:
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/1", "https://a.example/2"), NOW)
        first, second = (f.id for f in feed_store.due_feeds(s, NOW))
        feed_store.remove_feed(s, str(first))
        feed_store.remove_feed(s, str(second))
    later = NOW + timedelta(minutes=5)
    with database.write() as s:
        feed_store.record_success(s, first, now=later, next_check_at=later, etag='"v2"')
        feed_store.record_unchanged(s, [(second, later, later)])
        reported = feed_store.record_error(
            s, second, now=later, error="boom", next_check_at=later, permanent=False, report_after=1
        )
    assert not reported
    with database.read() as s:
        health = {f.id: f for f in feed_store.feed_health(s)}
        assert feed_store.due_feeds(s, later + timedelta(days=1)) == []
    assert [health[first].status, health[second].status] == ["removed", "removed"]
    assert health[first].last_success_at is None and health[second].last_error is None


@pytest.mark.parametrize(
    "typed",
    ["99999999999999999999999", "9223372036854775808", "²", "9" * 5000],
    ids=["huge", "2**63", "superscript", "5000 digits"],
)
def test_removing_an_id_no_row_can_have_says_no_such_feed(database: Database, typed: str) -> None:
    # SQLite's integer overflowed ("Python int too large") and int("²") failed.
    with database.write() as s:
        feed_store.add_feed(s, "https://a.example/f", NOW)
        with pytest.raises(StoreError, match="no followed feed"):
            feed_store.remove_feed(s, typed)


def test_an_item_id_no_row_can_have_is_no_item(database: Database) -> None:
    with database.read() as s:
        for item_id in (2**63, 10**22):
            assert item_store.get_item(s, item_id) is None
            assert item_store.explanations(s, item_id) == []
    assert item_store.row_id("12") == 12
    assert item_store.row_id("9" * 22) == 0
    assert item_store.row_id("12a") is None and item_store.row_id("²") is None


def test_run_once_leaves_a_failing_feed_its_backoff_and_retry_after(database: Database) -> None:
    """`make_all_due` (run --once) makes healthy feeds due now; a feed whose server asked
    for an hour (429, Retry-After) keeps that hour, however often run --once runs."""
    with database.write() as s:
        feed_store.sync_feeds(s, specs("https://a.example/ok", "https://a.example/busy"), NOW)
        ok_id, busy_id = (f.id for f in feed_store.due_feeds(s, NOW))
        feed_store.record_success(s, ok_id, now=NOW, next_check_at=NOW + timedelta(hours=1))
        feed_store.record_error(
            s,
            busy_id,
            now=NOW,
            error="HTTP 429 Too Many Requests; retry after 3600 s",
            next_check_at=NOW + timedelta(hours=1),
            permanent=False,
            report_after=3,
        )
    later = NOW + timedelta(minutes=1)
    with database.write() as s:
        feed_store.make_all_due(s, later)
    with database.read() as s:
        assert [f.id for f in feed_store.due_feeds(s, later)] == [ok_id]
        assert {f.id for f in feed_store.due_feeds(s, NOW + timedelta(hours=1))} == {ok_id, busy_id}
