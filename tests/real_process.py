"""Real processes for the end-to-end tests: `skywatch run`, the fake chat APIs, and
a feed served on loopback for them to read."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO

from tests.conftest import REPO


def start_run(
    config: Path, cwd: Path, env: Mapping[str, str], stdout: IO[str], stderr: IO[str] | int
) -> subprocess.Popen[str]:
    """`skywatch run` with `config`, as a user starts it (python -m bot)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "run"],
        cwd=cwd, stdout=stdout, stderr=stderr, text=True, env=dict(env),
    )  # fmt: skip


def spawn_fake(module: str, log: Path) -> tuple[subprocess.Popen[str], str]:
    """A fake chat API (`tests.fakes.<module>`) as its own process; it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", f"tests.fakes.{module}", "--port", "0", "--log", str(log)],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    return proc, url


def read_until(stream_path: Path, needle: str, proc: subprocess.Popen[str], timeout: float) -> str:
    """The file's text once `needle` appears in it; fails if it does not in time."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = stream_path.read_text(errors="replace") if stream_path.exists() else ""
        if needle in text:
            return text
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} did not appear; output so far:\n{text}")


@contextmanager
def serve_feed(body: Callable[[], bytes]) -> Iterator[str]:
    """Serve `body()` (fresh on every request) as RSS; yields the feed's URL.

    The URL names `localhost`, so a config must allow it in `allow_private_hosts`.
    """

    class FeedHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/rss"
    finally:
        server.shutdown()
        server.server_close()


#: a feed with one item on the watched topics (air defence) and one on nothing
LOOPBACK_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Loopback Desk</title><link>http://localhost/</link>
<description>test</description>
<item><title>Germany sends two more Patriot air defense systems to Ukraine</title>
<link>http://localhost/news/patriot-delivery</link><guid>loopback-1</guid>
<pubDate>{date}</pubDate>
<description>The batteries and interceptor missiles will protect cities.</description>
</item>
<item><title>Local bakery wins bread award</title><link>http://localhost/news/bread</link>
<guid>loopback-2</guid><pubDate>{date}</pubDate><description>Crusty.</description></item>
</channel></rss>"""


@contextmanager
def serve_loopback_feed() -> Iterator[str]:
    """`LOOPBACK_FEED`, dated now on every request, by `serve_feed` (which answers
    every path with it: …/rss, …/other)."""
    from email.utils import formatdate

    with serve_feed(lambda: LOOPBACK_FEED.format(date=formatdate(usegmt=True)).encode()) as url:
        yield url


def repo_topics() -> str:
    """The `topics:` block of the repository's feeds.yaml, for a test's own config."""
    topics = (REPO / "feeds.yaml").read_text(encoding="utf-8").split("\ntopics:\n", 1)[1]
    return topics.split("\nchannels:", 1)[0]
