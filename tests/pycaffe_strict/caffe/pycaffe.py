"""The Python-level Net of BVLC's python/caffe/pycaffe.py, over the _caffe views.

As in pycaffe, the name -> object dictionaries are built once per Net object,
and forward/backward take lists (``blobs``, ``diffs``), layer names
(``start``, ``end``) and, as keywords, arrays for exactly the net's inputs
(outputs for backward) with the blobs' batch size.
"""
from collections import OrderedDict
from itertools import zip_longest

import numpy as np

from ._caffe import (AdaDeltaSolver, AdaGradSolver, AdamSolver, BlobVec, NCCL, Net,  # noqa: F401
                     NesterovSolver, RMSPropSolver, SGDSolver, Timer, _blob)


def _cached(name, make):
    """A property computing make(net) once per Net object, like pycaffe's."""
    def get(self):
        if name not in self.__dict__:
            self.__dict__[name] = make(self)
        return self.__dict__[name]
    return property(get)


def _params(net):
    out = OrderedDict()
    for name, layer in zip(net._layer_names, net.layers):
        blobs = layer.blobs
        if not isinstance(blobs, BlobVec):   # a Python layer's own list
            blobs = BlobVec(_blob(b) for b in blobs)
        if len(blobs):
            out[name] = blobs
    return out


def _names_by_layer(ids):
    def make(net):
        names = list(net.blobs)
        return OrderedDict((net._layer_names[i], [names[j] for j in ids(net, i)])
                           for i in range(len(net.layers)))
    return make


def _forward(self, blobs=None, start=None, end=None, **kwargs):
    """Run layers start..end (names; default all); returns {blob: data} for the outputs
    (the end layer's tops when end is given) plus ``blobs``."""
    extra = [] if blobs is None else blobs
    first = 0 if start is None else list(self._layer_names).index(start)
    if end is None:
        last, wanted = len(self.layers) - 1, self.outputs + extra
    else:
        last = list(self._layer_names).index(end)
        wanted = self.top_names[end] + extra
    if kwargs:
        if set(kwargs) != set(self.inputs):
            raise Exception('Input blob arguments do not match net inputs.')
        for name, array in kwargs.items():
            if array.shape[0] != self.blobs[name].shape[0]:
                raise Exception('Input is not batch sized')
            self.blobs[name].data[...] = array
    self._forward(first, last)
    return {name: self.blobs[name].data for name in set(wanted)}


def _backward(self, diffs=None, start=None, end=None, **kwargs):
    """Backpropagate from layer start down to end; returns {blob: diff} for the inputs
    (the end layer's bottoms when end is given) plus ``diffs``."""
    extra = [] if diffs is None else diffs
    first = len(self.layers) - 1 if start is None else list(self._layer_names).index(start)
    if end is None:
        last, wanted = 0, self.inputs + extra
    else:
        last = list(self._layer_names).index(end)
        wanted = self.bottom_names[end] + extra
    if kwargs:
        if set(kwargs) != set(self.outputs):
            raise Exception('Top diff arguments do not match net outputs.')
        for name, array in kwargs.items():
            if array.shape[0] != self.blobs[name].shape[0]:
                raise Exception('Diff is not batch sized')
            self.blobs[name].diff[...] = array
    self._backward(first, last)
    return {name: self.blobs[name].diff for name in set(wanted)}


def _batch(self, arrays):
    """Split {name: array} into the net's batches; the last one is zero-padded."""
    total = len(next(iter(arrays.values())))
    size = next(iter(self.blobs.values())).shape[0]
    for begin in range(0, total - total % size, size):
        yield {name: a[begin:begin + size] for name, a in arrays.items()}
    left = total % size
    if left:
        yield {name: np.concatenate([a[-left:], np.zeros((size - left,) + a.shape[1:])])
               for name, a in arrays.items()}


def _unpad(collected, n):
    """Stack the collected per-item arrays and drop the padding past item n."""
    stacked = {name: np.asarray(items) for name, items in collected.items()}
    pad = len(next(iter(stacked.values()))) - n
    return {name: a[:len(a) - pad] for name, a in stacked.items()} if pad else stacked


def _forward_all(self, blobs=None, **kwargs):
    """forward() over whole arrays, batch by batch; returns {blob: array}."""
    collected = {name: [] for name in set(self.outputs + (blobs or []))}
    for batch in self._batch(kwargs):
        for name, data in self.forward(blobs=blobs, **batch).items():
            collected[name].extend(data.copy())
    return _unpad(collected, len(next(iter(kwargs.values()))))


def _forward_backward_all(self, blobs=None, diffs=None, **kwargs):
    """forward() and backward() over whole arrays; returns ({blob: data}, {blob: diff})."""
    outs = {name: [] for name in set(self.outputs + (blobs or []))}
    grads = {name: [] for name in set(self.inputs + (diffs or []))}
    fwd = self._batch({k: kwargs[k] for k in self.inputs if k in kwargs})
    bwd = self._batch({k: kwargs[k] for k in self.outputs if k in kwargs})
    for fb, bb in zip_longest(fwd, bwd, fillvalue={}):
        for name, data in self.forward(blobs=blobs, **fb).items():
            outs[name].extend(data.copy())
        for name, diff in self.backward(diffs=diffs, **bb).items():
            grads[name].extend(diff.copy())
    n = len(next(iter(kwargs.values())))
    return _unpad(outs, n), _unpad(grads, n)


def _feed_memory_data(self, data, labels):
    """Feed a MemoryData layer (the first layer) with data and labels."""
    if labels.ndim == 1:
        labels = np.ascontiguousarray(labels[:, None, None, None])
    return self._set_input_arrays(data, labels)


Net.blobs = _cached('_blobs_dict', lambda net: OrderedDict(zip(net._blob_names, net._blobs)))
Net.blob_loss_weights = property(lambda net: OrderedDict(zip(net._blob_names,
                                                              net._blob_loss_weights)))
Net.layer_dict = _cached('_layer_dict', lambda net: OrderedDict(zip(net._layer_names, net.layers)))
Net.params = _cached('_params_dict', _params)
Net.inputs = _cached('_input_list', lambda net: [list(net.blobs)[i] for i in net._inputs])
Net.outputs = _cached('_output_list', lambda net: [list(net.blobs)[i] for i in net._outputs])
Net.top_names = _cached('_top_names', _names_by_layer(Net._top_ids))
Net.bottom_names = _cached('_bottom_names', _names_by_layer(Net._bottom_ids))
Net.forward = _forward
Net.backward = _backward
Net.forward_all = _forward_all
Net.forward_backward_all = _forward_backward_all
Net.set_input_arrays = _feed_memory_data
Net._batch = _batch
