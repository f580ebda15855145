"""Classification layers: Softmax, SoftmaxWithLoss, Accuracy, ArgMax, InfogainLoss."""
import os

import numpy as np
import torch

from .. import mode
from ..io import blobproto_to_array, read_binary
from ..proto import caffe_pb2
from .base import Layer, canonical_axis, register

FLT_MIN = float(np.finfo(np.float32).tiny)


def _outer_inner(shape, axis):
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, inner


def check_loss_bottoms(layer, bottoms):
    """Caffe's LossLayer::Reshape check, for every loss layer: the data (score) and the label
    must have the same first dimension (loss_layer.cpp), so a label cannot be read misaligned."""
    data, label = bottoms[0], bottoms[1]
    if data.dim() and label.dim() and data.shape[0] != label.shape[0]:
        layer.fail('The data and label should have the same first dimension (%d vs %d: shapes %s and %s)'
                   % (data.shape[0], label.shape[0], tuple(data.shape), tuple(label.shape)))


def _labels(layer, label, outer, inner, n_class, ignore):
    """Integer labels as (outer, inner), checked against the class range."""
    if label.numel() != outer * inner:
        layer.fail('label count (%d) must equal outer x inner (%d x %d) of the prediction'
                   % (label.numel(), outer, inner))
    lab = label.reshape(outer, inner).long()
    if label.device.type != 'meta' and lab.numel():
        bad = (lab < 0) | (lab >= n_class)
        if ignore is not None:
            bad &= lab != ignore
        if bool(bad.any()):
            value = int(lab[bad][0])
            layer.fail('label value %d is outside the class range [0, %d)%s'
                       % (value, n_class, '' if ignore is None else ' and is not ignore_label %d' % ignore))
    return lab


@register('Softmax')
class Softmax(Layer):
    num_bottoms = 1

    def forward(self, bottoms, params):
        x = bottoms[0]
        return [torch.softmax(x, canonical_axis(self.param.softmax_param.axis, x.dim(), self))]


@torch.compiler.disable
def _caffe_loss_sum(terms):
    """The sum Caffe reports of the per-pixel losses `terms` (outer, inner), as a float32 scalar.

    On the CPU, SoftmaxWithLossLayer::Forward_cpu (softmax_loss_layer.cpp) adds them one by
    one into a float32 in (n, spatial) order; over a big label map that drifts from the exact
    sum (e.g. 1.384829 for a mean of log 4 over 96,212 pixels), so the CPU sum here is
    sequential float32 too: numpy's add.accumulate, which does not regroup (torch's sum is
    pairwise, its cumsum accumulates in double). Ignored pixels add 0, which changes nothing.
    On a GPU, Forward_gpu sums with caffe_gpu_asum, a cuBLAS parallel reduction with no order
    to match, so torch's own sum stands in for it there.
    """
    if terms.device.type != 'cpu':
        return terms.sum()
    flat = terms.detach().reshape(-1).numpy()
    total = np.add.accumulate(flat)[-1] if flat.size else np.float32(0)
    return torch.tensor(total, dtype=torch.float32)


class _SoftmaxLoss(torch.autograd.Function):
    """-log(max(prob[label], FLT_MIN)) summed over valid pixels / normalizer.

    The sum is the one Caffe reports (_caffe_loss_sum); it feeds no gradient. Backward is
    Caffe's (prob - onehot) on valid pixels, which stays exact where the clamp in the forward
    would have cut the gradient of the literal formula.
    """

    @staticmethod
    def forward(ctx, x, lab, valid, normalizer, axis):
        prob = torch.softmax(x, axis)
        n_class = x.shape[axis]
        outer = lab.shape[0]
        p3 = prob.reshape(outer, n_class, -1)
        safe = torch.where(valid, lab, 0)
        picked = p3.gather(1, safe.unsqueeze(1)).squeeze(1)
        terms = -torch.log(torch.clamp(picked, min=FLT_MIN)) * valid
        # Dtype(normalizer) and a float32 division, as Caffe's `loss / get_normalizer(...)`
        loss = _caffe_loss_sum(terms) / torch.tensor(normalizer, dtype=torch.float32)
        ctx.save_for_backward(prob, safe, valid)
        ctx.meta = (normalizer, n_class, outer)
        return loss.to(x.device), prob

    @staticmethod
    def backward(ctx, grad_loss, grad_prob):
        prob, safe, valid = ctx.saved_tensors
        normalizer, n_class, outer = ctx.meta
        g = prob.clone().reshape(outer, n_class, -1)
        g.scatter_add_(1, safe.unsqueeze(1), -torch.ones_like(g[:, :1]))
        g.mul_(valid.unsqueeze(1))
        g.mul_(grad_loss / normalizer)
        return g.reshape(prob.shape), None, None, None, None


def _normalizer(layer, mode, outer, inner, valid_count):
    name = caffe_pb2.LossParameter.NormalizationMode.Name(mode)
    value = {'FULL': outer * inner, 'VALID': valid_count, 'BATCH_SIZE': outer, 'NONE': 1}[name]
    return max(1.0, float(value))


@register('SoftmaxWithLoss')
class SoftmaxWithLoss(Layer):
    """Softmax + multinomial logistic loss, with Caffe's normalization modes and ignore_label."""
    num_bottoms = 2
    min_tops, max_tops = 1, 2
    is_loss = True

    def setup(self, bottom_shapes):
        lp = self.param.loss_param
        self.ignore = lp.ignore_label if lp.HasField('ignore_label') else None
        if lp.HasField('normalization') or not lp.HasField('normalize'):
            self.mode = lp.normalization
        else:
            self.mode = caffe_pb2.LossParameter.VALID if lp.normalize else caffe_pb2.LossParameter.BATCH_SIZE
        self.axis = canonical_axis(self.param.softmax_param.axis, len(bottom_shapes[0]), self)

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1

    def forward(self, bottoms, params):
        check_loss_bottoms(self, bottoms)
        x, label = bottoms
        x = x.float()   # the loss in float32 even when fast mode computed the scores in bf16
        outer, inner = _outer_inner(x.shape, self.axis)
        n_class = x.shape[self.axis]
        if x.device.type == 'meta':
            loss, prob = x.new_empty(()), torch.empty_like(x)
        else:
            lab = _labels(self, label.detach(), outer, inner, n_class, self.ignore)
            valid = lab != self.ignore if self.ignore is not None else torch.ones_like(lab, dtype=torch.bool)
            count = int(valid.sum()) if self.ignore is not None else outer * inner
            normalizer = _normalizer(self, self.mode, outer, inner, count)
            loss, prob = _SoftmaxLoss.apply(x, lab, valid, normalizer, self.axis)
        tops = [loss]
        if len(self.param.top) > 1:
            tops.append(prob)
        return tops


@register('Accuracy')
class Accuracy(Layer):
    """Top-k accuracy over non-ignored labels; optional per-class accuracy as a second top."""
    num_bottoms = 2
    min_tops, max_tops = 1, 2

    def setup(self, bottom_shapes):
        p = self.param.accuracy_param
        self.top_k = p.top_k
        self.ignore = p.ignore_label if p.HasField('ignore_label') else None
        self.axis = canonical_axis(p.axis, len(bottom_shapes[0]), self)
        if self.top_k > bottom_shapes[0][self.axis]:
            self.fail('top_k (%d) exceeds the number of classes (%d)'
                      % (self.top_k, bottom_shapes[0][self.axis]))

    def allow_force_backward(self, bottom_index):
        return False

    def forward(self, bottoms, params):
        x, label = bottoms
        n_class = x.shape[self.axis]
        outer, inner = _outer_inner(x.shape, self.axis)
        tops = [x.new_zeros(())]
        if len(self.param.top) > 1:
            tops.append(x.new_zeros((n_class,)))
        if x.device.type == 'meta':
            return tops
        x, label = x.detach(), label.detach()
        lab = _labels(self, label, outer, inner, n_class, self.ignore)
        valid = lab != self.ignore if self.ignore is not None else torch.ones_like(lab, dtype=torch.bool)
        x3 = x.reshape(outer, n_class, inner)
        safe = torch.where(valid, lab, 0)
        true_score = x3.gather(1, safe.unsqueeze(1))
        at_least = (x3 >= true_score).sum(1)          # counts the true class itself
        correct = (at_least - 1 < self.top_k) & valid
        count = int(valid.sum())
        tops[0] = (correct.sum() / count if count else x.new_zeros(())).float()
        if len(tops) > 1:
            per = torch.bincount(lab[valid], minlength=n_class).float()
            hits = torch.bincount(lab[correct], minlength=n_class).float()
            tops[1] = torch.where(per > 0, hits / per.clamp(min=1), torch.zeros_like(per))
        return tops


@register('ArgMax')
class ArgMax(Layer):
    """Indices (or values) of the top_k largest entries; ties go to the larger index, as in Caffe."""
    num_bottoms = 1

    def setup(self, bottom_shapes):
        p = self.param.argmax_param
        self.top_k, self.out_max_val = p.top_k, p.out_max_val
        shape = bottom_shapes[0]
        self.axis = canonical_axis(p.axis, len(shape), self) if p.HasField('axis') else None
        extent = shape[self.axis] if self.axis is not None else int(np.prod(shape[1:], dtype=np.int64))
        if self.top_k > extent:
            self.fail('top_k (%d) exceeds the %d values to choose from' % (self.top_k, extent))

    def allow_force_backward(self, bottom_index):
        return False

    def _top_k(self, x, dim):
        flipped = x.flip(dim)
        values, idx = torch.sort(flipped, dim=dim, descending=True, stable=True)
        k = torch.arange(self.top_k, device=x.device)
        values, idx = values.index_select(dim, k), idx.index_select(dim, k)
        return values, x.shape[dim] - 1 - idx

    def forward(self, bottoms, params):
        x = bottoms[0].detach()
        if self.axis is not None:
            shape = list(x.shape)
            shape[self.axis] = self.top_k
            if x.device.type == 'meta':
                return [x.new_empty(shape)]
            values, idx = self._top_k(x, self.axis)
            return [values if self.out_max_val else idx.float()]
        n = x.shape[0]
        out_shape = [n, 2 if self.out_max_val else 1, self.top_k] + [1] * max(0, x.dim() - 3)
        if x.device.type == 'meta':
            return [x.new_empty(out_shape)]
        values, idx = self._top_k(x.reshape(n, -1), 1)
        out = torch.stack([idx.float(), values], 1) if self.out_max_val else idx.float().unsqueeze(1)
        return [out.reshape(out_shape)]


LOG_THRESHOLD = 1e-20   # kLOG_THRESHOLD of Caffe's loss_layer.hpp: log(max(p, this))


class _InfogainLoss(torch.autograd.Function):
    """-sum over valid pixels and classes l of H[label, l] * log(max(prob_l, 1e-20)), / normalizer.

    InfogainLossLayer::Forward_cpu (BVLC master, infogain_loss_layer.cpp) adds the terms into
    a float32 in (n, spatial, l) order, as _caffe_loss_sum does here. Backward is Caffe's:
    prob * (row sum of H[label]) - H[label] on valid pixels, times top diff / normalizer;
    H and the labels get none.
    """

    @staticmethod
    def forward(ctx, x, lab, valid, h, normalizer, axis):
        prob = torch.softmax(x, axis)
        n_class = x.shape[axis]
        outer = lab.shape[0]
        p3 = prob.reshape(outer, n_class, -1)
        safe = torch.where(valid, lab, 0)
        rows = h[safe]                                                   # (outer, inner, C)
        log_p = torch.log(torch.clamp(p3, min=LOG_THRESHOLD)).transpose(1, 2)
        terms = -(rows * log_p) * valid.unsqueeze(2)
        loss = _caffe_loss_sum(terms) / torch.tensor(normalizer, dtype=torch.float32)
        ctx.save_for_backward(prob, safe, valid, h)
        ctx.meta = (normalizer, n_class, outer)
        return loss.to(x.device), prob

    @staticmethod
    def backward(ctx, grad_loss, grad_prob):
        prob, safe, valid, h = ctx.saved_tensors
        normalizer, n_class, outer = ctx.meta
        row_sums = _row_sums(h)
        g = prob.reshape(outer, n_class, -1) * row_sums[safe].unsqueeze(1) - h[safe].transpose(1, 2)
        g = g * valid.unsqueeze(1)
        g.mul_(grad_loss / normalizer)
        return g.reshape(prob.shape), None, None, None, None, None


def _row_sums(h):
    """Each row of H summed left to right in float32, as InfogainLossLayer::sum_rows_of_H."""
    sums = np.add.accumulate(h.detach().cpu().numpy(), axis=1)[:, -1]
    return torch.from_numpy(np.ascontiguousarray(sums)).to(h.device)


@register('InfogainLoss')
class InfogainLoss(Layer):
    """BVLC master's InfogainLossLayer: softmax over `infogain_loss_param.axis`, then each pixel's
    loss weighted by row H[label] of a C x C matrix (a diagonal H weights the classes; H = I is
    SoftmaxWithLoss). Bottoms: scores N x C x H x W, labels N x 1 x H x W, and optionally H
    (1 x 1 x C x C) as a third bottom; otherwise H comes from the binaryproto
    `infogain_loss_param.source` (a path relative to the working directory, as Caffe opens it).
    `loss_param`: `ignore_label`, `normalization` (default VALID); the deprecated `normalize`
    is refused, as Caffe refuses it on this layer. Nothing backpropagates to the labels or to H.
    Raises CaffeError (naming the layer) on a missing or misshapen H.
    """
    min_tops, max_tops = 1, 2
    is_loss = True

    def check_counts(self, n_bottom, n_top):
        if not 2 <= n_bottom <= 3:
            self.fail('takes 2 or 3 bottom blobs (scores, labels and optionally H), got %d' % n_bottom)
        super().check_counts(n_bottom, n_top)

    def setup(self, bottom_shapes):
        lp, ip = self.param.loss_param, self.param.infogain_loss_param
        if lp.HasField('normalize'):
            self.fail('normalize is deprecated: use "normalization" (Caffe refuses it on InfogainLoss)')
        self.ignore = lp.ignore_label if lp.HasField('ignore_label') else None
        self.normalization = lp.normalization
        self.axis = canonical_axis(ip.axis, len(bottom_shapes[0]), self)
        n_class = bottom_shapes[0][self.axis]
        self.h = None                # H as the third bottom: checked by forward, which reshape runs
        if len(bottom_shapes) == 3:
            return
        if not ip.HasField('source'):
            self.fail('Infogain matrix source must be specified (infogain_loss_param.source, '
                      'or H as a third bottom)')
        array = blobproto_to_array(read_binary(ip.source, caffe_pb2.BlobProto, 'infogain matrix'))
        self._check_h(n_class, array.size, ' in %s' % os.fspath(ip.source))
        self.h = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(mode.device())

    def _check_h(self, n_class, size, where):
        if size != n_class * n_class:
            self.fail('H must be %dx%d (%d values) for %d classes, got %d values%s'
                      % (n_class, n_class, n_class * n_class, n_class, size, where))

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1     # LossLayer's: so force_backward reaches H, which Caffe then refuses

    def forward(self, bottoms, params):
        x, label = bottoms[0].float(), bottoms[1]
        outer, inner = _outer_inner(x.shape, self.axis)
        n_class = x.shape[self.axis]
        check_loss_bottoms(self, bottoms)      # LossLayer::Reshape's check, which InfogainLoss inherits
        if len(bottoms) == 3:
            self._check_h(n_class, bottoms[2].numel(), '')
        if x.device.type == 'meta':
            return [x.new_empty(()), torch.empty_like(x)][:len(self.param.top)]
        if label.requires_grad:
            self.fail('cannot backpropagate to label inputs')
        h = self.h if len(bottoms) < 3 else bottoms[2]
        if h.requires_grad:
            self.fail('cannot backpropagate to the infogain matrix H: give H in infogain_loss_param.source, '
                      'or feed it from a blob that needs no backward (and no force_backward)')
        h = h.detach().float().reshape(n_class, n_class).to(x.device)
        lab = _labels(self, label.detach(), outer, inner, n_class, self.ignore)
        valid = lab != self.ignore if self.ignore is not None else torch.ones_like(lab, dtype=torch.bool)
        normalizer = _normalizer(self, self.normalization, outer, inner, int(valid.sum()))
        loss, prob = _InfogainLoss.apply(x, lab, valid, h, normalizer, self.axis)
        return [loss, prob][:len(self.param.top)]
