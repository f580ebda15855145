"""Export a net's forward pass, with its current weights, to an ONNX model.

Why: a trained FCN then runs wherever an ONNX runtime does, without Python,
PyTorch or this engine.  How: `NetModule` wraps the net into a
`torch.nn.Module` whose forward replays the built-in layers in net order on
plain tensors, calling each layer's own `forward` (so Caffe's rules, such as
its ceil-mode pooling sizes, are traced exactly as the engine computes them),
with the parameter blobs copied in as buffers.  `export` hands that module to
PyTorch's dynamo-based ONNX exporter (`torch.onnx.export(dynamo=True)`).

The graph is traced at the input shapes the net has when exported: reshape
the input blobs and call `net.reshape()` first to export for another size.
Python layers have no graph to trace and are refused, as are loss, Accuracy
and ArgMax layers (labels, data-dependent checks, a stable sort ONNX lacks)
and Dropout in the TRAIN phase (it would draw random masks).
The graph computes in float32 whatever the compute mode: fast mode's bf16
applies only inside the engine's own forward.

`compare` runs an exported model in onnxruntime beside the net on the same
inputs and measures how far the outputs differ.
"""
import os

import numpy as np
import onnxruntime
import torch

from .errors import CaffeError
from .graph import PASSIVE, PYTHON
from .proto import caffe_pb2

# Built-in layers whose forward cannot be traced into ONNX, with what to do instead.
_NOT_EXPORTABLE = {
    'SoftmaxWithLoss': 'a loss needs labels; export the deploy net, which ends in scores',
    'InfogainLoss': 'a loss needs labels; export the deploy net, which ends in scores',
    'Accuracy': 'a metric needs labels; export the deploy net, which ends in scores',
    'ArgMax': 'export the scores and take their argmax outside the model',
}

# Above this many bytes of weights the model goes beside the graph in <path>.data,
# since one ONNX protobuf file cannot exceed 2 GiB.
_SINGLE_FILE_BYTES = 1 << 30


class NetModule(torch.nn.Module):
    """The net's forward from its input blobs to its output blobs as a torch Module.

    `forward(*inputs)` takes one tensor per `net.inputs` and returns a tuple
    with one tensor per `net.outputs`.  Parameters are copied to the CPU at
    construction; a parameter shared by several layers is one buffer.
    """

    def __init__(self, net):
        super().__init__()
        self.input_names, self.output_names = net.inputs, net.outputs
        self._steps = []
        buffer_of = {}
        for rec in net.graph.layers:
            name, layer, lp = rec.name, rec.layer, rec.param
            if rec.kind == PYTHON:
                raise CaffeError('cannot export layer %r to ONNX: Python layers (%s) have no graph to export'
                                 % (name, lp.python_param.module + '.' + lp.python_param.layer))
            if lp.type in _NOT_EXPORTABLE:
                raise CaffeError('cannot export layer %r (%s) to ONNX: %s'
                                 % (name, lp.type, _NOT_EXPORTABLE[lp.type]))
            if lp.type == 'Dropout' and layer.phase == caffe_pb2.TRAIN:
                raise CaffeError('cannot export layer %r to ONNX: Dropout in the TRAIN phase draws random '
                                 'masks; export a TEST-phase (deploy) net' % name)
            if rec.kind == PASSIVE:
                continue
            params = []
            for blob in layer.blobs:
                if id(blob) not in buffer_of:
                    buffer_of[id(blob)] = 'param%d' % len(buffer_of)
                    self.register_buffer(buffer_of[id(blob)], blob.tensor.detach().to('cpu', copy=True))
                params.append(buffer_of[id(blob)])
            self._steps.append((layer, rec.bottoms, rec.tops, params))

    def forward(self, *inputs):
        values = dict(zip(self.input_names, inputs))
        for layer, bottoms, tops, params in self._steps:
            out = layer.forward([values[b] for b in bottoms], [getattr(self, p) for p in params])
            values.update(zip(tops, out))
        return tuple(values[name] for name in self.output_names)


def export(net, path, opset=None):
    """Write net's forward at its current input shapes as an ONNX model at path.

    The ONNX inputs and outputs are named after the net's input and output
    blobs.  opset: the ONNX opset version (the exporter's default when None).
    Returns the path written.
    """
    if not net.inputs:
        raise CaffeError('cannot export net %r to ONNX: it has no Input layer' % net.name)
    path = os.fspath(path)
    module = NetModule(net).eval()     # the exporter warns about a module left in training mode
    examples = tuple(torch.zeros(net.blobs[name].shape) for name in net.inputs)
    weight_bytes = sum(b.numel() * b.element_size() for b in module.buffers())
    torch.onnx.export(module, examples, path, dynamo=True, opset_version=opset,
                      input_names=net.inputs, output_names=net.outputs,
                      external_data=weight_bytes > _SINGLE_FILE_BYTES, verbose=False)
    return path


def compare(net, path, inputs):
    """Run the ONNX model at path in onnxruntime and net on the same inputs ({input blob: array}).

    Returns {output blob: stats} with, per output, `max_abs` (largest absolute
    difference), `max_rel` (that over the largest absolute value the net gives)
    and `argmax_agreement` (the fraction of positions whose argmax over axis 1,
    the class axis of scores, is the same in both).
    """
    feeds = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in net.inputs}
    want = {name: np.array(value) for name, value in net.forward(**feeds).items()}
    session = onnxruntime.InferenceSession(os.fspath(path), providers=['CPUExecutionProvider'])
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    stats = {}
    for name in net.outputs:
        ref, out = want[name], got[name]
        if out.shape != ref.shape:
            raise CaffeError('%s: output %r has shape %s, the net gives %s'
                             % (path, name, out.shape, ref.shape))
        max_abs = float(np.abs(out - ref).max())
        scale = float(np.abs(ref).max())
        axis = 1 if ref.ndim > 1 else 0
        stats[name] = {'max_abs': max_abs, 'max_rel': max_abs / scale if scale else max_abs,
                       'argmax_agreement': float(np.mean(out.argmax(axis) == ref.argmax(axis)))}
    return stats
