"""What a stored run looks like in LangSmith: pure functions from store rows to API payloads.

No network and no ``langsmith`` import here, so every mapping is unit-tested on its own.

**Ids.** Every object judgekit creates has a deterministic UUID (uuid5), so sending a run twice
addresses the same objects and creates nothing new:

* example: ``uuid5(NS, "example:<dataset name>:<judgekit example id>")``;
* experiment (tracer session): ``uuid5(NS, "experiment:<run key>:<position>")``;
* root run of a case: ``uuid5(NS, "case:<run key>:<position>:<example id>:<repetition>")``;
  its llm children ``uuid5(root, "call:<i>")``; a judge's evaluator run
  ``uuid5(root, "judge:<score key>")`` and its llm children ``uuid5(judge, "call:<i>")``;
* feedback: ``uuid5(root, "feedback:<score key>")``; summary feedback
  ``uuid5(experiment, "summary:<key>")``.

The *run key* is the store's run id plus its creation time, so two stores that happen to draw
the same 8-character run id still get different ids.

**References.** LangSmith example outputs must be an object. A dict reference is sent as it is;
any other reference ``r`` becomes ``{"output": r}`` and the example's metadata says so with
``"judgekit_reference_key": "output"`` (so a loader can unwrap it); no reference means no
outputs. Target outputs follow the same rule (``{"output": ...}``), which is how LangSmith's
own ``@traceable`` wraps a non-dict return value, so run and reference line up in the compare
view.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgekit.store import ExperimentRow, RunRow
from judgekit.types import CallRecord, CaseResult, Example, Score

__all__ = [
    "EVALUATORS_PROJECT",
    "NAMESPACE",
    "OUTPUT_KEY",
    "CaseContext",
    "TraceContext",
    "case_context",
    "case_feedback",
    "case_runs",
    "dotted_order",
    "example_payload",
    "example_uuid",
    "experiment_name",
    "experiment_uuid",
    "judges_of",
    "reference_outputs",
    "run_key",
    "run_outputs",
    "same_example",
    "shard_group",
    "summary_feedback",
    "to_datetime",
]

#: Namespace of every judgekit uuid5 (a fixed random UUID: never change it).
NAMESPACE = uuid.UUID("6c1f6a8e-3f0b-4d0a-9a57-5d7b0b9c1e42")
#: The key a non-dict reference or output is wrapped in.
OUTPUT_KEY = "output"
#: The project judge runs are traced into, as ``langsmith.evaluate`` does.
EVALUATORS_PROJECT = "evaluators"
# Metadata LangSmith adds to examples by itself: not ours to compare.
_SERVER_METADATA = ("dataset_split",)


# -- ids and times ---------------------------------------------------------------------------


def run_key(run: RunRow) -> str:
    """The store run's identity for ids: its id and creation time."""
    return f"{run.id}:{run.created_at!r}"


def example_uuid(dataset_name: str, example_id: str) -> uuid.UUID:
    """The LangSmith id of judgekit example ``example_id`` in dataset ``dataset_name``."""
    return uuid.uuid5(NAMESPACE, f"example:{dataset_name}:{example_id}")


def shard_group(run: RunRow) -> str | None:
    """The group of a shard run (``eval --shard i/n``), whose shards share one experiment per
    variant; None for any other run."""
    shard = run.config.get("shard") if isinstance(run.config, Mapping) else None
    group = shard.get("group") if isinstance(shard, Mapping) else None
    return str(group) if group else None


def experiment_uuid(run: RunRow, exp: ExperimentRow) -> uuid.UUID:
    """The LangSmith id of an experiment (tracer session): every shard of a group has the
    same one."""
    group = shard_group(run)
    key = f"shards:{group}" if group else run_key(run)
    return uuid.uuid5(NAMESPACE, f"experiment:{key}:{exp.position}")


def experiment_name(run: RunRow, exp: ExperimentRow, prefix: str | None = None) -> str:
    """``<suite>:<variant>:<run id>`` (``<prefix>:...`` with ``--langsmith-project PREFIX``);
    a shard run's is ``<suite>:<variant>:shards-<group>``, the same for all its shards.

    Example:
        >>> from judgekit.store import RunRow
        >>> run = RunRow("7f3a2c1d", "test_extract", None, "complete", 0.0, 1.0, {}, "0.1")
        >>> exp = type("E", (), {"variant_label": "gpt-4o"})()
        >>> experiment_name(run, exp)
        'test_extract:gpt-4o:7f3a2c1d'
    """
    group = shard_group(run)
    return f"{prefix or run.suite}:{exp.variant_label}:{f'shards-{group}' if group else run.id}"


def to_datetime(epoch: float) -> dt.datetime:
    """Epoch seconds as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc)


def dotted_order(start: dt.datetime, run_id: uuid.UUID, parent: str | None = None) -> str:
    """LangSmith's ``dotted_order``: ``<parent>.<start %Y%m%dT%H%M%S%fZ><id>``.

    The timestamp must be the run's own ``start_time``: LangSmith checks that they agree.
    """
    part = f"{start.strftime('%Y%m%dT%H%M%S%fZ')}{run_id}"
    return f"{parent}.{part}" if parent else part


# -- examples --------------------------------------------------------------------------------


def reference_outputs(reference: Any) -> dict[str, Any] | None:
    """A reference as LangSmith example outputs (see the module docstring)."""
    if reference is None:
        return None
    if isinstance(reference, Mapping):
        return dict(reference)
    return {OUTPUT_KEY: reference}


def run_outputs(outputs: Any) -> dict[str, Any] | None:
    """A target's outputs as a run's ``outputs`` object."""
    return reference_outputs(outputs)


def example_payload(dataset_name: str, example: Example) -> dict[str, Any]:
    """The LangSmith example for a judgekit example: id, inputs, outputs and metadata.

    Example:
        >>> p = example_payload("qa", Example("q1", {"question": "2+2?"}, "4"))
        >>> p["outputs"], p["metadata"]
        ({'output': '4'}, {'judgekit_id': 'q1', 'judgekit_reference_key': 'output'})
    """
    metadata = {**dict(example.metadata), "judgekit_id": example.id}
    if example.reference is not None and not isinstance(example.reference, Mapping):
        metadata["judgekit_reference_key"] = OUTPUT_KEY
    return {"id": str(example_uuid(dataset_name, example.id)), "inputs": dict(example.inputs),
            "outputs": reference_outputs(example.reference), "metadata": metadata}


def same_example(payload: Mapping[str, Any], inputs: Any, outputs: Any, metadata: Any) -> bool:
    """True when a LangSmith example already holds what ``payload`` would send."""
    theirs = {k: v for k, v in (metadata or {}).items() if k not in _SERVER_METADATA}
    return (payload["inputs"] == (inputs or {}) and (payload["outputs"] or {}) == (outputs or {})
            and payload["metadata"] == theirs)


# -- traces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceContext:
    """What every run of one experiment shares.

    Attributes:
        run: The store run.
        exp: The experiment.
        project_id: The LangSmith experiment (tracer session) id.
        project_name: Its name.
        evaluators_project_id: The project judge runs go to (``evaluators``).
        target_name: The name of each root run: the suite's target function.
        example_ids: judgekit example id -> LangSmith example id.
        examples: judgekit example id -> the stored example (inputs, reference).
        fallback_start: Start time for a case that stored none (epoch seconds).
    """

    run: RunRow
    exp: ExperimentRow
    project_id: uuid.UUID
    project_name: str
    evaluators_project_id: uuid.UUID | None
    target_name: str
    example_ids: Mapping[str, str]
    examples: Mapping[str, Example] = field(default_factory=dict)
    fallback_start: float = 0.0


@dataclass(frozen=True)
class CaseContext:
    """Ids and times of one case's trace, shared by its runs and feedback."""

    root_id: uuid.UUID
    start: dt.datetime
    end: dt.datetime
    dotted: str
    judge_ids: Mapping[str, uuid.UUID]


def _case_times(ctx: TraceContext, case: CaseResult) -> tuple[dt.datetime, dt.datetime]:
    start = case.started_at or ctx.fallback_start or ctx.exp.created_at
    end = case.ended_at or start + case.latency_s
    return to_datetime(start), to_datetime(max(end, start))


def case_context(ctx: TraceContext, case: CaseResult) -> CaseContext:
    """The ids and times of ``case``'s root run."""
    root = uuid.uuid5(NAMESPACE, f"case:{run_key(ctx.run)}:{ctx.exp.position}:"
                                 f"{case.example_id}:{case.repetition}")
    start, end = _case_times(ctx, case)
    judged = {c.score_key for c in case.calls if c.role == "judge" and c.score_key}
    judge_ids = {key: uuid.uuid5(root, f"judge:{key}") for key in sorted(judged)}
    return CaseContext(root, start, end, dotted_order(start, root), judge_ids)


def _error(case: CaseResult) -> str | None:
    return None if case.error is None else f"{case.error.type}: {case.error.message}"


_LLM_NAMES = {"openai": "ChatOpenAI"}
_PARAM_METADATA = {"temperature": "ls_temperature", "max_tokens": "ls_max_tokens",
                   "max_completion_tokens": "ls_max_tokens", "stop": "ls_stop"}


def _llm_run(call: CallRecord, run_id: uuid.UUID, parent_id: uuid.UUID, parent_dotted: str,
             trace_id: uuid.UUID, session_id: uuid.UUID, lo: dt.datetime,
             base_meta: Mapping[str, Any]) -> dict[str, Any]:
    """One model call as a child ``llm`` run, shaped as LangSmith's openai wrapper shapes it.

    Tokens go in ``outputs.usage_metadata`` (what LangSmith reads for token counts and cost);
    judgekit's own cost (custom prices, fine-tunes) as ``total_cost`` when known, 0 for a
    reply from judgekit's cache (nothing was paid).
    """
    start = max(to_datetime(call.started_at), lo) if call.started_at else lo
    end = start + dt.timedelta(seconds=max(call.latency_s, 0.0))
    request = dict(call.request)
    params = dict(request.get("params") or {})
    usage: dict[str, Any] = {
        "input_tokens": call.prompt_tokens, "output_tokens": call.completion_tokens,
        "total_tokens": call.prompt_tokens + call.completion_tokens,
        "input_token_details": {"cache_read": call.cached_tokens},
    }
    paid = call.paid_usd
    if paid is not None:
        usage["total_cost"] = paid
    outputs: dict[str, Any] | None = None
    if call.response_text is not None:
        outputs = {"choices": [{"index": 0, "finish_reason": call.finish_reason,
                                "message": {"role": "assistant",
                                            "content": call.response_text}}],
                   "model": call.model, "usage_metadata": usage}
    metadata = {**base_meta, "ls_provider": call.provider, "ls_model_name": call.model,
                "ls_model_type": "chat", "ls_invocation_params": params,
                "judgekit_role": call.role, "judgekit_attempts": call.attempts,
                "judgekit_cache_hit": call.cache_hit, "judgekit_cost_usd": call.cost_usd}
    for param, meta_key in _PARAM_METADATA.items():
        if params.get(param) is not None:
            metadata[meta_key] = params[param]
    if request.get("sample"):
        metadata["judgekit_sample"] = request["sample"]
    return {
        "id": run_id, "trace_id": trace_id, "parent_run_id": parent_id,
        "dotted_order": dotted_order(start, run_id, parent_dotted),
        "session_id": session_id, "name": _LLM_NAMES.get(call.provider, f"{call.provider} chat"),
        "run_type": "llm", "start_time": start, "end_time": end,
        "inputs": {"messages": list(request.get("messages") or [])}, "outputs": outputs,
        "error": call.error,
        "extra": {"metadata": metadata, "invocation_params": {"model": call.model, **params}},
    }


def case_runs(ctx: TraceContext, case: CaseResult, cc: CaseContext) -> list[dict[str, Any]]:
    """The runs of one case: its root run with the target's llm calls as children, and one
    evaluator run per judge score (in the ``evaluators`` project, as ``langsmith.evaluate``
    traces evaluators) with the judge's llm calls as children."""
    ls_example = ctx.example_ids.get(case.example_id)
    variant = dict(ctx.exp.variant)
    meta = {"judgekit_run_id": ctx.run.id, "judgekit_experiment_id": ctx.exp.id,
            "judgekit_example_id": case.example_id, "repetition": case.repetition,
            "experiment": ctx.project_name, **variant}
    example = ctx.examples.get(case.example_id)
    inputs = dict(example.inputs) if example is not None else {}
    root: dict[str, Any] = {
        "id": cc.root_id, "trace_id": cc.root_id, "dotted_order": cc.dotted,
        "session_id": ctx.project_id, "name": ctx.target_name, "run_type": "chain",
        "start_time": cc.start, "end_time": cc.end, "inputs": inputs,
        "outputs": None if case.error else run_outputs(case.outputs), "error": _error(case),
        "reference_example_id": ls_example, "extra": {"metadata": meta},
        "tags": [ctx.exp.variant_label],
    }
    runs = [root]
    targets = [c for c in case.calls if c.role == "target"]
    for i, call in enumerate(targets):
        runs.append(_llm_run(call, uuid.uuid5(cc.root_id, f"call:{i}"), cc.root_id, cc.dotted,
                             cc.root_id, ctx.project_id, cc.start, {}))
    if ctx.evaluators_project_id is None:
        return runs
    scores = {s.key: s for s in case.scores}
    for key, judge_id in cc.judge_ids.items():
        calls = [c for c in case.calls if c.role == "judge" and c.score_key == key]
        starts = [c.started_at for c in calls if c.started_at]
        start = to_datetime(min(starts)) if starts else cc.end
        ends = [to_datetime(c.started_at + c.latency_s) for c in calls if c.started_at]
        end = max([start, *ends])
        dotted = dotted_order(start, judge_id)
        score = scores.get(key)
        judge_meta = {"experiment": ctx.project_name, "reference_example_id": ls_example,
                      "reference_run_id": str(cc.root_id), "judgekit_run_id": ctx.run.id,
                      "judgekit_experiment_id": ctx.exp.id}
        runs.append({
            "id": judge_id, "trace_id": judge_id, "dotted_order": dotted,
            "session_id": ctx.evaluators_project_id, "name": key, "run_type": "chain",
            "start_time": start, "end_time": end,
            "inputs": {"inputs": inputs, "outputs": run_outputs(case.outputs),
                       "reference_outputs": reference_outputs(
                           example.reference if example is not None else None)},
            "outputs": _score_outputs(score) if score is not None else _sub_scores(key, case),
            "error": (score.comment or "error") if score is not None and score.status == "error"
            else None,
            "extra": {"metadata": judge_meta},
        })
        for i, call in enumerate(calls):
            runs.append(_llm_run(call, uuid.uuid5(judge_id, f"call:{i}"), judge_id, dotted,
                                 judge_id, ctx.evaluators_project_id, start,
                                 {"ls_run_depth": 1}))
    return runs


def _judge_of(key: str, judge_ids: Mapping[str, uuid.UUID]) -> uuid.UUID | None:
    """The judge run behind score ``key``: its own, or its evaluator's (``crit.tone`` was
    produced by the calls made under ``crit``), as judgekit attributes judge usage."""
    while True:
        if key in judge_ids:
            return judge_ids[key]
        if "." not in key:
            return None
        key = key.rsplit(".", 1)[0]


def _sub_scores(key: str, case: CaseResult) -> dict[str, Any] | None:
    """An evaluator's outputs when it produced only per-field scores (``key.<field>``)."""
    subs = [_score_outputs(s) for s in case.scores if s.key.startswith(key + ".")]
    return {"results": subs} if subs else None


def _score_outputs(score: Score) -> dict[str, Any]:
    return {"key": score.key, "score": score.score, "value": score.value,
            "comment": score.comment, "status": score.status}


# -- feedback --------------------------------------------------------------------------------

# Score metadata worth carrying to LangSmith with the feedback (raw replies and per-class
# tables stay in the store: `judgekit show`).
_FEEDBACK_META = ("prompt", "prompt_version", "prompt_sha256", "judge_model", "judge_provider",
                  "agreement", "samples")


def _feedback_score(s: Score) -> float | None:
    if s.status != "ok":
        return None  # unscored / skipped / error: a comment, never a zero
    if s.score is not None:
        return s.score
    return None if s.passed is None else float(s.passed)


def _feedback_comment(s: Score) -> str | None:
    if s.status == "ok":
        return s.comment
    why = s.comment or {"unscored": "the evaluator reached no verdict",
                        "skipped": "the evaluator could not run",
                        "error": "the evaluator failed"}[s.status]
    return f"{s.status}: {why}"


def case_feedback(ctx: TraceContext, case: CaseResult, cc: CaseContext
                  ) -> list[dict[str, Any]]:
    """Keyword arguments for ``Client.create_feedback``, one per score of ``case``.

    Judge scores point at their evaluator run (``source_run_id``) and are ``model`` feedback,
    as ``langsmith.evaluate`` logs them; code checks are ``model`` feedback too, without a
    source run. Unscored, skipped and errored scores carry no score, only a comment saying why.
    """
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for s in case.scores:
        n = seen.get(s.key, 0)
        seen[s.key] = n + 1
        name = f"feedback:{s.key}" if n == 0 else f"feedback:{s.key}:{n}"
        info: dict[str, Any] = {"judgekit_status": s.status}
        if s.passed is not None:
            info["passed"] = s.passed
        info.update({k: s.metadata[k] for k in _FEEDBACK_META if k in s.metadata})
        out.append({
            "feedback_id": uuid.uuid5(cc.root_id, name), "run_id": cc.root_id,
            "trace_id": cc.root_id, "session_id": ctx.project_id, "key": s.key,
            "score": _feedback_score(s), "value": s.value if s.status == "ok" else None,
            "comment": _feedback_comment(s), "source_run_id": _judge_of(s.key, cc.judge_ids),
            "feedback_source_type": "model", "source_info": info,
            "start_time": cc.start, "error": True if s.status == "error" else None,
        })
    return out


def summary_feedback(project_id: uuid.UUID, exp: ExperimentRow,
                     summary_scores: Iterable[Score]) -> list[dict[str, Any]]:
    """Experiment-level feedback (``project_id``, no run): summary evaluators' scores, pass
    rate, cost per 1,000 cases, p50/p99 latency and each goal (1 met, 0 missed)."""
    items: list[tuple[str, float | None, Any, str | None]] = []
    for s in summary_scores:
        items.append((s.key, _feedback_score(s), s.value if s.status == "ok" else None,
                      _feedback_comment(s)))
    summary = exp.summary or {}
    if summary.get("pass_rate") is not None:
        items.append(("pass_rate", summary["pass_rate"], None,
                      f"{summary.get('n_passed', 0)} of {summary.get('n_cases', 0)} cases "
                      "passed every check"))
    cost = (summary.get("cost_usd") or {}).get("per_1k_cases")
    if summary.get("n_cases"):
        items.append(("cost_per_1k_usd", cost, None, None if cost is not None
                      else "unknown: a model's price is not known"))
    latency = summary.get("latency_s") or {}
    for q in ("p50", "p99"):
        if latency.get(q) is not None:
            items.append((f"latency_{q}_s", latency[q], None, None))
    for g in exp.goal_results or []:
        label = g.get("metric") if g.get("name") == "score" else g.get("name")
        met = g.get("met")
        comment = (f"{g.get('metric')} {g.get('actual')!r} {g.get('op')} {g.get('target')!r}"
                   if met is not None else "skipped: the figure behind it was not measured")
        items.append((f"goal:{label}", None if met is None else float(bool(met)),
                      None if met is None else ("met" if met else "missed"), comment))
    return [{"feedback_id": uuid.uuid5(project_id, f"summary:{key}"), "run_id": None,
             "project_id": project_id, "key": key, "score": score, "value": value,
             "comment": comment, "feedback_source_type": "api",
             "source_info": {"judgekit_experiment_id": exp.id}}
            for key, score, value, comment in items]


def judges_of(scores: Sequence[Score]) -> dict[str, dict[str, Any]]:
    """Judge model and prompt hash per score key, from the scores' metadata."""
    out: dict[str, dict[str, Any]] = {}
    for s in scores:
        if s.key not in out and "prompt_sha256" in s.metadata:
            out[s.key] = {k: s.metadata[k] for k in ("judge_model", "judge_provider", "prompt",
                                                     "prompt_version", "prompt_sha256")
                          if k in s.metadata}
    return out
