"""`skywatch run` as a user starts it: a real process, a loopback feed, and Ctrl-C.

With one reachable feed and one whose host cannot be resolved (there is no
network), the bot prints the matching alert on the console, reports one clear
fetch error per poll for the other feed, keeps running, and stops cleanly on
SIGINT.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .real_process import read_until, repo_topics, serve_loopback_feed, start_run


@pytest.fixture
def feed_server() -> Iterator[str]:
    with serve_loopback_feed() as url:
        yield url


def test_run_alerts_on_the_console_survives_a_dead_feed_and_stops_on_ctrl_c(
    tmp_path: Path, feed_server: str
) -> None:
    config = tmp_path / "feeds.yaml"
    topics = repo_topics()
    config.write_text(
        "settings:\n  data_dir: state\n  allow_private_hosts: [localhost]\n  fetch_timeout: 5s\n"
        f"feeds:\n  - {{url: '{feed_server}', name: Loopback Desk, lang: en}}\n"
        "  - {url: 'http://no-such-host.invalid/rss', name: Nowhere}\n"
        f"topics:\n{topics}\n",
        encoding="utf-8",
    )
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_"))}
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = start_run(config, tmp_path, env, stdout, stderr)
        try:
            shown = read_until(out, "Patriot air defense systems", proc, timeout=60)
            logs = read_until(err, "no-such-host.invalid", proc, timeout=30)
            assert proc.poll() is None, "the bot stopped after a feed failed"
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    logs = err.read_text()
    assert code == 0, logs
    assert "bakery" not in shown  # only matching items alert
    failures = [line for line in logs.splitlines() if "no-such-host.invalid" in line]
    assert len(failures) == 1, failures  # one clear line per poll, no traceback
    assert "Traceback" not in logs
    assert (tmp_path / "state" / "skywatch.db").exists()
