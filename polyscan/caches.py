"""Memo tables for what is slow to count and asked for again (closed forms, footprint
components, search tables): each bounded, least recently used entries dropped first, and all
emptied by one ``clear_cache()``, so a notebook or a long sweep does not keep every closed
form it ever counted. Dropping an entry only costs the time to count it again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_CLEARED: list[Callable[[], None]] = []  # everything clear_cache() empties


class Memo:
    """A bounded memo: ``memo.get(key, make)`` is ``make()``, counted once per key while the
    key stays among the ``size`` most recently used."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        _CLEARED.append(self._entries.clear)

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = self._entries[key] = make()
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


def clears(clear: Callable[[], None]) -> Callable[[], None]:
    """Register another cache's ``clear`` (a WeakKeyDictionary's, an lru_cache's)."""
    _CLEARED.append(clear)
    return clear


def clear_cache():
    """Forget every memoised closed form, footprint and table (benchmarks use it to time
    building them; a long-running process may use it to give the memory back)."""
    for clear in _CLEARED:
        clear()
