"""Writing output files safely (DESIGN section 7): a file is written whole or not at all, an
input or another output of the same run is never overwritten, and a symlink, FIFO or device
is written through, never replaced by a regular file."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from .errors import OutputError


def check_output(path) -> None:
    """Raise OutputError unless ``path`` can be written: called before any long work, so a
    bad target fails at once rather than after the run."""
    if not os.fspath(path):
        raise OutputError("an output file name is empty")
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a folder")
    if _special(path):  # written through: its folder does not matter
        if not os.access(path, os.W_OK):
            raise OutputError(f"cannot write {str(path)!r}: permission denied")
        return
    if target.is_symlink():  # realpath stops where symlinks loop
        raise OutputError(f"cannot write {str(path)!r}: its symlinks form a loop")
    if target.exists() and not os.access(target, os.W_OK):
        raise OutputError(f"cannot write {str(path)!r}: permission denied")
    if not target.parent.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: no folder {str(target.parent)!r}")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {str(path)!r}: folder {str(target.parent)!r} is not "
                          f"writable")


def check_folder(path) -> None:
    """Raise OutputError unless files can be created in the folder ``path``."""
    if not Path(path).is_dir():
        raise OutputError(f"cannot write into {str(path)!r}: no such folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {str(path)!r}: the folder is not writable")


def check_distinct(inputs: Sequence, outputs: Sequence) -> None:
    """Raise OutputError when an output is an input or another output of the same run, seen
    through symlinks and hard links. FIFOs and devices (``/dev/null``) may be named twice."""
    for i, output in enumerate(outputs):
        for other, role in [*((p, "the input") for p in inputs),
                            *((p, "another output") for p in outputs[:i])]:
            if _same_file(output, other):
                raise OutputError(f"refusing to write {str(output)!r}: it is also {role} "
                                  f"{str(other)!r}")


def _same_file(a, b) -> bool:
    if _special(a):  # a device or FIFO is written through, never overwritten
        return False
    a, b = Path(os.path.realpath(a)), Path(os.path.realpath(b))
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a == b


def _special(path) -> bool:
    """Whether ``path``, symlinks followed, is a FIFO, device or pipe (``/dev/stdout``)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # nothing there yet
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextlib.contextmanager
def written_path(path) -> Iterator[Path]:
    """A path to write the whole new content of ``path`` to.

    For a FIFO, device or pipe it is ``path`` itself (written through). Otherwise it is a new
    file in the folder of the symlink-resolved target, renamed onto the target when the block
    ends (so a symlink survives and readers never see half a file) and removed on any
    exception, Ctrl-C included. ``check_output`` comes first; OSErrors become an OutputError
    naming ``path``.
    """
    check_output(path)
    try:
        if _special(path):
            yield Path(path)
            return
        target = Path(os.path.realpath(path))
        temporary = _new_file_beside(target)
        try:
            yield temporary
            if target.exists():  # keep the mode, as writing the file in place would
                os.chmod(temporary, stat.S_IMODE(target.stat().st_mode))
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as problem:
        raise OutputError(f"cannot write {str(path)!r}: {problem.strerror or problem}") \
            from None


@contextlib.contextmanager
def written_text(path, compress: bool = False) -> Iterator[TextIO]:
    """A UTF-8 text stream (gzip-compressed with ``compress``) whose text becomes the whole of
    ``path`` when the block ends without error (``written_path``)."""
    with written_path(path) as target, open(target, "wb") as raw:
        # the gzip header names the target, not the temporary file
        binary = gzip.GzipFile(Path(path).name, "wb", fileobj=raw) if compress else raw
        with binary, io.TextIOWrapper(binary, encoding="utf-8") as stream:
            yield stream


def _new_file_beside(target: Path) -> Path:
    """A new empty file in ``target``'s folder, keeping its suffix (matplotlib picks the
    format by it), with the mode a plain ``open(target, "w")`` gives a new file: 0666 less
    the umask (``os.open`` applies it), not mkstemp's 0600."""
    while True:
        candidate = target.with_name(f".{target.name[:40]}.{secrets.token_hex(4)}.part"
                                     f"{target.suffix[:16]}")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return candidate
        except FileExistsError:
            continue
