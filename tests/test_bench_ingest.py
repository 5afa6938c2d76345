"""The ingestion benchmark's CPU accounting (bench/bench_ingest.py): the parser
workers' CPU is read from /proc, and the floor and best ratio follow from it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from bench.bench_ingest import CYCLES, children_cpu, cpu_report

linux_only = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="reads children's CPU from Linux's /proc"
)


@linux_only
def test_children_cpu_counts_a_busy_child() -> None:
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    before = children_cpu()
    child = subprocess.Popen(
        [sys.executable, "-c", burn + "\nimport sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        # it burns 0.3 s of CPU, then waits on stdin: still alive, so still counted
        deadline = time.monotonic() + 20
        while children_cpu() - before < 0.25 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children_cpu() - before >= 0.25
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()


def test_cpu_report_floor_and_best_ratio() -> None:
    def per_cycle(*values: float) -> dict[str, float]:
        return dict(zip(CYCLES, values, strict=True))

    base = {"seconds": per_cycle(16.0, 1.6, 3.2), "cpu": per_cycle(15.5, 1.5, 3.0)}
    ours = {
        "seconds": per_cycle(2.0, 0.2, 0.3),
        # cold: the workers set the floor; the others: all the CPU over the cores
        "cpu": per_cycle(1.0, 0.2, 0.3),
        "worker_cpu": per_cycle(1.6, 0.0, 0.1),
    }
    console = Console(width=120, record=True)
    console.print(cpu_report(base, ours))
    text = console.export_text()
    cores = len(os.sched_getaffinity(0))
    floors = [max(1.6, 2.6 / cores), 0.2 / cores, 0.4 / cores]
    floor_row = next(line for line in text.splitlines() if "floor:" in line)
    assert re.findall(r"\d+\.\d\d", floor_row) == [f"{f:.2f}" for f in floors]
    best_row = next(line for line in text.splitlines() if "best ratio" in line)
    best = [
        f"{seconds / floor:.1f}" for seconds, floor in zip((16.0, 1.6, 3.2), floors, strict=True)
    ]
    assert re.findall(r"(\d+\.\d)×", best_row) == best
