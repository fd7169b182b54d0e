"""The ``polyscan`` command line (docs/cli.md).

Every bad input ends with one line on stderr and exit code 2, Ctrl-C with one line and exit
code 130: no traceback, no partial or temporary file.
"""

from __future__ import annotations

import os
import sys

from ..errors import PolyscanError, UsageError
from .parser import build_parser
from .support import parse_size

__all__ = ["UsageError", "main", "parse_size"]


def main(argv: list[str] | None = None) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # a layer or file name the terminal cannot show
        sys.stdout.reconfigure(errors="backslashreplace")
    try:
        args = build_parser().parse_args(argv)
        status = args.run(args)
        sys.stdout.flush()  # a closed stdout (| head) shows here, not at interpreter exit
        return status
    except PolyscanError as error:  # one line even when a library's message has several
        print(f"polyscan: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the output files' temporaries are gone by now
        print("polyscan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout left (| head): stop quietly, as rich does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
