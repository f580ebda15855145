"""Caffe's CPU random stream: one boost::mt19937 per process, and boost's distributions over it.

Caffe::set_random_seed(seed) (and a solver's random_seed, plus the solver's rank) seeds one
mt19937 from which the fillers and every CPU Dropout forward draw (common.cpp,
math_functions.cpp caffe_rng_uniform / caffe_rng_gaussian / caffe_rng_bernoulli).  The values
here follow boost 1.74 (Debian's) to the bit: uniform_real's generate_uniform_real,
normal_distribution's 128-layer ziggurat (tail by exponential_distribution's 256-layer
ziggurat), bernoulli_distribution, and mt19937's seeding (init_genrand).

numpy's MT19937 bit generator, set to boost's seeded state, gives the raw 32-bit draws in
bulk; each distribution maps them on whole arrays in float32 exactly as boost computes it,
including the draws it refuses and draws again for (uniform_real's rounding to the top, the
ziggurat's second stage), and only the ziggurat's tail is walked value by value, so the stream
position stays exact (_walk).

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

    def fast(u):
        v = (u.astype(np.float32) / _TWO32) * span + a
        return v, np.where(v < top, 1, -1).astype(np.int8)    # a value >= top is drawn again
    return _walk(n, fast, None)


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
    """exp of a float32 value, computed in double and rounded to float32 (what expf gives, but
    for the rarest roundings)."""
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
    z = _walk(n, _normal_fast, _normal_slow)
    return z * np.float32(sigma) + np.float32(mean)


@functools.cache
def _normal_arrays():
    """The normal table as the float32 and float64 values unit_normal_distribution<float> reads."""
    (tx, ty), _ = _tables()
    f32 = np.float32
    return tx, tx.astype(f32), ty.astype(f32), (tx[:-1] - tx[1:]).astype(f32), (ty[1:] - ty[:-1]).astype(f32)


def _normal_fast(u):
    """unit_normal_distribution<float> for every draw of u taken as a value's first draw: accepted
    at once (code 1); or, in a layer above the base, accepted (2) or refused (-2) with the next
    draw as y01, a refusal starting over two draws on; the base layer's tail, and a y01 that rounds
    to 1, are left to _normal_slow (0)."""
    tx, tx32, ty32, dx32, dy32 = _normal_arrays()
    r, bucket = _int_float_pair(u)
    i = bucket >> 1
    x = r * tx32[i]
    values = x * ((bucket & 1) * 2 - 1).astype(np.float32)
    ok = x.astype(np.float64) < tx[i + 1]
    code = ok.astype(np.int8)
    c = np.flatnonzero(~ok & (i > 0))
    c = c[c + 1 < len(u)]
    y01 = u[c + 1].astype(np.float32) * np.float32(2.0 ** -32)
    c, y01 = c[y01 < 1], y01[y01 < 1]
    ic, xc = i[c], x[c]
    y = ty32[ic] + y01 * dy32[ic]
    chord = dx32[ic] * y01 - (tx32[ic] - xc)
    tangent = y - (ty32[ic] + (tx32[ic] - xc) * ty32[ic] * tx32[ic])
    convex = tx[ic] >= 1
    above_upper, above_lower = np.where(convex, chord, tangent), np.where(convex, tangent, chord)
    fx = np.exp(-((xc * xc) / np.float32(2)).astype(np.float64)).astype(np.float32)
    code[c] = np.where((above_upper < 0) & ((above_lower < 0) | (y < fx)), 2, -2)
    return values, code


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


def _visited(code):
    """Which positions a walk from position 0 reaches when position p takes |code[p]| draws (1 or
    2): after a one-draw position the next is reached, and along a run of two-draw positions every
    other one is."""
    two = np.abs(code) == 2
    if not two.any():
        return np.ones(len(code), dtype=bool)
    index = np.arange(len(code))
    last_one = np.maximum.accumulate(np.concatenate([[-1], np.where(two, -1, index)[:-1]]))
    return (index - last_one - 1) % 2 == 0


def _walk_chunk(n, fast, slow):
    """n float32 values of a distribution that takes one or two draws for most values.

    fast(u) maps an array of draws, each taken as a value's first draw, to (values, codes): 1 a
    value from one draw, 2 a value from two (never at u's last draw, whose next fast cannot see), -1 / -2 no value (one / two draws refused, the value
    starts over after them), 0 left to slow(u, draw), which finishes that value taking further
    draws from draw().  Which draws start values follows from the codes (_visited); only the
    values left to slow are walked one by one.  Draws are taken from the stream only as far as
    they are used, so its position stays exact.
    """
    out = np.empty(n, dtype=np.float32)
    buf = raw(n)
    done = pos = 0
    while done < n:
        if pos == len(buf):
            buf = np.concatenate([buf, raw(n - done)])   # each value still to come takes a draw at least
        values, code = fast(buf[pos:])
        if done == 0 and (code == 1).all():     # every draw a value: the common case of uniform_real
            return values
        visited = _visited(code)
        two = np.abs(code) == 2
        m, start = len(code), 0

        def emit(lo, hi):
            nonlocal done
            taken = (np.flatnonzero(visited[lo:hi] & (code[lo:hi] > 0)) + lo)[:n - done]
            out[done:done + len(taken)] = values[taken]
            done += len(taken)
        for s in np.flatnonzero(code == 0):
            if s < start or not visited[s]:
                continue
            emit(start, s)
            if done == n:
                break
            cursor = pos + s + 1

            def draw():
                nonlocal buf, cursor
                if cursor == len(buf):
                    buf = np.concatenate([buf, raw(n - done)])   # this value and each one after it
                cursor += 1
                return int(buf[cursor - 1])
            out[done] = slow(int(buf[pos + s]), draw)
            done += 1
            start = cursor - pos
            if done == n or start >= m:
                break
            visited[s + 1:start] = False       # the draws slow took start no value
            q, reached = start, True
            while q < m and visited[q] != reached:
                visited[q] = reached
                reached = not (reached and two[q])
                q += 1
        else:
            emit(start, m)
            start = m
        pos += start
    return out
