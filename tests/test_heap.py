"""bot/heap.py: survivors leave the collector's walks; a cycle among them is still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from bot.heap import YOUNG, settle


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()  # leave the test process as it was
    gc.set_threshold(*threshold)


def test_settle_makes_young_collections_rarer() -> None:
    gc.set_threshold(700, 10, 10)
    settle()
    assert gc.get_threshold() == (YOUNG, 10, 10)


def test_settle_keeps_survivors_out_of_later_collections() -> None:
    keep = [Node() for _ in range(100)]
    settle()
    assert gc.get_freeze_count() > 0
    assert not any(obj is keep for obj in gc.get_objects())  # frozen: not walked
    fresh = [Node()]
    assert any(obj is fresh for obj in gc.get_objects())  # what came after is


def test_a_cycle_frozen_while_alive_is_freed_by_the_next_settle() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    settle()
    del a, b  # now garbage, but frozen: no ordinary collection looks at it
    gc.collect()
    assert gone() is not None
    settle()
    assert gone() is None
