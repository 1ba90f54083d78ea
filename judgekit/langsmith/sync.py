"""Send a stored run to LangSmith: dataset, one experiment per variant, traces and feedback.

The store is the source of truth and is only read. Every object gets a deterministic id (see
:mod:`judgekit.langsmith.payloads`) and is looked up before it is created, so a sync can be
repeated, or re-run after a failure, without creating anything twice.

Order of work, per run: the dataset (created, reused, or brought up to date as a new version),
then per variant: the experiment, the cases' runs in batches, each batch's feedback, the
summary feedback, and last the experiment's closing metadata.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from judgekit.errors import StoreError
from judgekit.langsmith.config import LangSmithConfig, load_config
from judgekit.langsmith.payloads import (
    EVALUATORS_PROJECT,
    TraceContext,
    case_context,
    case_feedback,
    case_runs,
    example_payload,
    experiment_name,
    experiment_uuid,
    judges_of,
    same_example,
    shard_group,
    summary_feedback,
    to_datetime,
)
from judgekit.langsmith.remote import LangSmithError, Remote
from judgekit.store import ExperimentRow, RunRow, Store
from judgekit.types import Example

__all__ = ["DatasetSync", "ExperimentSync", "SyncResult", "dataset_name_for", "sync_run",
           "sync_runs"]

#: Cases whose runs go up in one request (feedback follows each batch).
CASES_PER_BATCH = 100
#: judgekit's mark in the metadata of a dataset it created.
CREATED_BY = "judgekit"


@dataclass
class DatasetSync:
    """What happened to the LangSmith dataset."""

    name: str
    id: str
    url: str | None
    version: str | None  # the LangSmith version (as_of) holding this data
    created: bool = False
    linked: bool = False  # the data came from LangSmith (dataset.langsmith): nothing uploaded
    added: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        """True when this sync made a new dataset version."""
        return bool(self.added or self.updated or self.deleted)


@dataclass
class ExperimentSync:
    """One variant's experiment in LangSmith."""

    variant_label: str
    name: str
    id: str
    url: str | None
    runs: int = 0
    feedback: int = 0


@dataclass
class SyncResult:
    """What one ``judgekit sync`` of a run sent, with the URLs to look at."""

    run_id: str
    endpoint: str
    dataset: DatasetSync | None = None
    experiments: list[ExperimentSync] = field(default_factory=list)
    compare_url: str | None = None
    incomplete: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``langsmith`` key of the ``--json`` result."""
        ds = self.dataset
        return {
            "run_id": self.run_id, "endpoint": self.endpoint,
            "dataset": None if ds is None else {
                "name": ds.name, "id": ds.id, "url": ds.url, "version": ds.version,
                "created": ds.created, "linked": ds.linked, "added": ds.added,
                "updated": ds.updated, "deleted": ds.deleted},
            "experiments": [{"variant": e.variant_label, "name": e.name, "id": e.id,
                             "url": e.url, "runs": e.runs, "feedback": e.feedback}
                            for e in self.experiments],
            "compare_url": self.compare_url,
        }


def dataset_name_for(run: RunRow, exp: ExperimentRow) -> str:
    """The LangSmith dataset name of a run's data: the dataset's own name (a file's stem, or
    the ``name=`` given to ``dataset()``); for unnamed inline data, the suite's name."""
    return run.suite if exp.dataset_name == "inline" else exp.dataset_name


# -- the dataset -------------------------------------------------------------------------------


def _linked(examples: Sequence[Example]) -> bool:
    return bool(examples) and all("langsmith_example_id" in e.metadata for e in examples)


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


class _Session:
    """State shared by the steps of one sync."""

    def __init__(self, remote: Remote, store: Store, run: RunRow) -> None:
        self.remote = remote
        self.store = store
        self.client = remote.client
        self.run = run
        self._tenant: str | None = None
        self._evaluators: uuid.UUID | None = None
        self._multipart: bool | None = None

    # URLs: LangSmith's web app, as the SDK builds them (host from the endpoint, tenant from
    # the first project), e.g. https://smith.langchain.com/o/<tenant>/datasets/<id>.
    def dataset_url(self, dataset_id: str) -> str | None:
        if self._tenant is None:
            try:
                self._tenant = str(self.remote.call(self.client._get_tenant_id))
            except LangSmithError:
                return None
        return f"{self.client._host_url}/o/{self._tenant}/datasets/{dataset_id}"

    @property
    def multipart(self) -> bool:
        if self._multipart is None:
            self._multipart = self.remote.use_multipart()
        return self._multipart

    def evaluators_project(self) -> uuid.UUID:
        """The ``evaluators`` project judge runs are traced into (created on first need)."""
        if self._evaluators is None:
            self._evaluators = self._project_id(EVALUATORS_PROJECT, create=lambda: self.remote.call(
                self.client.create_project, EVALUATORS_PROJECT,
                description="Evaluator runs (LLM judges); feedback links to them"))
        return self._evaluators

    def _project_id(self, name: str, create: Callable[[], Any]) -> uuid.UUID:
        from langsmith import utils as ls_utils

        for attempt in range(2):
            try:
                return uuid.UUID(str(self.client.read_project(project_name=name).id))
            except ls_utils.LangSmithNotFoundError:
                pass
            except ls_utils.LangSmithError as exc:
                raise self.remote.fail(exc) from None
            try:
                return uuid.UUID(str(create().id))
            except LangSmithError as exc:
                # Created meanwhile by someone else (409): read it again, once.
                if "409" not in str(exc) or attempt:
                    raise
        raise AssertionError("unreachable")

    def upsert_dataset(self, name: str, examples: Sequence[Example], version_hash: str
                       ) -> tuple[DatasetSync, dict[str, str]]:
        """Create, reuse or update the dataset so that it holds exactly ``examples``."""
        from langsmith import utils as ls_utils

        if _linked(examples):
            return self._linked_dataset(examples)
        call = self.remote.call
        created = False
        try:
            ds = self.client.read_dataset(dataset_name=name)
        except ls_utils.LangSmithNotFoundError:
            ds = call(self.client.create_dataset, name,
                      description=f"Examples of the judgekit suite {self.run.suite} "
                                  "(kept in sync by `judgekit sync`)",
                      metadata={"created_by": CREATED_BY,
                                "judgekit_dataset_version": version_hash})
            created = True
        except ls_utils.LangSmithError as exc:
            raise self.remote.fail(exc) from None
        if not created and (ds.metadata or {}).get("created_by") != CREATED_BY:
            raise LangSmithError(
                f"LangSmith already has a dataset named {name!r} that judgekit did not create; "
                "send under another name with --dataset-name NAME (nothing was changed)")
        dataset_id = str(ds.id)
        wanted = [example_payload(name, e) for e in examples]
        current = {str(ex.id): ex for ex in call(lambda: list(
            self.client.list_examples(dataset_id=dataset_id)))}
        add = [p for p in wanted if p["id"] not in current]
        update = [p for p in wanted if p["id"] in current and not same_example(
            p, current[p["id"]].inputs, current[p["id"]].outputs, current[p["id"]].metadata)]
        wanted_ids = {p["id"] for p in wanted}
        # Only examples judgekit put there are removed; anything added by hand stays.
        delete = [i for i, ex in current.items()
                  if i not in wanted_ids and "judgekit_id" in (ex.metadata or {})]
        if add:
            call(self.client.create_examples, dataset_id=dataset_id, examples=[
                {"id": p["id"], "inputs": p["inputs"], "reference_outputs": p["outputs"],
                 "metadata": p["metadata"]} for p in add])
        if update:
            call(self.client.update_examples, dataset_id=dataset_id, updates=[
                {"id": p["id"], "inputs": p["inputs"], "outputs": p["outputs"] or {},
                 "metadata": p["metadata"]} for p in update])
        if delete:
            try:
                call(self.client.delete_examples, delete)
            except LangSmithError as exc:
                if " 405 " not in f"{exc} " and " 404 " not in f"{exc} ":
                    raise
                # A server without the bulk route: one DELETE /examples/{id} each.
                for example_id in delete:
                    call(self.client.delete_example, example_id)
        sync = DatasetSync(name=name, id=dataset_id, url=self.dataset_url(dataset_id),
                           version=None, created=created, added=len(add),
                           updated=len(update), deleted=len(delete))
        sync.version = self._tag_version(dataset_id, f"judgekit-{version_hash}")
        return sync, {e.id: p["id"] for e, p in zip(examples, wanted, strict=True)}

    def _tag_version(self, dataset_id: str, tag: str) -> str | None:
        """The dataset's newest version (the one holding our data), tagged with the content
        hash so it can be found by it; None when the dataset has no version yet."""
        versions = self.remote.call(lambda: list(
            self.client.list_dataset_versions(dataset_id=dataset_id, limit=1)))
        if not versions:
            return None
        newest = versions[0]
        if tag not in (newest.tags or []):
            self.remote.call(self.client.update_dataset_tag, dataset_id=dataset_id,
                             as_of=newest.as_of, tag=tag)
        return _as_str(newest.as_of)

    def _linked_dataset(self, examples: Sequence[Example]) -> tuple[DatasetSync, dict[str, str]]:
        """Data loaded from LangSmith: its examples are referenced, nothing is uploaded."""
        ids = {e.id: str(e.metadata["langsmith_example_id"]) for e in examples}
        meta = examples[0].metadata
        dataset_id = meta.get("langsmith_dataset_id")
        if dataset_id is None:
            first = self.remote.call(self.client.read_example, ids[examples[0].id])
            dataset_id = first.dataset_id
        ds = self.remote.call(self.client.read_dataset, dataset_id=str(dataset_id))
        version = meta.get("langsmith_dataset_version") or meta.get("langsmith_as_of")
        return DatasetSync(name=ds.name, id=str(ds.id), url=self.dataset_url(str(ds.id)),
                           version=_as_str(version), linked=True), ids

    # -- experiments ---------------------------------------------------------------------------

    def ensure_experiment(self, exp: ExperimentRow, name: str, dataset: DatasetSync,
                          metadata: Mapping[str, Any], start: float, end: float | None
                          ) -> uuid.UUID:
        """The experiment's project: found by name, else created with its deterministic id
        and the stored start/end times (``create_project`` can set neither, hence the raw
        ``POST /sessions`` through the SDK's request helper)."""
        body: dict[str, Any] = {
            "id": str(experiment_uuid(self.run, exp)), "name": name,
            "description": f"judgekit run {self.run.id}, variant {exp.variant_label}",
            "reference_dataset_id": dataset.id, "extra": {"metadata": dict(metadata)},
            "start_time": to_datetime(start).isoformat(),
            "end_time": to_datetime(end).isoformat() if end else None,
            "num_examples": exp.n_examples, "num_repetitions": exp.repeat,
        }

        def create() -> Any:
            from langsmith import schemas as ls_schemas
            from langsmith.client import _dumps_json

            response = self.client.request_with_retries(
                "POST", "/sessions", headers={"Content-Type": "application/json"},
                data=_dumps_json(body))
            return ls_schemas.TracerSession(**response.json())

        return self._project_id(name, lambda: self.remote.call(create))

    def ingest(self, runs: Sequence[dict[str, Any]]) -> None:
        self.remote.ingest(runs, multipart=self.multipart)


def _git_commit(run: RunRow) -> str | None:
    commit = run.config.get("git_commit") if isinstance(run.config, Mapping) else None
    return str(commit) if commit else None


def _experiment_metadata(run: RunRow, exp: ExperimentRow, dataset: DatasetSync,
                         judges: Mapping[str, Any]) -> dict[str, Any]:
    """Experiment metadata: what LangSmith's compare view can show and filter on."""
    from judgekit._version import __version__

    suite = f"{run.path}::{run.suite}" if run.path else run.suite
    meta: dict[str, Any] = {k: v for k, v in dict(exp.variant).items()
                            if isinstance(v, (str, int, float, bool)) or v is None}
    meta.update({
        "__ls_runner": "judgekit", "suite": suite, "suite_path": run.path,
        "variant": dict(exp.variant), "variant_label": exp.variant_label,
        "judgekit_version": run.judgekit_version or __version__,
        "judgekit_run_id": run.id, "judgekit_experiment_id": exp.id,
        "judgekit_dataset_version": exp.dataset_version, "dataset_version": dataset.version,
        "repetitions": exp.repeat,
        "evaluators": [{k: e.get(k) for k in ("name", "key", "version") if k in e}
                       for e in exp.evaluators],
        "judges": dict(judges),
    })
    commit = _git_commit(run)
    if commit:
        meta["git_commit"] = commit
    group = shard_group(run)
    if group:
        meta.update({"shard_group": group, "shard_count": run.config["shard"]["count"]})
        # One experiment, several runs: these name only the last shard sent.
        del meta["judgekit_run_id"], meta["judgekit_experiment_id"]
    return meta


def _sync_experiment(s: _Session, exp: ExperimentRow, dataset: DatasetSync,
                     ids: Mapping[str, str], examples: Mapping[str, Example],
                     prefix: str | None) -> ExperimentSync:
    store_cases = s.store.iter_cases(exp.id)
    name = experiment_name(s.run, exp, prefix)
    start = exp.created_at
    end = s.run.finished_at
    base_meta = _experiment_metadata(s.run, exp, dataset, {})
    project_id = s.ensure_experiment(exp, name, dataset, base_meta, start, end)
    ctx = TraceContext(run=s.run, exp=exp, project_id=project_id, project_name=name,
                       evaluators_project_id=None, target_name=s.run.suite,
                       example_ids=ids, examples=examples, fallback_start=start)
    out = ExperimentSync(exp.variant_label, name, str(project_id),
                         f"{dataset.url}/compare?selectedSessions={project_id}"
                         if dataset.url else None)
    judges: dict[str, Any] = {}
    batch_runs: list[dict[str, Any]] = []
    batch_feedback: list[dict[str, Any]] = []

    def flush() -> None:
        s.ingest(batch_runs)
        s.remote.feedback(batch_feedback)
        out.runs += len(batch_runs)
        out.feedback += len(batch_feedback)
        batch_runs.clear()
        batch_feedback.clear()

    for n_cases, case in enumerate(store_cases, start=1):
        judged = any(c.role == "judge" for c in case.calls)
        if judged and ctx.evaluators_project_id is None:
            ctx = TraceContext(**{**ctx.__dict__, "evaluators_project_id":
                                  s.evaluators_project()})
        cc = case_context(ctx, case)
        batch_runs.extend(case_runs(ctx, case, cc))
        batch_feedback.extend(case_feedback(ctx, case, cc))
        for key, info in judges_of(case.scores).items():
            judges.setdefault(key, info)
        if n_cases % CASES_PER_BATCH == 0:
            flush()
    flush()
    if shard_group(s.run) is None:
        # A shard's summary (F1, pass rate, goals) is of its part only: the experiment's is
        # the merged run's (`judgekit merge`), so a shard sends none.
        summary = summary_feedback(project_id, exp, s.store.summary_scores(exp.id))
        s.remote.feedback(summary)
        out.feedback += len(summary)
    meta = _experiment_metadata(s.run, exp, dataset, judges)
    s.remote.call(s.client.update_project, project_id, metadata=meta,
                  end_time=to_datetime(end) if end else None)
    return out


def sync_run(store: Store, ref: str, *, project_prefix: str | None = None,
             dataset_name: str | None = None, config: LangSmithConfig | None = None,
             on_experiment: Callable[[ExperimentSync], None] | None = None) -> SyncResult:
    """Send the stored run ``ref`` to LangSmith and return what was sent, with URLs.

    Args:
        store: The result store (only read).
        ref: A run id, a prefix of one, or an experiment id.
        project_prefix: Experiment names become ``<prefix>:<variant>:<run id>`` instead of
            ``<suite>:<variant>:<run id>``.
        dataset_name: The LangSmith dataset to use instead of :func:`dataset_name_for`.
        config: Endpoint and key (default: from the environment).
        on_experiment: Called as each experiment finishes (for progress lines).

    Raises:
        ConfigError: no API key, or the langsmith package missing (nothing sent).
        LangSmithError: LangSmith refused or failed a request (what was sent stays; a new
            sync completes it).
        StoreError: no such run.

    Example:
        >>> from judgekit import Store  # doctest: +SKIP
        >>> sync_run(Store(), "7f3a2c").compare_url  # doctest: +SKIP
        'https://smith.langchain.com/o/.../datasets/.../compare?selectedSessions=...,...'
    """
    config = config or load_config()
    run = store.get_run(ref)
    rows = store.experiments(run.id)
    if not rows:
        raise StoreError(f"run {run.id} has no experiments to send")
    result = SyncResult(run_id=run.id, endpoint=config.endpoint,
                        incomplete=run.status != "complete")
    with Remote(config) as remote:
        s = _Session(remote, store, run)
        datasets: dict[str, tuple[DatasetSync, dict[str, str], dict[str, Example]]] = {}
        for exp in rows:
            if exp.dataset_version not in datasets:
                examples = store.examples(exp.dataset_version)
                name = dataset_name or dataset_name_for(run, exp)
                ds, ids = s.upsert_dataset(name, examples, exp.dataset_version)
                datasets[exp.dataset_version] = (ds, ids, {e.id: e for e in examples})
            ds, ids, by_id = datasets[exp.dataset_version]
            result.dataset = result.dataset or ds
            done = _sync_experiment(s, exp, ds, ids, by_id, project_prefix)
            result.experiments.append(done)
            if on_experiment is not None:
                on_experiment(done)
        first = result.dataset
        if first is not None and first.url:
            same = [e.id for e, row in zip(result.experiments, rows, strict=True)
                    if datasets[row.dataset_version][0].id == first.id]
            result.compare_url = f"{first.url}/compare?selectedSessions={','.join(same)}"
    return result


def sync_runs(store: Store, refs: Iterable[str], **kwargs: Any) -> list[SyncResult]:
    """:func:`sync_run` for each of ``refs``, in order."""
    return [sync_run(store, ref, **kwargs) for ref in refs]
