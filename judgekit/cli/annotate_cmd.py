"""``judgekit annotate RUN``: label a run's cases by hand, one at a time (see
:mod:`judgekit.annotate`).

Lines are read from standard input, so it works the same at a terminal and from a pipe (the
tests drive it that way); end of input quits, keeping every label given.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.text import Text

from judgekit.annotate import AnnotationItem, AnnotationSession, parse_move
from judgekit.store import Store

__all__ = ["annotate"]

#: Characters of one shown field before it is cut (a whole document would push the rest away).
_LIMIT = 4000


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False,
                                                           default=str)
    return text if len(text) <= _LIMIT else text[:_LIMIT] + f"… ({len(text) - _LIMIT} more)"


def _field(console: Console, title: str, value: Any) -> None:
    console.print(Text(title, style="bold cyan"))
    # Model text is data: Text objects are never read as markup.
    console.print(Text(_text(value)), soft_wrap=True)


def _show(console: Console, session: AnnotationSession, item: AnnotationItem) -> None:
    case = item.case
    rep = f" #{case.repetition}" if case.repetition else ""
    console.rule(Text(f"{session.position + 1}/{len(session.items)} · {case.example_id}{rep} · "
                      f"{item.variant} ({item.experiment_id})"))
    if item.example is not None:
        _field(console, "input", dict(item.example.inputs))
        if item.example.reference is not None:
            _field(console, "reference", item.example.reference)
    _field(console, "output", case.outputs)
    if item.judge is not None:
        verdict = item.judge.value if item.judge.value is not None else item.judge.score
        status = "" if item.judge.status == "ok" else f" ({item.judge.status})"
        _field(console, f"judge {item.judge.key}{status}: {'' if verdict is None else verdict}",
               item.judge.comment or "(no reasoning)")
    elif session.judge:
        console.print(Text(f"judge {session.judge}: no verdict", style="dim"))


def _keys(session: AnnotationSession) -> Text:
    choices = "  ".join(f"{i} {label}" for i, label in enumerate(session.labels, start=1))
    return Text(f"label: {choices}  ·  s skip  ·  b back  ·  q quit", style="bold")


def annotate(args: argparse.Namespace) -> int:
    """Show each unlabelled case and store the label typed for it."""
    console = Console(emoji=False, highlight=False)
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else []
    with Store.existing(args.store) as store:
        session = AnnotationSession(store, args.run, annotator=args.annotator,
                                    judge=args.judge, labels=labels, redo=args.redo)
        if session.done:
            console.print(Text(f"nothing to label: {session.summary()}"))
            return 0
        console.print(Text(f"{len(session.items)} cases to label as {session.key} "
                           f"({session.already} labelled before)"))
        while not session.done:
            _show(console, session, session.current)
            console.print(_keys(session))
            try:
                line = console.input("> ")
            except EOFError:
                break
            move = parse_move(line, session.labels)
            if move is None:
                console.print(Text(f"unknown key {line.strip()!r}: a number 1-"
                                   f"{len(session.labels)}, a label, s, b, q or ?"))
            elif move[0] == "label" and move[1] is not None:
                session.label(move[1])
            elif move[0] == "skip":
                session.skip()
            elif move[0] == "back" and not session.back():
                console.print(Text("already at the first case"))
            elif move[0] == "quit":
                break
            elif move[0] == "help":
                console.print(Text("type the number (or the text) of a label and Enter; it is "
                                   "stored at once. s skips, b goes back one case, q quits; run "
                                   "the command again to carry on."))
        console.print(Text(session.summary()))
    return 0
