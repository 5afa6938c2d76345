"""The one exception tree of Skywatch.

    BotError
     +-- ConfigError          feeds.yaml or the environment is wrong (exit code 2)
     +-- FetchError           a feed could not be fetched (retry_after, permanent)
     |    +-- BlockedAddressError   the URL or a redirect hop points inward
     +-- ParseError           the bytes are not a feed we can read
     |    +-- NotAFeedError         an HTML page or other document, maybe with feed links
     +-- StoreError           the database refused or is unreachable
     +-- DeliveryError        a chat API refused a message (retry_after, permanent)
     +-- RuleError            a topic rule cannot compile

Errors are wrapped at the boundary (`raise FetchError(...) from e`) so callers
handle a few families, never library-specific exceptions.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error Skywatch raises on purpose; its message is for users."""


class ConfigError(BotError):
    """The configuration is invalid; the message names the file, line and field."""


class FetchError(BotError):
    """A feed could not be fetched.

    `retry_after` is the server's wish in seconds (429/503), `permanent` means
    polling should stop (410 Gone, refused address).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class BlockedAddressError(FetchError):
    """The URL, or an address it resolves or redirects to, is not allowed."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class ParseError(BotError):
    """The document could not be read as a feed."""


class NotAFeedError(ParseError):
    """The document is HTML (or similar); `feed_links` lists feeds it advertises."""

    def __init__(self, message: str, feed_links: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.feed_links = feed_links


class StoreError(BotError):
    """The database failed."""


class RuleError(BotError):
    """A topic rule cannot compile; the message names the topic and the term."""


class DeliveryError(BotError):
    """A chat platform refused a message.

    `retry_after`: wait exactly this long (429). `permanent`: the channel is gone
    or forbids us; pause it. Neither: transient, retry with backoff.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        permanent: bool = False,
        migrate_to: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.migrate_to = migrate_to
