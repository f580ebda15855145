"""Tiles whose kept centres get exactly the whole-image scores (DESIGN.md, "Tiles equal the whole").

Every score of an FCN depends on a bounded window of the input and on the
alignment of the pooling grids, anchored at the padded origin.  `geometry`
reads both from the deploy prototxt, layer by layer, with coord_map's
arithmetic (pycaffe's python/caffe/coord_map.py: a window of extent
(k - 1) * dilation + 1, stride s and pad p maps top index i to bottom
indices s * i - p ... s * i - p + extent - 1; a Deconvolution the other way
round; a Crop shifts by its offset):

* stride: how many input pixels one element of a blob steps over; a tile
  whose origin is a multiple of the coarsest (least common multiple) of
  them sees every pooling window where the whole image does;
* reach: output pixel u depends on input pixels u - before ... u + after,
  the receptive field, taken through the upsampling too.

`tiles` cuts an axis into kept parts of a given size with at least that much
real context on each side (none where the part touches the image border: the
net pads there exactly as in the whole pass).
"""
import math
from dataclasses import dataclass
from fractions import Fraction

from fcn.errors import FCNError
from fcn.weights import read_prototxt

#: Layers that leave the spatial coordinates alone (coord_map.PASS_THROUGH_LAYERS, plus Softmax).
PASS_THROUGH = frozenset(['AbsVal', 'BatchNorm', 'Bias', 'BNLL', 'Dropout', 'Eltwise', 'ELU', 'Exp', 'Log',
                          'LRN', 'MVN', 'Power', 'PReLU', 'ReLU', 'Scale', 'Sigmoid', 'Softmax', 'Split',
                          'TanH', 'Threshold', 'Clip', 'Swish', 'Concat'])


class TilingError(FCNError):
    """A net whose scores cannot be computed in tiles (a layer without a coordinate map, a global pooling)."""


@dataclass(frozen=True)
class Geometry:
    """stride: input pixels between pooling-grid origins; before / after: context in pixels an output
    pixel needs on each side (the receptive field's reach)."""
    stride: int
    before: int
    after: int


def _ints(values, default):
    values = list(values)
    return values or [default]


def _window(layer):
    """(stride, extent, pad) of a Convolution / Deconvolution / Pooling along H and W (Fractions)."""
    if layer.type == 'Pooling':
        p = layer.pooling_param
        if p.global_pooling:
            raise TilingError('layer %s pools globally' % layer.name)
        kernel, stride, pad, dilation = [p.kernel_size], [p.stride], [p.pad], [1]
    else:
        p = layer.convolution_param
        kernel, stride = _ints(p.kernel_size, 0), _ints(p.stride, 1)
        pad, dilation = _ints(p.pad, 0), _ints(p.dilation, 1)
    if p.HasField('kernel_h') or p.HasField('kernel_w'):
        kernel = [p.kernel_h, p.kernel_w]
    if p.HasField('stride_h') or p.HasField('stride_w'):
        stride = [p.stride_h, p.stride_w]
    if p.HasField('pad_h') or p.HasField('pad_w'):
        pad = [p.pad_h, p.pad_w]
    dims = []
    for axis in range(2):
        def pick(v):
            return Fraction(v[axis] if len(v) > 1 else v[0])
        dims.append((pick(stride), (pick(kernel) - 1) * pick(dilation) + 1, pick(pad)))
    if dims[0] != dims[1]:
        raise TilingError('layer %s has different windows along H and W' % layer.name)
    return dims[0]


def _crop_offset(layer):
    """A Crop's offset along H and W: one offset for every axis from `axis`, or one per axis."""
    c = layer.crop_param
    offsets = list(c.offset) or [0]
    spatial = {offsets[0] if len(offsets) == 1 else offsets[d - c.axis] for d in (2, 3) if d >= c.axis} or {0}
    if len(spatial) != 1:
        raise TilingError('layer %s crops H and W by different offsets' % layer.name)
    return Fraction(spatial.pop())


def _stride(layer, stride):
    """Input pixels per element of a layer's top, from its bottom's."""
    if layer.type in ('Convolution', 'Pooling'):
        return stride * _window(layer)[0]
    if layer.type == 'Deconvolution':
        return stride / _window(layer)[0]
    if layer.type == 'Crop':
        _crop_offset(layer)                       # H and W cropped alike, else TilingError
        return stride
    if layer.type in PASS_THROUGH:
        return stride
    raise TilingError('layer %s (%s) has no coordinate map' % (layer.name, layer.type))


def geometry(deploy, inputs, output):
    """Geometry of the blob `output` of the deploy prototxt `deploy` over its input blobs `inputs`.

    Raises TilingError when a layer on the way has no coordinate map, when the
    output is not at the input's scale, or when the inputs disagree.
    """
    net = read_prototxt(deploy)
    blobs = {name: Fraction(1) for name in inputs}      # input pixels per element of each blob
    for layer in net.layer:
        if layer.type == 'Input' or not layer.bottom:
            continue
        if any(b not in blobs for b in layer.bottom):
            continue                                  # not fed by the image
        strides = {blobs[b] for b in (layer.bottom[:1] if layer.type == 'Crop' else layer.bottom)}
        if len(strides) > 1:
            raise TilingError('layer %s joins blobs of different strides' % layer.name)
        for name in layer.top:
            blobs[name] = _stride(layer, strides.pop())
    if output not in blobs:
        raise TilingError('output %s does not depend on the input through mapped layers' % output)
    if blobs[output] != 1:
        raise TilingError('output %s is not at the input\'s scale (stride %s)' % (output, blobs[output]))
    grid = 1
    for s in set(blobs.values()):
        grid = grid * s.numerator // math.gcd(grid, s.numerator)
    before = after = 0
    far = grid * 1000                                 # an output pixel far from the borders, at each phase
    for u in range(far, far + grid):
        lo, hi = _inputs_of(net, set(inputs), output, u)
        before, after = max(before, int(u - lo)), max(after, int(hi - u))
    return Geometry(grid, before, after)


def _inputs_of(net, inputs, output, u):
    """(first, last) input pixel that output pixel u depends on: index intervals walked back exactly,
    layer by layer, from the output to the inputs."""
    need = {output: (u, u)}
    for layer in reversed(net.layer):
        spans = [need[t] for t in layer.top if t in need]
        if not spans or layer.type == 'Input':
            continue
        i0, i1 = min(x[0] for x in spans), max(x[1] for x in spans)
        if layer.type in ('Convolution', 'Pooling'):
            s, e, p = _window(layer)
            span = (s * i0 - p, s * i1 - p + e - 1)
        elif layer.type == 'Deconvolution':
            s, e, p = _window(layer)
            span = (math.ceil((i0 + p - e + 1) / s), math.floor((i1 + p) / s))
        elif layer.type == 'Crop':
            o = _crop_offset(layer)
            span = (i0 + o, i1 + o)
        else:
            span = (i0, i1)
        for b in (layer.bottom[:1] if layer.type == 'Crop' else layer.bottom):
            old = need.get(b, span)
            need[b] = (min(old[0], span[0]), max(old[1], span[1]))
    spans = [need[b] for b in inputs if b in need]
    return min(x[0] for x in spans), max(x[1] for x in spans)


def tiles(length, kept, geo):
    """[(x0, x1, k0, k1)] along one axis of `length` pixels: input window x0:x1, kept part k0:k1
    (k0 - x0 >= geo.before unless x0 == 0, x1 - k1 >= geo.after unless x1 == length, x0 a multiple
    of geo.stride)."""
    out = []
    for k0 in range(0, length, kept):
        k1 = min(length, k0 + kept)
        x0 = max(0, (k0 - geo.before) // geo.stride * geo.stride)
        out.append((x0, min(length, k1 + geo.after), k0, k1))
    return out


def window_side(kept, geo):
    """The largest input side a tile with `kept` pixels kept can have."""
    return kept + geo.before + geo.after + geo.stride - 1
