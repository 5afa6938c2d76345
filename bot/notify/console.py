"""The console notifier: alerts as readable text blocks on a stream (stdout by default).

Used when no chat platform is configured and by `skywatch run --once`. The
message id is a counter, so the sender's bookkeeping is the same as for chats.
"""

from __future__ import annotations

import itertools
import sys
from typing import TextIO

from bot.notify.base import OutgoingMessage, Receipt
from bot.notify.render import console_text


class ConsoleNotifier:
    """Prints one block per message, separated by a blank line."""

    platform = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._ids = itertools.count(1)

    async def send(self, message: OutgoingMessage) -> Receipt:
        stream = self.stream or sys.stdout
        stream.write(console_text(message.kind, message.payload, message.timezone) + "\n\n")
        stream.flush()
        return Receipt(message_id=str(next(self._ids)))
