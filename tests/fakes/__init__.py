"""Fake chat platform servers for tests: the real client libraries talk to them over loopback.

* `tests.fakes.slack_api.FakeSlackAPI`: Slack Web API (chat.postMessage and friends)
* `tests.fakes.telegram_api.FakeTelegramAPI`: Telegram Bot API (sendMessage and friends)

Both record every accepted message, can inject faults per method
(`.inject(method, fault, times=1)`), start from a pytest fixture (`slack_api`,
`telegram_api`) and also run as a standalone process for end-to-end tests:

    python -m tests.fakes.slack_api --port 8301 --log /tmp/slack.json

which prints its URL, rewrites FILE (a JSON list of accepted messages) after
every message, and takes faults at run time with
`POST /_fake/inject {"method": ..., "fault": ..., "times": 1}`.
"""
