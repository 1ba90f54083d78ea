"""``JudgekitCallback``: record the LLM calls of any LangChain runnable on the current case.

    chain.invoke(inputs, config={"callbacks": [JudgekitCallback()]})

Calls made this way do not go through judgekit's cache, limiter or retries (the runnable
makes them); they are recorded with tokens, cost and latency like every other call.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from judgekit import recording
from judgekit.models.langchain import message_text, usage_of
from judgekit.models.pricing import cost_usd
from judgekit.types import CallRecord

__all__ = ["JudgekitCallback"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
          "function": "function", "chat": "user"}
# Invocation parameters that describe the client, not the generation.
_NOT_PARAMS = frozenset({"_type", "stream", "model", "model_name", "api_key", "base_url",
                         "openai_api_key", "openai_api_base", "timeout", "request_timeout",
                         "max_retries"})


def _message_dict(message: Any) -> dict[str, Any]:
    role = _ROLES.get(getattr(message, "type", ""), getattr(message, "type", "user"))
    return {"role": role, "content": message_text(message)}


class JudgekitCallback(BaseCallbackHandler):
    """A LangChain callback handler that records a CallRecord per LLM call.

    Create it inside the target (or pass it from there): the case it records on is the one
    active where it was created, if the callback later runs where no case is active (a thread
    pool LangChain did not copy the context into).
    """

    run_inline = True  # run in the caller's task: the case recorder is a context variable
    raise_error = False  # a recording problem must never break the user's chain

    def __init__(self) -> None:
        self._recorder = recording.current_recorder()
        self._score_key = recording.current_score_key()
        self._lock = threading.Lock()
        self._runs: dict[UUID, dict[str, Any]] = {}

    def _start(self, run_id: UUID, messages: list[dict[str, Any]], kwargs: dict[str, Any],
               serialized: dict[str, Any] | None) -> None:
        invocation = dict(kwargs.get("invocation_params") or {})
        meta = dict(kwargs.get("metadata") or {})
        model = (meta.get("ls_model_name") or invocation.get("model_name")
                 or invocation.get("model") or (serialized or {}).get("name") or "unknown")
        params = {k: v for k, v in invocation.items() if k not in _NOT_PARAMS}
        with self._lock:
            self._runs[run_id] = {
                "started": time.perf_counter(), "wall": time.time(), "model": str(model),
                "provider": str(meta.get("ls_provider") or "langchain"),
                "request": {"messages": messages, "params": params, "sample": 0},
            }

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], *,
                            run_id: UUID, **kwargs: Any) -> None:
        """Remember the request of a chat model call."""
        first = messages[0] if messages else []
        self._start(run_id, [_message_dict(m) for m in first], kwargs, serialized)

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID,
                     **kwargs: Any) -> None:
        """Remember the request of a (completion-style) LLM call."""
        self._start(run_id, [{"role": "user", "content": p} for p in prompts[:1]], kwargs,
                    serialized)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the finished call."""
        start = self._pop(run_id)
        if start is None:
            return
        generations: Sequence[Any] = response.generations[0] if response.generations else ()
        gen = generations[0] if generations else None
        message = getattr(gen, "message", None)
        meta = dict(getattr(message, "response_metadata", None) or {})
        info = dict(getattr(gen, "generation_info", None) or {})
        llm_output = dict(response.llm_output or {})
        prompt, completion, cached = usage_of(message)
        if not (prompt or completion):
            usage = llm_output.get("token_usage") or {}
            prompt = int(usage.get("prompt_tokens") or 0)
            completion = int(usage.get("completion_tokens") or 0)
        model = str(meta.get("model_name") or llm_output.get("model_name") or start["model"])
        text = message_text(message) if message is not None else getattr(gen, "text", "")
        self._record(CallRecord(
            role="target", provider="langchain", model=model, request=start["request"],
            response_text=text,
            finish_reason=meta.get("finish_reason") or info.get("finish_reason"),
            prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
            cost_usd=cost_usd(start["provider"], model, prompt, completion, cached),
            latency_s=time.perf_counter() - start["started"], started_at=start["wall"]))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the failed call with the provider's message."""
        start = self._pop(run_id)
        if start is None:
            return
        self._record(CallRecord(
            role="target", provider="langchain", model=start["model"],
            request=start["request"], response_text=None,
            latency_s=time.perf_counter() - start["started"], started_at=start["wall"],
            error=str(error) or type(error).__name__))

    def _pop(self, run_id: UUID) -> dict[str, Any] | None:
        with self._lock:
            return self._runs.pop(run_id, None)

    def _record(self, call: CallRecord) -> None:
        if recording.current_recorder() is not None or self._recorder is None:
            recording.record_call(call)
            return
        with contextlib.ExitStack() as stack:
            stack.enter_context(self._recorder.active())
            if self._score_key is not None:
                stack.enter_context(recording.scoring(self._score_key))
            recording.record_call(call)
