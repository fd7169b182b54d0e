"""The data files shipped inside the package (kernel files, DRAM presets): found by name, or
a user's own file by path, and read."""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path


def packaged_names(folder: str) -> list[str]:
    """Names (without ``.toml``) of the files in ``polyscan/<folder>``."""
    files = importlib.resources.files("polyscan").joinpath(*folder.split("/"))
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def packaged_path(name_or_path: str | Path, folder: str) -> Path | None:
    """A ``.toml`` path as given; a packaged file's path by its name; None for an unknown
    name (the caller says what was expected)."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        return path
    if str(name_or_path) not in packaged_names(folder):
        return None
    return Path(str(importlib.resources.files("polyscan").joinpath(*folder.split("/"),
                                                                   f"{name_or_path}.toml")))


def read_toml(path: Path, what: str, error: type[Exception]) -> dict:
    """The file's TOML; ``error`` naming ``what`` it is when it is unreadable, not text, or
    malformed (TOML is UTF-8 whatever the locale says)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as problem:
        raise error(f"cannot read {what} {path}: {problem.strerror or problem}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a text file (not UTF-8)") from None
    except tomllib.TOMLDecodeError as problem:
        raise error(f"{what} {path} is not valid TOML: {problem}") from None


def read_packaged(name_or_path, folder: str, what: str,
                  error: type[Exception]) -> tuple[dict, Path]:
    """The TOML of a built-in file of ``polyscan/<folder>`` by name, or of a file by path,
    with its path; ``error`` naming ``what`` it is when the name is unknown or unreadable."""
    if not isinstance(name_or_path, (str, Path)):
        raise error(f"a {what} is a built-in name or a .toml path, got {name_or_path!r}")
    path = packaged_path(name_or_path, folder)
    if path is None:
        raise error(f"unknown {what} {str(name_or_path)!r} (built-in: "
                    f"{', '.join(packaged_names(folder))}, or a .toml file)")
    return read_toml(path, what, error), path
