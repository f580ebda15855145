"""Relate blob coordinates across a NetSpec graph (pycaffe's ``coord_map``).

A layer's coordinate map is a triple ``(axis, scale, shift)`` saying that
input coordinate ``x`` lands on output coordinate ``y = scale * x + shift``
along every spatial dimension after ``axis`` (the last non-spatial one);
``axis`` is ``None`` for layers that leave coordinates alone.  Composing maps
along the graph relates any two tops with a common ancestor, which is what
:func:`crop` needs to align, e.g., FCN's upsampled scores with its input.

Arithmetic is done with exact fractions, so offsets are never off by
floating-point rounding.
"""

from fractions import Fraction

import numpy as np

from .net_spec import layers as L

__all__ = ['PASS_THROUGH_LAYERS', 'CoordMapError', 'UndefinedMapException',
           'AxisMismatchException', 'coord_map', 'compose', 'inverse',
           'coord_map_from_to', 'crop']

# Layers whose outputs have the same spatial coordinates as their inputs.
PASS_THROUGH_LAYERS = frozenset([
    'AbsVal', 'BatchNorm', 'Bias', 'BNLL', 'Clip', 'Dropout', 'Eltwise',
    'ELU', 'Exp', 'Log', 'LRN', 'MVN', 'Power', 'PReLU', 'ReLU', 'Scale',
    'Sigmoid', 'Softmax', 'Split', 'Swish', 'TanH', 'Threshold'])

IDENTITY = (None, (Fraction(1),), (Fraction(0),))


class CoordMapError(RuntimeError):
    """Base class of all coordinate-mapping failures."""


class UndefinedMapException(CoordMapError):
    """The layer type has no known coordinate map (the walk stops there)."""


class AxisMismatchException(CoordMapError):
    """Two maps on the path disagree on which axis is the spatial start."""


def _fracs(values):
    """Tuple of Fractions from a scalar or a sequence of numbers."""
    values = values if isinstance(values, (list, tuple)) else [values]
    return tuple(Fraction(v) for v in values)


def _zip(*seqs):
    """Zip per-dimension tuples, broadcasting length-1 ones."""
    n = max(len(s) for s in seqs)
    if any(len(s) not in (1, n) for s in seqs):
        raise CoordMapError('spatial dimension counts differ: %s'
                            % [len(s) for s in seqs])
    return zip(*(tuple(s) * n if len(s) == 1 else s for s in seqs))


def _window(fn):
    """Spatial ``(axis, stride, extent, pad)`` of a conv-like layer.

    ``extent`` is the dilated kernel size.  Reads the filled-in parameter
    message, so keyword, dict and legacy ``_h``/``_w`` spellings all work.
    """
    lp = fn.param_proto()
    if fn.type_name == 'Pooling':
        p = lp.pooling_param
        if p.global_pooling:
            raise UndefinedMapException('global pooling has no coord map')
        axis, dilation = 1, [1]
        kernel = [p.kernel_size] if p.HasField('kernel_size') else []
        stride, pad = [p.stride], [p.pad]
    else:
        p = lp.convolution_param
        axis, dilation = p.axis, list(p.dilation) or [1]
        kernel, stride = list(p.kernel_size), list(p.stride) or [1]
        pad = list(p.pad) or [0]
    if p.HasField('kernel_h') or p.HasField('kernel_w'):
        kernel = [p.kernel_h, p.kernel_w]
    if p.HasField('stride_h') or p.HasField('stride_w'):
        stride = [p.stride_h, p.stride_w]
    if p.HasField('pad_h') or p.HasField('pad_w'):
        pad = [p.pad_h, p.pad_w]
    if not kernel:
        raise CoordMapError('%s layer has no kernel size' % fn.type_name)
    extent = tuple((k - 1) * d + 1 for k, d in _zip(_fracs(kernel),
                                                    _fracs(dilation)))
    return axis, _fracs(stride), extent, _fracs(pad)


def coord_map(fn):
    """``(axis, scale, shift)`` of layer Function ``fn`` (input -> output).

    Raises UndefinedMapException for layer types whose spatial effect is
    unknown here.
    """
    t = fn.type_name
    if t in ('Convolution', 'Pooling', 'Im2col'):
        axis, stride, extent, pad = _window(fn)
        dims = list(_zip(stride, extent, pad))
        return (axis, tuple(1 / s for s, _, _ in dims),
                tuple((p - (e - 1) / 2) / s for s, e, p in dims))
    if t == 'Deconvolution':
        axis, stride, extent, pad = _window(fn)
        return (axis, stride,
                tuple((e - 1) / 2 - p for e, p in _zip(extent, pad)))
    if t == 'Crop':
        p = fn.param_proto().crop_param
        return p.axis - 1, (Fraction(1),), tuple(-o for o in
                                                 _fracs(list(p.offset) or [0]))
    if t in PASS_THROUGH_LAYERS:
        return IDENTITY
    if t == 'Concat':
        p = fn.param_proto().concat_param
        axis = p.concat_dim if p.HasField('concat_dim') else p.axis
        if axis in (0, 1):  # stacking along batch/channels keeps H, W
            return IDENTITY
    raise UndefinedMapException('no coordinate map for %s layers' % t)


def compose(base, step):
    """Map ``x -> base(step(x))``: scales multiply, ``step``'s shift is
    scaled by ``base``'s scale."""
    ax1, a1, b1 = base
    ax2, a2, b2 = step
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException('spatial axes disagree: %d vs %d'
                                    % (ax1, ax2))
    ax = ax2 if ax1 is None else ax1
    dims = list(_zip(a1, b1, a2, b2))
    return (ax, tuple(p * q for p, _, q, _ in dims),
            tuple(p * d + c for p, c, _, d in dims))


def inverse(cmap):
    """Map in the opposite direction (output -> input)."""
    ax, a, b = cmap
    return ax, tuple(1 / x for x in a), tuple(-y / x for x, y in _zip(a, b))


def _bottoms(top):
    """Inputs to follow back from ``top``; a Crop's reference is skipped."""
    inputs = top.fn.inputs
    return inputs[:1] if top.fn.type_name == 'Crop' else inputs


def _ancestor_maps(top):
    """Walk back from ``top`` breadth first: {ancestor: map ancestor->top}."""
    maps, queue = {top: IDENTITY}, [top]
    for cur in queue:
        try:
            step = coord_map(cur.fn)
        except UndefinedMapException:
            continue
        for bottom in _bottoms(cur):
            if bottom not in maps:
                maps[bottom] = compose(maps[cur], step)
                queue.append(bottom)
    return maps


def _exact_map(top_from, top_to):
    """Exact (Fraction) coordinate map from ``top_from`` to ``top_to``."""
    from_maps = _ancestor_maps(top_from)
    to_maps = _ancestor_maps(top_to)
    for anc in to_maps:  # nearest ancestors of top_to come first
        if anc in from_maps:
            return compose(to_maps[anc], inverse(from_maps[anc]))
    raise CoordMapError('no common ancestor reachable through spatially '
                        'mapped layers between %s and %s'
                        % (top_from.fn.type_name, top_to.fn.type_name))


def coord_map_from_to(top_from, top_to):
    """``(axis, scale, shift)`` relating ``top_from`` coords to ``top_to``'s.

    The point at ``top_from`` coordinate ``x`` lies at ``top_to`` coordinate
    ``scale * x + shift``; found through their nearest common ancestor.  Scale and shift are float numpy arrays (one entry,
    or one per spatial dim), as in pycaffe.
    """
    ax, a, b = _exact_map(top_from, top_to)
    return ax, np.array(a, dtype=float), np.array(b, dtype=float)


def crop(top_from, top_to):
    """``L.Crop(top_from, top_to)`` with axis and offsets that align them.

    ``top_to`` coordinate ``y`` sits at ``top_from`` coordinate ``y + offset``.
    Requires equal scale and a non-negative integral offset; otherwise a
    CoordMapError explains which condition failed.
    """
    ax, a, b = _exact_map(top_from, top_to)
    if any(x != 1 for x in a):
        raise CoordMapError('cannot crop: blobs differ in scale (%s)'
                            % ', '.join(str(x) for x in a))
    if any(y.denominator != 1 for y in b):
        raise CoordMapError('cannot crop: offset is not integral (%s)'
                            % ', '.join(str(-y) for y in b))
    if any(y > 0 for y in b):
        raise CoordMapError('cannot crop: negative offset (%s), top_from '
                            'starts inside top_to'
                            % ', '.join(str(-y) for y in b))
    axis = 2 if ax is None else ax + 1  # first cropped axis
    return L.Crop(top_from, top_to,
                  crop_param=dict(axis=axis, offset=[int(-y) for y in b]))
