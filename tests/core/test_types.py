"""The core value types: the internal copy helper matches the standard one."""

from __future__ import annotations

import dataclasses

from judgekit.types import Score, Usage, evolve


def test_evolve_copies_a_score_as_dataclasses_replace_does() -> None:
    score = Score(key="", score=0.5, value="C", comment="why", metadata={"a": 1})
    for changes in ({"key": "correct"}, {"usage": Usage(prompt_tokens=3, completion_tokens=4)}):
        copy = evolve(score, **changes)
        assert copy == dataclasses.replace(score, **changes)
        assert type(copy) is Score and copy is not score
    assert score.key == ""  # the original is left as it was
