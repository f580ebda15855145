"""Net: pycaffe's front end over a net's graph.

The NetParameter becomes a graph.Graph once (Caffe's rules for phases,
in-place tops, loss weights, parameter sharing and which layers need
backward); a runner.Runner runs its passes. Net itself is pycaffe's interface:
blobs, params, layers, forward/backward with keyword blobs, reshape, weights
in and out (copy_from, share_with, save).
"""
import os
from collections import OrderedDict

import numpy as np
import torch

from . import io
from .errors import CaffeError
from .graph import Graph
from .proto import caffe_pb2
from .runner import Runner
from .upgrade import upgrade_net

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def _parse_args(args, kwargs):
    """pycaffe accepts Net(file, phase, level=, stages=, weights=) and Net(file, weights, phase)."""
    weights = kwargs.pop('weights', None)
    phase = kwargs.pop('phase', None)
    level = kwargs.pop('level', 0)
    stages = kwargs.pop('stages', None) or []
    if kwargs:
        raise TypeError('unexpected keyword arguments: %s' % ', '.join(sorted(kwargs)))
    args = list(args)
    if args and isinstance(args[0], (str, bytes, os.PathLike)):
        weights = args.pop(0)
    if args:
        phase = args.pop(0)
    if args:
        raise TypeError('Net(network_file, phase[, weights=...]) or Net(network_file, weights, phase)')
    if phase not in (TRAIN, TEST):
        raise CaffeError('Net needs a phase: caffe.TRAIN or caffe.TEST (got %r)' % (phase,))
    return phase, level, list(stages), weights


class Net:
    """A Caffe net: `Net(prototxt, caffe.TEST, weights=...)` or `Net(prototxt, weights, caffe.TEST)`.

    `graph` is its graph.Graph (one record per layer), `runner` the runner.Runner of its passes.
    """

    def __init__(self, network, *args, **kwargs):
        phase, level, stages, weights = _parse_args(args, kwargs)
        if isinstance(network, caffe_pb2.NetParameter):
            source, param = network.name or '<NetParameter>', caffe_pb2.NetParameter()
            param.CopyFrom(network)
        else:
            source = os.fspath(network)
            param = io.read_prototxt(source)
        upgrade_net(param, source)
        param.state.phase = phase
        param.state.level = level
        del param.state.stage[:]
        param.state.stage.extend(stages)
        self.phase = phase
        self.name = param.name
        self.graph = Graph(param, phase, source)
        self.runner = Runner(self.graph)
        if weights is not None:
            self.copy_from(weights)

    # -- pycaffe's attributes ---------------------------------------------------
    @property
    def blobs(self):
        return self.graph.blobs

    @property
    def params(self):
        return OrderedDict((r.name, r.params) for r in self.graph.layers if len(r.params))

    @property
    def layers(self):
        return [r.layer for r in self.graph.layers]

    @property
    def layer_dict(self):
        return OrderedDict((r.name, r.layer) for r in self.graph.layers)

    @property
    def _layer_names(self):
        return [r.name for r in self.graph.layers]

    @property
    def _blob_names(self):
        return list(self.graph.blobs)

    @property
    def inputs(self):
        return list(self.graph.inputs)

    @property
    def outputs(self):
        return list(self.graph.outputs)

    @property
    def top_names(self):
        return OrderedDict((r.name, list(r.tops)) for r in self.graph.layers)

    @property
    def bottom_names(self):
        return OrderedDict((r.name, list(r.bottoms)) for r in self.graph.layers)

    @property
    def blob_loss_weights(self):
        weights = OrderedDict((name, 0.0) for name in self.graph.blobs)
        for r in self.graph.layers:
            for t, w in zip(r.tops, r.loss_weights):
                if w:
                    weights[t] = w
        return weights

    @property
    def _blob_loss_weights(self):
        """The loss weight of each blob, in _blob_names order (pycaffe's list)."""
        return list(self.blob_loss_weights.values())

    @property
    def learnable_params(self):
        """Unique learnable blobs (shared params once), in net order."""
        return [entry.blob for entry in self.graph.learnable]

    # -- computation ----------------------------------------------------------------
    def _index(self, name, default):
        return default if name is None else self.graph.index(name)

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Run the net (or layers start..end); returns {output blob: data}.

        Keyword arrays, as pycaffe's: all of the net's inputs or none, each batch-sized (N first).
        """
        graph = self.graph
        blobs = list(blobs or [])
        start_i = self._index(start, 0)
        end_i = self._index(end, len(graph.layers) - 1)
        outputs = graph.layers[end_i].tops + blobs if end is not None else graph.outputs + blobs
        if kwargs:
            if set(kwargs) != set(graph.inputs):
                raise CaffeError('forward(): input blob arguments %s do not match the net inputs %s'
                                 % (sorted(kwargs), list(graph.inputs)))
            for name, value in kwargs.items():
                graph.blobs[name].data[...] = self._batch_sized(name, value, 'input')
        self.runner.forward(start_i, end_i)
        return {name: graph.blobs[name].data for name in OrderedDict.fromkeys(outputs)}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Backpropagate (from layer start down to end); returns {input blob: diff}.

        Keyword arrays, as pycaffe's: the diffs of all of the net's outputs or none, each batch-sized.
        """
        graph = self.graph
        diffs = list(diffs or [])
        start_i = self._index(start, len(graph.layers) - 1)
        end_i = self._index(end, 0)
        outputs = graph.layers[end_i].bottoms + diffs if end is not None else graph.inputs + diffs
        if kwargs:
            if set(kwargs) != set(graph.outputs):
                raise CaffeError('backward(): top diff arguments must name exactly the net outputs (%s)'
                                 % ', '.join(graph.outputs))
            for name, value in kwargs.items():
                graph.blobs[name].diff[...] = self._batch_sized(name, value, 'diff')
        self.runner.backward(start_i, end_i)
        return {name: graph.blobs[name].diff for name in OrderedDict.fromkeys(outputs)}

    def _batch_sized(self, name, value, what):
        """value as an array whose first axis is the batch size of blob `name`; CaffeError otherwise."""
        value = np.asarray(value)
        n = self.graph.blobs[name].shape[0]
        if value.ndim == 0 or value.shape[0] != n:
            raise CaffeError('%s %r is not batch sized: %s for a blob of %d; reshape the blob first'
                             % (what, name, value.shape, n))
        return value

    def _batches(self, arrays):
        """Split {blob: array} into batch-sized chunks, the last padded with zeros; (chunks, total)."""
        if not arrays:
            return [], 0
        total = len(next(iter(arrays.values())))
        if any(len(a) != total for a in arrays.values()):
            raise CaffeError('input arrays differ in length')
        batch = self.graph.blobs[self.graph.inputs[0] if self.graph.inputs else next(iter(arrays))].shape[0]
        chunks = []
        for start in range(0, total, batch):
            chunk = {}
            for k, a in arrays.items():
                part = a[start:start + batch]
                if len(part) < batch:
                    part = np.concatenate([part, np.zeros((batch - len(part),) + part.shape[1:], part.dtype)])
                chunk[k] = part
            chunks.append(chunk)
        return chunks, total

    def forward_all(self, blobs=None, **kwargs):
        """Forward whole arrays of inputs in batches of the input blobs' size; returns full outputs."""
        if not kwargs:
            raise CaffeError('forward_all needs input arrays, e.g. forward_all(data=array)')
        chunks, total = self._batches({k: np.asarray(v) for k, v in kwargs.items()})
        collected = {}
        for chunk in chunks:
            for name, value in self.forward(blobs=blobs, **chunk).items():
                collected.setdefault(name, []).append(np.array(value))
        return {name: np.concatenate(parts)[:total] for name, parts in collected.items()}

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """Forward the input arrays and backpropagate the output diff arrays of kwargs, batch by batch;
        returns ({output blob: data}, {input blob: diff}) over the whole arrays (pycaffe's)."""
        graph = self.graph
        forward, total = self._batches({k: np.asarray(v) for k, v in kwargs.items() if k in graph.inputs})
        backward, _ = self._batches({k: np.asarray(v) for k, v in kwargs.items() if k in graph.outputs})
        outs, grads = {}, {}
        for i in range(max(len(forward), len(backward))):
            for name, value in self.forward(blobs=blobs, **(forward[i] if i < len(forward) else {})).items():
                outs.setdefault(name, []).append(np.array(value))
            for name, value in self.backward(diffs=diffs, **(backward[i] if i < len(backward) else {})).items():
                grads.setdefault(name, []).append(np.array(value))
        total = total or None
        return ({k: np.concatenate(v)[:total] for k, v in outs.items()},
                {k: np.concatenate(v)[:total] for k, v in grads.items()})

    def forward_backward(self):
        """One forward and backward pass; returns the loss (Caffe's ForwardBackward)."""
        last = len(self.graph.layers) - 1
        self.runner.forward(0, last)
        self.runner.backward(last, 0)
        return self._loss()

    def _loss(self):
        """Sum of loss tops times their weights, as Caffe's Forward returns it."""
        total = None
        for r in self.graph.layers:
            for t, w in zip(r.tops, r.loss_weights):
                if w:
                    value = self.graph.blobs[t].tensor.sum() * w
                    total = value if total is None else total + value
        return 0.0 if total is None else float(total)

    def reshape(self):
        """Propagate input shapes through every layer, as Caffe's Net::Reshape."""
        with torch.no_grad():
            self.graph.reshape()

    # -- weights ------------------------------------------------------------------
    def copy_from(self, path):
        """Copy parameters from a caffemodel by layer name; all checks pass before anything is written."""
        path = os.fspath(path)
        source = io.read_binary(path, caffe_pb2.NetParameter, 'caffemodel')
        upgrade_net(source, path)
        layers = self.layer_dict
        plan = []
        for src in source.layer:
            target = layers.get(src.name)
            if target is None or not len(src.blobs):
                continue
            if len(src.blobs) != len(target.blobs):
                raise CaffeError('%s: layer %r has %d parameter blobs in the caffemodel but %d in the net'
                                 % (path, src.name, len(src.blobs), len(target.blobs)))
            for j, bp in enumerate(src.blobs):
                blob = target.blobs[j]
                if not _shape_matches(blob, bp):
                    raise CaffeError('%s: cannot copy param %d of layer %r: shape mismatch, caffemodel has %s, '
                                     'net has %s' % (path, j, src.name, io.blobproto_shape(bp), blob.shape))
                plan.append((blob, bp))
        for blob, bp in plan:
            values = io.blobproto_to_array(bp).reshape(blob.shape)
            blob.tensor.copy_(torch.from_numpy(values))

    def to_proto(self, write_diff=False):
        """The net's NetParameter with its current parameters (Caffe's Net::ToProto)."""
        out = caffe_pb2.NetParameter(name=self.graph.param.name)
        for r in self.graph.layers:
            entry = out.layer.add()
            entry.CopyFrom(r.param)
            del entry.blobs[:]
            for blob in r.params:
                entry.blobs.append(io.array_to_blobproto(blob.data, blob.diff if write_diff else None))
        return out

    def save(self, path):
        """Write the parameters as a caffemodel, atomically."""
        io.write_binary(path, self.to_proto())

    def share_with(self, other):
        """Use other's parameter memory for every layer both nets have (Caffe's ShareTrainedLayersWith)."""
        mine = self.layer_dict
        for name, src in other.layer_dict.items():
            target = mine.get(name)
            if target is None or not len(src.blobs):
                continue
            if len(src.blobs) != len(target.blobs):
                raise CaffeError('share_with: layer %r has %d parameter blobs here and %d in the other net'
                                 % (name, len(target.blobs), len(src.blobs)))
            for mine_blob, theirs in zip(target.blobs, src.blobs):
                if mine_blob.shape != theirs.shape:
                    raise CaffeError('share_with: layer %r param shapes differ: %s vs %s'
                                     % (name, mine_blob.shape, theirs.shape))
                mine_blob.share_data(theirs)

    def first_nonfinite(self):
        """Where NaN/Inf first appears in the last pass: the earliest layer whose top or param is not finite."""
        for r in self.graph.layers:
            for j, p in enumerate(r.params):
                if not bool(torch.isfinite(p.tensor).all()):
                    return 'layer %r has a non-finite parameter %d' % (r.name, j)
            for t in r.tops:
                if not bool(torch.isfinite(self.graph.blobs[t].tensor).all()):
                    return 'layer %r is the first to output NaN/Inf (top %r)' % (r.name, t)
        return 'no layer output is NaN/Inf; the loss itself overflowed'

    def nonfinite_params(self):
        """Names of layers with a NaN or Inf parameter value."""
        flags = [(r.name, torch.stack([torch.isfinite(p.tensor).all() for p in r.params]).all())
                 for r in self.graph.layers if len(r.params)]
        return [name for name, ok in flags if not bool(ok)]

    def __repr__(self):
        return 'Net(%r, %d layers, phase=%s)' % (self.name, len(self.graph.layers),
                                                 'TRAIN' if self.phase == TRAIN else 'TEST')


def _shape_matches(blob, bp):
    """Caffe's Blob::ShapeEquals: legacy 4-D dims are compared right-aligned."""
    if any(bp.HasField(f) for f in ('num', 'channels', 'height', 'width')):
        return len(blob.shape) <= 4 and tuple(blob.legacy_shape(i) for i in (-4, -3, -2, -1)) == \
            (bp.num, bp.channels, bp.height, bp.width)
    return tuple(bp.shape.dim) == blob.shape
