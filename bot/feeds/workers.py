"""A few worker processes, each on its own pipe, driven from the event loop.

Owns how calls reach the parser's worker processes (parse_pool.py decides
what runs there). `concurrent.futures.ProcessPoolExecutor` moves every call
and result through two extra threads of the main process (its manager thread
and a queue feeder), which wait for the GIL behind the pipeline's writer and
wake the loop through a third pipe. Here the loop writes a call straight into
a worker's pipe and reads the answer as it arrives (`loop.add_reader` on a
non-blocking pipe, so a worker that is slow to write its answer never blocks
the loop): no thread, no extra hop.

Each worker holds up to `depth` calls, as many as its pipe buffer takes
(1 MiB where Linux allows it), so it goes on working while the loop waits
for the GIL behind the pipeline's writer (up to the 5 ms switch interval per
wake-up): with two calls each, the workers idled half the time. A call larger
than what the pipe has left waits for an idle worker, which reads it while it
is written, so the loop never blocks writing to a busy worker.

A worker that dies (killed, out of memory) fails only the calls it held,
with `WorkerDied`, and is replaced.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from bot.heap import settle

log = logging.getLogger(__name__)

__all__ = ["WorkerDied", "WorkerPool"]

#: the pipe buffer asked for, each way (Linux's default limit for a user)
_PIPE_SIZE = 1 << 20
#: what a pipe holds otherwise (Linux; POSIX only promises 512 bytes, so elsewhere a
#: second call may block the loop until the worker reads the first)
_DEFAULT_PIPE_SIZE = 64 * 1024
#: how long close() waits for a worker to exit before it is terminated
_EXIT_WAIT_S = 5.0
#: workers that died before they were ready, in a row, before the pool stops replacing
#: them (per worker): one that cannot even start must not be respawned forever
_DEATHS_IN_A_ROW = 3
#: most answer bytes one wake-up of the loop reads (more wait for the next)
_READ_SIZE = 256 * 1024
#: the first frame a worker sends: it is ready (its initializer ran)
_READY = pickle.dumps(None)

T = TypeVar("T")


class WorkerDied(Exception):
    """The worker process running this call exited before answering."""


class NotReady(WorkerDied):
    """The worker exited before it was ready: the call never ran, it may be sent again."""


class NoWorkers(WorkerDied):
    """The workers keep exiting before they are ready: the pool stopped replacing them."""


#: what a worker process runs (`python -c`): its pipes' descriptors are its arguments
_CHILD = "from bot.feeds.workers import _child_main; _child_main()"


def _child_main() -> None:
    """A worker process's entry point: read the initializer, then `_serve`.

    A worker that cannot start says why in one line on the bot's stderr, not with
    a traceback, and exits; the pool sees it die before it is ready.
    """
    # Ctrl-C reaches the whole process group: the parent decides when to stop (it
    # closes the pipe), so a stopping app still gets the answers it waits for.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    calls = Connection(int(sys.argv[1]), writable=False)
    answers = Connection(int(sys.argv[2]), readable=False)
    try:
        initializer, initargs = pickle.loads(calls.recv_bytes())
        initializer(*initargs)
    except EOFError:  # the pool closed before this worker started
        return
    except Exception as e:
        print(f"skywatch: a parser worker could not start: {e!r}", file=sys.stderr, flush=True)
        sys.exit(1)
    settle()  # the modules and the matcher stay: out of the collections each call's garbage starts
    _serve(calls, answers)


def _serve(calls: Connection, answers: Connection) -> None:
    """A started worker: answer `(fn, args)` calls, in order, until the pipe closes."""
    answers.send_bytes(_READY)
    while True:
        try:
            fn, args = pickle.loads(calls.recv_bytes())
        except EOFError:  # the pool closed the pipe, or the parent is gone
            return
        try:
            answer: tuple[bool, Any] = (True, fn(*args))
        except Exception as e:  # the caller raises it
            answer = (False, e)
        try:
            payload = pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            payload = pickle.dumps((False, RuntimeError(f"cannot send the answer back: {e!r}")))
        answers.send_bytes(payload)


class _Worker:
    def __init__(
        self, process: subprocess.Popen[bytes], calls: Connection, answers: Connection
    ) -> None:
        self.process = process
        self.calls = calls
        self.answers = answers
        #: answer bytes read so far (`Connection.send_bytes` frames: a 4-byte length first)
        self.buffer = bytearray()
        #: the calls sent and not answered yet, oldest first (a worker answers in order)
        self.pending: deque[asyncio.Future[Any]] = deque()
        #: and their sizes in the pipe
        self.sizes: deque[int] = deque()
        #: the calls pipe's buffer
        self.room = _grow_pipe(calls.fileno())
        _grow_pipe(answers.fileno())  # a worker never waits to hand in an answer
        self.ready = False
        self.dead = False


class WorkerPool:
    """`pool.start()` (inside the loop), `await pool.run(fn, *args)`, `await pool.close()`."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None],
        initargs: tuple[Any, ...] = (),
        depth: int = 8,
    ) -> None:
        self.size = workers
        self.depth = depth
        self._initializer = initializer
        self._initargs = initargs
        self._workers: list[_Worker] = []
        #: callers waiting for a worker to take their call, first come first served
        self._waiting: deque[asyncio.Future[None]] = deque()
        #: `started` callers, told whenever a worker becomes ready or goes
        self._starting: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deaths = 0  # of workers that were not ready yet, in a row
        #: replaced workers whose process had not exited yet: `close` waits for them too
        self._exiting: list[subprocess.Popen[bytes]] = []
        self._started = False
        self._closed = False
        #: what each read of an answer pipe goes into: `os.read` would allocate (and
        #: the kernel map) a new buffer of the read's size every time, 20 us a read
        self._scratch = bytearray(_READ_SIZE)

    def start(self, *, spawn: bool = True) -> None:
        """Bind the pool to the running loop; the workers start now, or at the first call."""
        self._loop = asyncio.get_running_loop()
        if spawn:
            self._spawn_all()

    async def started(self, timeout: float) -> bool:
        """Wait until no worker is still starting (each ran its initializer, or the
        pool stopped replacing those that could not); False if `timeout` came first.

        Calls need not wait for this (a starting worker queues them); a caller that
        wants the start-up behind it, not in its first calls' time, does.
        """
        assert self._loop is not None, "start() first"
        try:
            async with asyncio.timeout(timeout):
                while any(not w.ready for w in self._workers):
                    waiter = self._loop.create_future()
                    self._starting.append(waiter)
                    await waiter
        except TimeoutError:
            return False
        return True

    def _tell_starting(self) -> None:
        starting, self._starting = self._starting, []
        for waiter in starting:
            if not waiter.done():
                waiter.set_result(None)

    def _spawn_all(self) -> None:
        self._started = True
        for _ in range(self.size):
            worker = self._try_spawn()
            if worker is not None:
                self._workers.append(worker)

    def _try_spawn(self) -> _Worker | None:
        """A new worker, or None when the system refuses a process (a process or
        memory limit): with no worker at all, calls raise NoWorkers."""
        try:
            return self._spawn()
        except OSError as e:
            log.error("cannot start a parser worker: %s", e)
            return None

    def _spawn(self) -> _Worker:
        assert self._loop is not None
        calls_r, calls_w = os.pipe()
        answers_r, answers_w = os.pipe()
        # A fresh interpreter (not a fork: forking a process that runs an event loop
        # and threads can copy held locks into the child), started with subprocess
        # rather than multiprocessing, whose "spawn" also starts a resource-tracker
        # process (12 MB) that these pipes do not need. The parent's sys.path goes
        # along, so whatever the parent imports by name (the initializer, the
        # functions called) the child imports too.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(calls_r), str(answers_w)],
                pass_fds=(calls_r, answers_w),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            # only the child holds its ends: its exit reads as EOF here
            os.close(calls_r)
            os.close(answers_w)
        worker = _Worker(
            process, Connection(calls_w, readable=False), Connection(answers_r, writable=False)
        )
        # The start-up frame (the topics: a few KB) fits the pipe's buffer, so this never
        # blocks the loop, even if the child dies before reading it.
        start = pickle.dumps((self._initializer, self._initargs), pickle.HIGHEST_PROTOCOL)
        worker.calls.send_bytes(start)
        os.set_blocking(answers_r, False)
        self._loop.add_reader(answers_r, self._answered, worker)
        return worker

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker; raises what it raised, or WorkerDied."""
        if self._loop is None:
            raise RuntimeError("WorkerPool used before start()")
        if not self._started and not self._closed:
            self._spawn_all()
        message = pickle.dumps((fn, args), pickle.HIGHEST_PROTOCOL)
        # a big call goes to an idle worker, which reads it as it is written
        size = len(message) + 8  # and the frame's header
        while True:
            worker = await self._worker(size)
            try:
                worker.calls.send_bytes(message)
                break
            except OSError:  # it died since its last answer: the call never reached it
                self._replace(worker)
        future = self._loop.create_future()
        worker.pending.append(future)
        worker.sizes.append(size)
        return cast(T, await future)

    async def _worker(self, size: int) -> _Worker:
        """The least busy worker, once it has room for a call of `size` bytes.

        Room: fewer than `depth` calls, and the pipe takes `size` more bytes
        without blocking (counting the unanswered calls, read or not); an idle
        worker takes any size.
        """
        assert self._loop is not None
        while True:
            worker = min(self._workers, key=lambda w: len(w.pending), default=None)
            if worker is None:
                if self._closed:
                    raise RuntimeError("WorkerPool is closed")
                raise NoWorkers("the worker processes keep exiting; none is left")
            if not worker.pending or (
                len(worker.pending) < self.depth and sum(worker.sizes) + size <= worker.room
            ):
                if len(worker.pending) + 1 < self.depth:
                    self._wake()  # room for more: let the next caller look too
                return worker
            waiter = self._loop.create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done():  # cancelled while waiting
                    self._waiting.remove(waiter)

    def _wake(self, everyone: bool = False) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not everyone:
                    return

    def _answered(self, worker: _Worker) -> None:
        """The loop saw `worker`'s answer pipe readable: (part of) answers, or its exit."""
        if worker.dead:  # replaced already (a call to it found it gone)
            return
        scratch = self._scratch
        try:
            read = os.readv(worker.answers.fileno(), [scratch])
        except BlockingIOError:
            return
        except OSError:
            read = 0
        if not read:
            self._replace(worker)
            return
        buffer = worker.buffer
        with memoryview(scratch) as view:
            buffer += view[:read]
        while len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big", signed=True)
            start = 4
            if size == -1:  # over 2 GiB: an 8-byte length follows
                if len(buffer) < 12:
                    return
                size, start = int.from_bytes(buffer[4:12], "big"), 12
            end = start + size
            if len(buffer) < end:
                return
            with memoryview(buffer) as view:
                answer = pickle.loads(view[start:end])
            del buffer[:end]
            if not worker.ready:
                worker.ready = True
                self._deaths = 0
                self._tell_starting()
                continue
            ok, value = answer
            worker.sizes.popleft()
            future = worker.pending.popleft()
            if not future.done():  # else its caller was cancelled
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            self._wake()

    def _replace(self, worker: _Worker) -> None:
        assert self._loop is not None
        if worker.dead:
            return
        worker.dead = True
        self._loop.remove_reader(worker.answers.fileno())
        worker.answers.close()
        worker.calls.close()
        if worker.process.poll() is None:  # its pipe closed, but it is still exiting
            self._exiting.append(worker.process)
        for future in worker.pending:
            if not future.done():
                future.set_exception(
                    WorkerDied("the worker process exited")
                    if worker.ready
                    else NotReady("the worker process exited while starting")
                )
        # A crash of a ready worker is its call's (retried once, then that feed fails);
        # workers that die before they are ready would die again.
        self._deaths = 0 if worker.ready else self._deaths + 1
        give_up = self._deaths >= _DEATHS_IN_A_ROW * self.size
        replacement = None if give_up else self._try_spawn()
        if replacement is None:
            self._workers.remove(worker)
        else:
            self._workers[self._workers.index(worker)] = replacement
        self._wake(everyone=True)
        self._tell_starting()

    async def close(self) -> None:
        """Close the pipes (the workers exit after their current call) and wait for them."""
        workers, self._workers = self._workers, []
        self._closed = True
        for worker in workers:
            worker.dead = True
            if self._loop is not None:
                self._loop.remove_reader(worker.answers.fileno())
            worker.answers.close()
            worker.calls.close()
            for future in worker.pending:
                future.cancel()
        self._wake(everyone=True)  # callers waiting for a worker find the pool closed
        self._tell_starting()
        exiting, self._exiting = self._exiting, []
        await asyncio.to_thread(_join, [w.process for w in workers] + exiting)


def _grow_pipe(fd: int) -> int:
    """Ask for a `_PIPE_SIZE` buffer on a pipe; the size it has."""
    try:
        return fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (AttributeError, OSError):  # not Linux, or over the user's limit
        return _DEFAULT_PIPE_SIZE


def _join(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        try:
            process.wait(_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
