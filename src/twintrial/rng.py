"""Random streams derived from one root seed, keyed by stable identifiers.

Streams are keyed by *what* is computed (stage, patient index, arm, replicate), never by chunk or
worker, so results do not depend on how the work is split.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from hashlib import sha256
from typing import Any

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
    """The generators of ``blocks`` of a stream, in that order: same numbers as
    :func:`block_generator`, about 2x cheaper per block (measured: ~7 µs against ~16 µs).

    The :class:`numpy.random.SeedSequence` hashing of every block key is done at once with NumPy
    (:func:`_pcg64_seeds`), and ONE generator is re-seeded for each block: use each generator
    before taking the next (it is the same object).
    """
    blocks = [int(b) for b in blocks]
    if not blocks:
        return
    seeds = _pcg64_seeds(base_seed, tuple(_word(k) for k in (*key, "block")), blocks)
    bit_gen = np.random.PCG64(0)
    gen = np.random.Generator(bit_gen)
    for state, inc in seeds:
        bit_gen.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                         "has_uint32": 0, "uinteger": 0}
        yield gen


# numpy.random.SeedSequence (numpy/random/bit_generator.pyx, pool size 4) and PCG64 seeding
# (pcg64.h: pcg_setseq_128_srandom_r), for one key prefix and many trailing block words
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R, _XSHIFT, _POOL = 0xCA01F9DD, 0x4973F715, 16, 4
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_MASK128 = (1 << 128) - 1


def _int_words(n: int) -> list[int]:
    if n < 0:
        raise ValueError("seeds must be non-negative")
    words = []
    while n > 0:
        words.append(n & _MASK32)
        n >>= 32
    return words or [0]


def _pcg64_seeds(base_seed: int, prefix: tuple[int, ...], blocks: list[int]
                 ) -> list[tuple[int, int]]:
    """PCG64 ``(state, inc)`` of ``PCG64(SeedSequence(base_seed, spawn_key=(*prefix, b)))``.

    The words shared by all keys are mixed once (Python integers); the block word and the state
    generation are vectorised over blocks.
    """
    if any(not 0 <= b <= _MASK32 for b in blocks):
        raise ValueError("block index must fit in 32 bits")
    run = _int_words(int(base_seed))
    run += [0] * max(0, _POOL - len(run))  # spawn words present: NumPy pads the run entropy
    entropy = run + [w for k in prefix for w in _int_words(k)]  # then the block word
    hash_const = _INIT_A

    def hashmix(value: int) -> int:
        nonlocal hash_const
        value ^= hash_const
        hash_const = (hash_const * _MULT_A) & _MASK32
        value = (value * hash_const) & _MASK32
        return value ^ (value >> _XSHIFT)

    def mix(x: Any, y: Any) -> Any:
        r = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
        return r ^ (r >> _XSHIFT)

    pool: list[Any] = [hashmix(entropy[i]) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hashmix(pool[i_src]))
    for i_src in range(_POOL, len(entropy)):
        for i_dst in range(_POOL):
            pool[i_dst] = mix(pool[i_dst], hashmix(entropy[i_src]))
    # the block word, vectorised (int64 holds the 32-bit products' low words after masking)
    last = np.array(blocks, dtype=np.uint64)
    for i_dst in range(_POOL):  # NumPy hashes the word again for every pool entry
        u = last ^ np.uint64(hash_const)
        hash_const = (hash_const * _MULT_A) & _MASK32
        u = (u * np.uint64(hash_const)) & np.uint64(_MASK32)
        u ^= u >> np.uint64(_XSHIFT)
        r = (np.uint64(_MIX_MULT_L * pool[i_dst] & _MASK32)
             - np.uint64(_MIX_MULT_R) * u) & np.uint64(_MASK32)
        pool[i_dst] = r ^ (r >> np.uint64(_XSHIFT))
    # generate_state(4, uint64): 8 uint32 words, little-endian pairs
    words = []
    hc = _INIT_B
    for i in range(8):
        v = pool[i % _POOL] ^ np.uint64(hc)
        hc = (hc * _MULT_B) & _MASK32
        v = (v * np.uint64(hc)) & np.uint64(_MASK32)
        words.append((v ^ (v >> np.uint64(_XSHIFT))).tolist())
    out = []
    for w in zip(*words, strict=True):
        initstate = (w[1] << 96) | (w[0] << 64) | (w[3] << 32) | w[2]
        initseq = (w[5] << 96) | (w[4] << 64) | (w[7] << 32) | w[6]
        inc = ((initseq << 1) | 1) & _MASK128
        state = ((inc + initstate) * _PCG_MULT + inc) & _MASK128  # srandom: step, add, step
        out.append((state, inc))
    return out


PATIENT_BLOCK = 1024
"""Patients per random-number block: the unit of chunk-invariant streams."""
