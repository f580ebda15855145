"""Element-wise layers: ReLU, Dropout, Sigmoid, TanH, Power, Scale."""
import torch
import torch.nn.functional as F

from .. import rng
from ..proto import caffe_pb2
from .base import Layer, canonical_axis, register


@register('ReLU')
class ReLU(Layer):
    num_bottoms = 1

    def forward(self, bottoms, params):
        slope = self.param.relu_param.negative_slope
        x = bottoms[0]
        return [F.relu(x) if slope == 0 else F.leaky_relu(x, slope)]


@register('Dropout')
class Dropout(Layer):
    """Scales kept units by 1/(1-p) while training; the identity when testing.

    On the CPU with a seeded stream the mask is Caffe's (torchcaffe.rng, one draw per unit in
    blob order); on a GPU or unseeded it comes from torch's generator.
    """
    num_bottoms = 1

    def setup(self, bottom_shapes):
        self.ratio = self.param.dropout_param.dropout_ratio
        if not 0 <= self.ratio < 1:
            self.fail('dropout_ratio must be in [0, 1), got %g' % self.ratio)

    def forward(self, bottoms, params):
        x = bottoms[0]
        if self.phase != caffe_pb2.TRAIN or x.device.type == 'meta':
            return [x.view_as(x)]
        if x.device.type == 'cpu' and rng.seeded():
            keep = rng.dropout_mask(tuple(x.shape), self.ratio)
        else:
            keep = torch.rand_like(x) >= self.ratio
        return [x * keep * (1.0 / (1.0 - self.ratio))]


@register('Sigmoid')
class Sigmoid(Layer):
    num_bottoms = 1

    def forward(self, bottoms, params):
        return [torch.sigmoid(bottoms[0])]


@register('TanH')
class TanH(Layer):
    num_bottoms = 1

    def forward(self, bottoms, params):
        return [torch.tanh(bottoms[0])]


@register('Power')
class Power(Layer):
    """(shift + scale * x) ^ power."""
    num_bottoms = 1

    def forward(self, bottoms, params):
        p = self.param.power_param
        x = bottoms[0]
        if p.power == 0 or p.scale == 0:
            return [torch.full_like(x, 1.0 if p.power == 0 else p.shift ** p.power)]
        y = x * p.scale + p.shift if (p.scale != 1 or p.shift != 0) else x.view_as(x)
        return [y if p.power == 1 else torch.pow(y, p.power)]


@register('Scale')
class Scale(Layer):
    """Multiply by a learned (one bottom) or given (two bottoms) scale, broadcast from `axis`."""

    def check_counts(self, n_bottom, n_top):
        if n_bottom not in (1, 2) or n_top != 1:
            self.fail('takes 1 or 2 bottoms and 1 top')

    def setup(self, bottom_shapes):
        p = self.param.scale_param
        shape = bottom_shapes[0]
        if len(bottom_shapes) == 2:
            scale_shape = tuple(bottom_shapes[1])
        else:
            axis = canonical_axis(p.axis, len(shape), self)
            end = len(shape) if p.num_axes == -1 else axis + p.num_axes
            if p.num_axes < -1 or end > len(shape):
                self.fail('num_axes %d does not fit a %d-axis bottom from axis %d'
                          % (p.num_axes, len(shape), axis))
            scale_shape = tuple(shape[axis:end])
            filler = p.filler if p.HasField('filler') else caffe_pb2.FillerParameter(type='constant', value=1)
            self.add_param_blob(scale_shape, filler)
        # A scalar scale applies everywhere, whatever the axis says.
        self.axis = canonical_axis(p.axis, len(shape), self) if scale_shape else 0
        if tuple(shape[self.axis:self.axis + len(scale_shape)]) != scale_shape:
            self.fail('scale shape %s does not match bottom shape %s from axis %d'
                      % (scale_shape, tuple(shape), self.axis))
        self.scale_ndim = len(scale_shape)
        if p.bias_term:
            self.add_param_blob(scale_shape, p.bias_filler)
        self.has_bias = p.bias_term

    def _broadcast(self, t, x):
        return t.reshape(t.shape + (1,) * (x.dim() - self.axis - self.scale_ndim))

    def forward(self, bottoms, params):
        x = bottoms[0]
        if len(bottoms) == 2:
            scale, rest = bottoms[1], params
        else:
            scale, rest = params[0], params[1:]
        y = x * self._broadcast(scale, x)
        if self.has_bias:
            y = y + self._broadcast(rest[0], x)
        return [y]
