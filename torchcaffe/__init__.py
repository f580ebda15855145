"""torchcaffe: pycaffe's API with Caffe's semantics, computed by PyTorch.

    import torchcaffe as caffe
    net = caffe.Net('deploy.prototxt', caffe.TEST, weights='model.caffemodel')
"""
import logging

from . import coord_map, distributed, io, timing
from .blob import Blob
from .errors import CaffeError
from .mode import set_device, set_fast_mode, set_faithful_mode, set_mode_cpu, set_mode_gpu, set_random_seed
from .net import TEST, TRAIN, Net
from .net_spec import NetSpec, layers, params, to_proto
from .python_layer import Layer
from .solver import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver,
                     SGDSolver, get_solver)

__all__ = ['AdaDeltaSolver', 'AdaGradSolver', 'AdamSolver', 'Blob', 'CaffeError', 'Layer',
           'NesterovSolver', 'Net', 'NetSpec', 'RMSPropSolver', 'SGDSolver', 'TEST', 'TRAIN',
           'coord_map', 'distributed', 'get_solver', 'io', 'layers', 'params', 'timing', 'set_device', 'set_fast_mode', 'set_faithful_mode', 'set_mode_cpu', 'set_mode_gpu',
           'set_random_seed', 'to_proto']


# A library configures no output of its own: solver progress goes to the 'torchcaffe' logger, which
# the application (solve.py, demo.py) points where it wants.
logging.getLogger('torchcaffe').addHandler(logging.NullHandler())
