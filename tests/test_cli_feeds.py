"""`skywatch feeds …`, `run --once` and `parse` as a user runs them: real processes,
feeds served on loopback, and the messages and tables they print."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from bot.feeds.opml import read_opml

from .real_process import LOOPBACK_FEED, repo_topics, serve_feed, serve_loopback_feed
from .test_cli import skywatch


@pytest.fixture
def feed_url() -> Iterator[str]:
    """A feed on loopback; the server answers every path with it (…/rss, …/other)."""
    with serve_loopback_feed() as url:
        yield url


def write_config(tmp_path: Path, *feed_urls: str, allow: str = "[localhost]") -> Path:
    """A configuration with the repository's topics; the feeds are named Desk 1, Desk 2 …"""
    topics = repo_topics()
    feeds = "".join(f"\n  - {{url: '{url}', name: Desk {n}}}" for n, url in enumerate(feed_urls, 1))
    config = tmp_path / "feeds.yaml"
    config.write_text(
        f"settings:\n  data_dir: state\n  allow_private_hosts: {allow}\n  fetch_timeout: 5s\n"
        f"feeds:{feeds or ' []'}\ntopics:\n{topics}\n",
        encoding="utf-8",
    )
    return config


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = skywatch("--config", str(config), *args, cwd=config.parent, env={"COLUMNS": "200"})
    assert "Traceback" not in result.stdout + result.stderr
    return result


def ok(config: Path, *args: str) -> str:
    result = run(config, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def statuses(config: Path) -> dict[str, str]:
    """feed name -> status, read from the `feeds list` table (a name's row is the one
    with the id; the URL is on the line below it)."""
    rows = {}
    for line in ok(config, "feeds", "list").splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 8 and cells[0].isdigit():
            rows[cells[1]] = cells[2]
    return rows


def summary(output: str) -> dict[str, str]:
    """The `run --once` table, label -> value."""
    found = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 2:
            found[cells[0]] = cells[1]
    return found


def test_run_once_prints_what_the_cycle_did(tmp_path: Path, feed_url: str) -> None:
    config = write_config(tmp_path, feed_url, "http://no-such-host.invalid/rss")
    first = summary(ok(config, "run", "--once"))
    assert first["feeds"] == "2" and first["fetched"] == "1" and first["errors"] == "1"
    assert first["new items"] == "2" and first["matched"] == "1"
    assert first["time"].endswith(" s")
    # the same items again: stored once, alerted once
    again = summary(ok(config, "run", "--once"))
    assert (again["fetched"], again["new items"], again["alerts queued"]) == ("1", "0", "0")


def test_feeds_add_list_remove_export(tmp_path: Path, feed_url: str) -> None:
    other = feed_url.replace("/rss", "/other")
    config = write_config(tmp_path, feed_url)
    added = ok(config, "feeds", "add", other)
    assert added.startswith(f"added Loopback Desk ({other}): 2 items now")
    assert ok(config, "run", "--once")  # the configured feed is stored at start
    assert statuses(config) == {"Desk 1": "active", "Loopback Desk": "active"}
    listed = ok(config, "feeds", "list")
    assert "2 feeds" in listed and feed_url in listed and other in listed

    # An admin removes the configured feed: it stays removed, though feeds.yaml lists it.
    removed = run(config, "feeds", "remove", feed_url)
    assert removed.returncode == 0 and removed.stdout.strip() == f"removed {feed_url}"
    assert "feeds.yaml lists it" in removed.stderr
    polled = summary(ok(config, "run", "--once"))
    assert polled["feeds"] == "1"  # the added one only
    assert statuses(config) == {"Desk 1": "removed", "Loopback Desk": "active"}
    exported = [outline.url for outline in read_opml(ok(config, "feeds", "export").encode())]
    assert exported == [other]
    gone = run(config, "feeds", "remove", feed_url)
    assert gone.returncode == 1 and f"no followed feed {feed_url}" in gone.stderr

    # `feeds add` brings it back
    ok(config, "feeds", "add", feed_url)
    assert summary(ok(config, "run", "--once"))["feeds"] == "2"
    exported = [outline.url for outline in read_opml(ok(config, "feeds", "export").encode())]
    assert sorted(exported) == sorted([feed_url, other])


def test_feeds_add_refuses_what_the_bot_must_not_fetch(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for url, reason in [
        ("http://127.0.0.1:9/rss", "127.0.0.1 is a private address"),
        ("ftp://example.com/rss", "ftp: URLs are not feeds"),
        ("file:///etc/passwd", "file: URLs are not feeds"),
    ]:
        result = run(config, "feeds", "add", url)
        assert result.returncode == 1 and reason in result.stderr, result.stderr
    assert "0 feeds" in ok(config, "feeds", "list")


def test_feeds_import_checks_every_url_as_add_does(tmp_path: Path, feed_url: str) -> None:
    other = feed_url.replace("/rss", "/other")
    config = write_config(tmp_path)
    opml = tmp_path / "team.opml"
    outlines = [feed_url, other, "http://10.0.0.1/rss", "ftp://example.com/rss"]
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>'
        + "".join(f'<outline type="rss" text="f{i}" xmlUrl="{u}"/>' for i, u in enumerate(outlines))
        + "</body></opml>",
        encoding="utf-8",
    )
    result = run(config, "feeds", "import", str(opml))
    assert result.returncode == 0, result.stderr
    assert f"imported 2 feeds from {opml} (0 already followed)" in result.stdout
    assert "not imported http://10.0.0.1/rss: refused: 10.0.0.1 is a private address" in (
        result.stderr
    )
    assert "not imported ftp://example.com/rss: refused: ftp: URLs are not feeds" in result.stderr
    assert statuses(config) == {"f0": "active", "f1": "active"}
    again = ok(config, "feeds", "import", str(opml))
    assert f"imported 0 feeds from {opml} (2 already followed)" in again


def test_feeds_list_prints_a_hostile_title_as_written(tmp_path: Path) -> None:
    title = "[/b] Breaking [bold red]news[/]"
    hostile = LOOPBACK_FEED.format(date=formatdate(usegmt=True)).replace("Loopback Desk", title)
    config = write_config(tmp_path)
    with serve_feed(hostile.encode) as url:
        ok(config, "feeds", "add", url)
    assert statuses(config) == {title: "active"}


def test_parse_a_file_and_a_url_as_json_lines(tmp_path: Path, feed_url: str) -> None:
    config = write_config(tmp_path)
    path = tmp_path / "feed.xml"
    path.write_text(LOOPBACK_FEED.format(date="Fri, 27 Nov 2026 10:00:00 GMT"), encoding="utf-8")
    items = [json.loads(line) for line in ok(config, "parse", str(path)).splitlines()]
    # a <guid> is a permalink unless it says otherwise, so a relative one is a path; the
    # key keeps it relative, whatever address the feed is read from (bot/feeds/identity.py)
    assert [i["id"] for i in items] == ["/loopback-1", "/loopback-2"]
    assert items[0]["title"].startswith("Germany sends two more Patriot")
    assert items[0]["link"] == "http://localhost/news/patriot-delivery"
    assert items[0]["published"] == "2026-11-27T10:00:00+00:00"
    assert items[1]["summary"] == "Crusty."

    fetched = [json.loads(line) for line in ok(config, "parse", feed_url).splitlines()]
    assert [(i["id"], i["title"]) for i in fetched] == [(i["id"], i["title"]) for i in items]


def test_parse_refuses_a_url_the_guard_refuses_and_says_what_is_not_a_feed(
    tmp_path: Path, feed_url: str
) -> None:
    config = write_config(tmp_path, allow="[]")  # localhost is this machine: refused
    refused = run(config, "parse", feed_url)
    assert refused.returncode == 1 and "refused: localhost is this machine" in refused.stderr
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><html><head><title>Hi</title></head><body>x</body></html>")
    not_feed = run(config, "parse", str(page))
    assert not_feed.returncode == 1 and "not a feed" in not_feed.stderr.lower()


def test_control_characters_from_a_feed_reach_neither_the_terminal_nor_the_opml(
    tmp_path: Path,
) -> None:
    """JSON Feed carries any character; ESC would drive the reader's terminal, and XML
    (the OPML export) cannot hold it, so `feeds import` of that export failed."""
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Evil\u0001Feed\u001b[2J desk\u009b",
        "items": [{"id": "1", "title": "Patriot\u001b[31m news", "content_text": "x\u0000y"}],
    }
    config = write_config(tmp_path)
    with serve_feed(lambda: json.dumps(feed).encode()) as url:
        added = ok(config, "feeds", "add", url)
        items = [json.loads(line) for line in ok(config, "parse", url).splitlines()]
    assert added.startswith("added EvilFeed[2J desk (")
    assert [(i["title"], i["summary"]) for i in items] == [("Patriot[31m news", "xy")]
    listed = ok(config, "feeds", "list")
    assert "EvilFeed[2J desk" in listed and "\x1b" not in listed
    exported = tmp_path / "export.opml"
    exported.write_text(ok(config, "feeds", "export"), encoding="utf-8")
    assert "imported 0 feeds" in ok(config, "feeds", "import", str(exported))


def test_feeds_add_with_a_name_says_and_lists_that_name(tmp_path: Path, feed_url: str) -> None:
    config = write_config(tmp_path)
    assert ok(config, "feeds", "add", feed_url, "--name", "Wire").startswith("added Wire (")
    assert statuses(config) == {"Wire": "active"}
