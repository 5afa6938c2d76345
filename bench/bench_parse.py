"""Benchmark: feedparser alone vs `parse_feed` (fast path + fallback), per document.

    .venv/bin/python bench/bench_parse.py [--reps 9] [--no-pool]

For every real-world feed in ../shared/feeds (when present) and every fixture
in tests/data/feeds, both parsers are timed `--reps` times, interleaved so
machine noise hits both alike. Each sample is the mean of enough back-to-back
calls to fill ~20 ms (one call for slow documents), with the garbage collector
off (as timeit does). The table shows the median sample of each in milliseconds, the ratio,
which path `parse_feed` took, and whether both gave the same items (title,
link, id, published, updated). The target is an overall median ratio >= 10.

`--pool` timings (on by default) compare parsing inline with a round trip
through `ParserPool`'s worker process, which is what INLINE_BELOW is based on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.errors import ParseError  # noqa: E402
from bot.feeds.parse import parse_fast, parse_feed, struct_to_utc  # noqa: E402
from bot.feeds.parse_pool import ParserPool  # noqa: E402
from bot.types import ParsedFeed  # noqa: E402

SHARED = REPO.parent / "shared" / "feeds"
FIXTURES = REPO / "tests" / "data" / "feeds"
URL = "https://feeds.example.com/path/feed.xml"


def documents() -> list[tuple[str, bytes, dict[str, str]]]:
    headers = json.loads((FIXTURES / "headers.json").read_text())
    docs: list[tuple[str, bytes, dict[str, str]]] = []
    if SHARED.is_dir():
        docs += [
            (f"shared/{p.name}", p.read_bytes(), {})
            for p in sorted(SHARED.iterdir())
            if p.suffix in (".xml", ".rss", ".rdf")
        ]
    else:
        print(f"note: {SHARED} is absent; fixtures only", file=sys.stderr)
    docs += [
        (f"fixture/{p.name}", p.read_bytes(), headers.get(p.name, {}))
        for p in sorted(FIXTURES.iterdir())
        if p.suffix in (".xml", ".rdf", ".json", ".html") and p.name != "headers.json"
    ]
    return docs


def timed(fn: Callable[[], object], calls: int = 1) -> float:
    """Seconds per call, over `calls` back-to-back calls with the GC off (as timeit does)."""
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls
    finally:
        gc.enable()


def calls_for(fn: Callable[[], object], budget: float = 0.02) -> int:
    """How many calls fill about `budget` seconds (one call for slow documents)."""
    once = timed(fn)
    return max(1, min(200, int(budget / max(once, 1e-6))))


def reference(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser alone, told the same base URL as `parse_feed` derives."""
    location = urljoin(URL, headers.get("content-location", ""))
    return feedparser.parse(
        io.BytesIO(body), response_headers={**headers, "content-location": location}
    )


def ours(body: bytes, headers: dict[str, str]) -> ParsedFeed | ParseError:
    try:
        return parse_feed(body, headers, URL)
    except ParseError as e:
        return e


def same_items(body: bytes, headers: dict[str, str]) -> str:
    result = reference(body, headers)
    expected = [
        (
            dict.get(e, "title"),
            dict.get(e, "link"),
            dict.get(e, "id"),
            struct_to_utc(dict.get(e, "published_parsed")),
            struct_to_utc(dict.get(e, "updated_parsed")),
        )
        for e in result["entries"]
    ]
    got = ours(body, headers)
    if isinstance(got, ParseError):
        return "yes (both none)" if not expected else "NO"
    if not expected and got.version.startswith("json"):
        return "n/a (JSON)"
    items = [(i.title, i.link, i.guid, i.published, i.updated) for i in got.items]
    return "yes" if items == expected else "NO"


def bench_documents(reps: int) -> list[float]:
    ratios = []
    print(f"{'document':58} {'feedparser':>10} {'skywatch':>9} {'ratio':>6}  path      same")
    for name, body, headers in documents():
        fp_times, our_times = [], []
        run_fp = partial(reference, body, headers)
        run_ours = partial(ours, body, headers)
        fp_calls, our_calls = calls_for(run_fp), calls_for(run_ours)
        for _ in range(reps):
            # interleaved, so a busy moment on the machine hits both alike
            fp_times.append(timed(run_fp, fp_calls))
            our_times.append(timed(run_ours, our_calls))
        fp_ms = statistics.median(fp_times) * 1000
        our_ms = statistics.median(our_times) * 1000
        ratio = fp_ms / our_ms
        ratios.append(ratio)
        path = "fast" if parse_fast(body, headers, URL) is not None else "fallback"
        if body.lstrip()[:1] == b"{" or not body.strip():
            path = "json" if body.strip() else "empty"
        print(
            f"{name[:58]:58} {fp_ms:10.2f} {our_ms:9.3f} {ratio:6.1f}  {path:9} "
            f"{same_items(body, headers)}"
        )
    print(
        f"\n{len(ratios)} documents: median ratio {statistics.median(ratios):.1f}x, "
        f"geometric mean {statistics.geometric_mean(ratios):.1f}x, min {min(ratios):.1f}x"
    )
    return ratios


async def bench_pool(reps: int) -> None:
    samples = [(n, body, h) for n, body, h in documents() if isinstance(ours(body, h), ParsedFeed)]
    samples.sort(key=lambda s: len(s[1]))
    picks = [samples[0], samples[len(samples) // 2], samples[-1]]
    print("\npool round trip (median ms): inline vs worker process")
    async with ParserPool(workers=2, inline_below=0) as pool:
        await pool.parse(picks[0][1], picks[0][2], URL)  # start a worker
        for name, body, headers in picks:
            inline: list[float] = []
            remote: list[float] = []
            run_inline = partial(ours, body, headers)
            for _ in range(reps):
                inline.append(timed(run_inline))
                start = time.perf_counter()
                with contextlib.suppress(ParseError):
                    await pool.parse(body, headers, URL)
                remote.append(time.perf_counter() - start)
            print(
                f"  {name[:50]:50} {len(body) / 1024:8.1f} KiB  inline "
                f"{statistics.median(inline) * 1000:7.2f}  worker "
                f"{statistics.median(remote) * 1000:7.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9, help="timed runs per document")
    parser.add_argument("--no-pool", action="store_true", help="skip the process pool timings")
    args = parser.parse_args()
    bench_documents(args.reps)
    if not args.no_pool:
        asyncio.run(bench_pool(args.reps))


if __name__ == "__main__":
    main()
