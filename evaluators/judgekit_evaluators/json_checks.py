"""JSON validity and JSON Schema checks on outputs.

JSON is read from the output whether it is a dict/list, a JSON string, or a string with a
```` ```json ```` fenced block (see :func:`judgekit_evaluators._common.parse_json`). These
evaluators never unwrap one-key dicts the way the text evaluators do: for them ``{"answer": 1}``
is the answer. With LangSmith, whose runs wrap a string output as ``{"output": "..."}``, pass
``field="output"``.

``json_schema`` semantics:

* The draft comes from ``$schema``; without one, ``draft=`` (default 2020-12). A ``$schema``
  naming a custom metaschema that the registry holds uses that metaschema's own draft
  (vocabularies are not interpreted).
* The schema is checked against its metaschema when the evaluator is built; an invalid schema
  raises :class:`~judgekit.errors.SchemaError` naming the JSON path of the problem.
* ``format`` is asserted with the draft's ``FormatChecker`` (``check_formats=False`` makes it an
  annotation only, which is what draft 2020-12 specifies by default). The lark grammar behind
  ``iri``/``iri-reference`` is built only for schemas that use them (see ``_lazy_iri``).
* Remote ``$ref``\\ s are never fetched: they resolve from ``registry=`` (a
  ``referencing.Registry``), and an absolute ``$ref`` the registry cannot resolve is an error
  at construction.
* Every violation is reported with the JSON path of the offending value, e.g.
  ``$.specific_likes[2]: 5 is not of type 'string'``. Output that is not JSON fails (invalid
  JSON does not satisfy a schema); it is not *unscored*.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from judgekit.errors import EvaluatorError, SchemaError
from judgekit.evaluation import evaluator
from judgekit.types import Score
from judgekit_evaluators._common import failed, parse_json, passed_score, pick
from judgekit_evaluators._lazy_iri import import_jsonschema, preload

__all__ = ["CompiledSchema", "compile_schema", "json_schema", "json_valid", "validate"]

DEFAULT_DRAFT = "draft2020-12"
_DRAFT_CLASSES = {
    "draft3": "Draft3Validator",
    "draft4": "Draft4Validator",
    "draft6": "Draft6Validator",
    "draft7": "Draft7Validator",
    "draft2019-09": "Draft201909Validator",
    "draft2020-12": "Draft202012Validator",
}
# Keywords whose values are data, not subschemas: a "$ref" inside them is not a reference.
_DATA_KEYWORDS = frozenset({"enum", "const", "examples", "default"})
# Formats checked with rfc3987_syntax's lark grammar, which is built only when a schema needs it.
_IRI_FORMATS = frozenset({"iri", "iri-reference"})


def _draft_class(draft: str) -> tuple[str, Any]:
    import_jsonschema()  # first: see _lazy_iri for why jsonschema is imported through it
    import jsonschema.validators as jv

    wanted = draft.strip().lower().replace("draft-0", "draft").replace("draft-", "draft")
    for name, cls_name in _DRAFT_CLASSES.items():
        cls = getattr(jv, cls_name)
        meta_id = str(cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id", "")).rstrip("#")
        if wanted in (name, name.removeprefix("draft"), meta_id.lower()) or (
            draft.rstrip("#") == meta_id
        ):
            return name, cls
    raise EvaluatorError(f"json_schema: unknown draft {draft!r}; use one of "
                         f"{', '.join(_DRAFT_CLASSES)} (or a metaschema URI)")


@functools.cache
def _meta_validator(cls: Any) -> Any:
    # One per draft: checking a schema against its metaschema is the slow part of compiling.
    return cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)


def _path_key(path: str) -> list[Any]:
    # "$.a[10]" after "$.a[2]": numbers in a path sort as numbers.
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", path)]


def _caller_dir() -> Path | None:
    """Directory of the first calling file outside judgekit, to resolve relative schema paths."""
    from judgekit import types

    ours = (Path(__file__).resolve().parent, Path(types.__file__).resolve().parent)
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__file__")
        if name:
            path = Path(name).resolve()
            if not any(p in path.parents for p in ours):
                return path.parent
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _load_schema(schema: Any) -> tuple[Any, str]:
    """Return the schema object and a description of where it came from."""
    if isinstance(schema, (Mapping, bool)):
        return schema, "the schema"
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(schema), "the schema"
        except ValueError as exc:
            raise SchemaError(f"json_schema: the schema string is not valid JSON ({exc})") from None
    if isinstance(schema, (str, Path)):
        path = Path(schema)
        tried = [path]
        base = _caller_dir()
        if not path.is_absolute() and base is not None:
            tried.append(base / path)
        found = next((p for p in tried if p.is_file()), None)
        if found is None:
            raise SchemaError(
                f"json_schema: schema file {str(schema)!r} not found (looked for "
                f"{', '.join(str(p) for p in tried)}); give a dict or an existing .json path")
        try:
            return json.loads(found.read_text(encoding="utf-8")), str(found)
        except ValueError as exc:
            raise SchemaError(f"json_schema: {found} is not valid JSON ({exc})") from None
    raise SchemaError(f"json_schema: the schema must be a dict, a bool or a path to a .json "
                      f"file, not {type(schema).__name__}")


def _keyword_strings(node: Any, keys: frozenset[str]) -> Iterator[str]:
    """Every string value of the keywords ``keys`` in a schema, skipping data keywords."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k in keys and isinstance(v, str):
                yield v
            elif k not in _DATA_KEYWORDS:
                yield from _keyword_strings(v, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _keyword_strings(item, keys)


_REF_KEYS = frozenset({"$ref", "$dynamicRef"})
_FORMAT_KEYS = frozenset({"format"})


@dataclass(frozen=True)
class CompiledSchema:
    """A checked schema with its validator, ready to validate many instances.

    Attributes:
        draft: The draft used, e.g. ``"draft2020-12"``.
        validator: The ``jsonschema`` validator instance.
        origin: Where the schema came from (a file path or ``"the schema"``).
    """

    draft: str
    validator: Any
    origin: str

    def errors(self, instance: Any) -> list[dict[str, str]]:
        """Every violation as ``{"path", "message", "keyword", "schema_path"}``, by path."""
        from jsonschema.exceptions import best_match

        found = []
        for err in self.validator.iter_errors(instance):
            message = err.message
            if err.context:  # anyOf/oneOf: say which alternative came closest and why
                near = best_match(err.context)
                message += f" (closest: {near.json_path}: {near.message})"
            schema_path = "/".join(str(p) for p in err.absolute_schema_path)
            found.append({"path": err.json_path, "message": message,
                          "keyword": str(err.validator), "schema_path": schema_path})
        found.sort(key=lambda e: _path_key(e["path"]))
        return found

    def is_valid(self, instance: Any) -> bool:
        """True when ``instance`` satisfies the schema."""
        return bool(self.validator.is_valid(instance))


def compile_schema(
    schema: Any,
    *,
    draft: str | None = None,
    registry: Any = None,
    check_formats: bool = True,
) -> CompiledSchema:
    """Load, check and compile a JSON schema.

    Args:
        schema: A dict (or ``True``/``False``), a JSON string, or a path to a ``.json`` file
            (relative paths: the working directory, then the calling file's directory).
        draft: The draft when the schema has no ``$schema`` (default ``"draft2020-12"``).
        registry: A ``referencing.Registry`` holding remote schemas; nothing is fetched.
        check_formats: Assert ``format`` (emails, dates, ...); False treats it as annotation.

    Raises:
        SchemaError: The schema is not valid (the message names the JSON path), cannot be
            loaded, or refers to a schema that is neither in it nor in the registry.

    Example:
        >>> compile_schema({"type": "integer"}).is_valid(3)
        True
    """
    import_jsonschema()  # first: see _lazy_iri for why jsonschema is imported through it
    import referencing
    import referencing.exceptions
    import referencing.jsonschema
    from jsonschema.exceptions import best_match
    from jsonschema_specifications import REGISTRY as SPECIFICATIONS

    loaded, origin = _load_schema(schema)
    if not isinstance(loaded, (Mapping, bool)):
        raise SchemaError(f"json_schema: {origin} must be a JSON object or a boolean, "
                          f"not {type(loaded).__name__}")
    reg = registry if registry is not None else referencing.Registry()
    name, cls = _draft_class(draft or DEFAULT_DRAFT)
    dialect = loaded.get("$schema") if isinstance(loaded, Mapping) else None
    if isinstance(dialect, str):
        try:
            name, cls = _draft_class(dialect)
        except EvaluatorError:
            name, cls = _custom_metaschema(dialect, reg, SPECIFICATIONS)
    meta = _meta_validator(cls)
    worst = None if meta.is_valid(loaded) else best_match(meta.iter_errors(loaded))
    if worst is not None:
        raise SchemaError(
            f"json_schema: invalid schema ({origin}) at {worst.json_path}: {worst.message} "
            f"(checked against the {name} metaschema); fix that part of the schema")
    validator = cls(loaded, registry=reg,
                    format_checker=cls.FORMAT_CHECKER if check_formats else None)
    used = set(_keyword_strings(loaded, _FORMAT_KEYS))
    if check_formats and _IRI_FORMATS & set(cls.FORMAT_CHECKER.checkers) & used:
        preload()  # build the IRI grammar now (suite load), not in the first case scored
    spec = referencing.jsonschema.specification_with(
        str(cls.META_SCHEMA.get("$id") or cls.META_SCHEMA.get("id")))
    resolver = SPECIFICATIONS.combine(reg).resolver_with_root(spec.create_resource(loaded))
    for ref in _keyword_strings(loaded, _REF_KEYS):
        if not urlsplit(ref).scheme:
            continue  # relative refs depend on the base URI at that point; checked when used
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            raise SchemaError(
                f"json_schema: {origin} refers to {ref!r}, which is not in the schema or the "
                "registry; judgekit never fetches schemas over the network, so pass "
                "registry=referencing.Registry().with_resource(uri, Resource.from_contents(...))"
            ) from None
    return CompiledSchema(draft=name, validator=validator, origin=origin)


def _custom_metaschema(uri: str, registry: Any, specifications: Any) -> tuple[str, Any]:
    import referencing.exceptions

    try:
        contents = specifications.combine(registry).get_or_retrieve(uri.rstrip("#")).value.contents
    except (referencing.exceptions.NoSuchResource, referencing.exceptions.Unretrievable):
        contents = None
    parent = contents.get("$schema") if isinstance(contents, Mapping) else None
    if isinstance(parent, str) and parent.rstrip("#") != uri.rstrip("#"):
        try:
            return _draft_class(parent)
        except EvaluatorError:
            pass
    raise SchemaError(
        f"json_schema: unknown $schema {uri!r}; use a standard metaschema URI ("
        f"{', '.join(_DRAFT_CLASSES)}), or pass a registry= that holds this metaschema")


def validate(
    instance: Any,
    schema: Any,
    *,
    draft: str | None = None,
    registry: Any = None,
    check_formats: bool = True,
) -> bool:
    """True when ``instance`` is valid against ``schema`` (same rules as :func:`json_schema`).

    Example:
        >>> validate({"a": 1}, {"properties": {"a": {"type": "string"}}})
        False
    """
    compiled = compile_schema(schema, draft=draft, registry=registry,
                              check_formats=check_formats)
    return compiled.is_valid(instance)


@evaluator(inline=True)
def json_valid(*, field: str | None = None, allow_fenced: bool = True) -> Callable[..., Score]:
    """Pass when the output is JSON: a dict/list, a JSON string, or a fenced JSON block.

    Args:
        field: Check this field of dict outputs (e.g. ``"output"`` under LangSmith).
        allow_fenced: Accept a ```` ```json ```` block inside prose.

    Returns:
        An evaluator scoring 1.0 for JSON and 0.0 otherwise, with the parse error.

    Example:
        >>> from judgekit_evaluators import json_valid
        >>> json_valid()(outputs='Sure:\\n```json\\n{"a": 1}\\n```')["score"]
        1.0
        >>> json_valid()(outputs="{'a': 1}")["comment"]
        'not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2)'
    """

    def check(*, outputs: Any) -> Score:
        out, problem = pick(outputs, field, "output", unwrap=False)
        if problem:
            return failed(problem)
        parsed = parse_json(out, allow_fenced=allow_fenced)
        if not parsed.ok:
            return failed(parsed.error)
        return passed_score(True, f"valid JSON ({parsed.source})", source=parsed.source)

    return check


@evaluator(inline=True)
def json_schema(
    schema: Any,
    *,
    draft: str | None = None,
    registry: Any = None,
    check_formats: bool = True,
    field: str | None = None,
    allow_fenced: bool = True,
    max_errors: int = 20,
) -> Callable[..., Score]:
    """Pass when the output's JSON satisfies ``schema``; every violation is listed by path.

    Args:
        schema: A dict, a JSON string, or a path to a ``.json`` file.
        draft: Draft for schemas without ``$schema`` (default ``"draft2020-12"``).
        registry: A ``referencing.Registry`` of remote schemas (``$ref`` is never fetched).
        check_formats: Assert ``format`` values (``email``, ``date-time``, ...).
        field: Validate this field of dict outputs instead of the whole output.
        allow_fenced: Read JSON from a ```` ```json ```` block when the output is prose.
        max_errors: How many violations the comment lists (metadata keeps up to 200).

    Returns:
        An evaluator scoring 1.0 when valid, else 0.0 with ``$.path: message`` lines.

    Raises:
        SchemaError: The schema is invalid, missing, or refers to unknown remote schemas.

    Example:
        >>> from judgekit_evaluators import json_schema
        >>> check = json_schema({"type": "object", "properties": {
        ...     "likes": {"type": "array", "items": {"type": "string"}}}})
        >>> print(check(outputs={"likes": ["screen", 5]})["comment"])
        1 schema violation:
        $.likes[1]: 5 is not of type 'string'
    """
    compiled = compile_schema(schema, draft=draft, registry=registry,
                              check_formats=check_formats)

    def check(*, outputs: Any) -> Score:
        import referencing.exceptions

        out, problem = pick(outputs, field, "output", unwrap=False)
        if problem:
            return failed(problem)
        parsed = parse_json(out, allow_fenced=allow_fenced)
        if not parsed.ok:
            return failed(f"the output is not JSON, so it cannot match the schema: "
                          f"{parsed.error}", parse_error=parsed.error)
        try:
            errors = compiled.errors(parsed.value)
        except referencing.exceptions.Unresolvable as exc:
            return Score(key="", status="error", comment=(
                f"cannot resolve $ref {getattr(exc, 'ref', exc)!r}: judgekit never fetches "
                "schemas over the network; add it to registry="))
        meta = {"draft": compiled.draft, "source": parsed.source}
        if not errors:
            return passed_score(True, f"valid against the schema ({compiled.draft})", **meta)
        n = len(errors)
        lines = [f"{e['path']}: {e['message']}" for e in errors[:max_errors]]
        if n > max_errors:
            lines.append(f"... and {n - max_errors} more")
        head = f"{n} schema violation{'s' if n != 1 else ''}:"
        return failed("\n".join([head, *lines]), errors=errors[:200], n_errors=n, **meta)

    return check
