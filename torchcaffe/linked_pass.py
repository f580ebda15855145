"""A whole training pass recorded as one autograd graph, so that backward is one call.

Caffe's backward visits the layers top-down, each turning its tops' diffs into
its bottoms' and params' diffs. The engine's general path does the same with one
autograd call per layer, which costs host time per layer (on a GPU, a hand-off to
autograd's device thread each). Where the net allows it (`Graph.linkable`: no
Python layer runs backward, every in-place layer passes its gradient down) and
the pass is whole and not timed layer by layer, the layers are recorded into one
graph instead and the per-layer walk's result is read off it in one call: a
blob's diff is the gradient of the first value of it that a layer needing
backward read, a param's diff grows by each reading layer's gradient, top layer
first, and the seeds are the diffs of the tops no later layer reads.
"""
import torch


class LinkedPass:
    """What one recorded pass needs for its backward."""

    def __init__(self):
        self._live = {}         # blob name -> its current value, as recorded
        self.first_read = {}    # blob name -> the value of it that backward's earliest reader took
        self._params = []       # (param blob, the value one layer read), in layer order
        self._ends = []         # (blob name, value) of tops that no later layer reads

    def record(self, rec, bottoms, params):
        """Run built-in layer rec (a graph.LayerRecord) into the pass's one graph; returns its tops
        and the bottom values it computed them from."""
        bt = [self.bottom(name, t, need) for name, t, need in zip(rec.bottoms, bottoms, rec.bottom_need)]
        pt = [self.param(blob, t, need) for blob, t, need in zip(rec.params, params, rec.param_need)]
        with torch.enable_grad():
            out = rec.layer.forward(bt, pt)
        self.wrote(rec.tops, out, [not later for later in rec.consumed_later])
        return out, bt

    def bottom(self, name, value, need):
        """The value layer input `name` is computed from (linked to its producer where it needs a diff)."""
        if not need:
            return value
        linked = self._live.get(name)
        if linked is None:
            linked = self._live[name] = value.detach().requires_grad_()
        self.first_read.setdefault(name, linked)
        return linked

    def param(self, blob, value, need):
        """The value a layer reads for param `blob`; each layer has its own, so that a shared param's
        diff sums its layers' gradients in Caffe's order."""
        if not need:
            return value
        linked = value.detach().requires_grad_()
        self._params.append((blob, linked))
        return linked

    def wrote(self, names, values, ends):
        """Layer tops `names` now hold `values`; `ends[j]` says no later layer reads top j."""
        for name, value, end in zip(names, values, ends):
            if value.requires_grad:
                self._live[name] = value
                if end:
                    self._ends.append((name, value))
            else:
                self._live.pop(name, None)

    def forget(self, names):
        """These blobs were written outside the graph (a Python layer, a layer without backward)."""
        for name in names:
            self._live.pop(name, None)

    def backward(self, blobs):
        """Set the diff of every blob read with need and add to the param diffs, in one autograd call.

        Each param's gradient is added into its diff as soon as autograd has it (the diff is made
        the value's .grad), so no pass holds every param gradient at once; a blob's gradient is
        taken as it passes (a hook), not copied."""
        seeds = [(value, blobs[name].diff_tensor) for name, value in self._ends]
        for blob, value in self._params:
            diff = blob.diff_tensor
            if diff.stride() != value.stride():   # fast mode's channels_last weights: the diff follows
                diff = torch.empty_like(value).copy_(diff)
                blob.set_diff_tensor(diff)
            value.grad = diff
        grads = {}
        for name, value in self.first_read.items():
            if value.grad_fn is not None:
                value.register_hook(lambda g, name=name: grads.__setitem__(name, g))
        if seeds:
            torch.autograd.backward([v for v, _ in seeds], [g for _, g in seeds])
        seed_memory = {g.data_ptr() for _, g in seeds}
        for name, value in self.first_read.items():
            g = grads.get(name) if value.grad_fn is not None else value.grad
            if g is None:
                g = torch.zeros_like(blobs[name].tensor)
            elif g.data_ptr() in seed_memory:
                g = g.clone()
            blobs[name].set_diff_tensor(g)
