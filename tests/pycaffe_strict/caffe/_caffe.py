"""What BVLC's C++ module (python/caffe/_caffe.cpp) binds, over torchcaffe objects.

Each class shows only the members _caffe.cpp gives it, with boost-python's
behaviour where FCN code could come to rely on something else: vectors are
len()/[i] views, a vector of raw Blob pointers (a Python layer's bottom and
top) cannot be iterated, Blob.data cannot be assigned, Blob.shape is a vector
rather than a tuple, file names must be str.  Errors: an exception raised in
a Python layer reaches the caller as itself (boost re-raises it); every other
torchcaffe CaffeError (where Caffe would abort the process in a failed CHECK)
becomes a RuntimeError.
"""
import contextlib
import logging
import time
import types
import weakref

import torchcaffe
from torchcaffe.errors import CaffeError
from torchcaffe.layers import REGISTRY
from torchcaffe.solver import learning_rate

__version__ = '1.0.0'

_NO_CONVERTER = 'No to_python (by-value) converter found for C++ type: caffe::Blob<float>*'
_LAYER_ERROR = '_pycaffe_strict_from_layer'   # marks an exception raised by Python layer code


@contextlib.contextmanager
def _errors():
    """Let torchcaffe's errors out as pycaffe's would be (see the module docstring)."""
    try:
        yield
    except CaffeError as e:
        cause = e.__cause__
        if cause is not None and getattr(cause, _LAYER_ERROR, False):
            raise cause from None
        raise RuntimeError(str(e)) from e


def _is_int(x):
    return isinstance(x, int)


def _check_str(value, what):
    """boost-python converts only str to std::string (no path objects, no bytes)."""
    if not isinstance(value, str):
        raise TypeError('%s must be a str, not %s' % (what, type(value).__name__))


def _check_file(path):
    try:
        with open(path):
            pass
    except OSError:
        raise RuntimeError('Could not open file ' + path) from None


# -- vectors (vector_indexing_suite) -------------------------------------------------
class _Vec:
    """A std::vector as boost-python shows it: len(), [i], [a:b], iteration, `in`."""
    __slots__ = ('_items',)

    def __init__(self, items=()):
        self._items = list(items)

    def __len__(self):
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(self._items[i])
        if not _is_int(i):
            raise TypeError('Invalid index type')
        if not -len(self._items) <= i < len(self._items):
            raise IndexError('Index out of range')
        return self._items[i]

    def __iter__(self):
        return iter(self._items)

    def __contains__(self, x):
        return x in self._items


class IntVec(_Vec):
    __slots__ = ()


class StringVec(_Vec):
    __slots__ = ()


class DtypeVec(_Vec):
    __slots__ = ()


class BoolVec(_Vec):
    __slots__ = ()


class LayerVec(_Vec):
    __slots__ = ()


class NetVec(_Vec):
    __slots__ = ()


class BlobVec(_Vec):
    """vector<shared_ptr<Blob>>: a layer's parameters (net.params[name], layer.blobs)."""
    __slots__ = ()


class RawBlobVec(_Vec):
    """vector<Blob*>: a Python layer's bottom and top.  Indexing works, iterating does not."""
    __slots__ = ()

    def __iter__(self):
        raise TypeError(_NO_CONVERTER)

    def __contains__(self, x):
        raise TypeError(_NO_CONVERTER)


# -- Blob ------------------------------------------------------------------------------
_views = weakref.WeakKeyDictionary()


def _blob(b):
    """The one Blob view of torchcaffe blob ``b``."""
    view = _views.get(b)
    if view is None:
        view = _views[b] = object.__new__(Blob)
        view._b = b
    return view


class Blob:
    """data, diff, shape, count, num/channels/height/width, reshape(*ints)."""
    __slots__ = ('_b', '__weakref__')

    def __init__(self, *args, **kwargs):
        raise RuntimeError('This class cannot be instantiated from Python')

    data = property(lambda self: self._b.data)
    diff = property(lambda self: self._b.diff)
    shape = property(lambda self: IntVec(self._b.shape))
    count = property(lambda self: self._b.count)
    num = property(lambda self: self._b.num)
    channels = property(lambda self: self._b.channels)
    height = property(lambda self: self._b.height)
    width = property(lambda self: self._b.width)

    def reshape(self, *shape, **kwargs):
        if kwargs:
            raise RuntimeError('Blob.reshape takes no kwargs')
        if not all(_is_int(d) for d in shape):
            raise TypeError('Blob.reshape takes int dimensions, got %s'
                            % ', '.join(type(d).__name__ for d in shape))
        with _errors():
            self._b.reshape(*shape)


# -- Layer -----------------------------------------------------------------------------
def _raw(blobs):
    return blobs if isinstance(blobs, RawBlobVec) else RawBlobVec(_blob(b) for b in blobs)


def _pycaffe_call(method, n_vectors):
    """``method`` called as Caffe's PythonLayer calls it: blob vectors as RawBlobVec."""
    def call(self, *args):
        args = list(args)
        if n_vectors == 2:
            args = [_raw(args[0]), _raw(args[1])]
        else:
            args = [_raw(args[0]), args[1] if isinstance(args[1], BoolVec) else BoolVec(args[1]),
                    _raw(args[2])]
        try:
            return method(self, *args)
        except Exception as e:
            setattr(e, _LAYER_ERROR, True)
            raise
    call.__name__, call.__doc__, call.pycaffe_call = method.__name__, method.__doc__, True
    return call


class Layer(torchcaffe.Layer):
    """Base class of Python layers; a subclass's setup/reshape/forward/backward get
    their blob vectors as pycaffe passes them (RawBlobVec, propagate_down a BoolVec)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, n in (('setup', 2), ('reshape', 2), ('forward', 2), ('backward', 3)):
            method = cls.__dict__.get(name)
            if isinstance(method, types.FunctionType) and not hasattr(method, 'pycaffe_call'):
                setattr(cls, name, _pycaffe_call(method, n))


class _LayerView:
    """A built-in layer as net.layers shows it: blobs and type."""
    __slots__ = ('_layer',)

    def __init__(self, layer):
        self._layer = layer

    blobs = property(lambda self: BlobVec(_blob(b) for b in self._layer.blobs))
    type = property(lambda self: self._layer.type)


def _layer(layer):
    """Python layers come back as themselves (boost keeps the Python object)."""
    return layer if isinstance(layer, torchcaffe.Layer) else _LayerView(layer)


# -- Net -------------------------------------------------------------------------------
def _net_init_args(args, kwargs):
    """(file, phase, level, stages, weights) from Net(...)'s two C++ signatures."""
    if not kwargs and len(args) == 3 and isinstance(args[0], str) and isinstance(args[1], str) \
            and _is_int(args[2]):
        _check_file(args[0])
        _check_file(args[1])
        return args[0], args[2], 0, None, args[1]
    names = ('network_file', 'phase', 'level', 'stages', 'weights')
    if len(args) > len(names) or set(kwargs) - set(names) or set(kwargs) & set(names[:len(args)]):
        raise TypeError('Net(network_file, phase, level=0, stages=None, weights=None) or '
                        'Net(network_file, pretrained_param_file, phase): got %d arguments and %s'
                        % (len(args), sorted(kwargs)))
    given = dict(zip(names, args), **kwargs)
    file, phase = given.get('network_file'), given.get('phase')
    level, stages, weights = given.get('level', 0), given.get('stages'), given.get('weights')
    _check_str(file, 'network_file')
    if not _is_int(phase) or not _is_int(level):
        raise TypeError('phase and level must be ints')
    if stages is not None and not all(isinstance(stages[i], str) for i in range(len(stages))):
        raise TypeError('stages must be a sequence of str')
    if weights is not None:
        _check_str(weights, 'weights')
    _check_file(file)
    if weights is not None:
        _check_file(weights)
    return file, phase, level, stages, weights


class Net:
    """caffe.Net; pycaffe.py adds its Python-level attributes (see caffe.pycaffe)."""

    def __init__(self, *args, **kwargs):
        file, phase, level, stages, weights = _net_init_args(args, kwargs)
        stages = [stages[i] for i in range(len(stages))] if stages is not None else []
        with _errors():
            self._net = torchcaffe.Net(file, phase, level=level, stages=stages, weights=weights)

    @classmethod
    def _of(cls, net):
        view = object.__new__(cls)
        view._net = net
        return view

    # positions in the net's blob and layer lists
    def _layer_index(self, i):
        return list(self._net.layer_dict)[i]

    def _ids(self, names):
        index = {name: j for j, name in enumerate(self._net.blobs)}
        return IntVec(index[n] for n in names)

    def _forward(self, start, end):
        names = list(self._net.layer_dict)
        with _errors():
            self._net.forward(start=names[start], end=names[end])
        weights = self._net.blob_loss_weights
        tops = {t for name in names[start:end + 1] for t in self._net.top_names[name]}
        return float(sum(weights[t] * self._net.blobs[t].data.sum() for t in tops if weights[t]))

    def _backward(self, start, end):
        names = list(self._net.layer_dict)
        with _errors():
            self._net.backward(start=names[start], end=names[end])

    def reshape(self):
        with _errors():
            self._net.reshape()

    def clear_param_diffs(self):
        for blobs in self._net.params.values():
            for b in blobs:
                b.diff[...] = 0

    def copy_from(self, path):
        _check_str(path, 'copy_from path')
        with _errors():
            self._net.copy_from(path)

    def share_with(self, other):
        if not isinstance(other, Net):
            raise TypeError('share_with takes a caffe.Net')
        with _errors():
            self._net.share_with(other._net)

    def save(self, path):
        _check_str(path, 'save path')
        with _errors():
            self._net.save(path)

    def _bottom_ids(self, i):
        return self._ids(self._net.bottom_names[self._layer_index(i)])

    def _top_ids(self, i):
        return self._ids(self._net.top_names[self._layer_index(i)])

    def _set_input_arrays(self, data, labels):
        raise RuntimeError('set_input_arrays may only be called if the first layer is a '
                           'MemoryDataLayer')

    _blob_loss_weights = property(lambda self: DtypeVec(self._net.blob_loss_weights.values()))
    _blobs = property(lambda self: BlobVec(_blob(b) for b in self._net.blobs.values()))
    layers = property(lambda self: LayerVec(_layer(l) for l in self._net.layer_dict.values()))
    _blob_names = property(lambda self: StringVec(self._net.blobs))
    _layer_names = property(lambda self: StringVec(self._net.layer_dict))
    _inputs = property(lambda self: self._ids(self._net.inputs))
    _outputs = property(lambda self: self._ids(self._net.outputs))


# -- Solver ------------------------------------------------------------------------------
class SolverParameter:
    """solver.param: max_iter, display, layer_wise_reduce (read only) and base_lr."""
    __slots__ = ('_p',)

    def __init__(self, param):
        self._p = param

    max_iter = property(lambda self: self._p.max_iter)
    display = property(lambda self: self._p.display)
    layer_wise_reduce = property(lambda self: self._p.layer_wise_reduce)

    @property
    def base_lr(self):
        return self._p.base_lr

    @base_lr.setter
    def base_lr(self, value):
        self._p.base_lr = value


class Solver:
    """net, test_nets, iter, param, step, solve, restore, snapshot, callbacks."""
    _engine = None   # the torchcaffe class a subclass constructs

    def __init__(self, filename):
        if self._engine is None:
            raise RuntimeError('This class cannot be instantiated from Python')
        _check_str(filename, 'solver file')
        with _errors():
            self._init(self._engine(filename))

    @classmethod
    def _of(cls, solver):
        view = object.__new__(cls)
        view._init(solver)
        return view

    def _init(self, solver):
        self._solver = solver
        self._net = Net._of(solver.net)
        self._test_nets = [Net._of(n) for n in solver.test_nets]

    net = property(lambda self: self._net)
    test_nets = property(lambda self: NetVec(self._test_nets))
    iter = property(lambda self: self._solver.iter)
    param = property(lambda self: SolverParameter(self._solver.param))

    def add_callback(self, on_start, on_gradients_ready):
        self._solver.add_callback(on_start, on_gradients_ready)

    def solve(self, resume_file=None):
        if resume_file is not None:
            _check_str(resume_file, 'resume_file')
        with _errors():
            self._solver.solve(resume_file)

    def step(self, iters):
        if not _is_int(iters):
            raise TypeError('step takes an int')
        with _errors():
            self._solver.step(iters)

    def restore(self, state_file):
        _check_str(state_file, 'state_file')
        with _errors():
            self._solver.restore(state_file)

    def snapshot(self):
        with _errors():
            self._solver.snapshot()

    def share_weights(self, net):
        net.share_with(self._net)

    def apply_update(self):
        with _errors():
            self._solver.apply_update()


class SGDSolver(Solver):
    _engine = torchcaffe.SGDSolver

    @property
    def lr(self):
        s = self._solver
        return learning_rate(s.param, s.iter, s.current_step)[0]


class NesterovSolver(SGDSolver):
    _engine = torchcaffe.NesterovSolver


class AdaGradSolver(SGDSolver):
    _engine = torchcaffe.AdaGradSolver


class RMSPropSolver(SGDSolver):
    _engine = torchcaffe.RMSPropSolver


class AdaDeltaSolver(SGDSolver):
    _engine = torchcaffe.AdaDeltaSolver


class AdamSolver(SGDSolver):
    _engine = torchcaffe.AdamSolver


def get_solver(filename):
    """The solver its file's ``type`` asks for."""
    _check_str(filename, 'solver file')
    with _errors():
        solver = torchcaffe.get_solver(filename)
    view = next(cls for cls in (AdamSolver, AdaDeltaSolver, RMSPropSolver, AdaGradSolver,
                                NesterovSolver, SGDSolver) if type(solver) is cls._engine)
    return view._of(solver)


# -- the rest of the module ---------------------------------------------------------------
class NCCL:
    """Without NCCL (USE_NCCL unset) the class only constructs."""

    def __init__(self, solver, uid):
        pass


class Timer:
    def __init__(self):
        self._start, self._ms = None, 0.0

    def start(self):
        self._start = time.perf_counter()

    def stop(self):
        if self._start is not None:
            self._ms = (time.perf_counter() - self._start) * 1000
            self._start = None

    @property
    def ms(self):
        if self._start is not None:
            return (time.perf_counter() - self._start) * 1000
        return self._ms


_counts = {'count': 1, 'rank': 0, 'multiprocess': False}


def init_log(level=None, stderr=None):
    pass


def log(message):
    logging.getLogger('torchcaffe').info(message)


def has_nccl():
    return False


set_mode_cpu = torchcaffe.set_mode_cpu
set_mode_gpu = torchcaffe.set_mode_gpu
set_device = torchcaffe.set_device
set_random_seed = torchcaffe.set_random_seed


def solver_count():
    return _counts['count']


def set_solver_count(n):
    _counts['count'] = n


def solver_rank():
    return _counts['rank']


def set_solver_rank(r):
    _counts['rank'] = r


def set_multiprocess(flag):
    _counts['multiprocess'] = flag


def layer_type_list():
    return StringVec(sorted(set(REGISTRY) | {'Python'}))
