"""BVLC's python/caffe/coord_map.py semantics, for the stand-in.

Unlike torchcaffe's, it knows no Concat (nor Softmax, Clip, Swish): a walk
back through one stops there, so a crop whose only common ancestor lies
behind a Concat raises RuntimeError.  Window parameters are read from the
layer's keywords (or its ``convolution_param`` dict) only: a Pooling given as
``pooling_param=dict(...)`` is a KeyError, legacy ``_h``/``_w`` keys an
AssertionError.  Crop's checks are assertions, as in pycaffe.
"""
import numpy as np

from .net_spec import layers as L

PASS_THROUGH_LAYERS = ['AbsVal', 'BatchNorm', 'Bias', 'BNLL', 'Dropout', 'Eltwise', 'ELU', 'Log',
                       'LRN', 'Exp', 'MVN', 'Power', 'ReLU', 'PReLU', 'Scale', 'Sigmoid', 'Split',
                       'TanH', 'Threshold']
_LEGACY = {'pad_h', 'pad_w', 'kernel_h', 'kernel_w', 'stride_h', 'stride_w'}


class UndefinedMapException(Exception):
    """The layer type has no coordinate map."""


class AxisMismatchException(Exception):
    """Two maps disagree on the first spatial axis."""


def _vec(value):
    return np.array(value, ndmin=1)


def conv_params(fn):
    """(axis, stride, dilated kernel extent, pad) of a Convolution/Deconvolution/Pooling/Im2col."""
    p = fn.params.get('convolution_param', fn.params)
    assert not _LEGACY & set(fn.params), 'legacy _h/_w window parameters cannot be mapped'
    extent = (_vec(p['kernel_size']) - 1) * _vec(p.get('dilation', 1)) + 1
    return p.get('axis', 1), _vec(p.get('stride', 1)), extent, _vec(p.get('pad', 0))


def crop_params(fn):
    """(axis, offset) of a Crop layer, defaults filled in."""
    p = fn.params.get('crop_param', fn.params)
    return p.get('axis', 2), _vec(p.get('offset', 0))


def coord_map(fn):
    """(axis, scale, shift) of layer Function fn: input x lands on output scale * x + shift."""
    if fn.type_name in ('Convolution', 'Pooling', 'Im2col'):
        axis, stride, extent, pad = conv_params(fn)
        return axis, 1 / stride, (pad - (extent - 1) / 2) / stride
    if fn.type_name == 'Deconvolution':
        axis, stride, extent, pad = conv_params(fn)
        return axis, stride, (extent - 1) / 2 - pad
    if fn.type_name in PASS_THROUGH_LAYERS:
        return None, 1, 0
    if fn.type_name == 'Crop':
        axis, offset = crop_params(fn)
        return axis - 1, 1, -offset
    raise UndefinedMapException


def compose(base_map, next_map):
    """The map of next_map followed by base_map."""
    ax1, a1, b1 = base_map
    ax2, a2, b2 = next_map
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException
    return (ax2 if ax1 is None else ax1), a1 * a2, a1 * b2 + b1


def inverse(coord_map):
    """The map in the opposite direction."""
    ax, a, b = coord_map
    return ax, 1 / a, -b / a


def _bottoms(top):
    """What a walk follows back from top (a Crop's reference bottom is not followed)."""
    inputs = top.fn.inputs
    return inputs[:1] if top.fn.type_name == 'Crop' else inputs


def coord_map_from_to(top_from, top_to):
    """The map from top_from's coordinates to top_to's, through a common ancestor."""
    from_maps, todo = {top_from: (None, 1, 0)}, [top_from]
    while todo:
        top = todo.pop()
        try:
            step = coord_map(top.fn)
        except UndefinedMapException:
            continue
        for bottom in _bottoms(top):
            from_maps[bottom] = compose(from_maps[top], step)
            todo.append(bottom)
    to_maps, todo = {top_to: (None, 1, 0)}, [top_to]
    while todo:
        top = todo.pop()
        if top in from_maps:
            return compose(to_maps[top], inverse(from_maps[top]))
        try:
            step = coord_map(top.fn)
        except UndefinedMapException:
            continue
        for bottom in _bottoms(top):
            to_maps[bottom] = compose(to_maps[top], step)
            todo.append(bottom)
    raise RuntimeError('no common ancestor of the two tops is reachable through layers with '
                       'coordinate maps')


def crop(top_from, top_to):
    """L.Crop of top_from to top_to with the axis and offsets their coordinate map gives."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    assert (a == 1).all(), 'the tops differ in scale (%s)' % a
    assert (b <= 0).all(), 'negative crop offset (%s)' % -b
    assert (np.round(b) == b).all(), 'non-integral crop offset (%s)' % -b
    return L.Crop(top_from, top_to,
                  crop_param=dict(axis=ax + 1, offset=list(-np.round(b).astype(int))))
