"""Helpers for the end-to-end tests: run ``judgekit`` as a user would against the local server.

``judgekit eval`` runs in a fresh interpreter (a subprocess, as ``tests/cli`` does) with
``OPENAI_BASE_URL`` pointing at :class:`openai_server.OpenAIServer` on 127.0.0.1; the real
``openai`` SDK makes the HTTP calls. Imported by name (``from e2e_support import ...``).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai_server import OpenAIServer

__all__ = ["JUDGE_SYSTEM", "Ran", "answer_of", "cot_qa_prompt_sha256", "genai_price", "judgekit",
           "query", "server_env", "write"]

#: Words of the cot_qa system prompt: how a server rule tells a judge request from a target's.
JUDGE_SYSTEM = "careful teacher grading"

# Environment a developer may have set that would change what a run does.
_SCRUB = ("OPENAI_", "JUDGEKIT_", "LANGSMITH_", "LANGCHAIN_", "REVIEWS_", "SARCASM_",
          "FORCE_COLOR", "TTY_", "COLUMNS")


@dataclass
class Ran:
    """What one ``judgekit`` invocation did (``doc``: its ``--json`` file, if any)."""

    returncode: int
    stdout: str
    stderr: str
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def experiment(self, model: str | None = None) -> dict[str, Any]:
        """The JSON experiment of variant ``model`` (the only one when None)."""
        exps = self.doc["experiments"]
        if model is None:
            (exp,) = exps
            return dict(exp)
        (exp,) = [e for e in exps if e["variant"].get("model") == model]
        return dict(exp)


def server_env(srv: OpenAIServer | None) -> dict[str, str]:
    """The environment of a run against ``srv`` (None: no model configured at all)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    if srv is not None:
        env.update(OPENAI_BASE_URL=srv.url, OPENAI_API_KEY="sk-test")
    return env


def judgekit(*args: str, cwd: Path, srv: OpenAIServer | None, json_out: bool = True,
             env: dict[str, str] | None = None, timeout: float = 120) -> Ran:
    """``judgekit ARGS`` in ``cwd`` with its store (and so its cache) in ``cwd``.

    For ``eval``, ``--json`` goes to a fresh file whose content lands in ``Ran.doc``.
    """
    full_env = server_env(srv)
    full_env["JUDGEKIT_STORE"] = str(cwd / "store.db")
    full_env.update(env or {})
    out = cwd / "out.json"
    argv = list(args)
    if json_out and args and args[0] == "eval":
        out.unlink(missing_ok=True)
        argv += ["--json", str(out)]
    proc = subprocess.run([sys.executable, "-m", "judgekit.cli.main", *argv], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
    doc = json.loads(out.read_text("utf-8")) if json_out and out.exists() else {}
    return Ran(proc.returncode, proc.stdout, proc.stderr, doc)


def write(path: Path, text: str) -> Path:
    """Write dedented ``text`` to ``path`` (parents created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the SQLite file ``db`` (read-only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


_BLOCK = re.compile(r"<<<BEGIN (\w+) (\w+)>>>\n(.*?)\n<<<END \1 \2>>>", re.DOTALL)


def answer_of(body: dict[str, Any], block: str = "ANSWER") -> str:
    """The text of a data block (``ANSWER``, ``REFERENCE``...) in a judge request.

    Found by its matching nonce, as the judge is told to: a fake end marker inside the data
    cannot end it early.
    """
    text = "\n".join(str(m.get("content", "")) for m in body["messages"])
    for name, _nonce, content in _BLOCK.findall(text):
        if name == block:
            return str(content)
    raise AssertionError(f"no {block} block in the judge request")


def cot_qa_prompt_sha256() -> str:
    """The sha256 of the shipped cot_qa prompt file, computed here from the file itself."""
    import hashlib

    import judgekit_evaluators

    path = Path(judgekit_evaluators.__file__).parent / "prompts" / "cot_qa.v1.txt"
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


def genai_price(model: str, prompt: int, completion: int, cached: int) -> float:
    """usage × genai-prices' per-1M-token rates for ``model`` (an OpenAI model), worked out
    here rather than by judgekit's pricing code; cached prompt tokens at the cache-read rate
    (the input rate when the model has none)."""
    from genai_prices import Usage, calc_price

    rates = calc_price(Usage(input_tokens=1, output_tokens=1), model_ref=model,
                       provider_id="openai").model_price
    cached_rate = rates.cache_read_mtok if rates.cache_read_mtok is not None else rates.input_mtok
    return float((prompt - cached) * rates.input_mtok + cached * cached_rate
                 + completion * rates.output_mtok) / 1_000_000
