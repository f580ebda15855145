"""The per-layer walk: each built-in layer's forward on its own small autograd tape, and a
backward that visits the layers top-down as Caffe's Backward does.

Blob diffs are explicit: an in-place layer turns its top diff into its bottom
diff, a blob read by several layers gets the sum of their diffs (what Caffe's
Split layers do), a Python layer's backward runs on numpy blobs, and params'
diffs grow by each layer's gradient. This is the general path; linked_pass.py
gives the same result in one autograd call where the net allows it.
"""
import torch

from .errors import CaffeError
from .graph import PASSIVE, PYTHON
from .layer_errors import python_errors


class Tape:
    """What each recorded layer read and computed, until a backward spends it."""

    def __init__(self, graph):
        self.graph = graph
        self.entries = {}   # layer index -> (bottom values, param values, top values), as recorded

    def record(self, rec, bottoms, params):
        """Run built-in layer rec on autograd leaves of what it reads; returns its tops and the
        bottom values it computed them from."""
        bt = [t.detach().requires_grad_() if need else t for t, need in zip(bottoms, rec.bottom_need)]
        pt = [t.detach().requires_grad_() if need else t for t, need in zip(params, rec.param_need)]
        with torch.enable_grad():
            out = rec.layer.forward(bt, pt)
        self.entries[rec.index] = (bt, pt, out)
        return out, bt

    def backward(self, start, end, timer):
        """Backward through layers start down to end (inclusive), leaving the bottoms' diffs in the blobs."""
        layers, blobs = self.graph.layers, self.graph.blobs
        pending = {}
        seeds = set()
        whole = start == len(layers) - 1
        for rec in reversed(layers[end:start + 1]):
            if not rec.need_backward or rec.kind == PASSIVE:
                continue
            since = timer and timer.clock()
            grads_out = []
            for j, t in enumerate(rec.tops):
                # A top read by a layer this backward visits gets its diff from there; one whose
                # readers lie beyond `start` brings the diff its blob holds, as in Caffe.
                if rec.consumed_later[j] if whole else \
                        any(t in layers[k].bottoms for k in range(rec.index + 1, start + 1)):
                    grads_out.append(pending.get(t))
                else:
                    g = blobs[t].diff_tensor
                    seeds.add(g.data_ptr())
                    grads_out.append(g)
            if rec.kind == PYTHON:
                bottom_grads = self._python_grads(rec, grads_out)
            else:
                bottom_grads = self._builtin_grads(rec, grads_out)
            for j, b in enumerate(rec.bottoms):
                if not rec.bottom_need[j]:
                    continue
                g = bottom_grads[j]
                if g is None:
                    g = torch.zeros_like(blobs[b].tensor)
                if b in rec.tops or b not in pending or pending[b] is None:
                    pending[b] = g
                else:
                    pending[b] = pending[b] + g
            if timer:
                timer.record('backward', rec.index, since)
        for name, g in pending.items():
            if g.data_ptr() in seeds:
                g = g.clone()
            blobs[name].set_diff_tensor(g)
        self.entries = {}

    def _builtin_grads(self, rec, grads_out):
        """The bottoms' gradients from the layer's tape; its params' gradients go into their diffs."""
        if rec.index not in self.entries:
            raise CaffeError('backward through layer %r needs a forward pass that reached it first' % rec.name)
        bt, pt, out = self.entries[rec.index]
        pairs = [(t, g) for t, g in zip(out, grads_out) if g is not None and t.requires_grad]
        want = [t for t, need in zip(bt, rec.bottom_need) if need]
        want += [t for t, need in zip(pt, rec.param_need) if need]
        if not pairs or not want:
            return [None] * len(bt)
        grads = torch.autograd.grad([t for t, _ in pairs], want, [g for _, g in pairs], allow_unused=True)
        grads = list(grads)
        bottom_grads = [grads.pop(0) if need else None for need in rec.bottom_need]
        for blob, need in zip(rec.params, rec.param_need):
            g = grads.pop(0) if need else None
            if g is not None:
                blob.diff_tensor.add_(g)
        return bottom_grads

    def _python_grads(self, rec, grads_out):
        """A Python layer's backward on its numpy blobs, given its tops' gradients."""
        blobs = self.graph.blobs
        tops = [blobs[t] for t in rec.tops]
        bottoms = [blobs[b] for b in rec.bottoms]
        for blob, g in zip(tops, grads_out):
            if g is None:
                blob.diff[...] = 0
            elif g.data_ptr() != blob.diff_tensor.data_ptr():
                blob.set_diff_tensor(g.clone())
        with python_errors(rec.name, 'backward'):
            rec.layer.backward(tops, list(rec.bottom_need), bottoms)
        return [b.diff_tensor.clone() if need else None for b, need in zip(bottoms, rec.bottom_need)]
