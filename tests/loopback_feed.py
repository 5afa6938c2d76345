"""A feed served on loopback, for the tests that run the real `skywatch run` process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
