"""Layers that route or reshape data: Input, Split, Silence, Concat, Eltwise,
Flatten, Reshape, InnerProduct."""
import math

import torch

from ..proto import caffe_pb2
from .base import Layer, canonical_axis, register


@register('Input')
class Input(Layer):
    """Net inputs: the tops keep whatever the user writes into them."""
    num_bottoms = 0
    min_tops, max_tops = 1, 1 << 30
    passive = True

    def input_shapes(self, n_top):
        shapes = [tuple(s.dim) for s in self.param.input_param.shape]
        if len(shapes) == 1:
            shapes = shapes * n_top
        if len(shapes) != n_top:
            self.fail('give one input shape, or one per top (%d), got %d' % (n_top, len(shapes)))
        return shapes


@register('Split')
class Split(Layer):
    num_bottoms = 1
    min_tops, max_tops = 1, 1 << 30

    def setup(self, bottom_shapes):
        self.n_top = len(self.param.top)

    def forward(self, bottoms, params):
        return [bottoms[0].view_as(bottoms[0]) for _ in range(self.n_top)]


@register('Silence')
class Silence(Layer):
    min_tops, max_tops = 0, 0

    def forward(self, bottoms, params):
        return []


@register('Concat')
class Concat(Layer):
    def setup(self, bottom_shapes):
        p = self.param.concat_param
        if not bottom_shapes:
            self.fail('needs at least one bottom')
        axis = p.concat_dim if p.HasField('concat_dim') else p.axis
        self.axis = canonical_axis(axis, len(bottom_shapes[0]), self)

    def forward(self, bottoms, params):
        for b in bottoms[1:]:
            if b.dim() != bottoms[0].dim() or any(
                    b.shape[i] != bottoms[0].shape[i] for i in range(b.dim()) if i != self.axis):
                self.fail('bottom shapes %s and %s differ outside the concat axis %d'
                          % (tuple(bottoms[0].shape), tuple(b.shape), self.axis))
        return [torch.cat(bottoms, self.axis)]


@register('Eltwise')
class Eltwise(Layer):
    def setup(self, bottom_shapes):
        p = self.param.eltwise_param
        if len(bottom_shapes) < 2:
            self.fail('needs at least two bottoms')
        self.op = caffe_pb2.EltwiseParameter.EltwiseOp.Name(p.operation)
        self.coeff = list(p.coeff) or [1.0] * len(bottom_shapes)
        if len(self.coeff) != len(bottom_shapes):
            self.fail('give one coeff per bottom (%d), got %d' % (len(bottom_shapes), len(self.coeff)))
        if p.coeff and self.op == 'PROD':   # MAX takes coefficients and ignores them (eltwise_layer.cpp)
            self.fail('Eltwise layer only takes coefficients for summation (not PROD)')

    def forward(self, bottoms, params):
        for b in bottoms[1:]:
            if b.shape != bottoms[0].shape:
                self.fail('bottom shapes differ: %s vs %s' % (tuple(bottoms[0].shape), tuple(b.shape)))
        if self.op == 'PROD':
            return [math.prod(bottoms[1:], start=bottoms[0])]
        if self.op == 'MAX':
            # Caffe's tie rule: bottom 1 wins a tie with bottom 0; later bottoms must be strictly larger.
            a, b = bottoms[0], bottoms[1]
            top = torch.where(a > b, a, b)
            for c in bottoms[2:]:
                top = torch.where(c > top, c, top)
            return [top]
        top = bottoms[0] if self.coeff[0] == 1 else bottoms[0] * self.coeff[0]
        for c, b in zip(self.coeff[1:], bottoms[1:]):
            top = top + b if c == 1 else top + b * c
        return [top]


def refuse_in_place(layer):
    """Flatten and Reshape give the top a new shape over the bottom's values: Caffe refuses a top
    that is the bottom (flatten_layer.cpp, reshape_layer.cpp)."""
    if layer.param.top and layer.param.bottom and layer.param.top[0] == layer.param.bottom[0]:
        layer.fail('%s Layer does not allow in-place computation (top %r is its bottom)'
                   % (layer.type, layer.param.top[0]))


@register('Flatten')
class Flatten(Layer):
    num_bottoms = 1

    def setup(self, bottom_shapes):
        refuse_in_place(self)

    def forward(self, bottoms, params):
        """Axes start..end become one of their product (flatten_layer.cpp); with end just before
        start that product is empty, so Caffe inserts an axis of size 1."""
        x = bottoms[0]
        p = self.param.flatten_param
        start = canonical_axis(p.axis, x.dim(), self)
        end = canonical_axis(p.end_axis, x.dim(), self)
        if end + 1 < start:
            self.fail('end_axis %d comes more than one axis before axis %d' % (p.end_axis, p.axis))
        return [x.reshape(x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:])]


@register('Reshape')
class Reshape(Layer):
    """Caffe's Reshape: 0 copies a bottom dimension, -1 infers one; applies to [axis, axis+num_axes)."""
    num_bottoms = 1

    def setup(self, bottom_shapes):
        refuse_in_place(self)

    def forward(self, bottoms, params):
        x = bottoms[0]
        p = self.param.reshape_param
        n = x.dim()
        start = p.axis + n + 1 if p.axis < 0 else p.axis
        if not 0 <= start <= n:
            self.fail('axis %d out of range for a %d-axis bottom' % (p.axis, n))
        end = n if p.num_axes == -1 else start + p.num_axes
        if p.num_axes < -1 or end > n:
            self.fail('num_axes %d out of range' % p.num_axes)
        dims = list(p.shape.dim)
        if dims.count(-1) > 1:
            self.fail('at most one -1 dimension may be inferred')
        new = []
        for i, d in enumerate(dims):
            if d == 0:
                if start + i >= n:
                    self.fail('dimension %d is 0 (copy) but the bottom has no axis %d' % (i, start + i))
                new.append(x.shape[start + i])
            elif d < -1:
                self.fail('dimension %d is %d; only -1 and 0 are special' % (i, d))
            else:
                new.append(d)
        shape = list(x.shape[:start]) + new + list(x.shape[end:])
        if -1 in shape:
            known = math.prod(d for d in shape if d != -1)
            if known == 0 or x.numel() % known:
                self.fail('cannot infer the -1 dimension of %s from %d values' % (shape, x.numel()))
            shape[shape.index(-1)] = x.numel() // known
        if math.prod(shape) != x.numel():
            self.fail('shape %s does not hold the bottom\'s %d values' % (shape, x.numel()))
        return [x.reshape(shape)]


@register('InnerProduct')
class InnerProduct(Layer):
    num_bottoms = 1

    def setup(self, bottom_shapes):
        p = self.param.inner_product_param
        shape = bottom_shapes[0]
        self.axis = canonical_axis(p.axis, len(shape), self)
        self.k = math.prod(shape[self.axis:])
        self.transpose = p.transpose
        if p.num_output <= 0:
            self.fail('num_output must be positive')
        self.add_param_blob((self.k, p.num_output) if p.transpose else (p.num_output, self.k),
                            p.weight_filler)
        if p.bias_term:
            self.add_param_blob((p.num_output,), p.bias_filler)

    def forward(self, bottoms, params):
        x = bottoms[0]
        lead = x.shape[:self.axis]
        flat = x.reshape(math.prod(lead), -1)
        if flat.shape[1] != self.k:
            self.fail('bottom has %d values per row from axis %d, the weights expect %d'
                      % (flat.shape[1], self.axis, self.k))
        w = params[0].t() if self.transpose else params[0]
        y = torch.nn.functional.linear(flat, w, params[1] if len(params) > 1 else None)
        return [y.reshape(tuple(lead) + (y.shape[1],))]
