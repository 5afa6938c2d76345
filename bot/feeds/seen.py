"""Items a feed's last stored version already held, so a changed feed costs its new items only.

When one item of a 30-item feed is new, the other 29 would be parsed,
normalized, matched and fingerprinted again, only for the dedup stage to find
every one of them stored with the same content hash and do nothing. Instead,
each item of a prepared feed gets a digest of everything its normalized form
depends on (the item as the document writes it, the document's version and
namespaces, the feed's URL and language), and the feed row keeps the digests
of its last stored version (`feeds.item_digests`, written in the same
transaction as the items, so it never claims an item the store lacks). At the
next fetch, the worker skips every item whose digest is there.

Skipping must give exactly what `decide_items` would have given, which does
nothing for a stored key with the same content hash. Two things make a
digest match imply that:

- the digest covers every input of the item's key and content hash, so the
  same digest means the same key and hash, stored at the last version;
- within one document only the first item of a key counts. So each digest is
  kept with its key's digest: an unseen item whose key an earlier skipped item
  had is dropped, as `decide_items` would drop it; and a digest is only
  remembered for an item that was the first of its key (a later duplicate was
  never stored as itself, so it must be looked at again when it stands alone).

One case is not exact, and cannot alert: two processes writing the same feed
at once (PostgreSQL) may each prepare an item, and the one whose insert loses
the race still remembers its digest. Should the winner have stored other text
for that key, that text stays until the item changes again, where otherwise
the loser's next fetch would have updated it.

The blob: for every item of the document in order, 8 bytes of item digest
(zero: never skip) and 8 bytes of key digest (zero: the item normalized to
nothing). Collisions within one feed are about as likely as 2**-58.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from hashlib import blake2b
from typing import Any

from bot.types import RawItem

__all__ = [
    "NEVER",
    "NO_KEY",
    "SeenItems",
    "encode",
    "item_digest",
    "item_hasher",
    "key_digest",
    "raw_item_digest",
]

SIZE = 8
#: an item digest that never matches: look at this item again next time
NEVER = bytes(SIZE)
#: the key digest of an item that normalized to nothing (no title, link or text)
NO_KEY = bytes(SIZE)
#: bumped when parsing or normalizing changes what an item becomes: every digest
#: stored before then stops matching, and each item is prepared once more
SCHEME = b"skywatch-seen-1"


@dataclass(frozen=True, slots=True)
class SeenItems:
    """The digests of a feed's last stored version, and what a new digest must include."""

    #: item digest -> key digest, for the items that may be skipped
    keys: Mapping[bytes, bytes]
    #: hashed into every item digest: the feed's URL and configured language
    salt: bytes

    @classmethod
    def load(cls, blob: bytes | None, url: str, lang: str | None) -> SeenItems:
        """The stored `blob` (None or b"": nothing seen) for a feed fetched from `url`."""
        keys: dict[bytes, bytes] = {}
        if blob:
            for at in range(0, len(blob) - 2 * SIZE + 1, 2 * SIZE):
                digest = blob[at : at + SIZE]
                if digest != NEVER:
                    keys[digest] = blob[at + SIZE : at + 2 * SIZE]
        salt = b"\0".join((SCHEME, url.encode("utf-8", "replace"), (lang or "").encode()))
        return cls(keys, salt)


def key_digest(key: str) -> bytes:
    # a copy of the empty hash: cheaper than a new one that parses digest_size again
    h = _EMPTY_KEY_HASH.copy()
    h.update(key.encode("utf-8", "surrogatepass"))
    return h.digest()


_EMPTY_KEY_HASH = blake2b(digest_size=SIZE)


def raw_item_digest(salt: bytes, context: bytes, raw: RawItem) -> bytes:
    """The digest of a parsed item (feedparser's and JSON Feed's path).

    `context` holds what normalizing reads besides the item: the document's
    version and language. Every field of `raw` is included, `relative_ref` too.
    """
    names = _FIELDS.get(type(raw))
    if names is None:
        names = _FIELDS[type(raw)] = tuple(f.name for f in fields(raw))
    values = "\0".join(repr(getattr(raw, name)) for name in names)
    h = item_hasher(salt, b"raw", context)
    h.update(values.encode("utf-8", "surrogatepass"))
    return item_digest(h)


#: RawItem's field names, and its subclass ParsedItem's (relative_ref)
_FIELDS: dict[type, tuple[str, ...]] = {}


def item_hasher(salt: bytes, kind: bytes, context: bytes) -> Any:
    """A hash of what every item of one kind of reading shares (`kind`: "raw", or
    "fast" for the fast path's elements); each item's own bytes go on a copy of it."""
    h = blake2b(salt, digest_size=SIZE)
    h.update(b"\0" + kind + b"\0" + context + b"\0")
    return h


def item_digest(h: Any) -> bytes:
    """An item's digest from its hash, never equal to NEVER."""
    digest: bytes = h.digest()
    return digest if digest != NEVER else b"\1" + digest[1:]


def encode(entries: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The blob for `(item digest, key digest)` pairs in document order."""
    return b"".join(item + key for item, key in entries)
