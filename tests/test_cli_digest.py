"""`skywatch digest --channel ID` while the chat API fails: the digest stays queued, the
command says so and exits 1, and running it again sends that digest, not a second one."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .real_process import repo_topics, serve_loopback_feed, spawn_fake
from .test_cli import skywatch

CHANNEL = "slack:C0DIGEST"


@pytest.fixture
def slack(tmp_path: Path) -> Iterator[str]:
    """A fake Slack Web API in its own process; its Web API URL (…/api/)."""
    proc, api = spawn_fake("slack_api", tmp_path / "slack-log.json")
    try:
        yield api
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def control(api: str, path: str, body: dict[str, object] | None = None) -> object:
    """Ask the fake (its /_fake/ endpoints) to inject or clear faults, or what it got."""
    data = None if body is None else json.dumps(body).encode()
    url = api.removesuffix("/api/") + path
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
        return json.loads(r.read())


def test_a_digest_that_cannot_go_out_is_queued_once_and_sent_later(
    tmp_path: Path, slack: str
) -> None:
    config = tmp_path / "feeds.yaml"
    env = {
        "COLUMNS": "200",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SKYWATCH_SLACK_API_URL": slack,
    }
    with serve_loopback_feed() as feed:
        config.write_text(
            "settings:\n  data_dir: state\n  allow_private_hosts: [localhost]\n"
            f"feeds:\n  - {{url: '{feed}', name: Desk}}\n"
            f"channels:\n  - {{id: '{CHANNEL}', mode: digest}}\n"
            f"topics:\n{repo_topics()}\n",
            encoding="utf-8",
        )

        def run(*args: str) -> tuple[int, str]:
            result = skywatch("--config", str(config), *args, cwd=tmp_path, env=env)
            assert "Traceback" not in result.stdout + result.stderr
            return result.returncode, result.stdout + result.stderr

        fresh = run("digest", "--channel", CHANNEL, "--since", "1d")
        assert fresh[0] == 1 and "configured but not stored yet" in fresh[1]
        assert run("run", "--once")[0] == 0

    before = control(slack, "/_fake/messages")  # the day's scheduled digest, maybe
    assert isinstance(before, list)
    control(
        slack, "/_fake/inject", {"method": "chat.postMessage", "fault": "bad_answer", "times": 50}
    )
    for attempt in range(2):
        code, said = run("digest", "--channel", CHANNEL, "--since", "1d")
        assert code == 1 and f"the digest for {CHANNEL} is not sent yet" in said, said
        assert "stays queued" in said
        assert ("still waiting to be sent" in said) == (attempt == 1)
    assert control(slack, "/_fake/messages") == before

    control(slack, "/_fake/clear", {})
    code, said = run("digest", "--channel", CHANNEL, "--since", "1d")
    assert code == 0 and f"sent the digest to {CHANNEL}" in said, said
    posted = control(slack, "/_fake/messages")
    assert isinstance(posted, list) and len(posted) == len(before) + 1  # one digest, not three
