"""Keeping the garbage collector's pauses short in a long-running process.

CPython's cyclic collector now and then walks every container object alive
(a "generation 2" collection). Most of this process's objects live as long as
it does: modules, the configuration, the database's metadata, the story index
of the last days. On the benchmark farm such a walk cost 0.13-0.18 s, landing
in the middle of a poll (a 0.5 s cycle of 1,000 conditional GETs) and of chat
commands alike.

`settle` runs at quiet moments instead (after start-up, after each poll): a
full collection, then `gc.freeze`, which leaves what survived out of later
walks. Frozen objects are still freed as usual when nothing refers to them;
only a cycle among them that becomes garbage waits for the next `settle`,
which unfreezes everything first and so finds it.

It also makes the collections of the youngest objects rarer: CPython starts
one every 700 allocations, and a poll allocates millions of short-lived rows
and tuples that reference counting frees anyway (farm, all-304 cycle: 0.03-0.07
s of collecting per cycle, 0.01 s with YOUNG).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG", "settle"]

#: allocations between two collections of the youngest generation (CPython: 700)
YOUNG = 10_000


def settle() -> None:
    """Collect everything, then keep the survivors out of later collections."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
    gc.unfreeze()
    gc.collect()
    gc.freeze()
