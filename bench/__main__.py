"""`make bench` / `python -m bench`: run every benchmark, one after another.

    python -m bench              all of them
    python -m bench parse match  only bench_parse and bench_match
    python -m bench ingest --memory-feeds 0   options after the names go to each benchmark

Each benchmark prints its figures and the ratio to a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option], argv[first_option:]
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    chosen = names or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench_{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", f"bench.bench_{name}", *options], cwd=HERE.parent
        )
        print(
            f"=== bench_{name}: {'ok' if code == 0 else f'exit {code}'} "
            f"in {time.monotonic() - started:.0f} s ===",
            flush=True,
        )
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
