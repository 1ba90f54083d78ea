"""json_schema builds rfc3987_syntax's IRI grammar only for schemas that need it (see
``judgekit_evaluators._lazy_iri``), and validates exactly as jsonschema does on its own.

Each check runs in a fresh interpreter: what matters is which modules a process has imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rfc3987_syntax")

ROOT = Path(__file__).resolve().parents[2]

#: (value, valid "iri", valid "iri-reference") as rfc3987_syntax decides them.
IRI_CASES = [
    ("http://example.com/ümlaut?q=ß#frag", True, True),
    ("http://user@host:8080/a/b", True, True),
    ("//example.com/path", False, True),
    ("relative/ü/path", False, True),
    ("http://exa mple.com", False, False),
    ("http://example.com/<>", False, False),
    ("", False, True),
    (17, True, True),  # not a string: formats only constrain strings
]


def _python(code: str, tmp_path: Path) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON document, returned here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUDGEKIT_", "OPENAI_"))}
    env["JUDGEKIT_STORE"] = str(tmp_path / "judgekit.db")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _suite(tmp_path: Path, schema: dict[str, Any]) -> Path:
    path = tmp_path / "schema_suite.py"
    path.write_text(textwrap.dedent(f"""\
        from judgekit import suite
        from judgekit_evaluators import json_schema

        @suite(data=[{{"inputs": {{"q": 1}}}}], evaluators=[json_schema({schema!r})])
        def test_schema(q):
            return {{"q": q}}
        """))
    return path


def test_a_suite_without_iri_formats_loads_without_the_iri_grammar(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {
        "email": {"format": "email"}, "when": {"format": "date-time"},
        "site": {"format": "uri"}, "note": {"type": "string", "default": {"format": "iri"}}}}
    suite = _suite(tmp_path, schema)
    got = _python(f"""
        import json, sys
        from judgekit.suite import load_suites
        from judgekit_evaluators import json_schema

        names = [s.name for s in load_suites({str(suite)!r})]
        loaded = {{m: m in sys.modules for m in ("jsonschema", "rfc3987_syntax", "lark")}}
        check = json_schema({schema!r})
        scores = [check(outputs=o)["score"] for o in (
            {{"when": "2024-02-30T10:00:00Z"}}, {{"site": "not a uri"}},
            {{"email": "nobody"}}, {{"when": "2024-02-29T10:00:00Z", "site": "https://x.org"}})]
        print(json.dumps({{"names": names, "loaded": loaded, "scores": scores,
                          "after": "rfc3987_syntax" in sys.modules}}))
        """, tmp_path)
    assert got["names"] == ["test_schema"]
    # The schema was compiled (jsonschema imported) but nothing needed the IRI grammar.
    assert got["loaded"] == {"jsonschema": True, "rfc3987_syntax": False, "lark": False}
    # The other formats are still asserted.
    assert got["scores"] == [0.0, 0.0, 0.0, 1.0]
    assert got["after"] is False


VALIDATE_IRI = """
    import json, sys
    {setup}
    cases = {cases!r}
    out = {{}}
    for fmt in ("iri", "iri-reference"):
        for draft in ("draft7", "draft2019-09", "draft2020-12"):
            valid = is_valid({{"format": fmt}}, draft)
            out[f"{{fmt}} {{draft}}"] = [valid(v) for v, *_ in cases]
    out["checkers"] = {{
        name: sorted((f, repr(raises)) for f, (_, raises) in cls.FORMAT_CHECKER.checkers.items())
        for name, cls in classes.items()}}
    out["real_module"] = hasattr(sys.modules.get("rfc3987_syntax"), "syntax_parser")
    print(json.dumps(out))
"""
EAGER = """
    import rfc3987_syntax  # the grammar first: jsonschema's own, unmodified path
    import jsonschema.validators as jv
    classes = {n: getattr(jv, c) for n, c in (("draft7", "Draft7Validator"),
               ("draft2019-09", "Draft201909Validator"), ("draft2020-12", "Draft202012Validator"))}
    def is_valid(schema, draft):
        cls = classes[draft]
        return cls(schema, format_checker=cls.FORMAT_CHECKER).is_valid
"""
LAZY = """
    from judgekit_evaluators.json_checks import compile_schema, _draft_class
    classes = {n: _draft_class(n)[1] for n in ("draft7", "draft2019-09", "draft2020-12")}
    def is_valid(schema, draft):
        return compile_schema(schema, draft=draft).is_valid
"""


def test_iri_formats_validate_exactly_as_jsonschema_does(tmp_path: Path) -> None:
    eager, lazy = (_python(textwrap.dedent(VALIDATE_IRI).format(
        setup=textwrap.dedent(setup), cases=IRI_CASES), tmp_path) for setup in (EAGER, LAZY))
    assert lazy == eager
    for draft in ("draft7", "draft2019-09", "draft2020-12"):
        assert lazy[f"iri {draft}"] == [iri for _, iri, _ in IRI_CASES]
        assert lazy[f"iri-reference {draft}"] == [ref for _, _, ref in IRI_CASES]
    assert "iri" in dict(lazy["checkers"]["draft2020-12"])
    assert lazy["real_module"] is True


def test_an_iri_schema_builds_the_grammar_when_compiled_or_on_first_use(tmp_path: Path) -> None:
    got = _python("""
        import json, sys
        import referencing
        from judgekit_evaluators.json_checks import compile_schema
        from judgekit_evaluators import json_schema

        state = {}
        # Reached only through a $ref, the format is not seen at compile time: the grammar is
        # built on the first iri check.
        reg = referencing.Registry().with_resource(
            "urn:example:iri", referencing.Resource.from_contents(
                {"$schema": "https://json-schema.org/draft/2020-12/schema", "format": "iri"}))
        by_ref = compile_schema({"$ref": "urn:example:iri"}, registry=reg)
        state["after ref compile"] = "rfc3987_syntax" in sys.modules
        state["by ref"] = [by_ref.is_valid("http://example.com/é"), by_ref.is_valid("//x")]
        state["after ref check"] = "rfc3987_syntax" in sys.modules
        import rfc3987_syntax  # the real module, not the stand-in
        state["real"] = hasattr(rfc3987_syntax, "syntax_parser")
        # A schema naming the format builds it when compiled (at suite load).
        check = json_schema({"properties": {"home": {"format": "iri-reference"}}})
        state["comment"] = check(outputs={"home": "a b"})["comment"]
        print(json.dumps(state))
        """, tmp_path)
    assert got["after ref compile"] is False
    assert got["by ref"] == [True, False]
    assert got["after ref check"] is True and got["real"] is True
    assert got["comment"] == "1 schema violation:\n$.home: 'a b' is not a 'iri-reference'"

    compiled = _python("""
        import json, sys
        from judgekit_evaluators.json_checks import compile_schema
        compile_schema({"items": {"format": "iri"}})
        print(json.dumps("rfc3987_syntax" in sys.modules))
        """, tmp_path)
    assert compiled is True


def test_a_bad_schema_is_still_reported_at_load_with_exit_2(tmp_path: Path) -> None:
    _suite(tmp_path, {"properties": {"site": {"type": "strng", "format": "iri"}}})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUDGEKIT_", "OPENAI_"))}
    env["JUDGEKIT_STORE"] = str(tmp_path / "judgekit.db")
    proc = subprocess.run([sys.executable, "-m", "judgekit.cli.main", "eval", "schema_suite.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "invalid schema (the schema) at $.properties.site.type" in proc.stderr
