"""What both fake chat APIs share: start/stop on loopback, fault queues, a message log.

Faults common to both platforms (each platform adds its own error replies):

* `hang`: never answer (until the server closes), to exercise client timeouts;
* `reset`: drop the connection before accepting the message;
* `reset_after_accept`: record the message as delivered, then drop the
  connection, the case where a retry makes a duplicate (RELIABILITY B7, B11).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    """One injected failure; `options` carry e.g. retry_after or migrate_to."""

    kind: str
    times: int = 1
    options: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """An aiohttp app on 127.0.0.1 with fault injection and a record of accepted messages."""

    def __init__(self, *, log_path: str | Path | None = None) -> None:
        #: every accepted message, in order
        self.messages: list[dict[str, Any]] = []
        #: every API call as (method, params), accepted or not
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.log_path = Path(log_path) if log_path else None
        self.port = 0
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.app = web.Application()
        self.app.router.add_post("/_fake/inject", self._inject_handler)
        self.app.router.add_get("/_fake/messages", self._messages_handler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, method: str, fault: str, times: int = 1, **options: Any) -> None:
        """Make the next `times` calls of `method` fail with `fault`.

        With `channel=<id>` (Slack channel / Telegram chat id) only calls for that
        channel fail; with `skip=n` the first n matching calls succeed first. Other
        options are fault-specific (retry_after, migrate_to).
        """
        self._faults[method].append(Fault(fault, times, options))

    def next_fault(self, method: str, channel: object = None) -> Fault | None:
        queue = self._faults.get(method)
        for fault in list(queue or ()):
            wanted = fault.options.get("channel")
            if wanted is not None and str(wanted) != str(channel):
                continue
            if fault.options.get("skip", 0) > 0:
                fault.options["skip"] -= 1
                return None
            fault.times -= 1
            if fault.times <= 0:
                queue.remove(fault)  # type: ignore[union-attr]
            return fault
        return None

    def accept(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if self.log_path is not None:
            # Atomic rewrite: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=self.log_path.parent, prefix=".fake-log-")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.messages, f, ensure_ascii=False, indent=1)
            os.replace(tmp, self.log_path)

    async def common_fault(
        self, request: web.Request, fault: Fault, accept: Any
    ) -> web.StreamResponse | None:
        """Handle hang/reset faults; None when the fault is platform-specific."""
        if fault.kind == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        if fault.kind in ("reset", "reset_after_accept"):
            if fault.kind == "reset_after_accept":
                accept()
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # the connection is gone; answer nothing
        return None

    async def start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _inject_handler(self, request: web.Request) -> web.Response:
        body = await request.json()
        options = {k: v for k, v in body.items() if k not in ("method", "fault", "times")}
        self.inject(body["method"], body["fault"], int(body.get("times", 1)), **options)
        return web.json_response({"ok": True})

    async def _messages_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query, a JSON body or a form body, like the real APIs accept."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def serve_main(make: Any, description: str, argv: list[str] | None = None) -> None:
    """`python -m tests.fakes.<name> --port N --log FILE`: serve until interrupted."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--log", help="file rewritten with a JSON list of accepted messages")
    args = parser.parse_args(argv)

    async def run() -> None:
        server = make(log_path=args.log)
        await server.start(args.port)
        print(server.url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
