"""Render the report and the viewer's pages with Jinja2 (autoescape on for every template).

The page carries its own CSS and script (no CDN, works from disk). Its Content-Security-Policy
allows only that one script, by hash, so even a string that escaped escaping could not run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from judgekit.report.console import fmt_cost, fmt_latency
from judgekit.store import RunRow, Store
from judgekit.viewer.page_data import page_data

__all__ = ["render_index", "render_runs"]


@cache
def _env() -> Environment:
    # autoescape=True rather than select_autoescape(): every template, whatever its name.
    env = Environment(loader=PackageLoader("judgekit.viewer", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(fmt_cost=fmt_cost, fmt_latency=fmt_latency, pretty=_pretty,
                       message_text=_message_text)
    return env


@cache
def _script() -> tuple[str, str]:
    text = files("judgekit.viewer").joinpath("page.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return text, f"'sha256-{digest}'"


def _pretty(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False,
                                                           default=str)


def _message_text(message: Any) -> str:
    if not isinstance(message, Mapping):
        return _pretty(message)
    content = message.get("content")
    rest = {k: v for k, v in message.items() if k not in ("role", "content")}
    text = "" if content is None else _pretty(content)
    return f"{text}\n{_pretty(rest)}" if rest else text


def _render(name: str, *, live: bool, **context: Any) -> str:
    script, script_hash = _script()
    connect = "'self'" if live else "'none'"  # only the viewer polls its own server
    csp = (f"default-src 'none'; script-src {script_hash}; style-src 'unsafe-inline'; "
           f"img-src data:; connect-src {connect}")
    return _env().get_template(name).render(csp=csp, script=_js_text(script), live=live,
                                            **context)


def _js_text(script: str) -> Any:
    from markupsafe import Markup

    # The script is judgekit's own file (no data in it), so it goes in as written; escaping
    # it would change its bytes and its hash in the policy.
    return Markup(script)


def render_runs(store: Store, runs: Sequence[RunRow], *, live: bool = False) -> str:
    """The page of one or several runs: comparison, plot, cases.

    Args:
        store: The open result store.
        runs: The runs to show, compared side by side.
        live: Render for the viewer (links back to the run list, polls for new cases).

    Example:
        >>> from judgekit.store import Store  # doctest: +SKIP
        >>> html = render_runs(store, [store.get_run("7f3a")])  # doctest: +SKIP
    """
    data = page_data(store, runs)
    ids = ",".join(r.id for r in runs)
    title = " vs ".join(f"{r.suite} ({r.id})" for r in runs)
    return _render("run.html.j2", live=live, d=data, title=title, poll_url=f"/api/state?runs={ids}")


def render_index(store: Store) -> str:
    """The viewer's front page: every stored run, newest first, to open or compare."""
    rows = []
    for run in store.list_runs():
        rows.append({"id": run.id, "suite": run.suite, "status": run.status,
                     "variants": ", ".join(e.variant_label for e in store.experiments(run.id)),
                     "when": dt.datetime.fromtimestamp(run.created_at).strftime("%Y-%m-%d %H:%M")})
    return _render("index.html.j2", live=True, runs=rows, store_path=str(store.path),
                   title="runs")
