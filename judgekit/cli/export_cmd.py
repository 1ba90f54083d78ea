"""``judgekit export RUN --format openai-chat|jsonl|csv FILE``: see :mod:`judgekit.export`."""

from __future__ import annotations

import argparse
import sys

from judgekit.export import export_run
from judgekit.store import Store

__all__ = ["export"]


def export(args: argparse.Namespace) -> int:
    """Write the export, then its one-line summary to stderr (stdout may be the data)."""
    with Store.existing(args.store) as store:
        result = export_run(store, args.run, args.format, args.file,
                            where_passed=args.where == "passed", scores=args.score or (),
                            variants=args.variant or (), dedupe=args.dedupe)
    print(result.summary(), file=sys.stderr)
    return 0
