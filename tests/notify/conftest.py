"""Fixtures for notifier and sender tests: the fake chat servers and a settable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.slack_api import slack_api  # noqa: F401  (fixture)
from tests.fakes.telegram_api import telegram_api  # noqa: F401  (fixture)


class Clock:
    """`now()` for the code under test; moves only when the test says so."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
