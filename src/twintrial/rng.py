"""Random streams derived from one root seed, keyed by stable identifiers.

Streams are keyed by *what* is computed (stage, patient index, arm, replicate), never by chunk or
worker, so results do not depend on how the work is split.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from hashlib import sha256

import numpy as np

_MASK32 = 0xFFFFFFFF


def _word(key: str | int) -> int:
    if isinstance(key, (int, np.integer)):
        return int(key) & _MASK32
    return _text_word(str(key))


@functools.lru_cache(maxsize=1024)
def _text_word(key: str) -> int:
    # stream names repeat for every patient block: hash each once
    return int.from_bytes(sha256(key.encode()).digest()[:4], "little")


def seed_sequence(base_seed: int, *key: str | int) -> np.random.SeedSequence:
    """Return the :class:`numpy.random.SeedSequence` for ``key`` under ``base_seed``.

    Strings are hashed with SHA-256 (never the salted built-in ``hash``); integers are used as is.
    """
    return np.random.SeedSequence(int(base_seed), spawn_key=tuple(_word(k) for k in key))


def job_seed(base_seed: int, *key: str | int) -> int:
    """Return a stable, independent 32-bit seed for ``key`` (e.g. ``job_seed(s, "cohort")``)."""
    return int(seed_sequence(base_seed, *key).generate_state(1)[0])


def generator(base_seed: int, *key: str | int) -> np.random.Generator:
    """Return a PCG64 generator for the stream ``key`` under ``base_seed``."""
    return np.random.Generator(np.random.PCG64(seed_sequence(base_seed, *key)))


def block_generator(base_seed: int, *key: str | int, block: int) -> np.random.Generator:
    """Return the generator of block ``block`` of a stream (patients are grouped in fixed blocks).

    Chunking must be a multiple of the block size for results to be chunk-invariant; use
    :data:`PATIENT_BLOCK` patients per block.
    """
    return generator(base_seed, *key, "block", int(block))


def block_generators(base_seed: int, *key: str | int, blocks: Iterable[int]
                     ) -> Iterator[np.random.Generator]:
    """The generators of ``blocks`` of a stream, in that order (:func:`block_generator` of each).

    Raises
    ------
    ValueError
        If a block index does not fit in 32 bits (NumPy's spawn-key words).
    """
    blocks = [int(b) for b in blocks]
    if any(not 0 <= b <= _MASK32 for b in blocks):
        raise ValueError("block index must fit in 32 bits")
    for block in blocks:
        yield block_generator(base_seed, *key, block=block)


PATIENT_BLOCK = 1024
"""Patients per random-number block: the unit of chunk-invariant streams."""
