"""torchcaffe: pycaffe's API with Caffe's semantics, computed by PyTorch.

    import torchcaffe as caffe
    net = caffe.Net('deploy.prototxt', caffe.TEST, weights='model.caffemodel')
"""
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


def _default_logging():
    """Log like Caffe does (solver progress to the console) unless the application configured logging."""
    import logging
    import sys
    logger = logging.getLogger('torchcaffe')
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


_default_logging()
