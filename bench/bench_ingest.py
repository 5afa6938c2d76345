"""Ingestion benchmark: Skywatch against `reader` on the same local farm, in the same run.

    python -m bench.bench_ingest [--feeds 1000] [--memory-feeds 10000]

For each system, in a fresh process (so peak memory is its own):
  cold         every feed new: fetch, parse, store (Skywatch also matches and queues alerts;
               after the poll its search index catches up and its heap settles,
               App.after_poll, timed apart: reader is measured without a search index)
  all-304      nothing changed: conditional GETs answered 304
  10% changed  a tenth of the feeds have one new item
Then Skywatch alone with --memory-feeds feeds, a cold cycle, for the peak-memory
target (< 200 MB): the PSS of its process and parser workers together (see
TreeMemory), with their peak RSS added up beside it as an upper bound. Each
cycle prints a progress line as it ends; the table gives feeds per second, peak
memory, the ratio Skywatch / reader and issue 3's targets, passed or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CYCLES = ("cold", "all-304", "10% changed")
#: issue 3's targets: Skywatch feeds/s at least this many times reader's, per cycle
TARGET_RATIO = {"cold": 10.0, "all-304": 5.0, "10% changed": 10.0}
#: and peak memory with --memory-feeds (10,000) feeds
TARGET_MB = 200
#: a long cycle prints how far it got this often
PROGRESS_EVERY_S = 15


# -- the farm, in its own process --------------------------------------------------------


class FarmProcess:
    def __init__(self, feeds: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.farm", "--feeds", str(feeds)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http"):
            raise RuntimeError("the feed farm did not start")
        self.feeds = feeds

    def post(self, path: str) -> str:
        req = urllib.request.Request(self.url + path, method="POST")
        with urllib.request.urlopen(req, timeout=60) as response:
            return str(response.read().decode())

    def requests(self) -> int:
        """Requests the farm has served since the last reset (for progress lines)."""
        with urllib.request.urlopen(self.url + "/_stats", timeout=10) as response:
            return int(json.loads(response.read())["requests"])

    def feed_urls(self) -> list[str]:
        return [f"{self.url}/f/{i}.xml" for i in range(self.feeds)]

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (reader: everything runs in it), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Peak memory of this process and its children (the parser workers), sampled
    every `every` seconds in a thread.

    PSS, not RSS: the workers map the same interpreter and libraries as this process,
    and RSS would count those shared pages once per process. Linux keeps no peak PSS,
    hence the sampling; memory grows steadily through a cycle, so a sample every
    quarter second misses little. `peak_rss_mb` adds up each process's own peak RSS
    (VmHWM), an upper bound.
    """

    def __init__(self, every: float = 0.25) -> None:
        self.every = every
        self.peak_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        total = sum(_proc_kb(pid, "smaps_rollup", "Pss:") for pid in _tree())
        self.peak_pss_mb = max(self.peak_pss_mb, total / 1024)

    @property
    def peak_rss_mb(self) -> float:
        return sum(_proc_kb(pid, "status", "VmHWM:") for pid in _tree()) / 1024


def _tree() -> list[int]:
    """This process and its live children."""
    pids = [os.getpid()]
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return pids


def _proc_kb(pid: int, name: str, field: str) -> int:
    """A `field: N kB` line of /proc/PID/NAME; 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/{name}").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


# -- the systems, each run in a child process ----------------------------------------------


def run_reader(farm_url: str, feeds: int, workdir: Path) -> dict[str, Any]:
    import logging

    from reader import make_reader

    logging.disable(logging.WARNING)
    reader = make_reader(str(workdir / "reader.sqlite"), search_enabled=False)
    for i in range(feeds):
        reader.add_feed(f"{farm_url}/f/{i}.xml")
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for cycle in CYCLES:
        if cycle == "10% changed":
            _post(farm_url, "/_change?fraction=0.1")
        started, cpu_before = time.perf_counter(), time.process_time()
        # scheduled=False: update every feed now, like Skywatch's `run --once`
        reader.update_feeds(workers=16, scheduled=False)
        timings[cycle] = time.perf_counter() - started
        cpu[cycle] = time.process_time() - cpu_before
        progress("reader", cycle, feeds, timings[cycle], cpu[cycle])
    entries = reader.get_entry_counts().total
    return {"seconds": timings, "cpu": cpu, "items": entries, "peak_mb": peak_rss_mb()}


def run_skywatch(
    farm_url: str, feeds: int, workdir: Path, cycles: tuple[str, ...]
) -> dict[str, Any]:
    return asyncio.run(_skywatch(farm_url, feeds, workdir, cycles))


async def _skywatch(
    farm_url: str, feeds: int, workdir: Path, cycles: tuple[str, ...]
) -> dict[str, Any]:
    import logging

    from bot.app import App
    from bot.config import Config, FeedSpec, FileConfig, Secrets, Settings, load_config
    from bot.store import feeds as feed_store

    logging.disable(logging.WARNING)
    topics = load_config(ROOT / "feeds.yaml", env={}).file.topics
    config = Config(
        path=workdir / "feeds.yaml",
        file=FileConfig(
            settings=Settings(
                data_dir=workdir,
                allow_private_hosts=["127.0.0.1"],
                concurrency=100,
                per_host_concurrency=100,
            ),
            feeds=[FeedSpec(url=f"{farm_url}/f/{i}.xml") for i in range(feeds)],
            topics=topics,
        ),
        secrets=Secrets(),
    )
    timings: dict[str, float] = {}
    indexing: dict[str, float] = {}
    main_cpu: dict[str, float] = {}
    worker_cpu: dict[str, float] = {}
    new_items = 0
    with TreeMemory() as memory:
        async with App(config) as app:
            for cycle in cycles:
                if cycle == "10% changed":
                    _post(farm_url, "/_change?fraction=0.1")
                with app.db.write() as session:
                    feed_store.make_all_due(session, app.clock())
                started, cpu, workers = time.perf_counter(), time.process_time(), children_cpu()
                summary = await app.poll()
                timings[cycle] = time.perf_counter() - started
                main_cpu[cycle] = time.process_time() - cpu
                worker_cpu[cycle] = children_cpu() - workers
                spent = main_cpu[cycle], worker_cpu[cycle]
                progress("skywatch", cycle, feeds, timings[cycle], *spent)
                # What follows a poll in the scheduler's poll job (the search index catches
                # up, the heap settles: App.after_poll), timed apart, because reader is
                # measured without its search index.
                started = time.perf_counter()
                indexed = await app.after_poll()
                indexing[cycle] = time.perf_counter() - started
                print(
                    f"  {'':>8}  {'':<12} then {indexed:,} items indexed for search, heap settled,"
                    f" in {indexing[cycle]:.2f} s",
                    file=sys.stderr,
                    flush=True,
                )
                new_items += summary.new_items
                if summary.errors:
                    raise RuntimeError(f"{summary.errors} feeds failed in the {cycle} cycle")
            rss_mb = memory.peak_rss_mb  # while the workers still run
    return {
        "seconds": timings,
        "index_seconds": indexing,
        "cpu": main_cpu,
        "worker_cpu": worker_cpu,
        "items": new_items,
        "peak_mb": memory.peak_pss_mb,
        "peak_rss_mb": rss_mb,
    }


def progress(
    system: str, cycle: str, feeds: int, seconds: float, cpu: float, workers: float | None = None
) -> None:
    """One line per finished cycle, on stderr (the parent passes it through).

    `cpu` is the process's own CPU time, `workers` its parser workers': on a busy
    machine they move less than the wall clock, which helps when comparing changes.
    """
    spent = f"CPU {cpu:5.2f} s" + ("" if workers is None else f", workers {workers:5.2f} s")
    print(
        f"  {system:>8}  {cycle:<12} {feeds:>6,} feeds in {seconds:6.2f} s"
        f"  = {feeds / seconds:7,.0f} feeds/s  ({spent})",
        file=sys.stderr,
        flush=True,
    )


def children_cpu() -> float:
    """CPU seconds (user and system) used so far by this process's live children: the
    parser workers, which start with the app and live as long as it does."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _tree()[1:]:
        try:
            # the fields after the command name, which may hold spaces and parentheses
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited since it was listed
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _post(base: str, path: str) -> None:
    req = urllib.request.Request(base + path, method="POST")
    with urllib.request.urlopen(req, timeout=60):
        pass


def child_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if args.system == "reader":
            result = run_reader(args.farm, args.feeds, Path(tmp))
        else:
            cycles = ("cold",) if args.cold_only else CYCLES
            result = run_skywatch(args.farm, args.feeds, Path(tmp), cycles)
    print(json.dumps(result))


def measure(system: str, farm: FarmProcess, *extra: str) -> dict[str, Any]:
    """Run `system` against `farm` in a child process; its result, as a dict."""
    farm.post("/_reset")
    command = [sys.executable, "-m", "bench.bench_ingest", "--child", system]
    command += ["--farm", farm.url, "--feeds", str(farm.feeds), *extra]
    with tempfile.TemporaryFile("w+") as out:
        # stdout carries the result; progress and errors go straight to stderr
        proc = subprocess.Popen(
            command, cwd=ROOT, stdout=out, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
        )
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY_S)
                break
            except subprocess.TimeoutExpired:
                print(f"  {system:>8}  … {farm.requests():,} requests served", file=sys.stderr)
        if proc.returncode != 0:
            raise RuntimeError(f"the {system} run failed (exit {proc.returncode}), see above")
        out.seek(0)
        return dict(json.loads(out.read().strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description="Skywatch vs reader on a local feed farm")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--memory-feeds", type=int, default=10_000)
    parser.add_argument("--child", choices=["reader", "skywatch"], dest="system")
    parser.add_argument("--farm")
    parser.add_argument("--cold-only", action="store_true")
    args = parser.parse_args()
    if args.system:
        child_main(args)
        return

    from rich.console import Console

    console = Console()
    console.print(f"farm: {args.feeds:,} feeds × 30 items, served on loopback")
    farm = FarmProcess(args.feeds)
    try:
        base = measure("reader", farm)
        ours = measure("skywatch", farm)
    finally:
        farm.close()
    mem = None
    if args.memory_feeds:
        console.print(f"farm: {args.memory_feeds:,} feeds, for Skywatch's peak memory (cold cycle)")
        big = FarmProcess(args.memory_feeds)
        try:
            mem = measure("skywatch", big, "--cold-only")
        finally:
            big.close()
    console.print(report(args.feeds, base, ours, args.memory_feeds, mem))
    console.print(cpu_report(base, ours))


def report(
    feeds: int,
    base: dict[str, Any],
    ours: dict[str, Any],
    memory_feeds: int,
    mem: dict[str, Any] | None,
) -> Any:
    """The table: feeds/s per cycle, the ratio, the target and whether it is met."""
    from rich.table import Table

    table = Table(title=f"Ingestion: {feeds:,} feeds × 30 items on a loopback farm")
    columns = ("", "reader", "skywatch", "ratio", "target", "", "+ after poll", "ratio")
    for column in columns:
        table.add_column(column, justify="right")
    for cycle in CYCLES:
        r = feeds / base["seconds"][cycle]
        s = feeds / ours["seconds"][cycle]
        ratio, target = s / r, TARGET_RATIO[cycle]
        # feeds/s counting the after-poll work (index catch-up, heap settling) as well
        full = feeds / (ours["seconds"][cycle] + ours["index_seconds"][cycle])
        table.add_row(
            f"{cycle} (feeds/s)",
            f"{r:,.0f}",
            f"{s:,.0f}",
            f"{ratio:.1f}×",
            f"≥ {target:g}×",
            verdict(ratio >= target),
            f"{full:,.0f}",
            f"{full / r:.1f}×",
        )
    # reader is one process (its RSS); Skywatch's process and workers (their PSS)
    table.add_row(
        f"peak memory, {feeds:,} feeds", f"{base['peak_mb']:.0f} MB", f"{ours['peak_mb']:.0f} MB"
    )
    if mem is not None:
        mb = mem["peak_mb"]
        table.add_row(
            f"peak memory, {memory_feeds:,} feeds",
            "",
            f"{mb:.0f} MB",
            "",
            f"< {TARGET_MB} MB",
            verdict(mb < TARGET_MB),
            f"RSS added up: {mem['peak_rss_mb']:.0f} MB",
        )
    return table


def cpu_report(base: dict[str, Any], ours: dict[str, Any]) -> Any:
    """Where each cycle's time went (seconds), and the best ratio that much CPU allows.

    A cycle cannot end before its parser workers have had their CPU time, nor
    before the cores have given every process its own: with perfect overlap and
    no waiting it would take max(workers, all ÷ cores), the floor. Reader's time
    over the floor is the best ratio Skywatch could reach doing the work it does now.
    """
    from rich.table import Table

    cores = len(os.sched_getaffinity(0))
    table = Table(title=f"Seconds per cycle, on {cores} cores (the farm's CPU not counted)")
    table.add_column("")
    for cycle in CYCLES:
        table.add_column(cycle, justify="right")
    main = [ours["cpu"][c] for c in CYCLES]
    workers = [ours["worker_cpu"][c] for c in CYCLES]
    floors = [max(w, (m + w) / cores) for m, w in zip(main, workers, strict=True)]
    rows = {
        "reader: wall": [base["seconds"][c] for c in CYCLES],
        "reader: CPU": [base["cpu"][c] for c in CYCLES],
        "Skywatch: wall": [ours["seconds"][c] for c in CYCLES],
        "  main process CPU": main,
        "  parser workers CPU": workers,
        f"floor: max(workers, all ÷ {cores})": floors,
    }
    for name, values in rows.items():
        table.add_row(name, *(f"{v:.2f}" for v in values))
    best = [base["seconds"][c] / f for c, f in zip(CYCLES, floors, strict=True)]
    table.add_row("best ratio that CPU allows", *(f"{b:.1f}×" for b in best))
    table.add_row("target", *(f"≥ {TARGET_RATIO[c]:g}×" for c in CYCLES))
    return table


def verdict(ok: bool) -> str:
    return "[green]pass[/green]" if ok else "[red]FAIL[/red]"


if __name__ == "__main__":
    main()
