"""Send stored runs to LangSmith: a dataset, one experiment per variant, traces and feedback.

The ``langsmith`` SDK is imported only when a sync runs (``pip install 'judgekit[langsmith]'``);
importing this package costs nothing. Nothing is sent unless asked: ``judgekit eval
--langsmith``, ``JUDGEKIT_LANGSMITH=1``, ``judgekit sync RUN`` or :func:`sync_run`.

What a run becomes in LangSmith (details in :mod:`judgekit.langsmith.payloads`):

* **dataset** named after the suite's data (the file's stem, or the suite's name for inline
  data; ``--dataset-name`` overrides), each example once with judgekit's id in its metadata.
  Same data: reused untouched. Changed data: examples updated, added and deleted by judgekit id,
  which LangSmith shows as a new version of the same dataset, tagged ``judgekit-<content hash>``.
  Data loaded with ``dataset.langsmith(...)`` is linked to, not uploaded.
* **experiment** per variant, ``<suite>:<variant>:<run id>``, linked to the dataset, with the
  suite, variant, git commit, judgekit version, judges (model, prompt hash) in its metadata.
* **trace** per case × repetition: a ``chain`` root run with ``reference_example_id``, the
  target's model calls as ``llm`` children with messages and token usage; each judge score an
  evaluator run (in the ``evaluators`` project, as ``langsmith.evaluate`` does) with the judge's
  calls under it.
* **feedback** per score (judge reasoning as the comment, ``source_run_id`` = the judge run);
  unscored, skipped and errored scores as comments without a score; summary metrics and goals
  as experiment-level feedback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judgekit.langsmith.config import LangSmithConfig, load_config, requested_by_env
    from judgekit.langsmith.remote import LangSmithError
    from judgekit.langsmith.sync import SyncResult, sync_run, sync_runs

__all__ = ["LangSmithConfig", "LangSmithError", "SyncResult", "load_config", "requested_by_env",
           "sync_run", "sync_runs"]

_WHERE = {"LangSmithConfig": "config", "load_config": "config", "requested_by_env": "config",
          "LangSmithError": "remote", "SyncResult": "sync", "sync_run": "sync",
          "sync_runs": "sync"}


def __getattr__(name: str) -> Any:
    # Lazy: `import judgekit.langsmith` must not import the SDK (nor rich, nor the store).
    if name in _WHERE:
        from importlib import import_module

        return getattr(import_module(f"judgekit.langsmith.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'judgekit.langsmith' has no attribute {name!r}")
