"""The --shard split: deterministic by example id, disjoint and covering, bad specs refused."""

import pytest

from judgekit.errors import ConfigError
from judgekit.shard import Shard, parse_shard, shard_of


def test_shards_partition_ids_independently_of_order() -> None:
    ids = [f"ex-{i}" for i in range(300)]
    parts = [{i for i in ids if Shard(k, 3).holds(i)} for k in (1, 2, 3)]
    assert set().union(*parts) == set(ids)
    assert sum(len(p) for p in parts) == len(ids)
    assert all(parts)
    assert [shard_of(i, 3) for i in reversed(ids)] == [shard_of(i, 3) for i in ids][::-1]


def test_shard_of_is_sha256_of_id() -> None:
    # sha256("a")[:8] as big-endian int mod 4, computed independently
    import hashlib
    n = int(hashlib.sha256(b"a").hexdigest()[:16], 16)
    assert shard_of("a", 4) == n % 4 + 1


@pytest.mark.parametrize("spec", ["0/3", "4/3", "x", "1/0", "2"])
def test_bad_specs_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="--shard"):
        parse_shard(spec)


def test_parse_keeps_group() -> None:
    assert parse_shard(" 2 / 4 ", "nightly") == Shard(2, 4, "nightly")
