"""Per-layer forward and backward times, like `caffe time`: where a pass spends its time.

    with LayerTimes(net) as times:
        for _ in range(10):
            net.forward(); net.backward()
    print(times.format())

While attached, the net waits for the device after every layer (so GPU times
are the layer's own, at the cost of overlap); detached, it costs nothing.
"""
import time
from collections import defaultdict

import torch

from . import mode


class LayerTimes:
    """Seconds spent in each layer's forward and backward while attached to a net."""

    def __init__(self, net):
        self.net = net
        self.forward = defaultdict(float)
        self.backward = defaultdict(float)

    def __enter__(self):
        self.net.runner.timer = self
        return self

    def __exit__(self, *exc):
        self.net.runner.timer = None

    def clock(self):
        """Now, after the device has finished what was queued."""
        if mode.device().type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter()

    def record(self, kind, index, since):
        getattr(self, kind)[index] += self.clock() - since

    def rows(self):
        """(layer name, type, forward s, backward s) for every layer that ran, in net order."""
        layers = self.net.graph.layers
        ran = sorted(set(self.forward) | set(self.backward))
        return [(layers[i].name, layers[i].type, self.forward[i], self.backward[i]) for i in ran]

    def format(self, top=None):
        """A table of the layers by total time (the `top` slowest, or all), with each one's share."""
        rows = sorted(self.rows(), key=lambda r: -(r[2] + r[3]))
        total = sum(r[2] + r[3] for r in rows) or 1.0
        lines = ['%-24s %-18s %10s %10s %7s' % ('layer', 'type', 'forward s', 'backward s', 'share')]
        for name, type_, f, b in rows[:top]:
            lines.append('%-24s %-18s %10.4f %10.4f %6.1f%%' % (name, type_, f, b, 100 * (f + b) / total))
        return '\n'.join(lines)
