"""Forward and backward passes over a net's graph, each pass run the way it needs.

A forward that records for backward (TRAIN nets, force_backward nets) links
the whole pass into one autograd graph where the graph allows it
(linked_pass.py), and otherwise keeps a tape per layer (tape.py); a forward
that records nothing runs fast mode's compiled segments when compile=True
(compiled.py); while a timing.LayerTimes is attached, every pass is the
per-layer one, timed. A TEST net scores without recording and records its
last forward again only if backward is asked.
"""
import torch

from . import mode
from .compiled import CompiledForward
from .graph import PASSIVE, PYTHON
from .layer_errors import builtin_errors, python_errors
from .linked_pass import LinkedPass
from .proto import caffe_pb2
from .tape import Tape


class Pass:
    """What one forward leaves for backward."""

    def __init__(self, tape, link, recorded):
        self.tape = tape           # the per-layer tapes (tape.Tape)
        self.link = link           # the linked_pass.LinkedPass while its one graph awaits backward
        self.recorded = recorded   # whether the tape or link holds the pass now
        self.replays = {}          # first layer index -> fn(tape) recording it again from what it read


class Runner:
    """Runs a graph's passes; `last_pass` is what the latest forward left."""

    def __init__(self, graph):
        self.graph = graph
        self.use_linked = graph.linkable   # False: always the per-layer walk (which linked passes must equal)
        self.timer = None                  # a timing.LayerTimes while one is attached
        self.compiled = CompiledForward(graph)
        self.last_pass = None

    def forward(self, start, end):
        """Run layers start..end (inclusive)."""
        graph, timer = self.graph, self.timer
        record = graph.needs_backward and torch.is_grad_enabled() and \
            (graph.phase == caffe_pb2.TRAIN or graph.param.force_backward)
        whole = start == 0 and end == len(graph.layers) - 1
        link = LinkedPass() if record and whole and self.use_linked and not timer else None
        p = self.last_pass = Pass(Tape(graph), link, record)
        with mode.autocast():
            if not record and not timer and mode.arithmetic().compile:
                self.compiled.forward(start, end, lambda rec: self._run_layer(rec, p, False), p.replays)
                return
            for rec in graph.layers[start:end + 1]:
                since = timer and timer.clock()
                self._run_layer(rec, p, record)
                if timer:
                    timer.record('forward', rec.index, since)

    def backward(self, start, end):
        """Backward through layers start down to end (inclusive)."""
        p = self.last_pass or Pass(Tape(self.graph), None, False)
        link, p.link = p.link, None
        if link is not None:
            p.recorded = False     # the graph is spent (or, for a part, not used)
            if (start, end) == (len(self.graph.layers) - 1, 0) and not self.timer:
                link.backward(self.graph.blobs)
                return
        if self.graph.needs_backward and not p.recorded:
            with mode.autocast():
                for replay in p.replays.values():
                    replay(p.tape)
        p.tape.backward(start, end, self.timer)
        p.recorded = False         # the tape is spent: another backward records again

    def _run_layer(self, rec, p, record):
        blobs = self.graph.blobs
        bottoms = [blobs[b] for b in rec.bottoms]
        tops = [blobs[t] for t in rec.tops]
        if rec.kind == PYTHON:
            with python_errors(rec.name, 'forward'):
                rec.layer.reshape(bottoms, tops)
                rec.layer.forward(bottoms, tops)
            if p.link is not None:
                p.link.forget(rec.tops)
            return
        if rec.kind == PASSIVE:
            return
        bt = [b.tensor for b in bottoms]
        pt = [q.tensor for q in rec.params]
        if rec.need_backward:       # what the layer read, should backward need to record it again
            p.replays[rec.index] = lambda tape: tape.record(rec, bt, [q.tensor for q in rec.params])
        with builtin_errors(self.graph.source, rec, bottoms, 'run'):
            if record and rec.need_backward:
                out, read = (p.tape if p.link is None else p.link).record(rec, bt, pt)
                if rec.releases_input and read[0]._base is None:
                    read[0].untyped_storage().resize_(0)   # the overwritten value: see LayerRecord.releases_input
                    # like Caffe's in-place ReLU, take the mask from the blob it wrote
                    p.replays[rec.index] = lambda tape: tape.record(rec, [blobs[rec.tops[0]].tensor],
                                                                    [q.tensor for q in rec.params])
            else:
                with torch.no_grad():
                    out = rec.layer.forward(bt, pt)
                if p.link is not None:
                    p.link.forget(rec.tops)
        for blob, t in zip(tops, out):
            blob.set_tensor(t.detach())
