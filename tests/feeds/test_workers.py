"""WorkerPool: calls and answers over per-worker pipes, driven by the event loop.

Real spawned processes; the functions they run are this module's.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from bot.feeds.workers import WorkerDied, WorkerPool
from tests.worker_processes import worker_pids


def _nothing() -> None:
    pass


def _refuse_to_start() -> None:
    raise SystemExit(3)


def _break_at_start() -> None:
    raise ValueError("no topics file")


def echo(value: object) -> object:
    return value


def sized(n: int) -> bytes:
    return bytes(range(256)) * (n // 256)


def slow(seconds: float, value: int) -> int:
    time.sleep(seconds)
    return value


def fail(message: str) -> None:
    raise ValueError(message)


def hang_up_and_linger(seconds: float) -> None:
    """Close this worker's answer pipe, then stay alive a while before exiting: the pool
    sees it gone, and replaces it, while its process still runs."""
    os.close(int(sys.argv[2]))  # the answers pipe (`_child_main`)
    time.sleep(seconds)
    os._exit(0)


def _workers() -> list[int]:
    return worker_pids()


async def test_calls_and_answers_of_any_size() -> None:
    pool = WorkerPool(2, _nothing)
    pool.start()
    try:
        big = sized(3 << 20)  # larger than a pipe buffer, both ways
        assert await pool.run(echo, big) == big
        answers = await asyncio.gather(*(pool.run(sized, n * 1024) for n in range(0, 200, 7)))
        assert answers == [sized(n * 1024) for n in range(0, 200, 7)]
    finally:
        await pool.close()


async def test_an_exception_reaches_the_caller_and_the_worker_goes_on() -> None:
    pool = WorkerPool(1, _nothing)
    pool.start(spawn=False)  # the first call starts the worker
    try:
        with pytest.raises(ValueError, match="bad input"):
            await pool.run(fail, "bad input")
        assert await pool.run(echo, 7) == 7
    finally:
        await pool.close()


async def test_a_cancelled_caller_leaves_the_others_their_answers() -> None:
    pool = WorkerPool(1, _nothing, depth=2)
    pool.start()
    try:
        first = asyncio.ensure_future(pool.run(slow, 0.2, 1))
        second = asyncio.ensure_future(pool.run(slow, 0.0, 2))
        third = asyncio.ensure_future(pool.run(slow, 0.0, 3))  # waits: depth is 2
        await asyncio.sleep(0.05)
        first.cancel()
        assert [await second, await third] == [2, 3]
        assert await pool.run(echo, 4) == 4
    finally:
        await pool.close()


async def test_a_killed_worker_fails_only_its_own_calls_and_is_replaced() -> None:
    pool = WorkerPool(2, _nothing, depth=1)
    pool.start()
    try:
        # both ready first (a worker killed while starting fails its calls as NotReady);
        # with depth 1 each call goes to its own worker
        assert await asyncio.gather(pool.run(echo, 0), pool.run(echo, 1)) == [0, 1]
        calls = [asyncio.ensure_future(pool.run(slow, 1.0, n)) for n in (1, 2)]
        await asyncio.sleep(0.3)  # one call in each worker
        victim = _workers()[0]
        os.kill(victim, signal.SIGKILL)
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["WorkerDied", "int"]
        assert await asyncio.gather(*(pool.run(echo, n) for n in range(4))) == [0, 1, 2, 3]
        assert victim not in _workers() and len(_workers()) == 2
    finally:
        await pool.close()


async def test_a_worker_that_cannot_start_is_not_respawned_forever() -> None:
    pool = WorkerPool(1, _refuse_to_start)
    pool.start()
    try:
        for _ in range(5):
            with pytest.raises(WorkerDied):
                await pool.run(echo, 1)
        for _ in range(50):  # it gives up: no worker is being started again
            await asyncio.sleep(0.1)
            if not _workers():
                break
        assert _workers() == []
    finally:
        await pool.close()


async def test_a_worker_that_breaks_at_start_says_why_in_one_line(
    capfd: pytest.CaptureFixture[str],
) -> None:
    pool = WorkerPool(1, _break_at_start)
    pool.start()
    try:
        with pytest.raises(WorkerDied):
            await pool.run(echo, 1)
    finally:
        await pool.close()
    err = capfd.readouterr().err
    assert "a parser worker could not start: ValueError('no topics file')" in err
    assert "Traceback" not in err


async def test_closed_pool_refuses_calls() -> None:
    pool = WorkerPool(1, _nothing)
    pool.start()
    await pool.close()
    with pytest.raises(RuntimeError):
        await pool.run(echo, 1)


async def test_ctrl_c_leaves_the_workers_to_the_pool() -> None:
    pool = WorkerPool(1, _nothing)
    pool.start()
    try:
        assert await pool.run(echo, 1) == 1  # ready
        (worker,) = _workers()
        os.kill(worker, signal.SIGINT)  # as a terminal's Ctrl-C does to the process group
        assert await pool.run(slow, 0.2, 2) == 2
        assert _workers() == [worker]
    finally:
        await pool.close()


async def test_a_call_to_a_worker_that_died_unnoticed_goes_to_another() -> None:
    pool = WorkerPool(2, _nothing)
    pool.start()
    try:
        await asyncio.gather(pool.run(echo, 0), pool.run(echo, 0))
        held = [asyncio.ensure_future(pool.run(slow, 5.0, n)) for n in (1, 2)]
        await asyncio.sleep(0.1)
        for worker in _workers():
            os.kill(worker, signal.SIGKILL)
        time.sleep(0.2)  # blocking: the loop has not read their exits yet
        assert await pool.run(echo, 3) == 3
        results = await asyncio.gather(*held, return_exceptions=True)
        assert all(isinstance(r, WorkerDied) for r in results)
    finally:
        await pool.close()


def _exists(pid: int) -> bool:
    """Running, or exited and not reaped yet (a zombie)."""
    return Path(f"/proc/{pid}").exists()


async def _new_workers(seen: set[int], count: int) -> set[int]:
    """Wait until `count` workers not in `seen` run (a fresh one needs a moment to show)."""
    for _ in range(100):
        new = set(_workers()) - seen
        if len(new) >= count:
            return new
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} new workers did not start")


async def test_close_leaves_no_worker_behind_not_even_a_replaced_one() -> None:
    """Workers that died and were replaced are waited for too: one killed, and one whose
    process outlives its pipe (the pool replaces it before it has exited)."""
    pool = WorkerPool(2, _nothing, depth=1)
    pool.start()
    seen: set[int] = set()
    try:
        await asyncio.gather(pool.run(echo, 0), pool.run(echo, 1))
        seen |= await _new_workers(seen, 2)
        os.kill(min(seen), signal.SIGKILL)
        seen |= await _new_workers(seen, 1)  # its replacement
        with pytest.raises(WorkerDied):
            await pool.run(hang_up_and_linger, 1.0)
        seen |= await _new_workers(seen, 1)  # the lingering one's replacement
        assert len(seen) == 4 and len(_workers()) == 3  # the lingering one still runs
        assert list(await asyncio.gather(pool.run(echo, 2), pool.run(echo, 3))) == [2, 3]
    finally:
        await pool.close()
    assert [pid for pid in seen if _exists(pid)] == []
    assert _workers() == []


def _start_slowly() -> None:
    time.sleep(0.3)


async def test_started_waits_for_every_worker_to_be_ready() -> None:
    pool = WorkerPool(2, _start_slowly)
    pool.start()
    try:
        began = time.monotonic()
        assert await pool.started(timeout=30)
        assert time.monotonic() - began >= 0.25  # it did wait for the initializers
        assert all(w.ready for w in pool._workers) and len(pool._workers) == 2
    finally:
        await pool.close()


async def test_started_gives_up_after_its_timeout() -> None:
    pool = WorkerPool(1, slow, (1.5, 0))
    pool.start()
    try:
        began = time.monotonic()
        assert not await pool.started(timeout=0.3)
        assert time.monotonic() - began < 5
    finally:
        await pool.close()


async def test_started_returns_when_no_worker_can_start() -> None:
    pool = WorkerPool(1, _refuse_to_start)
    pool.start()
    try:
        assert await pool.started(timeout=30)  # the pool gave up on them: none is starting
        assert pool._workers == []
    finally:
        await pool.close()
