"""Layers with output-shape rules (Pooling, Convolution, Deconvolution, Crop, Flatten) against an
independent statement of Caffe's loops, swept over kernel, stride, pad per axis, dilation,
global pooling and rounding: top shapes, forward values and backward diffs.

The references below are written from BVLC Caffe's sources (pooling_layer.cpp,
conv_layer.cpp, deconv_layer.cpp, base_conv_layer.cpp, util/im2col.cpp, crop_layer.cpp,
flatten_layer.cpp), in numpy, in the loop order Caffe uses where the order decides a value.
"""
import itertools
import math

import numpy as np
import pytest

from tc_helpers import run_layer as run

RNG = np.random.RandomState
F32 = np.float32
FLT_MAX = np.finfo(np.float32).max


def assert_same_floats(got, want):
    """Bit-for-bit float32 agreement, the sign of zero and NaN positions included."""
    got, want = np.asarray(got, F32), np.asarray(want, F32)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


# -- Pooling -------------------------------------------------------------------------------

def pooled_size_ref(size, k, s, p, any_pad, ceil):
    """PoolingLayer::Reshape: float division, CEIL or FLOOR, then the last-window drop on
    every axis whenever pad_h or pad_w is non-zero."""
    q = F32(size + 2 * p - k) / F32(s)
    out = int(math.ceil(q) if ceil else math.floor(q)) + 1
    if any_pad and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool_ref(x, method, k, s, p, ceil=True, top_diff=None):
    """PoolingLayer Forward_cpu / Backward_cpu in float32; returns (top, bottom_diff).

    MAX: top starts at -FLT_MAX and the mask at -1; an element replaces the running maximum
    only when strictly larger; backward adds each top diff at its mask index (none for -1).
    AVE: pool_size = (hend - hstart) * (wend - wstart) on the window clipped to size + pad,
    before the start is clipped to 0; top = (sum of image elements) / pool_size.
    """
    n, c, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    any_pad = bool(ph or pw)
    oh, ow = pooled_size_ref(H, kh, sh, ph, any_pad, ceil), pooled_size_ref(W, kw, sw, pw, any_pad, ceil)
    top = np.zeros((n, c, oh, ow), F32)
    dx = np.zeros(x.shape, F32)
    for i, j in itertools.product(range(oh), range(ow)):
        hs, ws = i * sh - ph, j * sw - pw
        if method == 'MAX':
            he, we = min(hs + kh, H), min(ws + kw, W)
            hs, ws = max(hs, 0), max(ws, 0)
            best = np.full((n, c), -FLT_MAX, F32)
            mask = np.full((n, c), -1)
            for h, w in itertools.product(range(hs, he), range(ws, we)):
                better = x[:, :, h, w] > best
                best = np.where(better, x[:, :, h, w], best)
                mask = np.where(better, h * W + w, mask)
            top[:, :, i, j] = best
            if top_diff is not None:
                for a, b in zip(*np.nonzero(mask >= 0)):
                    dx[a, b].flat[mask[a, b]] += top_diff[a, b, i, j]
        else:
            he, we = min(hs + kh, H + ph), min(ws + kw, W + pw)
            pool_size = F32((he - hs) * (we - ws))
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
            acc = np.zeros((n, c), F32)
            for h, w in itertools.product(range(hs, he), range(ws, we)):
                acc += x[:, :, h, w]
            with np.errstate(invalid='ignore', divide='ignore'):
                top[:, :, i, j] = acc / pool_size
                if top_diff is not None:
                    share = top_diff[:, :, i, j] / pool_size
            if top_diff is not None:
                for h, w in itertools.product(range(hs, he), range(ws, we)):
                    dx[:, :, h, w] += share
    return top, dx


def pool_layer(method, k=None, s=(1, 1), p=(0, 0), ceil=True, global_pooling=False):
    geometry = 'global_pooling: true' if global_pooling else (
        'kernel_h: %d kernel_w: %d stride_h: %d stride_w: %d pad_h: %d pad_w: %d' % (k + s + p))
    return ('layer { name: "pool" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: %s %s%s } }'
            % (method, geometry, '' if ceil else ' round_mode: FLOOR'))


def check_pooling(method, hw, k, s, p, ceil=True, global_pooling=False, seed=0):
    """Top shape, values and diffs of the layer against pool_ref; values bit-exact (small integer
    inputs make every sum exact), MAX diffs exact (integer top diffs), AVE diffs to float rounding."""
    rng = RNG(seed)
    x = rng.randint(-3, 4, size=(2, 2) + hw).astype(F32)          # ties in most windows
    kk = hw if global_pooling else k
    want, _ = pool_ref(x, method, kk, s, p, ceil)
    g = rng.randint(-4, 5, size=want.shape).astype(F32)
    _, dx = pool_ref(x, method, kk, s, p, ceil, g)
    net = run(pool_layer(method, k, s, p, ceil, global_pooling), {'x': x}, top_diffs={'y': g})
    assert net.blobs['y'].data.shape == want.shape, (hw, k, s, p)
    assert_same_floats(net.blobs['y'].data, want)
    if method == 'MAX':
        assert_same_floats(net.blobs['x'].diff, dx)
    else:
        np.testing.assert_allclose(net.blobs['x'].diff, dx, rtol=1e-6, atol=1e-6)
    return want


def test_pooling_pad_in_one_axis_drops_the_last_window_of_both():
    """Issue 15's example: pad_w alone also drops the last row of windows, which would start in
    the bottom padding's place; Caffe gives 1x2x2x4."""
    x = np.arange(32, dtype=F32).reshape(1, 2, 4, 4)
    net = run(pool_layer('MAX', (1, 3), (2, 1), (0, 1)), {'x': x})
    assert net.blobs['y'].data.shape == (1, 2, 2, 4)
    np.testing.assert_array_equal(net.blobs['y'].data[0, 0], [[1, 2, 3, 3], [9, 10, 11, 11]])
    check_pooling('MAX', (4, 4), (1, 3), (2, 1), (0, 1))
    check_pooling('AVE', (4, 4), (1, 3), (2, 1), (0, 1))


@pytest.mark.parametrize('method', ['MAX', 'AVE'])
def test_pooling_windows_without_image_elements(method):
    """No padding, kernel smaller than stride: Caffe keeps windows past the image. MAX gives
    -FLT_MAX there and routes no diff; AVE gives 0 / pool_size: NaN when the window starts at
    the image's end (pool_size 0), -0 when it starts past it (pool_size < 0)."""
    x = RNG(1).randint(-3, 4, size=(2, 2, 5, 4)).astype(F32)
    # rows: starts 0, 3, 6 in a 5-row image (extent -1); columns: starts 0, 2, 4 in 4 (extent 0)
    top = check_pooling(method, (5, 4), (1, 1), (3, 2), (0, 0))
    assert top.shape == (2, 2, 3, 3)
    if method == 'MAX':
        assert np.all(top[:, :, 2, :] == -FLT_MAX) and np.all(top[:, :, :, 2] == -FLT_MAX)
    else:
        assert np.all(np.isnan(top[:, :, :, 2]))
        assert np.all(top[:, :, 2, :2] == 0) and np.all(np.signbit(top[:, :, 2, :2]))
    net = run(pool_layer(method, (1, 1), (3, 2), (0, 0)), {'x': x}, top_diffs={'y': np.ones(top.shape, F32)})
    hit = np.zeros(x.shape, bool)
    hit[:, :, ::3, ::2] = True
    assert np.all(net.blobs['x'].diff[~hit] == 0) and np.all(net.blobs['x'].diff[hit] == 1)


def test_max_pooling_of_values_at_or_below_minus_flt_max():
    """Caffe's running maximum starts at -FLT_MAX and needs a strictly larger element: a window
    of -inf or -FLT_MAX gives -FLT_MAX and no diff."""
    x = np.array([[[[-np.inf, -np.inf, 1], [-FLT_MAX, -np.inf, 2]]]], F32)
    net = run(pool_layer('MAX', (2, 1), (1, 1), (0, 0)), {'x': x}, top_diffs={'y': np.ones((1, 1, 1, 3), F32)})
    assert_same_floats(net.blobs['y'].data, [[[[-FLT_MAX, -FLT_MAX, 2]]]])
    assert_same_floats(net.blobs['x'].diff, [[[[0, 0, 0], [0, 0, 1]]]])


POOL_CASES = [
    # name, (H, W), (kh, kw), (sh, sw), (ph, pw)
    ('ceil_rounding', (7, 9), (2, 2), (2, 2), (0, 0)),
    ('ceil_overlap', (6, 7), (3, 3), (2, 2), (0, 0)),
    ('pad_edge_windows', (6, 6), (3, 3), (2, 2), (1, 1)),
    ('dropped_last_window', (4, 4), (4, 4), (3, 3), (2, 2)),
    ('dropped_last_window_2', (5, 5), (3, 3), (4, 4), (2, 2)),
    ('rect_kernel', (5, 8), (2, 3), (1, 2), (1, 0)),
    ('rect_all', (7, 6), (3, 2), (2, 1), (1, 1)),
    ('big_pad', (5, 5), (5, 5), (3, 3), (4, 4)),
    ('pad_h_only_drops_w', (6, 7), (3, 1), (2, 3), (1, 0)),
    ('kernel_wider_than_image', (3, 2), (4, 3), (2, 3), (1, 0)),
]


@pytest.mark.parametrize('method', ['MAX', 'AVE'])
@pytest.mark.parametrize('name,hw,k,s,p', POOL_CASES, ids=[c[0] for c in POOL_CASES])
def test_pooling_named_cases(method, name, hw, k, s, p):
    check_pooling(method, hw, k, s, p)


def _pool_sweep():
    """A fixed sample of every per-axis (size, kernel, stride, pad) with pad < kernel (Caffe's
    check), in both rounding modes; degenerate and one-axis-padded geometries included."""
    axis = [(n, k, s, p) for n in (1, 2, 3, 5, 6) for k in (1, 2, 3, 4) for s in (1, 2, 3)
            for p in range(k)]
    rng = RNG(2)
    cases = []
    for _ in range(150):
        (H, kh, sh, ph), (W, kw, sw, pw) = (axis[i] for i in rng.randint(len(axis), size=2))
        cases.append(((H, W), (kh, kw), (sh, sw), (ph, pw), bool(rng.randint(4))))
    unpadded = [a for a in axis if a[3] == 0]       # where windows past the image stay (no drop)
    for _ in range(40):
        (H, kh, sh, _), (W, kw, sw, _) = (unpadded[i] for i in rng.randint(len(unpadded), size=2))
        cases.append(((H, W), (kh, kw), (sh, sw), (0, 0), True))
    return cases


POOL_SWEEP = _pool_sweep()


@pytest.mark.parametrize('method', ['MAX', 'AVE'])
def test_pooling_sweep(method):
    tops = []
    for i, (hw, k, s, p, ceil) in enumerate(POOL_SWEEP):
        sizes = [pooled_size_ref(n, kk, ss, pp, bool(p[0] or p[1]), ceil) for n, kk, ss, pp in zip(hw, k, s, p)]
        if min(sizes) < 0:
            with pytest.raises(Exception, match='negative size'):
                run(pool_layer(method, k, s, p, ceil), {'x': np.zeros((2, 2) + hw, F32)})
            continue
        tops.append(check_pooling(method, hw, k, s, p, ceil, seed=i))
    # the sample reaches the rules this file is about
    assert len(tops) > 100
    assert any(0 in t.shape[2:] for t in tops)
    empty_window = (lambda t: np.any(t == -FLT_MAX)) if method == 'MAX' else \
        (lambda t: np.any(np.isnan(t)) or np.any((t == 0) & np.signbit(t)))
    assert sum(map(empty_window, tops)) >= 5
    assert any(p[0] != p[1] and 0 in p for _, _, _, p, _ in POOL_SWEEP)
    assert sum(not c for *_, c in POOL_SWEEP) > 10


@pytest.mark.parametrize('method', ['MAX', 'AVE'])
@pytest.mark.parametrize('hw', [(1, 1), (5, 7), (4, 1)])
def test_global_pooling(method, hw):
    top = check_pooling(method, hw, None, (1, 1), (0, 0), global_pooling=True)
    assert top.shape == (2, 2, 1, 1)


# -- Convolution and Deconvolution ----------------------------------------------------------

def conv_out_ref(size, k, s, p, d):
    """conv_layer.cpp compute_output_shape: C++ int division (toward zero) of in + 2p - extent."""
    num = size + 2 * p - (d * (k - 1) + 1)
    return int(num / s) + 1


def _taps(k, s, p, d, out, size):
    """(kernel row, kernel col, out row, out col, image row, image col) for every tap that lands
    inside the image: image index = out index * stride - pad + kernel index * dilation."""
    for i, j, y, x in itertools.product(range(k[0]), range(k[1]), range(out[0]), range(out[1])):
        r, c = y * s[0] - p[0] + i * d[0], x * s[1] - p[1] + j * d[1]
        if 0 <= r < size[0] and 0 <= c < size[1]:
            yield i, j, y, x, r, c


def im2col_ref(img, k, s, p, d, out):
    """util/im2col.cpp im2col_cpu: col[c, i, j, y, x] = img[c, r, c'] at the tap, 0 outside the image."""
    col = np.zeros((img.shape[0],) + tuple(k) + tuple(out), img.dtype)
    for i, j, y, x, r, c in _taps(k, s, p, d, out, img.shape[1:]):
        col[:, i, j, y, x] = img[:, r, c]
    return col


def col2im_ref(col, shape, k, s, p, d):
    """util/im2col.cpp col2im_cpu: the adjoint of im2col_ref, adding each column entry back."""
    img = np.zeros(shape, col.dtype)
    for i, j, y, x, r, c in _taps(k, s, p, d, col.shape[3:], shape[1:]):
        img[:, r, c] += col[:, i, j, y, x]
    return img


def grouped(weight_rows, cols, group):
    """Per group, (rows x K) @ (K x spatial), as base_conv_layer.cpp's gemm loop over groups."""
    rows = np.split(weight_rows, group, 0)
    parts = np.split(cols, group, 0)
    return np.concatenate([r @ c for r, c in zip(rows, parts)], 0)


def conv_ref(x, w, b, k, s, p, d, group, g):
    """ConvolutionLayer: forward = W @ im2col(x) + b; backward: weight diff = g @ col^T,
    bias diff = sum of g, bottom diff = col2im(W^T @ g)."""
    n, C, H, W = x.shape
    O = w.shape[0]
    out = [conv_out_ref(H, k[0], s[0], p[0], d[0]), conv_out_ref(W, k[1], s[1], p[1], d[1])]
    cg, og = C // group, O // group
    wr = w.reshape(O, -1)
    y = np.zeros((n, O) + tuple(out))
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for a in range(n):
        col = im2col_ref(x[a].astype(np.float64), k, s, p, d, out).reshape(C * k[0] * k[1], -1)
        y[a] = grouped(wr, col, group).reshape((O,) + tuple(out)) + b[:, None, None]
        ga = g[a].reshape(O, -1)
        for q in range(group):
            cq = col[q * cg * k[0] * k[1]:(q + 1) * cg * k[0] * k[1]]
            dw[q * og:(q + 1) * og] += (ga[q * og:(q + 1) * og] @ cq.T).reshape((og, cg) + tuple(k))
        dcol = np.concatenate([wr[q * og:(q + 1) * og].T @ ga[q * og:(q + 1) * og] for q in range(group)], 0)
        dx[a] = col2im_ref(dcol.reshape((C,) + tuple(k) + tuple(out)), (C, H, W), k, s, p, d)
    return y, dx, dw, g.sum((0, 2, 3))


def deconv_ref(x, w, b, k, s, p, d, group, g):
    """DeconvolutionLayer (deconv_layer.cpp): forward is the conv's backward to its input,
    top = col2im(W^T @ x) + b on out = s (in - 1) + extent - 2p; the bottom diff is the conv's
    forward, W @ im2col(g); weight diff = x @ im2col(g)^T."""
    n, C, H, W = x.shape
    og = w.shape[1]
    O, cg = og * group, C // group
    out = [s[i] * ((H, W)[i] - 1) + d[i] * (k[i] - 1) + 1 - 2 * p[i] for i in range(2)]
    wr = w.reshape(C, -1)
    y = np.zeros((n, O) + tuple(out))
    dx, dw = np.zeros(x.shape), np.zeros(w.shape)
    for a in range(n):
        xa = x[a].reshape(C, -1).astype(np.float64)
        col = np.concatenate([wr[q * cg:(q + 1) * cg].T @ xa[q * cg:(q + 1) * cg] for q in range(group)], 0)
        y[a] = col2im_ref(col.reshape((O,) + tuple(k) + (H, W)), (O,) + tuple(out), k, s, p, d) + b[:, None, None]
        gcol = im2col_ref(g[a].astype(np.float64), k, s, p, d, (H, W)).reshape(O * k[0] * k[1], -1)
        dx[a] = grouped(wr, gcol, group).reshape(C, H, W)
        for q in range(group):
            gq = gcol[q * og * k[0] * k[1]:(q + 1) * og * k[0] * k[1]]
            dw[q * cg:(q + 1) * cg] += (xa[q * cg:(q + 1) * cg] @ gq.T).reshape((cg, og) + tuple(k))
    return y, dx, dw, g.sum((0, 2, 3))


def conv_layer(kind, num_output, group, k, s, p, d):
    geometry = ('kernel_h: %d kernel_w: %d stride_h: %d stride_w: %d pad_h: %d pad_w: %d' % (k + s + p)
                + ''.join(' dilation: %d' % v for v in (d if d[0] != d[1] else d[:1])))
    return ('layer { name: "c" type: "%s" bottom: "x" top: "y" convolution_param { num_output: %d group: %d %s '
            'weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }'
            % (kind, num_output, group, geometry))


def check_conv(kind, hw, k, s, p, d, group, seed):
    """The layer's top shape, top, bottom diff, weight and bias diffs against the reference."""
    rng = RNG(seed)
    C, O = 2 * group, 2 * group if kind == 'Convolution' else 3 * group
    x = rng.randn(2, C, *hw).astype(F32)
    ref = conv_ref if kind == 'Convolution' else deconv_ref
    if kind == 'Convolution':
        out = [conv_out_ref(n, kk, ss, pp, dd) for n, kk, ss, pp, dd in zip(hw, k, s, p, d)]
    else:
        out = [ss * (n - 1) + dd * (kk - 1) + 1 - 2 * pp for n, kk, ss, pp, dd in zip(hw, k, s, p, d)]
    if min(out) < 0:
        with pytest.raises(Exception, match='negative size'):
            run(conv_layer(kind, O, group, k, s, p, d), {'x': x})
        return None
    net = run(conv_layer(kind, O, group, k, s, p, d), {'x': x})
    w, b = net.params['c'][0].data, net.params['c'][1].data
    g = rng.randn(2, O, *out).astype(F32)
    net.blobs['y'].diff[...] = g
    net.backward()
    y, dx, dw, db = ref(x, w, b, k, s, p, d, group, g)
    assert net.blobs['y'].data.shape == y.shape, (kind, hw, k, s, p, d)
    tol = dict(rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.blobs['y'].data, y, **tol)
    np.testing.assert_allclose(net.blobs['x'].diff, dx, **tol)
    np.testing.assert_allclose(net.params['c'][0].diff, dw, **tol)
    np.testing.assert_allclose(net.params['c'][1].diff, db, **tol)
    return y.shape


def _conv_sweep(seed):
    axis = [(n, k, s, p, d) for n in (1, 2, 4, 5) for k in (1, 2, 3) for s in (1, 2, 3)
            for p in (0, 1, 2) for d in (1, 2)]
    rng = RNG(seed)
    return [tuple(zip(*(axis[i] for i in rng.randint(len(axis), size=2)))) + (1 + rng.randint(2),)
            for _ in range(50)]


@pytest.mark.parametrize('kind', ['Convolution', 'Deconvolution'])
def test_convolution_sweep(kind):
    """Per-axis kernel, stride, pad and dilation, with groups; for Convolution this includes
    kernels wider than the padded input (C++ division gives 1 or 0 outputs, im2col reads zeros)."""
    shapes = [check_conv(kind, hw, k, s, p, d, group, seed=i)
              for i, (hw, k, s, p, d, group) in enumerate(_conv_sweep(3 if kind == 'Convolution' else 4))]
    done = [sh for sh in shapes if sh is not None]
    assert len(done) > 30
    if kind == 'Convolution':
        assert any(0 in sh[2:] for sh in done)


def test_convolution_kernel_past_the_padded_input():
    """in + 2p - extent = -1 with stride 2: Caffe's C++ division gives 0, so one output, read
    from zeros past the image; -2 gives none: an empty top."""
    assert check_conv('Convolution', (2, 3), (3, 4), (2, 2), (0, 0), (1, 1), 1, seed=5)[2:] == (1, 1)
    assert check_conv('Convolution', (2, 4), (4, 3), (2, 2), (0, 0), (1, 1), 1, seed=6)[2:] == (0, 1)


def test_convolution_pad_h_alone_leaves_pad_w_zero():
    """base_conv_layer.cpp reads pad_h and pad_w when either is set; the other keeps its default 0."""
    x = RNG(7).randn(1, 1, 4, 4).astype(F32)
    net = run('layer { name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param { num_output: 1 '
              'kernel_size: 3 pad_h: 1 } }', {'x': x})
    assert net.blobs['y'].data.shape == (1, 1, 4, 2)


# -- Crop ---------------------------------------------------------------------------------------

def crop_ref(x, ref_shape, axis, offsets, g):
    """CropLayer::Reshape: axes before `axis` keep bottom 0's size, later ones take bottom 1's,
    at one offset for all or one per axis; backward puts the top diff back at the crop."""
    n_axes = x.ndim
    axis = axis + n_axes if axis < 0 else axis
    offs = [0] * n_axes
    for i in range(axis, n_axes):
        offs[i] = offsets[0] if len(offsets) == 1 else (offsets[i - axis] if offsets else 0)
    shape = [x.shape[i] if i < axis else ref_shape[i] for i in range(n_axes)]
    index = tuple(slice(o, o + n) for o, n in zip(offs, shape))
    dx = np.zeros_like(x)
    dx[index] = g
    return x[index], dx


@pytest.mark.parametrize('axis', [0, 1, 2, 3, -1, -2])
@pytest.mark.parametrize('offset_kind', ['none', 'one', 'each'])
def test_crop_sweep(axis, offset_kind):
    rng = RNG(8)
    x = rng.randn(3, 4, 7, 6).astype(F32)
    ref = np.zeros((2, 3, 4, 5), F32)
    first = axis % 4
    offsets = {'none': [], 'one': [1], 'each': [rng.randint(0, x.shape[i] - ref.shape[i] + 1)
                                              for i in range(first, 4)]}[offset_kind]
    text = ('layer { name: "crop" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: %d %s } }'
            % (axis, ''.join(' offset: %d' % o for o in offsets)))
    want_shape = tuple(x.shape[i] if i < first else ref.shape[i] for i in range(4))
    g = rng.randn(*want_shape).astype(F32)
    want, dx = crop_ref(x, ref.shape, axis, offsets, g)
    net = run(text, {'x': x, 'r': ref}, top_diffs={'y': g})
    assert_same_floats(net.blobs['y'].data, want)
    assert_same_floats(net.blobs['x'].diff, dx)


def test_crop_past_the_end_fails():
    """crop_layer.cpp CHECK_GE(bottom0 size - offset, bottom1 size)."""
    with pytest.raises(Exception, match='exceeds'):
        run('layer { name: "crop" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 2 offset: 3 } }',
            {'x': np.zeros((1, 1, 5, 5), F32), 'r': np.zeros((1, 1, 3, 3), F32)})


def test_crop_reads_only_the_cropped_axes_of_bottom_1():
    """Bottom 1 may have more axes than bottom 0 (Caffe reads its shape(i) for i < bottom 0's
    axes only), but not fewer."""
    x = RNG(9).randn(2, 3, 6, 5).astype(F32)
    text = 'layer { name: "crop" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 2 offset: 1 } }'
    net = run(text, {'x': x, 'r': np.zeros((1, 1, 4, 3, 7), F32)})
    assert_same_floats(net.blobs['y'].data, x[:, :, 1:5, 1:4])
    with pytest.raises(Exception, match='at least'):
        run(text, {'x': x, 'r': np.zeros((1, 1, 4), F32)})


# -- Flatten -------------------------------------------------------------------------------------

def flatten_shape_ref(shape, axis, end_axis):
    """flatten_layer.cpp: shape[:start] + [count(start, end + 1)] + shape[end + 1:], where
    Blob::count(a, b) needs a <= b (None: Caffe fails) and is 1 for a == b."""
    n = len(shape)
    start, end = axis % n, end_axis % n
    if end + 1 < start:
        return None
    return tuple(shape[:start]) + (int(np.prod(shape[start:end + 1])),) + tuple(shape[end + 1:])


def test_flatten_sweep():
    x = RNG(10).randn(2, 3, 4, 5).astype(F32)
    for axis, end_axis in itertools.product(range(-4, 4), repeat=2):
        text = ('layer { name: "f" type: "Flatten" bottom: "x" top: "y" flatten_param { axis: %d end_axis: %d } }'
                % (axis, end_axis))
        want = flatten_shape_ref(x.shape, axis, end_axis)
        if want is None:
            with pytest.raises(Exception, match='end_axis'):
                run(text, {'x': x})
            continue
        g = RNG(11).randn(*want).astype(F32)
        net = run(text, {'x': x}, top_diffs={'y': g})
        assert_same_floats(net.blobs['y'].data, x.reshape(want))
        assert_same_floats(net.blobs['x'].diff, g.reshape(x.shape))
