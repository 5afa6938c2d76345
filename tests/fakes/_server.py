"""What both fake chat APIs share: start/stop on loopback, the request flow,
fault queues, and a log of accepted messages.

A platform subclass names its posting method and channel parameter, builds a
message record (`new_message`), answers its own API methods (`api_<name>`) and
its own error faults (`platform_fault`). Faults common to both platforms:

* `slow`: answer normally, but `seconds` later (default 1); with `after_accept`
  the message is recorded first, so a client killed while it waits has been
  delivered without knowing it (the crash test's duplicate window);
* `hang`: never answer (until the server closes), to exercise client timeouts;
* `reset`: drop the connection before accepting the message;
* `reset_after_accept`: record the message as delivered, then drop the
  connection, the case where a retry makes a duplicate (RELIABILITY B7, B11);
* `bad_answer`: an answer that is not the platform's JSON, as a proxy or a
  broken gateway gives: `body` (default `{not json`) with `status` (200) and
  `content_type` (application/json); with `after_accept` the message is
  recorded first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import tempfile
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

#: an `api_<method>` handler: request parameters in, a response or a JSON body out
Handler = Callable[[dict[str, Any]], Awaitable[web.StreamResponse | dict[str, Any]]]
S = TypeVar("S", bound="FakeServer")


@dataclass
class Fault:
    """One injected failure; `options` carry e.g. retry_after or migrate_to."""

    kind: str
    times: int = 1
    options: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """An aiohttp app on 127.0.0.1 with fault injection and a record of accepted messages."""

    #: the API method that posts a message (what `reset_after_accept` records)
    send_method = ""
    #: the request parameter naming the channel/chat, which `inject(channel=…)` filters on
    channel_param = ""

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
        self.app.router.add_post("/_fake/clear", self._clear_handler)
        self.app.router.add_get("/_fake/messages", self._messages_handler)

    # -- what a platform provides ---------------------------------------------------------

    def new_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """The record of a message posted with `params` (with a fresh platform id)."""
        raise NotImplementedError

    def refuse(self, request: web.Request) -> web.StreamResponse | None:
        """An answer for a request that must not go further (bad credentials), or None."""
        return None

    def unknown_method(self, method: str) -> web.StreamResponse:
        raise NotImplementedError

    def platform_fault(self, fault: Fault) -> web.StreamResponse:
        """The platform's error answer for a fault that is not one of the common ones."""
        raise NotImplementedError

    # -- the request flow -------------------------------------------------------------------

    async def dispatch(
        self, request: web.Request, method: str, handler_name: str
    ) -> web.StreamResponse:
        """Record the call, apply the next fault for it, or let `api_<handler_name>` answer."""
        params = await read_params(request)
        self.calls.append((method, params))
        if (refused := self.refuse(request)) is not None:
            return refused
        handler: Handler | None = getattr(self, "api_" + handler_name, None)
        if handler is None:
            return self.unknown_method(method)
        fault = self.next_fault(method, params.get(self.channel_param))
        if fault is None:
            return _response(await handler(params))
        if fault.kind == "slow":
            return await self._slow(handler, params, fault)
        if fault.kind == "hang":
            await self._closing.wait()
            return web.Response(status=503)
        if fault.kind in ("reset", "reset_after_accept"):
            if fault.kind == "reset_after_accept" and method == self.send_method:
                self.accept(self.new_message(params))
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # the connection is gone; answer nothing
        if fault.kind == "bad_answer":
            if fault.options.get("after_accept"):
                await handler(params)
            return _bad_answer(fault)
        return self.platform_fault(fault)

    async def _slow(
        self, handler: Handler, params: dict[str, Any], fault: Fault
    ) -> web.StreamResponse:
        seconds = float(fault.options.get("seconds", 1))
        if fault.options.get("after_accept"):
            answer = await handler(params)
            await asyncio.sleep(seconds)
            return _response(answer)
        await asyncio.sleep(seconds)
        return _response(await handler(params))

    # -- faults and the message log -----------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, method: str, fault: str, times: int = 1, **options: Any) -> None:
        """Make the next `times` calls of `method` fail with `fault`.

        With `channel=<id>` (Slack channel / Telegram chat id) only calls for that
        channel fail; with `skip=n` the first n matching calls succeed first. Other
        options are fault-specific (retry_after, migrate_to, seconds, after_accept).
        """
        self._faults[method].append(Fault(fault, times, options))

    def clear_faults(self) -> None:
        """Forget every fault still queued."""
        self._faults.clear()

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

    # -- life cycle -------------------------------------------------------------------------

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

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _inject_handler(self, request: web.Request) -> web.Response:
        body = await request.json()
        options = {k: v for k, v in body.items() if k not in ("method", "fault", "times")}
        self.inject(body["method"], body["fault"], int(body.get("times", 1)), **options)
        return web.json_response({"ok": True})

    async def _clear_handler(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"ok": True})

    async def _messages_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.messages)


def _bad_answer(fault: Fault) -> web.Response:
    return web.Response(
        status=int(fault.options.get("status", 200)),
        body=str(fault.options.get("body", "{not json")).encode(),
        content_type=str(fault.options.get("content_type", "application/json")),
    )


def _response(answer: web.StreamResponse | dict[str, Any]) -> web.StreamResponse:
    return answer if isinstance(answer, web.StreamResponse) else web.json_response(answer)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query, a JSON body or a form body, like the real APIs accept."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        params.update(await request.json())
    elif request.can_read_body:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def json_field(value: Any) -> Any:
    """A parameter that clients send JSON-encoded inside a form (blocks, metadata)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


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

    # A shell starts background jobs with SIGINT ignored, and Python keeps it so; restore
    # the default so Ctrl-C (and the tests' SIGINT) stop a fake however it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def html_page(status: int, text: str) -> dict[str, object]:
    """`bad_answer` options for a gateway's error page, not the platform's JSON."""
    return {
        "status": status,
        "body": f"<html>\n<h1>{text}</h1>\n</html>",
        "content_type": "text/html",
    }
