"""Fast mode's compiled inference: runs of consecutive built-in layers traced by torch.compile.

Only passes that record nothing for backward are compiled (backward keeps one
autograd tape per layer, which a fused graph would not give; a backward after a
compiled pass records its segments again, uncompiled), and compilation pays off
only where shapes repeat: each new input shape compiles again, and past torch's
recompile limit a segment runs uncompiled.
"""
import types

import torch

from .errors import CaffeError
from .graph import BUILTIN
from .layer_errors import first_line


def _entry(segment, inputs, params):
    return segment.run(inputs, params)


class Segment:
    """Built-in layers (graph.LayerRecords), run in order, as one compiled function of the blobs they read.

    `reads` are the blobs the segment takes from outside it, `writes` every blob
    it writes (its final value, so an in-place layer's input need not be kept).
    """

    def __init__(self, records):
        self.records = list(records)
        self.reads, self.writes = [], []
        for rec in self.records:
            self.reads += [b for b in rec.bottoms if b not in self.writes and b not in self.reads]
            self.writes += [t for t in rec.tops if t not in self.writes]
        # torch.compile keeps compiled variants, and its limit on their number, per code object: each
        # segment gets a code object of its own, or segments past that limit would run uncompiled
        code = _entry.__code__.replace(co_name='segment_%d_%d' % (self.records[0].index, self.records[-1].index))
        self._fn = torch.compile(types.FunctionType(code, _entry.__globals__), dynamic=False)

    def run(self, inputs, params):
        """The segment's layers in order, uncompiled: what torch.compile traces."""
        values = dict(zip(self.reads, inputs))
        k = 0
        for rec in self.records:
            n = len(rec.params)
            values.update(zip(rec.tops, rec.layer.forward([values[b] for b in rec.bottoms], params[k:k + n])))
            k += n
        return [values[name] for name in self.writes]

    def __call__(self, inputs):
        """The written blobs' values, in the order of `writes`."""
        params = [p.tensor for rec in self.records for p in rec.params]
        with torch.no_grad():
            return self._fn(self, list(inputs), params)

    def record(self, tape, inputs):
        """Run the layers uncompiled from the blobs the segment read, recording on `tape` (a tape.Tape)
        those that need backward."""
        values = dict(zip(self.reads, inputs))
        for rec in self.records:
            bt = [values[b] for b in rec.bottoms]
            pt = [p.tensor for p in rec.params]
            if rec.need_backward:
                out, _ = tape.record(rec, bt, pt)
            else:
                with torch.no_grad():
                    out = rec.layer.forward(bt, pt)
            values.update(zip(rec.tops, (t.detach() for t in out)))


class CompiledForward:
    """A graph's forward with each run of built-in layers as one compiled segment, kept for later passes."""

    def __init__(self, graph):
        self.graph = graph
        self.segments = {}   # (first, last) layer index -> Segment

    def forward(self, start, end, run_layer, replays):
        """Layers start..end; `run_layer(rec)` runs a Python or passive layer, and each segment whose
        layers need backward leaves in `replays` (first layer index -> fn(tape)) how to record it."""
        layers, blobs = self.graph.layers, self.graph.blobs
        i = start
        while i <= end:
            if layers[i].kind != BUILTIN:
                run_layer(layers[i])
                i += 1
                continue
            last = i
            while last < end and layers[last + 1].kind == BUILTIN:
                last += 1
            if (i, last) not in self.segments:
                self.segments[(i, last)] = Segment(layers[i:last + 1])
            segment = self.segments[(i, last)]
            inputs = [blobs[name].tensor for name in segment.reads]
            try:
                outputs = segment(inputs)
            except CaffeError:
                raise
            except Exception as e:
                self._explain_failure(segment, e, run_layer)
            if any(rec.need_backward for rec in segment.records):
                replays[i] = lambda tape, segment=segment, inputs=inputs: segment.record(tape, inputs)
            for name, t in zip(segment.writes, outputs):
                blobs[name].set_tensor(t.detach())
            i = last + 1

    def _explain_failure(self, segment, error, run_layer):
        """Name the layer when it fails uncompiled too; otherwise blame torch.compile."""
        for rec in segment.records:
            run_layer(rec)
        first, last = segment.records[0].name, segment.records[-1].name
        raise CaffeError('%s: torch.compile failed on layers %r..%r (they run uncompiled; '
                         'set_fast_mode(compile=False) avoids it): %s: %s'
                         % (self.graph.source, first, last, type(error).__name__, first_line(error))) from error
