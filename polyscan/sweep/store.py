"""The on-disk cache (DESIGN 7a): closed forms, counts and search results that any run has
made, for every later run and every worker of a sweep on this machine.

An entry is one file named by the hash of its kind and key, holding the key itself (a hash
collision is a miss, not a wrong answer) and written whole: to a unique temporary file, then
renamed over the name, so that several processes writing the same entry at once leave one
whole copy. Entries live in a folder per build of polyscan (its version, a fingerprint of
its source and kernel files, and islpy's version): a changed program never reads what an
older one counted. Past the size limit the least recently used entries go, older builds
first. Where the folder cannot be written the cache is skipped: it only ever saves time.

``POLYSCAN_CACHE_DIR`` names the folder (default ``$XDG_CACHE_HOME/polyscan`` or
``~/.cache/polyscan``), ``POLYSCAN_CACHE_SIZE`` the limit (default 2G bytes),
``POLYSCAN_CACHE=off`` turns it off."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import pickle
import re
import secrets
import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ..caches import MISSING
from ..errors import CacheError

MAGIC = b"polyscan-cache 1\n"  # the entry format: this header, then a pickle
DEFAULT_LIMIT = 2 * 1024 ** 3
PRUNE_EVERY = 0.05  # of the limit: bytes written by this process between two prunings


@cache
def build() -> str:
    """The folder name of this build: polyscan's version, a fingerprint of its source and
    kernel files (an edited checkout is another build), islpy's version."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml") and path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return (f"{importlib.metadata.version('polyscan')}-{digest.hexdigest()[:12]}-islpy"
            f"{importlib.metadata.version('islpy-barvinok')}")


def parse_bytes(text: str) -> int:
    """``"500M"`` -> 524288000 bytes; ``"0"`` keeps nothing."""
    match = re.fullmatch(r"\s*([0-9]+)\s*([kKmMgGtT]?)[bB]?\s*", text)
    if not match:
        raise CacheError(f"POLYSCAN_CACHE_SIZE must be a size in bytes such as 500M or 2G, "
                         f"got {text!r}")
    return int(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " ")


def default_folder() -> Path:
    if os.environ.get("POLYSCAN_CACHE_DIR"):
        return Path(os.environ["POLYSCAN_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "polyscan"


def from_environment() -> DiskStore | None:
    """The store the environment asks for (None with ``POLYSCAN_CACHE=off``)."""
    if os.environ.get("POLYSCAN_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    return DiskStore(default_folder(), parse_bytes(os.environ.get("POLYSCAN_CACHE_SIZE",
                                                                  str(DEFAULT_LIMIT))))


@dataclass(frozen=True)
class Usage:
    """What a cache folder holds: entries and bytes per build and kind."""

    folder: Path
    limit: int
    build: str  # this program's build
    counts: dict[tuple[str, str], tuple[int, int]]  # (build, kind) -> (entries, bytes)

    @property
    def entries(self) -> int:
        return sum(n for n, _ in self.counts.values())

    @property
    def bytes(self) -> int:
        return sum(b for _, b in self.counts.values())


class DiskStore:
    """Entries under ``folder``, at most about ``limit`` bytes of them."""

    def __init__(self, folder: Path, limit: int = DEFAULT_LIMIT):
        self.folder = Path(folder)
        self.limit = limit
        self.usable = True  # until a write fails: then this run stops trying
        self._written = 0  # bytes written since the last pruning
        self.hits = self.misses = 0

    def _path(self, kind: str, key: tuple) -> Path:
        name = hashlib.sha256(repr((kind, key)).encode()).hexdigest()
        return self.folder / build() / kind / name[:2] / name

    def get(self, kind: str, key: tuple):
        """The value stored under ``(kind, key)``, or MISSING (absent, damaged, another
        key of the same hash)."""
        value = self.peek(kind, key)
        if value is MISSING:
            self.misses += 1
        return value

    def peek(self, kind: str, key: tuple):
        """``get``, but an absent entry is not a miss: the caller counts nothing if so."""
        path = self._path(kind, key)
        try:
            data = path.read_bytes()
            if data.startswith(MAGIC):
                found_kind, found_key, value = pickle.loads(data[len(MAGIC):])
                if (found_kind, found_key) == (kind, key):
                    self.hits += 1
                    _touch(path)
                    return value
        except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError,
                AttributeError, ImportError, IndexError):
            pass  # absent, or damaged: counted again and written over
        return MISSING

    def put(self, kind: str, key: tuple, value) -> None:
        if not self.usable or self.limit == 0:
            return
        path = self._path(kind, key)
        data = MAGIC + pickle.dumps((kind, key, value), protocol=pickle.HIGHEST_PROTOCOL)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError:
            self.usable = False  # a read-only or full disk: run on without the cache
            _remove(temporary)
            return
        self._written += len(data)
        if self._written > self.limit * PRUNE_EVERY:
            self.prune()

    def usage(self) -> Usage:
        counts: dict[tuple[str, str], tuple[int, int]] = {}
        for build_name, kind, _, size, _ in self._entries():
            entries, total = counts.get((build_name, kind), (0, 0))
            counts[build_name, kind] = entries + 1, total + size
        return Usage(self.folder, self.limit, build(), dict(sorted(counts.items())))

    def prune(self) -> None:
        """Drop entries, older builds' first, then the least recently used, until the
        cache holds at most 80% of the limit (another process pruning at once only makes
        some deletions find nothing)."""
        self._written = 0
        entries = sorted(self._entries(), key=lambda e: (e[0] == build(), e[2]))
        total = sum(e[3] for e in entries)
        for _, _, _, size, path in entries:
            if total <= self.limit * 0.8:
                break
            _remove(path)
            total -= size

    def clear(self) -> int:
        """Remove every entry of every build; the bytes freed."""
        freed = self.usage().bytes
        if self.folder.is_dir():
            for child in self.folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
        return freed

    def _entries(self):
        """(build, kind, last use, bytes, path) of every entry."""
        if not self.folder.is_dir():
            return
        for build_folder in self.folder.iterdir():
            if not build_folder.is_dir():
                continue
            for kind_folder in build_folder.iterdir():
                for path in kind_folder.glob("*/*"):
                    if path.name.startswith("."):
                        continue  # another process's write under way
                    try:
                        stat = path.stat()
                    except OSError:
                        continue
                    yield build_folder.name, kind_folder.name, stat.st_mtime, stat.st_size, \
                        path


def _touch(path: Path) -> None:
    """Mark an entry as just used (pruning keeps the recently used)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
