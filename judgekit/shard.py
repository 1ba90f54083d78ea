"""Sharded runs: ``judgekit eval --shard i/n`` runs the i-th of n disjoint parts of a dataset.

An example belongs to shard ``sha256(example id) mod n``: the split depends only on the id, never
on Python's per-process ``hash()``, the machine or the dataset's order, so n machines given
``1/n`` ... ``n/n`` cover every example exactly once. Each shard is an ordinary run in its own
store; :mod:`judgekit.merge` combines them into one run. The shards of one evaluation share a
*group* (kept in each run's config) that makes them one LangSmith experiment.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.errors import ConfigError
from judgekit.types import Example

__all__ = ["Shard", "parse_shard", "shard_group", "shard_of"]

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(example_id: str, count: int) -> int:
    """The 1-based shard that ``example_id`` belongs to among ``count`` shards.

    Example:
        >>> shard_of("review-17", 3) in (1, 2, 3)
        True
    """
    digest = hashlib.sha256(example_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``, and the group its runs share.

    Attributes:
        index: Which shard, 1..count.
        count: How many shards the dataset is split into.
        group: The name shared by every shard of one evaluation (a LangSmith experiment per
            variant for all of them); None until :func:`shard_group` fills it in.
    """

    index: int
    count: int
    group: str | None = None

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ConfigError(f"--shard {self.index}/{self.count}: give i/n with 1 <= i <= n, "
                              "e.g. --shard 2/4")

    def holds(self, example_id: str) -> bool:
        """True when ``example_id`` belongs to this shard."""
        return shard_of(example_id, self.count) == self.index

    def select(self, examples: Iterable[Example]) -> Iterator[Example]:
        """The examples of this shard, in their dataset order."""
        return (e for e in examples if self.holds(e.id))

    def to_dict(self) -> dict[str, Any]:
        """The ``shard`` entry of a run's config."""
        return {"index": self.index, "count": self.count, "group": self.group}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Shard | None:
        """The shard a stored run's config names, or None for an unsharded run."""
        raw = config.get("shard") if isinstance(config, Mapping) else None
        if not isinstance(raw, Mapping) or "index" not in raw:
            return None
        return cls(int(raw["index"]), int(raw["count"]), raw.get("group"))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, group: str | None = None) -> Shard:
    """Read ``--shard i/n`` (``group`` from ``--shard-group``).

    Raises:
        ConfigError: ``text`` is not ``i/n`` with ``1 <= i <= n``.

    Example:
        >>> parse_shard("2/4")
        Shard(index=2, count=4, group=None)
    """
    match = _SPEC.match(text)
    if match is None:
        raise ConfigError(f"--shard {text!r}: give i/n, the shard to run and how many there "
                          "are, e.g. --shard 1/3")
    return Shard(int(match[1]), int(match[2]), group)


def shard_group(shard: Shard, suite: str, dataset_version: str, variants: Sequence[str],
                commit: str | None) -> Shard:
    """``shard`` with its group set: the one given, else a hash of what every shard of the
    same evaluation shares (suite, data version, shard count, variants, git commit), so shards
    started on different machines agree without talking to each other."""
    if shard.group:
        return shard
    basis = "\n".join([suite, dataset_version, str(shard.count), *variants, commit or ""])
    group = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:8]
    return Shard(shard.index, shard.count, group)
