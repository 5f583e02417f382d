"""Seeds derived by key; atomic outputs; deterministic JSON/Parquet with provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twintrial import io, rng
from twintrial.provenance import config_hash, file_sha256, provenance_block


@given(seed=st.integers(0, 2**32 - 1), a=st.text(min_size=1, max_size=8),
       b=st.text(min_size=1, max_size=8))
def test_job_seed_stable_and_keyed(seed: int, a: str, b: str) -> None:
    assert rng.job_seed(seed, a) == rng.job_seed(seed, a)
    if a != b:
        assert rng.job_seed(seed, a) != rng.job_seed(seed, b)


def test_streams_independent_of_order() -> None:
    x1 = rng.block_generator(5, "arms", "placebo", block=3).normal(size=4)
    _ = rng.block_generator(5, "arms", "placebo", block=2).normal(size=4)
    x2 = rng.block_generator(5, "arms", "placebo", block=3).normal(size=4)
    np.testing.assert_array_equal(x1, x2)
    assert not np.allclose(x1, rng.block_generator(5, "arms", "active", block=3).normal(size=4))


@given(st.integers(0, 2**80), st.lists(st.one_of(st.integers(0, 2**40), st.text(max_size=8)),
                                        max_size=4),
       st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=6))
def test_block_generators_are_the_block_generators(seed: int, key: list, blocks: list[int]) -> None:
    # the same generators, state for state
    for block, gen in zip(blocks, rng.block_generators(seed, *key, blocks=blocks), strict=True):
        ref = rng.block_generator(seed, *key, block=block)
        assert gen.bit_generator.state == ref.bit_generator.state
        assert gen.standard_normal(3).tobytes() == ref.standard_normal(3).tobytes()


def test_block_generators_reject_what_numpy_rejects() -> None:
    with pytest.raises(ValueError):
        list(rng.block_generators(1, "x", blocks=[2**32]))
    with pytest.raises(ValueError):
        list(rng.block_generators(-1, "x", blocks=[0]))
    assert list(rng.block_generators(1, "x", blocks=[])) == []


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_parquet_is_byte_reproducible_and_stamped(tmp_path: Path) -> None:
    df = pd.DataFrame({"vid": np.arange(5), "x": np.linspace(0, 1, 5), "s": list("abcde")})
    stamp = provenance_block({"trial": {"name": "t", "seed": 1}}, stage="cohort", seed=3)
    io.write_table(df, tmp_path / "a.parquet", provenance=stamp)
    io.write_table(df, tmp_path / "b.parquet", provenance=stamp)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    assert io.read_table_provenance(tmp_path / "a.parquet")["seed"] == 3
    pd.testing.assert_frame_equal(io.read_table(tmp_path / "a.parquet"), df, check_dtype=False)


def test_json_is_strict_and_sorted(tmp_path: Path) -> None:
    io.write_json({"b": float("nan"), "a": np.float64(1.5), "c": np.arange(2)}, tmp_path / "x.json")
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and text.index('"a"') < text.index('"b"')
    assert io.read_json(tmp_path / "x.json") == {"a": 1.5, "b": None, "c": [0, 1]}


def test_hashes(tmp_path: Path) -> None:
    p = tmp_path / "f.txt"
    p.write_text("abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_atomic_outputs_have_umask_permissions(tmp_path: Path) -> None:
    import os
    import stat

    io.write_json({"a": 1}, tmp_path / "x.json")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o666 & ~umask
