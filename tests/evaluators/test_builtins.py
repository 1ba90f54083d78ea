"""The package surface: exports, registry names, cheap import."""

from __future__ import annotations

import json
import subprocess
import sys

import judgekit_evaluators
from judgekit import available_evaluators, get_evaluator
from judgekit.evaluation import Evaluator

NEEDS_ARGS = {"regex_match": ("a+",), "json_schema": ({"type": "object"},),
              "criteria": ("The answer is polite.",)}


def test_all_is_sorted_and_exports_every_builtin() -> None:
    names = judgekit_evaluators.__all__
    assert names == sorted(names)
    assert set(judgekit_evaluators.BUILTINS) == set(names) - {"BUILTINS"}
    assert len(judgekit_evaluators.BUILTINS) == 16
    for name, factory in judgekit_evaluators.BUILTINS.items():
        assert getattr(judgekit_evaluators, name) is factory
        assert getattr(factory, "evaluator_name", None) == name


def test_every_builtin_builds_by_registry_name() -> None:
    assert set(judgekit_evaluators.BUILTINS) <= set(available_evaluators())
    for name in judgekit_evaluators.BUILTINS:
        ev = get_evaluator(name, *NEEDS_ARGS.get(name, ()))
        assert isinstance(ev, Evaluator) and ev.name == name
        assert ev.summary == (name == "classification_report")
        json.dumps(ev.spec)  # what is stored with every score must be JSON
    ev = get_evaluator("json_match", keys=["a"], key="fields")
    assert (ev.key, ev.spec["args"]) == ("fields", {"keys": ["a"]})


def test_importing_the_package_does_not_import_heavy_libraries() -> None:
    code = ("import sys, judgekit_evaluators; "
            "print(sorted(m for m in ('sklearn', 'rapidfuzz', 'jsonschema', 'referencing') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
