"""json_schema's validator against the official JSON-Schema-Test-Suite (draft7 and 2020-12).

Every *required* case must agree with the suite, except the exclusions listed in ``EXCLUDED``
(each with its reason). Remote ``$ref``s (http://localhost:1234/...) are served from the
suite's ``remotes/`` directory through a preloaded ``referencing.Registry``: nothing is fetched.
The optional and optional/format cases are counted and held to a floor, not required.
"""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from judgekit.errors import SchemaError
from judgekit_evaluators.json_checks import compile_schema

TARBALL = "json-schema-test-suite_draft7_draft2020-12.tar.gz"
DRAFTS = ("draft7", "draft2020-12")
PY_RE_NO_UNICODE_PROPERTIES = (
    "Python's re has no \\p{...} Unicode property escapes, so the pattern is not a valid "
    "regex for us: json_schema rejects the schema at construction (asserted below)")
#: (draft, file, group description, test description or None for the whole group) -> reason.
EXCLUDED: dict[tuple[str, str, str, str | None], str] = {
    ("draft2020-12", "pattern.json", "pattern with Unicode property escape requires unicode mode",
     None): PY_RE_NO_UNICODE_PROPERTIES,
    ("draft2020-12", "patternProperties.json", "patternProperties with Unicode property escape",
     None): PY_RE_NO_UNICODE_PROPERTIES,
    ("draft2020-12", "vocabulary.json",
     "schema that uses custom metaschema with with no validation vocabulary",
     "no validation: invalid number, but it still validates"):
        "vocabularies are not interpreted: a custom metaschema is validated with the draft it "
        "is written in (2020-12), so the validation keywords still apply",
}
#: Cases that differ only when format assertion is on (judgekit's default), as the spec says:
#: 2020-12 makes "format" an annotation unless asked, and these cases check that default.
FORMAT_ANNOTATION_ONLY = ("draft2020-12", "format.json", "is only an annotation by default")
REQUIRED_COUNTS = {"draft7": 927, "draft2020-12": 1299}


@pytest.fixture(scope="session")
def suite_dir(corpora: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("json-schema-test-suite")
    with tarfile.open(corpora / TARBALL) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(root, filter="data")
        else:  # Python < 3.10.12: the corpus is ours and trusted
            tar.extractall(root)
    assert (root / "tests" / "draft7").is_dir() and (root / "remotes").is_dir()
    return root


def evaluator_registry(suite_dir: Path, draft: str) -> Any:
    import referencing
    import referencing.jsonschema

    spec = {"draft7": referencing.jsonschema.DRAFT7,
            "draft2020-12": referencing.jsonschema.DRAFT202012}[draft]
    remotes = suite_dir / "remotes"
    resources = [
        ("http://localhost:1234/" + p.relative_to(remotes).as_posix(),
         referencing.Resource.from_contents(json.loads(p.read_text()), default_specification=spec))
        for p in sorted(remotes.rglob("*.json"))]
    assert len(resources) > 50
    return referencing.Registry().with_resources(resources)


def _cases(suite_dir: Path, draft: str, sub: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((suite_dir / "tests" / draft / sub).glob("*.json"))
    return [(f.name, group) for f in files for group in json.loads(f.read_text())]


def _run(suite_dir: Path, draft: str, sub: str, *, check_formats: bool,
         skip_format_annotation: bool = False) -> dict[str, Any]:
    registry = evaluator_registry(suite_dir, draft)
    tally: Counter[str] = Counter()
    disagree: list[str] = []
    excluded: list[str] = []
    for fname, group in _cases(suite_dir, draft, sub):
        try:
            compiled: Any = compile_schema(group["schema"], draft=draft, registry=registry,
                                           check_formats=check_formats)
        except SchemaError as exc:
            compiled = exc
        for test in group["tests"]:
            tally["total"] += 1
            where = f"{draft}/{sub or '.'}/{fname} | {group['description']} | {test['description']}"
            reason = (EXCLUDED.get((draft, fname, group["description"], None))
                      or EXCLUDED.get((draft, fname, group["description"], test["description"])))
            if reason or (skip_format_annotation and fname == FORMAT_ANNOTATION_ONLY[1]
                          and draft == FORMAT_ANNOTATION_ONLY[0]
                          and FORMAT_ANNOTATION_ONLY[2] in test["description"]):
                tally["excluded"] += 1
                excluded.append(where)
                continue
            if isinstance(compiled, SchemaError):
                disagree.append(f"{where}: {compiled}")
                continue
            got = compiled.is_valid(test["data"])
            if got == test["valid"]:
                tally["agree"] += 1
            else:
                disagree.append(f"{where}: valid={got}, suite says {test['valid']}")
    return {"tally": tally, "disagree": disagree, "excluded": excluded}


@pytest.mark.parametrize("draft", DRAFTS)
def test_every_required_case_agrees(suite_dir: Path, draft: str) -> None:
    # The required suite treats "format" as an annotation (no assertion), so run it that way.
    result = _run(suite_dir, draft, "", check_formats=False)
    tally = result["tally"]
    assert tally["total"] == REQUIRED_COUNTS[draft]
    assert result["disagree"] == []
    n_excluded = {"draft7": 0, "draft2020-12": 6}[draft]
    assert tally["excluded"] == n_excluded, result["excluded"]
    assert tally["agree"] == REQUIRED_COUNTS[draft] - n_excluded
    print(f"{draft} required: {tally['agree']}/{tally['total']} agree, "
          f"{tally['excluded']} excluded")


@pytest.mark.parametrize("draft", DRAFTS)
def test_required_cases_agree_with_format_assertion_on(suite_dir: Path, draft: str) -> None:
    """judgekit's default asserts formats; only the 'annotation by default' cases then differ."""
    result = _run(suite_dir, draft, "", check_formats=True, skip_format_annotation=True)
    assert result["disagree"] == []
    n_excluded = {"draft7": 0, "draft2020-12": 6 + 19}[draft]
    assert result["tally"]["excluded"] == n_excluded, result["excluded"]


def test_unicode_property_patterns_are_rejected_at_construction(suite_dir: Path) -> None:
    with pytest.raises(SchemaError, match=r"at \$\.pattern: .*is not a 'regex'"):
        compile_schema({"pattern": "^\\p{Letter}+$"}, draft="draft2020-12")


@pytest.mark.parametrize(("draft", "sub", "total", "floor"), [
    ("draft7", "optional", 118, 0.65), ("draft2020-12", "optional", 162, 0.65),
    ("draft7", "optional/format", 676, 0.85), ("draft2020-12", "optional/format", 764, 0.85),
])
def test_optional_cases_reach_a_floor(suite_dir: Path, draft: str, sub: str, total: int,
                                      floor: float) -> None:
    """Optional behaviour (ECMA-262 regex semantics, bignums, formats): counted, not required.
    Today: draft7 82/118 and 599/676, 2020-12 116/162 and 672/764."""
    result = _run(suite_dir, draft, sub, check_formats=True)
    tally = result["tally"]
    assert tally["total"] == total
    rate = tally["agree"] / tally["total"]
    print(f"{draft} {sub}: {tally['agree']}/{tally['total']} agree ({rate:.1%})")
    assert rate >= floor, result["disagree"][:20]
