"""The live worker processes (bot/feeds/workers.py) this test process started, seen
from the operating system, so a test can kill one or check that none is left."""

from __future__ import annotations

from pathlib import Path


def worker_pids() -> list[int]:
    """Children of this process that run a worker and have not exited, lowest pid first."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(pid for pid in pids if _is_live_worker(pid))


def _is_live_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return b"_child_main" in cmdline and state != "Z"  # Z: exited, not reaped yet
