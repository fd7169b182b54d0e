"""The ``polyscan`` command line (docs/cli.md).

Every bad input ends with one line on stderr and exit code 2: no traceback, no partial file.
"""

from __future__ import annotations

import sys

from ..errors import PolyscanError
from .parser import build_parser
from .support import UsageError, parse_size

__all__ = ["UsageError", "main", "parse_size"]


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except PolyscanError as error:
        print(f"polyscan: error: {error}", file=sys.stderr)
        return 2
