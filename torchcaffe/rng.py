"""Caffe's CPU random stream: one boost::mt19937 per process, and boost's distributions over it.

Caffe::set_random_seed(seed) (and a solver's random_seed, plus the solver's rank) seeds one
mt19937 from which the fillers and every CPU Dropout forward draw (common.cpp,
math_functions.cpp caffe_rng_uniform / caffe_rng_gaussian / caffe_rng_bernoulli).  The values
here follow boost 1.74 (Debian's) to the bit: uniform_real's generate_uniform_real,
normal_distribution's 128-layer ziggurat (tail by exponential_distribution's 256-layer
ziggurat), bernoulli_distribution, and mt19937's seeding (init_genrand).

numpy's MT19937 bit generator, set to boost's seeded state, gives the raw 32-bit draws in
bulk; the common case of each distribution is mapped vectorized in float32 exactly as boost
computes it, and the rare draws a distribution rejects (and redraws for) are walked one by one,
so the stream position stays exact.

Until a seed is set the stream is unseeded and the engine keeps torch's generator for fillers
and Dropout (as before this module).  On a GPU, Dropout draws from torch's CUDA generator
(Caffe uses cuRAND there, which is not reproduced); fillers always run on the CPU stream.
"""
import functools
import math

import numpy as np
import torch

_U32 = 0xFFFFFFFF
_bits = None          # the seeded np.random.MT19937, or None


def seed(value):
    """Seed the stream as boost::mt19937(value) (value taken modulo 2^32, like Caffe's unsigned int)."""
    global _bits
    key = np.empty(624, dtype=np.uint32)
    x = int(value) & _U32
    for i in range(624):
        key[i] = x
        x = (1812433253 * (x ^ (x >> 30)) + i + 1) & _U32
    bits = np.random.MT19937()
    bits.state = {'bit_generator': 'MT19937', 'state': {'key': key, 'pos': 624}}
    _bits = bits


def seeded():
    """True once seed() has been called in this process."""
    return _bits is not None


def get_state():
    """The stream's state (a picklable dict), or None while unseeded."""
    if _bits is None:
        return None
    s = _bits.state['state']
    return {'key': np.array(s['key'], dtype=np.uint32), 'pos': int(s['pos'])}


def set_state(state):
    """Put the stream back where get_state() found it (None: unseeded)."""
    global _bits
    if state is None:
        _bits = None
        return
    bits = np.random.MT19937()
    bits.state = {'bit_generator': 'MT19937',
                  'state': {'key': np.asarray(state['key'], dtype=np.uint32), 'pos': int(state['pos'])}}
    _bits = bits


def raw(n):
    """The next n 32-bit draws of mt19937 as a uint32 array."""
    return _bits.random_raw(int(n)).astype(np.uint32)


# -- uniform_real<float>(a, nextafter(b)) ----------------------------------------------------
_TWO32 = np.float32(4294967296.0)      # float(mt19937::max() - min()) + 1, as boost computes it


def uniform(n, a, b):
    """caffe_rng_uniform<float>(n, a, b): n float32 values in [a, b] (boost's uniform_real over
    [a, nextafter(b)), math_functions.cpp)."""
    a = np.float32(a)
    top = np.nextafter(np.float32(b), np.float32(np.inf))
    span = np.float32(top - a)

    def value(u):
        return (np.asarray(u).astype(np.float32) / _TWO32) * span + a

    def fast(u):
        v = value(u)
        return v, v < top

    def slow(u, draw):
        while True:
            u = draw()
            v = value(u)
            if v < top:
                return v
    return _walk(n, fast, slow)


# -- normal_distribution<float>(mean, sigma): boost 1.74's ziggurat --------------------------
_R_NORMAL = 3.4426198558966521214   # where the 128-layer normal ziggurat's tail starts (Marsaglia & Tsang 2000)
_R_EXP = 7.6971174701310497140      # where the 256-layer exponential ziggurat's tail starts


def _ziggurat(n_layers, r, f, f_inverse, tail_area):
    """(x, y) tables of a ziggurat of n_layers layers of equal area whose base layer starts at r
    (Marsaglia & Tsang 2000), laid out as boost's normal_table / exponential_table:
    x[0] = V / f(r), y[0] = 0, y[i] = f(x[i]), x[n] = 0, y[n] = 1."""
    v = r * f(r) + tail_area
    x, y = [v / f(r), r], [0.0, f(r)]
    for i in range(1, n_layers - 1):
        y.append(y[i] + v / x[i])
        x.append(f_inverse(y[-1]))
    return np.array(x + [0.0]), np.array(y + [1.0])


@functools.cache
def _tables():
    """The normal and exponential ziggurat tables of boost 1.74 (equal to its printed ones as
    float32 and within 2e-14 as float64)."""
    normal = _ziggurat(128, _R_NORMAL, lambda x: math.exp(-x * x / 2), lambda y: math.sqrt(-2 * math.log(y)),
                       math.sqrt(math.pi / 2) * math.erfc(_R_NORMAL / math.sqrt(2)))
    expo = _ziggurat(256, _R_EXP, lambda x: math.exp(-x), lambda y: -math.log(y), math.exp(-_R_EXP))
    return normal, expo


def _int_float_pair(u):
    """boost's generate_int_float_pair<float, 8> for mt19937: one draw gives the 8-bit bucket and
    a float in [0, 1) from the upper 24 bits."""
    return (u >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24), (u & np.uint32(0xFF)).astype(np.int64)


def _uniform01(draw):
    """boost's uniform_01<float>: float(u) / 2^32, redrawn while it rounds to 1."""
    while True:
        v = np.float32(draw()) * np.float32(2.0 ** -32)
        if v < np.float32(1):
            return v


def _unit_exponential(draw):
    """boost 1.74's unit_exponential_distribution<float> (256-layer ziggurat)."""
    (_, _), (tx, ty) = _tables()
    shift = np.float32(0)
    while True:
        r, i = _int_float_pair(np.uint32(draw()))
        i = int(i)
        x = np.float32(r * np.float32(tx[i]))
        if x < np.float32(tx[i + 1]):
            return np.float32(shift + x)
        if i == 0:
            shift = np.float32(shift + np.float32(tx[1]))
            continue
        y01 = _uniform01(draw)
        y = np.float32(np.float32(ty[i]) + y01 * np.float32(ty[i + 1] - ty[i]))
        above_upper = np.float32(np.float32(tx[i] - tx[i + 1]) * y01 - np.float32(np.float32(tx[i]) - x))
        above_lower = np.float32(y - np.float32(np.float32(ty[i + 1]) +
                                                np.float32(np.float32(tx[i + 1]) - x) * np.float32(ty[i + 1])))
        if above_upper < 0 and (above_lower < 0 or y < _expf(-x)):
            return np.float32(x + shift)


def _expf(x):
    """exp of a float32, rounded to float32 (glibc's expf rounds correctly but for rare ties)."""
    return np.float32(math.exp(float(x)))


def _normal_slow(u, draw):
    """The rest of boost 1.74's unit_normal_distribution<float> for a first draw u that the
    common case did not accept."""
    (tx, ty), _ = _tables()
    while True:
        r, bucket = _int_float_pair(np.uint32(u))
        bucket = int(bucket)
        sign = np.float32((bucket & 1) * 2 - 1)
        i = bucket >> 1
        x = np.float32(r * np.float32(tx[i]))
        if float(x) < tx[i + 1]:
            return np.float32(x * sign)
        if i == 0:
            lam = np.float32(tx[1])
            while True:
                ex = np.float32(_unit_exponential(draw) / lam)
                ey = _unit_exponential(draw)
                if np.float32(2) * ey > np.float32(ex * ex):
                    return np.float32(np.float32(ex + lam) * sign)
        y01 = _uniform01(draw)
        y = np.float32(np.float32(ty[i]) + y01 * np.float32(ty[i + 1] - ty[i]))
        lower_line = np.float32(np.float32(tx[i] - tx[i + 1]) * y01 - np.float32(np.float32(tx[i]) - x))
        tangent = np.float32(y - np.float32(np.float32(ty[i]) + np.float32(np.float32(tx[i]) - x) *
                                           np.float32(ty[i]) * np.float32(tx[i])))
        above_upper, above_lower = (lower_line, tangent) if tx[i] >= 1 else (tangent, lower_line)
        if above_upper < 0 and (above_lower < 0 or y < _expf(-np.float32(np.float32(x * x) / np.float32(2)))):
            return np.float32(x * sign)
        u = draw()


def gaussian(n, mean, sigma):
    """caffe_rng_gaussian<float>(n, mean, sigma): n float32 values of boost's normal_distribution
    (z * sigma + mean, in float32)."""
    (tx, _), _ = _tables()
    tx32 = tx.astype(np.float32)
    mean, sigma = np.float32(mean), np.float32(sigma)

    def fast(u):
        r, bucket = _int_float_pair(u)
        i = bucket >> 1
        x = r * tx32[i]
        sign = ((bucket & 1) * 2 - 1).astype(np.float32)
        return x * sign, x.astype(np.float64) < tx[i + 1]

    z = _walk(n, fast, _normal_slow)
    return z * sigma + mean


# -- bernoulli_distribution ---------------------------------------------------------------------
def bernoulli(n, p, dtype=np.float64):
    """caffe_rng_bernoulli(n, p): n booleans, True with probability p; boost's
    bernoulli_distribution<dtype> compares dtype(u) <= p * dtype(2^32 - 1) (one draw each, none
    when p == 0)."""
    p = dtype(p)
    if p == 0:
        return np.zeros(n, dtype=bool)
    return raw(n).astype(dtype) <= p * dtype(_U32)


def dropout_mask(shape, ratio):
    """The units a CPU Dropout forward keeps (dropout_layer.cpp: bernoulli with p = 1 - ratio in
    double), as a bool tensor of `shape`."""
    keep = bernoulli(math.prod(shape), 1.0 - float(np.float32(ratio)))
    return torch.from_numpy(keep.reshape(shape))


# -- the walk over draws ------------------------------------------------------------------------
def _walk(n, fast, slow, chunk=1 << 22):
    """n float32 values, walked `chunk` values at a time to bound memory (see _walk_chunk)."""
    parts = [_walk_chunk(min(chunk, n - start), fast, slow) for start in range(0, n, chunk)]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float32)


def _walk_chunk(n, fast, slow):
    """n float32 values of a distribution that mostly takes one draw per value.

    fast(u) maps an array of first draws to (values, accepted); slow(u, draw) finishes a value
    whose first draw u was not accepted, taking further draws from draw().  Draws are taken
    from the stream only as far as they are used, so its position stays exact.
    """
    out = np.empty(n, dtype=np.float32)
    if n == 0:
        return out
    buf = raw(n)
    vals, ok = fast(buf)
    bad = np.flatnonzero(~ok)
    pos = done = 0

    def extend(k):
        nonlocal buf, vals, ok, bad
        more = raw(k)
        v, o = fast(more)
        bad = np.concatenate([bad, len(buf) + np.flatnonzero(~o)])
        buf, vals, ok = np.concatenate([buf, more]), np.concatenate([vals, v]), np.concatenate([ok, o])

    while done < n:
        if pos == len(buf):
            extend(n - done)
        j = np.searchsorted(bad, pos)
        stop = bad[j] if j < len(bad) else len(buf)
        k = min(stop - pos, n - done)
        out[done:done + k] = vals[pos:pos + k]
        done += k
        pos += k
        if done == n or pos == len(buf):
            continue
        cursor = pos + 1

        def draw():
            nonlocal cursor
            if cursor == len(buf):
                extend(n - done)    # this value and each one after it take at least one more draw
            cursor += 1
            return int(buf[cursor - 1])
        out[done] = slow(int(buf[pos]), draw)
        done += 1
        pos = cursor
    return out
