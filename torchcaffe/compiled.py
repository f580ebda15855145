"""Fast mode's compiled inference: runs of consecutive built-in layers traced by torch.compile.

Only passes that record nothing for backward are compiled (backward keeps one
autograd tape per layer, which a fused graph would not give), and compilation
pays off only where shapes repeat: each new input shape compiles again, and past
torch's recompile limit a segment runs uncompiled.
"""
import types

import torch


def _entry(segment, inputs, params):
    return segment.run(inputs, params)


class Segment:
    """Built-in layers, run in order, as one compiled function of the blobs they read.

    `reads` are the blobs the segment takes from outside it, `writes` every blob
    it writes (its final value, so an in-place layer's input need not be kept).
    """

    def __init__(self, indices, layers, bottoms, tops):
        self.indices = list(indices)
        self.reads, self.writes = [], []
        for i in self.indices:
            self.reads += [b for b in bottoms[i] if b not in self.writes and b not in self.reads]
            self.writes += [t for t in tops[i] if t not in self.writes]
        self._steps = [(layers[i], bottoms[i], tops[i]) for i in self.indices]
        # torch.compile keeps compiled variants, and its limit on their number, per code object: each
        # segment gets a code object of its own, or segments past that limit would run uncompiled
        code = _entry.__code__.replace(co_name='segment_%d_%d' % (self.indices[0], self.indices[-1]))
        self._fn = torch.compile(types.FunctionType(code, _entry.__globals__), dynamic=False)

    def run(self, inputs, params):
        """The segment's layers in order, uncompiled: what torch.compile traces."""
        values = dict(zip(self.reads, inputs))
        k = 0
        for layer, bottoms, tops in self._steps:
            n = len(layer.blobs)
            values.update(zip(tops, layer.forward([values[b] for b in bottoms], params[k:k + n])))
            k += n
        return [values[name] for name in self.writes]

    def __call__(self, inputs):
        """The written blobs' values, in the order of `writes`."""
        params = [p.tensor for layer, _, _ in self._steps for p in layer.blobs]
        with torch.no_grad():
            return self._fn(self, list(inputs), params)
