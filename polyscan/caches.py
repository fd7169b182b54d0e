"""Memo tables for what is slow to count and asked for again (closed forms, footprint
components, search tables): each bounded, least recently used entries dropped first, and all
emptied by one ``clear_cache()``, so a notebook or a long sweep does not keep every closed
form it ever counted. Dropping an entry only costs the time to count it again.

What is slowest to count is also kept on disk across runs (``stored``), where an on-disk
store is installed (``sweep.store``, installed by ``import polyscan``): this module only
holds the hook, so that the layers below the store can use it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_CLEARED: list[Callable[[], None]] = []  # everything clear_cache() empties
MISSING = object()  # what a store's ``get`` returns for a key it does not hold
_STORE: list = [None]  # the store, or a function making it on first use, or None


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


def install_store(store) -> None:
    """Keep ``stored`` values in ``store`` (``get(kind, key)``, ``peek(kind, key)``: a get
    that counts no miss, ``put(kind, key, value)``), or in what ``store()`` returns on first
    use when it is a function; None: nowhere."""
    _STORE[0] = store


def active_store():
    """The installed store (made now if it was installed as a function), or None."""
    if callable(_STORE[0]) and not hasattr(_STORE[0], "get"):
        _STORE[0] = _STORE[0]()
    return _STORE[0]


def peek(kind: str, key: tuple, decode: Callable[[Any], Any] = lambda value: value) -> Any:
    """What ``stored`` holds under ``(kind, key)``, decoded, or MISSING: nothing is made
    (the store's ``peek``: an absent entry is no miss)."""
    store = active_store()
    return MISSING if store is None else _decoded(store.peek(kind, key), decode)


def keep(kind: str, key: tuple, data: Any) -> None:
    """Put ``data`` (plain data, as ``stored`` encodes it) under ``(kind, key)`` in the
    installed store, if any: a fact learnt on the way that another search can read."""
    store = active_store()
    if store is not None:
        store.put(kind, key, data)


def stored(kind: str, key: tuple, make: Callable[[], Any],
           encode: Callable[[Any], Any] = lambda value: value,
           decode: Callable[[Any], Any] = lambda value: value) -> Any:
    """``make()``, remembered in the installed store under ``(kind, key)`` as ``encode(value)``
    (plain data: strings, numbers, tuples) and given back as ``decode(data)``. A value that
    does not decode (an entry damaged on disk) is made again and replaces it."""
    store = active_store()
    if store is None:
        return make()
    value = _decoded(store.get(kind, key), decode)
    if value is MISSING:
        value = make()
        store.put(kind, key, encode(value))
    return value


def _decoded(data: Any, decode: Callable[[Any], Any]) -> Any:
    """``decode(data)``, or MISSING where there is no entry or it does not decode."""
    if data is MISSING:
        return MISSING
    try:
        return decode(data)
    except Exception:  # noqa: BLE001 - any damage to an entry only means counting again
        return MISSING
