"""Counter-based random numbers: Philox4x32-10, compiled with numba, for per-patient streams.

A counter-based generator computes the ``j``-th number of a stream directly as a keyed bijection
of the counter ``(patient, j, attempt)``: there is no state to seed, carry or skip ahead, so the
numbers of a patient do not depend on which other patients are simulated with it (chunk size,
worker count, scattered rows), and every element is computed independently in compiled code that
releases the GIL. The arms stage draws its per-patient streams this way
(:mod:`twintrial.arms.streams`); other stages use NumPy's PCG64 streams (:mod:`twintrial.rng`).

- Generator: Philox4x32 with 10 rounds (Salmon, Moraes, Dror & Shaw 2011, "Parallel random
  numbers: as easy as 1, 2, 3", SC'11; the Random123 library). It passed TestU01's BigCrush in the
  authors' tests, including highly regular counter and key patterns; cuRAND offers it
  (``CURAND_RNG_PSEUDO_PHILOX4_32_10``), TensorFlow's stateless random ops use it and NumPy ships
  its 4x64 variant. This implementation reproduces the Random123 known-answer vectors
  (``tests/unit/test_philox.py``).
- Key: the first two 32-bit words of the :class:`numpy.random.SeedSequence` of ``(seed, *key)``
  (:func:`stream_key`), i.e. the same SHA-256 hashing of stream names as :mod:`twintrial.rng`.
- Counter: ``(vid & 0xFFFFFFFF, vid >> 32, column, attempt)``.
- Uniforms: the 53 high bits of one 64-bit word, ``k * 2**-53`` on ``[0, 1)``.
- Normals: the 256-layer ziggurat of Marsaglia & Tsang (2000, J. Stat. Softw. 5(8)) in the
  64-bit layout NumPy uses (8 bits of layer, 1 sign bit, 52 bits of magnitude); a rejected draw
  takes the next ``attempt`` of the same counter (1.5% of first draws fall outside the layers'
  rectangles), the tail Marsaglia's (1964) exponential method.
- Exponentials: ``-log(1 - U)`` (``1 - U`` is exact on the ``2**-53`` grid).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from twintrial.rng import seed_sequence

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_S32, _S11 = np.uint64(32), np.uint64(11)
_TO_UNIT = 2.0**-53

# ziggurat: 256 layers of equal area _ZIG_V under exp(-x^2 / 2), base layer reaching _ZIG_R
_ZIG_R = 3.6541528853610088
# the base strip (rectangle R x f(R) plus the tail) has the area of every layer
_ZIG_V = _ZIG_R * math.exp(-0.5 * _ZIG_R**2) + math.sqrt(math.pi / 2) * math.erfc(_ZIG_R / math.sqrt(2))
_M52 = 2.0**52
_MAG = np.uint64(0x000FFFFFFFFFFFFF)


def ziggurat_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ki, wi, fi)`` of the 256-layer normal ziggurat (Marsaglia & Tsang 2000, their recursion
    for the layer edges ``x_i``; NumPy's layout: ``ki[i] = 2^52 x_{i-1} / x_i``,
    ``wi[i] = x_i / 2^52``, ``fi[i] = exp(-x_i^2 / 2)``, layer 0 the base strip with the tail)."""
    ki = np.zeros(256, dtype=np.int64)
    wi = np.zeros(256)
    fi = np.zeros(256)
    f_r = math.exp(-0.5 * _ZIG_R * _ZIG_R)
    q = _ZIG_V / f_r  # virtual width of the base strip (rectangle plus tail)
    ki[0] = int(_ZIG_R / q * _M52)
    wi[0], wi[255] = q / _M52, _ZIG_R / _M52
    fi[0], fi[255] = 1.0, f_r
    dn = tn = _ZIG_R
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        ki[i + 1] = int(dn / tn * _M52)
        tn = dn
        fi[i] = math.exp(-0.5 * dn * dn)
        wi[i] = dn / _M52
    ki[1] = 0
    for a in (ki, wi, fi):
        a.flags.writeable = False
    return ki, wi, fi


_KI, _WI, _FI = ziggurat_tables()


def stream_key(seed: int, *key: str | int) -> tuple[np.uint64, np.uint64]:
    """The Philox key of the stream ``key`` under ``seed`` (two 32-bit words)."""
    k0, k1 = seed_sequence(seed, *key).generate_state(2, np.uint32)
    return np.uint64(k0), np.uint64(k1)


@njit(inline="always")
def _philox(c0, c1, c2, c3, k0, k1):  # type: ignore[no-untyped-def]
    # 10 rounds of Philox4x32 on 32-bit words held in uint64 (products exact in 64 bits)
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (((p1 >> _S32) ^ c1 ^ k0) & _MASK, p1 & _MASK,
                          ((p0 >> _S32) ^ c3 ^ k1) & _MASK, p0 & _MASK)
        k0 = (k0 + _W0) & _MASK
        k1 = (k1 + _W1) & _MASK
    return c0, c1, c2, c3


@njit(inline="always")
def _unit(hi, lo):  # type: ignore[no-untyped-def]
    # [0, 1) from the 53 high bits of the 64-bit word (hi, lo)
    return np.float64(((hi << _S32) | lo) >> _S11) * _TO_UNIT


@njit(inline="always")
def _normal(c0, c1, j, k0, k1, ki, wi, fi):  # type: ignore[no-untyped-def]
    attempt = np.uint64(0)
    while True:
        a, b, c, d = _philox(c0, c1, j, attempt, k0, k1)
        attempt += np.uint64(1)
        r = (a << _S32) | b
        idx = np.intp(r & np.uint64(0xFF))
        r >>= np.uint64(8)
        sign = (r & np.uint64(1)) != np.uint64(0)
        rabs = np.int64((r >> np.uint64(1)) & _MAG)
        x = np.float64(rabs) * wi[idx]
        if sign:
            x = -x
        if rabs < ki[idx]:
            return x  # inside the layer's rectangle: 98.5% of draws
        if idx == 0:  # the tail beyond R
            while True:
                a, b, c, d = _philox(c0, c1, j, attempt, k0, k1)
                attempt += np.uint64(1)
                xx = -math.log1p(-_unit(a, b)) / _ZIG_R
                yy = -math.log1p(-_unit(c, d))
                if yy + yy > xx * xx:
                    return -(_ZIG_R + xx) if sign else _ZIG_R + xx
        elif (fi[idx - 1] - fi[idx]) * _unit(c, d) + fi[idx] < math.exp(-0.5 * x * x):
            return x  # in the wedge under the curve


@njit(nogil=True, cache=True)
def _fill_normals(k0, k1, vid, out_t, ki, wi, fi):  # type: ignore[no-untyped-def]
    # column by column, in three passes: (1) the first Philox word of every patient and (2) the
    # ziggurat's rectangle test are branch-free loops the compiler vectorises (~2.5 ns a normal
    # against ~10 ns for the scalar algorithm); (3) the 1.5% of draws outside the rectangles
    # rerun the whole scalar algorithm (_normal), which takes the same first word, so every
    # value is exactly what _normal gives
    width, n = out_t.shape
    bits = np.empty(n, dtype=np.uint64)
    for j in range(width):
        cj = np.uint64(j)
        for i in range(n):
            v = np.uint64(vid[i])
            a, b, c, d = _philox(v & _MASK, v >> _S32, cj, np.uint64(0), k0, k1)
            bits[i] = (a << _S32) | b
        row = out_t[j]
        for i in range(n):
            r = bits[i]
            idx = np.intp(r & np.uint64(0xFF))
            r >>= np.uint64(8)
            rabs = np.int64((r >> np.uint64(1)) & _MAG)
            x = np.float64(rabs) * wi[idx]
            x = -x if r & np.uint64(1) else x
            row[i] = x if rabs < ki[idx] else np.nan
        for i in range(n):
            if math.isnan(row[i]):
                v = np.uint64(vid[i])
                row[i] = _normal(v & _MASK, v >> _S32, cj, k0, k1, ki, wi, fi)


@njit(nogil=True, cache=True)
def _fill_uniforms(k0, k1, vid, out_t):  # type: ignore[no-untyped-def]
    # columns 2m and 2m+1 share counter m (one 64-bit word each)
    width, n = out_t.shape
    for m in range((width + 1) // 2):
        cm = np.uint64(m)
        for i in range(n):
            v = np.uint64(vid[i])
            a, b, c, d = _philox(v & _MASK, v >> _S32, cm, np.uint64(0), k0, k1)
            out_t[2 * m, i] = _unit(a, b)
            if 2 * m + 1 < width:
                out_t[2 * m + 1, i] = _unit(c, d)


@njit(nogil=True, cache=True)
def _fill_exponentials(k0, k1, vid, out):  # type: ignore[no-untyped-def]
    for i in range(vid.size):
        v = np.uint64(vid[i])
        a, b, c, d = _philox(v & _MASK, v >> _S32, np.uint64(0), np.uint64(0), k0, k1)
        out[i] = _unit(a, b)
    for i in range(vid.size):
        out[i] = -math.log(1.0 - out[i])  # 1 - U is exact for U on the 2**-53 grid


@njit(nogil=True, cache=True)
def _raw(c, k):  # type: ignore[no-untyped-def]
    out = np.empty_like(c)
    for i in range(c.shape[0]):
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = _philox(
            c[i, 0], c[i, 1], c[i, 2], c[i, 3], k[i, 0], k[i, 1])
    return out


def philox4x32(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox4x32-10 of ``(m, 4)`` counters under ``(m, 2)`` keys (32-bit words): ``(m, 4)``
    uint32 outputs (the Random123 known-answer layout)."""
    c = np.atleast_2d(np.asarray(counter, dtype=np.uint64))
    k = np.broadcast_to(np.atleast_2d(np.asarray(key, dtype=np.uint64)), (c.shape[0], 2))
    return _raw(np.ascontiguousarray(c), np.ascontiguousarray(k)).astype(np.uint32)


def _vid(vid: np.ndarray) -> np.ndarray:
    vid = np.ascontiguousarray(vid, dtype=np.int64)
    if vid.size and vid.min() < 0:
        raise ValueError("patient indices (vid) must be non-negative")
    return vid


def normals(key: tuple[np.uint64, np.uint64], vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` standard normals, Fortran-ordered; entry ``(i, j)`` depends only on
    ``(key, vid[i], j)``."""
    vid = _vid(vid)
    out_t = np.empty((width, vid.size))
    _fill_normals(key[0], key[1], vid, out_t, _KI, _WI, _FI)
    return out_t.T


def uniforms(key: tuple[np.uint64, np.uint64], vid: np.ndarray, width: int) -> np.ndarray:
    """``(n, width)`` uniforms on ``[0, 1)``, Fortran-ordered; entry ``(i, j)`` depends only on
    ``(key, vid[i], j)``."""
    vid = _vid(vid)
    out_t = np.empty((width, vid.size))
    _fill_uniforms(key[0], key[1], vid, out_t)
    return out_t.T


def exponentials(key: tuple[np.uint64, np.uint64], vid: np.ndarray) -> np.ndarray:
    """``(n,)`` standard exponentials; entry ``i`` depends only on ``(key, vid[i])``."""
    vid = _vid(vid)
    out = np.empty(vid.size)
    _fill_exponentials(key[0], key[1], vid, out)
    return out
