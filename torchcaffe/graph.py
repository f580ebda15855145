"""A net's graph: its NetParameter turned, once, into one record per layer over named blobs.

Construction applies Caffe's rules: phases and include/exclude, in-place tops,
loss weights, parameter sharing (param_sharing.py) and which layers, bottoms
and params need backward. The execution paths (runner.py and the modules it
chooses from) and the net's siblings (solver, onnx_export, timing) read the
graph; nothing here runs a pass.
"""
from collections import OrderedDict

from .blob import Blob
from .errors import CaffeError
from .layer_errors import builtin_errors, python_errors
from .layers import REGISTRY
from .layers.base import Layer as BuiltinLayer
from .param_sharing import ParamSharing
from .python_layer import create_python_layer
from .state_rules import layer_included

BUILTIN, PYTHON, PASSIVE = 'builtin', 'python', 'passive'   # a layer's kind: torch ops, user code, Input

# Producers whose fresh output their own backward never reads.
_OUTPUT_FREE_BACKWARD = ('Convolution', 'Deconvolution', 'InnerProduct')


class LayerRecord:
    """One layer of the graph and everything a pass needs to know about it."""

    __slots__ = ('index', 'name', 'type', 'param', 'layer', 'kind', 'bottoms', 'tops', 'loss_weights',
                 'need_backward', 'bottom_need', 'param_need', 'consumed_later', 'releases_input')

    def __init__(self, index, param, layer):
        self.index = index
        self.name, self.type = param.name, param.type
        self.param = param                  # its LayerParameter
        self.layer = layer
        if not isinstance(layer, BuiltinLayer):
            self.kind = PYTHON
        else:
            self.kind = PASSIVE if getattr(layer, 'passive', False) else BUILTIN
        self.bottoms, self.tops = list(param.bottom), list(param.top)
        self.loss_weights = []              # one per top (0 for most)
        self.need_backward = False          # Caffe's layer_need_backward
        self.bottom_need = []               # Caffe's bottom_need_backward, one per bottom
        self.param_need = []                # whether each param gets a diff
        self.consumed_later = []            # per top: whether a later layer reads the value this layer leaves
        self.releases_input = False         # an in-place ReLU after which the value it overwrote is dead

    @property
    def params(self):
        """The layer's parameter blobs (shared ones are the owner's)."""
        return self.layer.blobs


class Graph:
    """The layers of a net for one phase, its blobs, inputs, outputs and unique learnable params.

    `layers` holds a LayerRecord per included layer, in net order; `blobs` the
    Blob of every name; `learnable` each param blob once (param_sharing.Learnable);
    `needs_backward` whether any layer runs backward; `linkable` whether a whole
    pass may be recorded as one graph (linked_pass.py).
    """

    def __init__(self, param, phase, source):
        self.param, self.phase, self.source = param, phase, source
        self.name = param.name
        self.blobs = OrderedDict()
        self.layers = []
        self.inputs = []
        sharing = ParamSharing(source)
        available = self._add_layers(sharing)
        self.learnable = sharing.learnable
        self.outputs = sorted(b for b in self.blobs if b in available)   # Caffe: a std::set<string>
        _decide_backward(self.layers, param.force_backward)
        self.needs_backward = any(r.need_backward for r in self.layers)
        self.linkable = _linkable(self.layers)
        for rec in self.layers:
            later = self.layers[rec.index + 1:]
            rec.consumed_later = [any(t in r.bottoms for r in later) for t in rec.tops]
            rec.releases_input = _ends_its_input(self.layers, rec)

    def index(self, name):
        """The position of the layer called `name`."""
        for rec in self.layers:
            if rec.name == name:
                return rec.index
        raise CaffeError('no layer named %r in net %r' % (name, self.name))

    def reshape(self):
        """Propagate the input shapes through every layer, as Caffe's Net::Reshape."""
        for rec in self.layers:
            bottoms = [self.blobs[b] for b in rec.bottoms]
            tops = [self.blobs[t] for t in rec.tops]
            if rec.kind == PYTHON:
                with python_errors(rec.name, 'reshape'):
                    rec.layer.reshape(bottoms, tops)
            elif rec.kind == BUILTIN:
                with builtin_errors(self.source, rec, bottoms, 'reshape'):
                    shapes = rec.layer.top_shapes([b.shape for b in bottoms])
                for blob, shape in zip(tops, shapes):
                    blob.reshape(shape)

    # -- construction -------------------------------------------------------------
    def _add_layers(self, sharing):
        """Create and set up the included layers; returns the blobs no layer reads after writing."""
        names, blob_need, available = set(), {}, set()
        for lp in self.param.layer:
            if not layer_included(lp, self.param.state):
                continue
            if lp.name in names:
                raise CaffeError('%s: two layers are named %r' % (self.source, lp.name))
            names.add(lp.name)
            rec = LayerRecord(len(self.layers), lp, self._create_layer(lp))
            for b in lp.bottom:
                if b not in self.blobs:
                    raise CaffeError("%s: layer %r reads bottom blob %r, which no earlier layer produces"
                                     % (self.source, lp.name, b))
            if len(lp.propagate_down) not in (0, len(lp.bottom)):
                raise CaffeError('%s: layer %r gives propagate_down %d times; give it 0 or once per bottom'
                                 % (self.source, lp.name, len(lp.propagate_down)))
            rec.bottom_need = [bool(lp.propagate_down[j]) if len(lp.propagate_down) else blob_need.get(b, False)
                               for j, b in enumerate(lp.bottom)]
            need = any(blob_need.get(b, False) for b in lp.bottom)
            available.difference_update(lp.bottom)
            for t in lp.top:
                if t in self.blobs and t not in lp.bottom:
                    raise CaffeError('%s: top blob %r of layer %r is produced by more than one layer'
                                     % (self.source, t, lp.name))
                if t not in self.blobs:
                    self.blobs[t] = Blob()
                available.add(t)
            self.layers.append(rec)
            self._setup_layer(rec)
            if lp.type == 'Input':
                self.inputs.extend(lp.top)
            rec.param_need = sharing.add_layer(lp.name, rec.layer, lp.param)
            rec.need_backward = need or any(rec.param_need)
            if rec.need_backward:
                blob_need.update((t, True) for t in lp.top)
        return available

    def _create_layer(self, lp):
        phase = lp.phase if lp.HasField('phase') else self.phase
        if lp.type == 'Python':
            return create_python_layer(lp, phase)
        cls = REGISTRY.get(lp.type)
        if cls is None:
            raise CaffeError('%s: layer %r has unknown type %r' % (self.source, lp.name, lp.type))
        layer = cls(lp, phase)
        layer.check_counts(len(lp.bottom), len(lp.top))
        return layer

    def _setup_layer(self, rec):
        """Caffe's LayerSetUp and first Reshape, and the loss weights seeded into the tops' diffs."""
        bottoms = [self.blobs[b] for b in rec.bottoms]
        tops = [self.blobs[t] for t in rec.tops]
        layer = rec.layer
        if rec.kind == PYTHON:
            with python_errors(rec.name, 'setup'):
                layer.setup(bottoms, tops)
                layer.reshape(bottoms, tops)
        elif rec.kind == PASSIVE:
            for blob, shape in zip(tops, layer.input_shapes(len(tops))):
                blob.reshape(shape)
        else:
            with builtin_errors(self.source, rec, bottoms, 'set up'):
                layer.setup([b.shape for b in bottoms])
                shapes = layer.top_shapes([b.shape for b in bottoms])
            for blob, shape in zip(tops, shapes):
                blob.reshape(shape)
        weights = list(rec.param.loss_weight)
        if not weights and getattr(layer, 'is_loss', False):
            weights = [1.0]
        weights += [0.0] * (len(rec.tops) - len(weights))
        if len(weights) > len(rec.tops):
            raise CaffeError('%s: layer %r gives %d loss_weight values for %d tops'
                             % (self.source, rec.name, len(weights), len(rec.tops)))
        for blob, w in zip(tops, weights):
            if w:
                blob.diff[...] = w
        rec.loss_weights = weights


def _decide_backward(layers, force_backward):
    """Caffe's rules: only layers that feed a loss run backward, unless force_backward."""
    under_loss, readers_skip = set(), {}
    for rec in reversed(layers):
        contributes = any(w or t in under_loss for w, t in zip(rec.loss_weights, rec.tops))
        # Caffe gives each reader of a blob its own split copy: a top skips backward only
        # when every later layer reading this version of it skips it.
        skip_all = all(readers_skip.get(t, False) for t in rec.tops)
        for t in rec.tops:
            readers_skip.pop(t, None)
        if rec.need_backward and skip_all:
            rec.need_backward = False
            rec.bottom_need = [False] * len(rec.bottom_need)
        if not contributes:
            rec.need_backward = False
        for j, b in enumerate(rec.bottoms):
            if contributes:
                under_loss.add(b)
            else:
                rec.bottom_need[j] = False
            readers_skip[b] = readers_skip.get(b, True) and not rec.bottom_need[j]
    if force_backward:
        for rec in layers:
            rec.need_backward = True
            allow = getattr(rec.layer, 'allow_force_backward', lambda j: True)
            rec.bottom_need = [need or allow(j) for j, need in enumerate(rec.bottom_need)]
            rec.param_need = [True] * len(rec.param_need)


def _linkable(layers):
    """Whether a whole pass can be recorded as one graph (linked_pass.py) and give what the per-layer
    walk gives: no Python layer runs backward, and every in-place layer that runs backward passes
    the gradient to the blob it overwrote."""
    for rec in layers:
        if not rec.need_backward or rec.kind == PASSIVE:
            continue
        if rec.kind == PYTHON:
            return False
        if not all(need for b, need in zip(rec.bottoms, rec.bottom_need) if b in rec.tops):
            return False
    return True


def _ends_its_input(layers, rec):
    """Whether rec is an in-place ReLU (slope 0) after which the value it overwrote is read by nobody.

    In Caffe that value is gone once the ReLU writes over it. Here the
    producer's output lives on in the recorded pass unless released, doubling
    the activation memory of a training pass; ReLU's backward needs only its
    own output, and these producers' backward needs neither.  A backward
    that must record the pass again takes the ReLU's mask from its output,
    as Caffe's in-place ReLU backward does.
    """
    if rec.type != 'ReLU' or rec.param.relu_param.negative_slope != 0 or rec.tops != rec.bottoms:
        return False
    blob = rec.bottoms[0]
    producer = max((k for k in range(rec.index) if blob in layers[k].tops), default=None)
    if producer is None or layers[producer].type not in _OUTPUT_FREE_BACKWARD:
        return False
    return not any(blob in layers[k].bottoms for k in range(producer + 1, rec.index))
