"""The contract every built-in layer follows, and the registry of layer types.

A built-in layer is a pure function of its bottom tensors and parameter
tensors, written with differentiable torch ops; the net records it with
autograd when backward is needed, so Backward is never written twice.
"""
import torch

from .. import mode
from ..blob import Blob
from ..errors import CaffeError
from ..fillers import fill

REGISTRY = {}


def register(type_name):
    """Class decorator: make a layer available under Caffe's type string."""
    def wrap(cls):
        cls.type = type_name
        REGISTRY[type_name] = cls
        return cls
    return wrap


class Layer:
    """Base of the built-in layers.

    Subclasses set up parameter blobs in `setup` and compute tops in `forward`;
    `top_shapes` defaults to running `forward` on shape-only (meta) tensors.
    """
    type = None
    is_loss = False       # top 0 carries loss weight 1 unless loss_weight says otherwise
    num_bottoms = None    # exact count, when the type has one
    min_tops, max_tops = 1, 1

    def __init__(self, param, phase):
        self.param = param
        self.phase = phase
        self.blobs = []

    # -- set-up -------------------------------------------------------------
    def check_counts(self, n_bottom, n_top):
        name = self.param.name
        if self.num_bottoms is not None and n_bottom != self.num_bottoms:
            raise CaffeError('layer %r (%s) takes %d bottom blob(s), got %d'
                             % (name, self.type, self.num_bottoms, n_bottom))
        if not self.min_tops <= n_top <= self.max_tops:
            want = str(self.min_tops) if self.min_tops == self.max_tops else \
                '%d to %d' % (self.min_tops, self.max_tops)
            raise CaffeError('layer %r (%s) produces %s top blob(s), got %d'
                             % (name, self.type, want, n_top))

    def setup(self, bottom_shapes):
        """Read parameters and create learnable blobs; bottoms are known by shape."""

    def add_param_blob(self, shape, filler, memory_format=torch.contiguous_format):
        """A learnable blob filled by `filler`, stored in `memory_format` (its values do not depend on it)."""
        t = fill(filler, shape).to(mode.device()).contiguous(memory_format=memory_format)
        self.blobs.append(Blob(tensor=t))

    def fail(self, message):
        raise CaffeError('layer %r (%s): %s' % (self.param.name, self.type, message))

    def allow_force_backward(self, bottom_index):
        return True

    # -- computation ----------------------------------------------------------
    def forward(self, bottoms, params):
        """Tops (a list of tensors) from bottoms and parameter tensors."""
        raise NotImplementedError

    def top_shapes(self, bottom_shapes):
        metas = [torch.empty(s, device='meta') for s in bottom_shapes]
        params = [torch.empty(b.shape, device='meta') for b in self.blobs]
        return [tuple(t.shape) for t in self.forward(metas, params)]


def canonical_axis(axis, n_axes, layer):
    """Caffe's CanonicalAxisIndex: negative axes count from the end."""
    if not -n_axes <= axis < max(n_axes, 1):
        layer.fail('axis %d out of range for a %d-axis blob' % (axis, n_axes))
    return axis + n_axes if axis < 0 else axis
