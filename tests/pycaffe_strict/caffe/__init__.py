"""A strict stand-in for BVLC's pycaffe: exactly its public surface, computed by torchcaffe.

Tests put tests/pycaffe_strict on PYTHONPATH with FCN_BACKEND=caffe, so FCN code
that strays from pycaffe's API fails here as it would on BVLC Caffe (README.md).
"""
from .pycaffe import (Net, SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver,  # noqa: F401
                      AdaDeltaSolver, AdamSolver, NCCL, Timer)
from ._caffe import (init_log, log, set_mode_cpu, set_mode_gpu, set_device, Layer,  # noqa: F401
                     get_solver, layer_type_list, set_random_seed, solver_count, set_solver_count,
                     solver_rank, set_solver_rank, set_multiprocess, has_nccl)
from ._caffe import __version__  # noqa: F401
from .proto.caffe_pb2 import TRAIN, TEST  # noqa: F401
from . import io  # noqa: F401
from .net_spec import layers, params, NetSpec, to_proto  # noqa: F401
