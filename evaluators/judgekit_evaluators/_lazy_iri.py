"""Import ``jsonschema`` without building ``rfc3987_syntax``'s IRI grammar until it is needed.

Why this exists: ``import jsonschema`` imports ``jsonschema._format``, which registers the
"iri" and "iri-reference" format checkers with::

    with suppress(ImportError):
        from rfc3987_syntax import is_valid_syntax as _rfc3987_is_valid_syntax

``rfc3987_syntax`` (from our ``jsonschema[format-nongpl]`` dependency) builds three lark Earley
parsers when it is imported: ~0.7 s on a quiet core, most of the time it takes to load a suite
that uses ``json_schema``, although only iri/iri-reference values ever use them. Choosing a
subset of formats with ``FormatChecker(formats=...)`` cannot help (the import happens when
jsonschema itself is imported), lark cannot cache an Earley parser, and swapping the dependency
is not ours to do from here.

So, while judgekit imports jsonschema, ``sys.modules["rfc3987_syntax"]`` holds a stand-in whose
``is_valid_syntax`` imports the real module on its first call and delegates to it. jsonschema
registers exactly the checkers it would have (same formats, same functions, same ``raises``),
so validation is unchanged; only the grammar is built later: by :func:`preload` when a compiled
schema names an iri format, else on the first iri check. The stand-in leaves ``sys.modules`` as
soon as jsonschema is imported, so a later ``import rfc3987_syntax`` gets the real module (its
other attributes, if anyone reaches them through the stand-in, come from the real module).

Nothing is done when jsonschema or rfc3987_syntax is already imported (the cost is paid), or
when rfc3987_syntax is not installed (jsonschema then has no iri checker).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

__all__ = ["import_jsonschema", "preload"]

_NAME = "rfc3987_syntax"
_lock = threading.RLock()
_done = False
_deferred = False  # jsonschema got the stand-in: the real module is imported when first needed


def _real() -> types.ModuleType:
    """The real ``rfc3987_syntax`` (imported now if need be: this builds the grammar)."""
    module = sys.modules.get(_NAME)
    if module is not None and module is not _STAND_IN:
        return module
    with _lock:
        if sys.modules.get(_NAME) is _STAND_IN:
            del sys.modules[_NAME]
        return importlib.import_module(_NAME)


def _is_valid_syntax(term: str, value: str) -> Any:
    return _real().is_valid_syntax(term, value)


def _forward(name: str) -> Any:
    # Dunder lookups (e.g. the import system asking for ``__path__``) must not build the grammar.
    if name.startswith("__") and name.endswith("__"):
        raise AttributeError(name)
    return getattr(_real(), name)


_STAND_IN = types.ModuleType(_NAME, "Stand-in for rfc3987_syntax while jsonschema is imported "
                                    "(judgekit_evaluators._lazy_iri).")
_STAND_IN.is_valid_syntax = _is_valid_syntax  # type: ignore[attr-defined]
_STAND_IN.__getattr__ = _forward  # type: ignore[method-assign]


def import_jsonschema() -> None:
    """Import ``jsonschema`` with the IRI grammar deferred (idempotent and thread-safe)."""
    global _done, _deferred
    if _done:
        return
    with _lock:
        if _done:
            return
        stand_in = ("jsonschema" not in sys.modules and _NAME not in sys.modules
                    and importlib.util.find_spec(_NAME) is not None)
        if stand_in:
            sys.modules[_NAME] = _STAND_IN
        try:
            # An import statement, not importlib.import_module: -X importtime then shows it.
            import jsonschema  # noqa: F401
        finally:
            if sys.modules.get(_NAME) is _STAND_IN:
                del sys.modules[_NAME]
        _deferred = stand_in
        _done = True


def preload() -> None:
    """Build the IRI grammar now if it was deferred: for schemas that assert an iri format, so
    the cost lands when the schema is compiled (at suite load), not in the first case scored."""
    if _deferred:
        _real()
