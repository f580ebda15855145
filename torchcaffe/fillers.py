"""Caffe's weight fillers (filler.hpp). The default (no filler given) is constant 0.

Once the random stream is seeded (caffe.set_random_seed, a solver's random_seed) the random
fillers draw from Caffe's CPU stream (torchcaffe.rng) in Caffe's order and arithmetic; unseeded
they draw from torch's generator.
"""
import math

import numpy as np
import torch

from . import rng
from .blob import check_size
from .errors import CaffeError


def _fans(shape):
    count = math.prod(shape)
    fan_in = count // shape[0] if shape and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    return fan_in, fan_out


def _scale_n(param, shape):
    fan_in, fan_out = _fans(shape)
    norm = param.variance_norm
    if norm == param.AVERAGE:
        return (fan_in + fan_out) / 2.0
    if norm == param.FAN_OUT:
        return float(fan_out)
    return float(fan_in)


def _scale_n32(param, shape):
    """Xavier's and MSRA's n in float32, as filler.hpp computes it from int fans."""
    fan_in, fan_out = _fans(shape)
    norm = param.variance_norm
    if norm == param.AVERAGE:
        return np.float32(fan_in + fan_out) / np.float32(2)
    return np.float32(fan_out if norm == param.FAN_OUT else fan_in)


def _fill_caffe(param, shape):
    """The random fillers drawing from Caffe's stream, as filler.hpp does; a float32 array."""
    kind, count = param.type, math.prod(shape)
    if kind != 'gaussian' and param.sparse != -1:
        raise CaffeError('%s filler: sparsity is only supported by the gaussian filler' % kind)
    if kind == 'uniform':
        return rng.uniform(count, param.min, param.max)
    if kind == 'gaussian':
        values = rng.gaussian(count, param.mean, param.std)
        if param.sparse >= 0:
            if not shape:
                raise CaffeError('sparse gaussian filler needs a blob with at least one axis')
            p = np.float32(param.sparse) / np.float32(shape[0])
            if p > 1:
                raise CaffeError('sparse gaussian filler: sparse %d exceeds the %d outputs' % (param.sparse, shape[0]))
            values *= rng.bernoulli(count, p, np.float32)
        return values
    if kind == 'positive_unitball':
        rows = rng.uniform(count, 0, 1).reshape(shape[0] if shape else 1, -1)
        return (rows / np.cumsum(rows, axis=1, dtype=np.float32)[:, -1:]).ravel()
    if kind == 'xavier':
        scale = np.sqrt(np.float32(3) / _scale_n32(param, shape))
        return rng.uniform(count, -scale, scale)
    return rng.gaussian(count, 0, np.sqrt(np.float32(2) / _scale_n32(param, shape)))   # msra


def bilinear_kernel(size):
    """The size x size bilinear upsampling kernel Caffe's bilinear filler writes."""
    f = math.ceil(size / 2.0)
    c = (size - 1) / (2.0 * f)
    ramp = 1 - torch.abs(torch.arange(size, dtype=torch.float64) / f - c)
    return (ramp[:, None] * ramp[None, :]).float()


def fill(param, shape):
    """A new float32 CPU tensor of `shape` filled as FillerParameter `param` says."""
    shape = tuple(shape)
    check_size(shape)
    kind = param.type
    if rng.seeded() and kind in ('uniform', 'gaussian', 'positive_unitball', 'xavier', 'msra'):
        return torch.from_numpy(_fill_caffe(param, shape).reshape(shape))
    t = torch.empty(shape, dtype=torch.float32)
    if kind == 'constant':
        t.fill_(param.value)
    elif kind == 'uniform':
        t.uniform_(param.min, param.max)
    elif kind == 'gaussian':
        t.normal_(param.mean, param.std)
        if param.sparse >= 0:
            if not shape:
                raise CaffeError('sparse gaussian filler needs a blob with at least one axis')
            keep = torch.rand(shape) < param.sparse / shape[0]
            t.mul_(keep)
    elif kind == 'positive_unitball':
        t.uniform_(0, 1)
        rows = t.view(shape[0], -1) if shape else t.view(1, -1)
        rows.div_(rows.sum(dim=1, keepdim=True))
    elif kind == 'xavier':
        scale = math.sqrt(3.0 / _scale_n(param, shape))
        t.uniform_(-scale, scale)
    elif kind == 'msra':
        t.normal_(0.0, math.sqrt(2.0 / _scale_n(param, shape)))
    elif kind == 'bilinear':
        if len(shape) != 4 or shape[2] != shape[3]:
            raise CaffeError('bilinear filler needs a 4-D blob with a square kernel, got %s' % (shape,))
        t[...] = bilinear_kernel(shape[3])
    else:
        raise CaffeError('unknown filler type %r' % kind)
    return t
