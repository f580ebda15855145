"""Spatial layers: Convolution, Deconvolution, Pooling, LRN, Crop."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from .. import mode
from ..proto import caffe_pb2
from .base import Layer, canonical_axis, register


def _pair(p, values, h_field, w_field, default, layer, what, both_required=True):
    """One (h, w) geometry value from Caffe's repeated/scalar field or its _h/_w twins.

    Convolution's pad_h alone leaves pad_w 0 (base_conv_layer.cpp); Pooling wants both.
    """
    if h_field and (p.HasField(h_field) or p.HasField(w_field)):
        if values:
            layer.fail('give %s either as %s or as %s/%s, not both' % (what, what, h_field, w_field))
        if both_required and not (p.HasField(h_field) and p.HasField(w_field)):
            layer.fail('%s and %s must be given together' % (h_field, w_field))
        return getattr(p, h_field), getattr(p, w_field)
    if not values:
        return default, default
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return values[0], values[1]
    layer.fail('only 2-D %s is supported, got %d values' % (what, len(values)))


def _conv_geometry(layer, p):
    kernel = _pair(p, list(p.kernel_size), 'kernel_h', 'kernel_w', None, layer, 'kernel_size')
    if kernel[0] is None:
        layer.fail('kernel_size (or kernel_h and kernel_w) is required')
    stride = _pair(p, list(p.stride), 'stride_h', 'stride_w', 1, layer, 'stride')
    pad = _pair(p, list(p.pad), 'pad_h', 'pad_w', 0, layer, 'pad', both_required=False)
    dilation = _pair(p, list(p.dilation), None, None, 1, layer, 'dilation')
    if min(kernel) <= 0 or min(stride) <= 0 or min(dilation) <= 0 or min(pad) < 0:
        layer.fail('kernel, stride and dilation must be positive and pad non-negative')
    return kernel, stride, pad, dilation


def _checked_size(layer, shape):
    """A top shape as Caffe's Blob::Reshape takes it: a zero extent is an empty blob, a negative one an error."""
    if min(shape) < 0:
        layer.fail('the bottom gives a top of shape %s (a negative size)' % (tuple(shape),))
    return tuple(shape)


class _ConvBase(Layer):
    num_bottoms = 1

    def setup(self, bottom_shapes):
        p = self.param.convolution_param
        shape = bottom_shapes[0]
        if p.axis != 1 and canonical_axis(p.axis, len(shape), self) != 1:
            self.fail('only channel axis 1 is supported')
        if len(shape) != 4:
            self.fail('expects a 4-D bottom (N, C, H, W), got shape %s' % (shape,))
        self.kernel, self.stride, self.pad, self.dilation = _conv_geometry(self, p)
        # each spatial axis's kernel extent, dilation * (kernel - 1) + 1
        self.extents = [d * (k - 1) + 1 for k, d in zip(self.kernel, self.dilation)]
        self.group = p.group
        if p.num_output <= 0:
            self.fail('num_output must be positive')
        channels = shape[1]
        if channels % self.group or p.num_output % self.group:
            self.fail('channels (%d) and num_output (%d) must both be divisible by group (%d)'
                      % (channels, p.num_output, self.group))
        self.channels = channels
        self.num_output = p.num_output
        # A net built in fast mode keeps its weights channels_last, so no pass pays to transpose them.
        self.add_param_blob(self.weight_shape(channels, p.num_output), p.weight_filler, mode.memory_format())
        if p.bias_term:
            self.add_param_blob((p.num_output,), p.bias_filler)

    def inputs(self, bottoms, params):
        """(input, weight, bias) after checking the input, in fast mode's layout if chosen."""
        x, weight = bottoms[0], params[0]
        if x.dim() != 4 or x.shape[1] != self.channels:
            self.fail('bottom shape %s does not match the %d input channels set up'
                      % (tuple(x.shape), self.channels))
        fmt, dtype = mode.memory_format(), mode.compute_dtype()
        if fmt is not torch.contiguous_format or dtype is not None:
            # the input in fast mode's layout and dtype in one copy; the weight keeps the layout it
            # was stored in (transposing a big one each pass costs more than the convolution gains)
            x = x.to(dtype=dtype or x.dtype, memory_format=fmt)
            if dtype is not None:
                weight = weight.to(dtype)
        return x, weight, params[1] if len(params) > 1 else None


def _trunc_div(a, b):
    """C++ integer division: the quotient rounded toward zero."""
    q = abs(a) // b
    return q if a >= 0 else -q


@register('Convolution')
class Convolution(_ConvBase):
    def weight_shape(self, channels, num_output):
        return (num_output, channels // self.group) + tuple(self.kernel)

    def forward(self, bottoms, params):
        x, weight, bias = self.inputs(bottoms, params)
        sizes = [x.shape[2] + 2 * self.pad[0], x.shape[3] + 2 * self.pad[1]]
        if sizes[0] >= self.extents[0] and sizes[1] >= self.extents[1]:   # torch's arithmetic is Caffe's
            return [F.conv2d(x, weight, bias, self.stride, self.pad, self.dilation, self.group)]
        # conv_layer.cpp: out = (in + 2 pad - extent) / stride + 1 in C++ integer division, so a
        # kernel up to stride - 1 wider than the padded input still gives one output; im2col
        # reads zeros there, which the extra bottom/right padding below supplies.
        out = [_trunc_div(s - e, st) + 1 for s, e, st in zip(sizes, self.extents, self.stride)]
        shape = _checked_size(self, (x.shape[0], self.num_output) + tuple(out))
        if 0 in shape:
            return [x.new_zeros(shape)]
        short = [max(0, e - s) for s, e in zip(sizes, self.extents)]
        if any(short):
            x = F.pad(x, (0, short[1], 0, short[0]))
        return [F.conv2d(x, weight, bias, self.stride, self.pad, self.dilation, self.group)]


@register('Deconvolution')
class Deconvolution(_ConvBase):
    def weight_shape(self, channels, num_output):
        return (channels, num_output // self.group) + tuple(self.kernel)

    def forward(self, bottoms, params):
        x, weight, bias = self.inputs(bottoms, params)
        # deconv_layer.cpp: out = stride * (in - 1) + extent - 2 pad
        out = [st * (x.shape[2 + i] - 1) + e - 2 * p
               for i, (st, e, p) in enumerate(zip(self.stride, self.extents, self.pad))]
        shape = _checked_size(self, (x.shape[0], self.num_output) + tuple(out))
        if 0 in shape:
            return [x.new_zeros(shape)]
        return [F.conv_transpose2d(x, weight, bias, self.stride, self.pad, 0, self.group, self.dilation)]


FLT_MAX = float(np.finfo(np.float32).max)


def caffe_pooled_size(size, kernel, stride, pad, any_pad, round_up=True):
    """Caffe's pooled extent of one axis (PoolingLayer::Reshape, pooling_layer.cpp).

    (size + 2 pad - kernel) / stride in float32, rounded up (CEIL) or down (FLOOR), plus one;
    then, when the layer pads on *either* axis (`any_pad`), a last window that would start at
    or past size + pad is dropped on every axis, its own padding or not.
    """
    q = np.float32(size + 2 * pad - kernel) / np.float32(stride)
    out = int(np.ceil(q) if round_up else np.floor(q)) + 1
    if any_pad and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _torch_pooled_size(size, kernel, stride, pad, round_up):
    """What F.max_pool2d/avg_pool2d give: ceil mode drops a last window starting past size + pad."""
    if not round_up:
        return (size + 2 * pad - kernel) // stride + 1
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _window_sizes(out, size, kernel, stride, pad):
    """Per output index, AVE's divisor along one axis: the window clipped to size + pad only,
    min(start + kernel, size + pad) - start with start = i * stride - pad; it is zero or negative
    where the window starts at or past size + pad (pooling_layer.cpp)."""
    starts = [i * stride - pad for i in range(out)]
    return [min(start + kernel, size + pad) - start for start in starts]


def caffe_pool2d(x, method, kernel, stride, pad, round_up=True):
    """Caffe's MAX or AVE pooling of an (N, C, H, W) tensor (pooling_layer.cpp, Forward_cpu).

    MAX starts each window at -FLT_MAX and keeps a value only if it is strictly larger, so a
    window without an image element, or whose elements are all <= -FLT_MAX, gives -FLT_MAX and
    routes no diff; ties go to the first maximum in row-major order. AVE sums the window's image
    elements and divides by Caffe's pool_size, the window clipped to the padded extent (padding
    counts, what lies beyond it does not): a window without image elements gives
    0 / pool_size, i.e. 0, -0 or NaN.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    H, W = x.shape[-2:]
    any_pad = bool(ph or pw)
    oh = caffe_pooled_size(H, kh, sh, ph, any_pad, round_up)
    ow = caffe_pooled_size(W, kw, sw, pw, any_pad, round_up)
    if oh <= 0 or ow <= 0:
        return x.new_zeros(x.shape[:-2] + (max(oh, 0), max(ow, 0)))
    torch_agrees = ((oh, ow) == (_torch_pooled_size(H, kh, sh, ph, round_up),
                                 _torch_pooled_size(W, kw, sw, pw, round_up))
                    and 2 * ph <= kh and 2 * pw <= kw)
    if torch_agrees:
        # every window holds an image element and its divisor is Caffe's
        if method == 'AVE':
            return F.avg_pool2d(x, kernel, stride, pad, ceil_mode=round_up, count_include_pad=True)
        top = F.max_pool2d(x, kernel, stride, pad, ceil_mode=round_up)
    else:
        # Pad explicitly so every window Caffe visits exists, image elements or not.
        extra_h = max(0, (oh - 1) * sh + kh - H - 2 * ph)
        extra_w = max(0, (ow - 1) * sw + kw - W - 2 * pw)
        if method == 'AVE':
            padded = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h))
            # window sums as a convolution with ones (ONNX export drops avg_pool2d's divisor_override)
            planes = padded.reshape((-1, 1) + padded.shape[-2:])
            ones = torch.ones((1, 1, kh, kw), dtype=x.dtype, device=x.device)
            sums = F.conv2d(planes, ones, stride=stride)
            sums = sums.reshape(x.shape[:-2] + sums.shape[-2:])[..., :oh, :ow]
            sizes = np.outer(_window_sizes(oh, H, kh, sh, ph), _window_sizes(ow, W, kw, sw, pw))
            return sums / torch.tensor(sizes, dtype=x.dtype, device=x.device)
        padded = F.pad(x, (pw, pw + extra_w, ph, ph + extra_h), value=-math.inf)
        top = F.max_pool2d(padded, kernel, stride)[..., :oh, :ow]
    return torch.where(top > -FLT_MAX, top, -FLT_MAX)


@register('Pooling')
class Pooling(Layer):
    num_bottoms = 1

    def setup(self, bottom_shapes):
        p = self.param.pooling_param
        if len(bottom_shapes[0]) != 4:
            self.fail('expects a 4-D bottom (N, C, H, W), got shape %s' % (bottom_shapes[0],))
        self.method = caffe_pb2.PoolingParameter.PoolMethod.Name(p.pool)
        if self.method not in ('MAX', 'AVE'):
            self.fail('%s pooling is not supported (MAX and AVE are)' % self.method)
        self.round_up = p.round_mode == caffe_pb2.PoolingParameter.CEIL
        self.global_pooling = p.global_pooling
        self.stride = _pair(p, [p.stride] if p.HasField('stride') else [], 'stride_h', 'stride_w', 1, self, 'stride')
        self.pad = _pair(p, [p.pad] if p.HasField('pad') else [], 'pad_h', 'pad_w', 0, self, 'pad')
        if min(self.stride) <= 0:
            self.fail('strides must be positive')
        if self.global_pooling:
            if p.HasField('kernel_size') or p.HasField('kernel_h') or p.HasField('kernel_w'):
                self.fail('global_pooling and a kernel size cannot both be given')
            if self.stride != (1, 1) or self.pad != (0, 0):
                self.fail('global_pooling requires pad 0 and stride 1')
            return
        self.kernel = _pair(p, [p.kernel_size] if p.HasField('kernel_size') else [],
                            'kernel_h', 'kernel_w', None, self, 'kernel_size')
        if self.kernel[0] is None:
            self.fail('kernel_size (or kernel_h and kernel_w) is required')
        if min(self.kernel) <= 0:
            self.fail('kernel sizes must be positive')
        if (self.pad[0] or self.pad[1]) and (self.pad[0] >= self.kernel[0] or self.pad[1] >= self.kernel[1]):
            self.fail('pad must be smaller than the kernel')

    def forward(self, bottoms, params):
        x = bottoms[0]
        kernel = tuple(x.shape[-2:]) if self.global_pooling else self.kernel
        H, W = x.shape[-2:]
        any_pad = bool(self.pad[0] or self.pad[1])
        _checked_size(self, [caffe_pooled_size(n, k, s, p, any_pad, self.round_up)
                             for n, k, s, p in zip((H, W), kernel, self.stride, self.pad)])
        return [caffe_pool2d(x, self.method, kernel, self.stride, self.pad, self.round_up)]


@register('LRN')
class LRN(Layer):
    num_bottoms = 1

    def setup(self, bottom_shapes):
        p = self.param.lrn_param
        if p.local_size % 2 == 0:
            self.fail('local_size must be odd, got %d' % p.local_size)
        if len(bottom_shapes[0]) != 4:
            self.fail('expects a 4-D bottom (N, C, H, W)')
        self.size, self.alpha, self.beta, self.k = p.local_size, p.alpha, p.beta, p.k
        self.across = p.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS

    def forward(self, bottoms, params):
        x = bottoms[0]
        half = (self.size - 1) // 2
        if self.across:
            sq = F.pad((x * x).unsqueeze(1), (0, 0, 0, 0, half, self.size - half - 1))
            mean = F.avg_pool3d(sq, (self.size, 1, 1), stride=1).squeeze(1)
            return [x * torch.pow(self.k + self.alpha * mean, -self.beta)]
        size = (self.size, self.size)
        mean = caffe_pool2d(x * x, 'AVE', size, (1, 1), (half, half))
        return [x * torch.pow(1 + self.alpha * mean, -self.beta)]


@register('Crop')
class Crop(Layer):
    """Crop bottom 0 to the shape of bottom 1 from `axis` on, at the given offsets."""
    num_bottoms = 2

    def setup(self, bottom_shapes):
        p = self.param.crop_param
        n_axes = len(bottom_shapes[0])
        if len(bottom_shapes[1]) < n_axes:
            # crop_layer.cpp reads bottom 1's size of each cropped axis; extra axes go unread
            self.fail('bottom 1 needs at least the %d axes of bottom 0' % n_axes)
        self.axis = canonical_axis(p.axis, n_axes, self)
        offsets = list(p.offset)
        n_crop = n_axes - self.axis
        if len(offsets) > 1 and len(offsets) != n_crop:
            self.fail('give one offset or one per cropped axis (%d), got %d' % (n_crop, len(offsets)))
        self.offsets = offsets * n_crop if len(offsets) == 1 else (offsets or [0] * n_crop)

    def allow_force_backward(self, bottom_index):
        return bottom_index == 0

    def forward(self, bottoms, params):
        x, ref = bottoms
        index = [slice(None)] * self.axis
        for i, off in enumerate(self.offsets):
            axis = self.axis + i
            size = ref.shape[axis]
            if off + size > x.shape[axis]:
                self.fail('crop of size %d at offset %d exceeds axis %d of size %d'
                          % (size, off, axis, x.shape[axis]))
            index.append(slice(off, off + size))
        return [x[tuple(index)]]
