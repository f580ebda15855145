"""caffe.Layer for Python layers, and the glue that loads them from a prototxt.

A Python layer works on Blob objects with numpy `.data` / `.diff`, exactly as
in pycaffe: setup(bottom, top), reshape(bottom, top), forward(bottom, top),
backward(top, propagate_down, bottom).
"""
import importlib

from .blob import Blob
from .errors import CaffeError


class BlobVec(list):
    """A layer's learnable blobs; `add_blob(*shape)` appends a new one, as in pycaffe."""

    def add_blob(self, *shape):
        self.append(Blob(shape))


class Layer:
    """Base class of user layers (`class MyLayer(caffe.Layer)`)."""

    def __init__(self, param=None):
        self.layer_param = param
        self.param_str = param.python_param.param_str if param is not None else ''
        self.blobs = BlobVec()
        self.phase = None
        self.type = 'Python'

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        raise NotImplementedError('%s.forward is not implemented' % type(self).__name__)

    def backward(self, top, propagate_down, bottom):
        pass


def create_python_layer(param, phase):
    """Import python_param.module from sys.path and instantiate python_param.layer."""
    pp = param.python_param
    if not pp.module or not pp.layer:
        raise CaffeError('Python layer %r needs python_param { module: ... layer: ... }' % param.name)
    try:
        module = importlib.import_module(pp.module)
    except ImportError as e:
        raise CaffeError('Python layer %r: cannot import module %r (%s); is its folder on sys.path / PYTHONPATH?'
                         % (param.name, pp.module, e)) from e
    cls = getattr(module, pp.layer, None)
    if cls is None:
        raise CaffeError('Python layer %r: module %r has no class %r' % (param.name, pp.module, pp.layer))
    layer = cls(param)
    if not hasattr(layer, 'blobs'):
        raise CaffeError('Python layer %r: class %s.%s must derive from caffe.Layer'
                         % (param.name, pp.module, pp.layer))
    layer.param_str = pp.param_str
    layer.phase = phase
    return layer
