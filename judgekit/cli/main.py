"""``judgekit`` entry point: parse, dispatch to one command module, map errors to exit codes.

Exit codes (DESIGN §9): 0 all goals met, 1 a goal missed (or a check failed under ``--strict``),
2 usage or configuration error, 3 internal error, 130 interrupted (Ctrl-C; resumable).
Heavy modules are imported inside the commands so ``judgekit --help`` stays fast.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence

from judgekit.cli.parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``judgekit`` command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = getattr(args, "debug", False) or os.environ.get("JUDGEKIT_DEBUG") == "1"
    from importlib import import_module

    from judgekit.errors import JudgekitError

    module_name, func_name = args.func.split(":")
    try:
        command = getattr(import_module(module_name), func_name)
        return int(command(args))
    except JudgekitError as exc:
        if debug:
            raise
        from judgekit.api import RunInterrupted

        print(f"{'' if isinstance(exc, RunInterrupted) else 'error: '}{exc}", file=sys.stderr)
        return 130 if isinstance(exc, RunInterrupted) else 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "this is a judgekit bug; run again with --debug for the traceback and report it",
              file=sys.stderr)
        return 3


def run() -> None:
    """The ``judgekit`` console script: :func:`main`, then exit with its code."""
    code = main()
    # Reference counting frees what the command made as the interpreter ends; the final
    # collections would only walk it all again (bench/README: issue 19). Exit handlers still
    # run and threads are still joined; only unreachable cycles are left to the OS.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
