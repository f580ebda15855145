"""Net: a NetParameter turned into a graph of layers over named blobs, with
pycaffe's interface and Caffe's rules for phases, in-place tops, loss weights,
parameter sharing and which layers need backward.

Forward runs each layer as torch ops. When the net needs backward, each
layer's computation is recorded on its own small autograd tape, so Backward
can walk the layers in reverse like Caffe does: blob diffs are explicit, an
in-place layer turns its top diff into its bottom diff, and a blob read by
several layers gets the sum of their diffs (what Caffe's Split layers do).
With fast mode's compile=True, a pass that records nothing runs each stretch of
built-in layers as one compiled segment (compiled.py).
"""
import contextlib
import os
from collections import OrderedDict

import numpy as np
import torch

from . import io, mode
from .blob import Blob
from .compiled import Segment
from .errors import CaffeError
from .layers import REGISTRY
from .layers.base import Layer as BuiltinLayer
from .linked_pass import LinkedPass
from .proto import caffe_pb2
from .python_layer import create_python_layer
from .state_rules import layer_included
from .upgrade import upgrade_net

TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST


def _first_line(error):
    """The first line of an exception's message ('' when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else ''


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
    """A Caffe net: `Net(prototxt, caffe.TEST, weights=...)` or `Net(prototxt, weights, caffe.TEST)`."""

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
        self._source = source
        self._build(param)
        if weights is not None:
            self.copy_from(weights)

    # -- construction -----------------------------------------------------------
    def _build(self, param):
        self._param = param
        self.name = param.name
        self._blobs = OrderedDict()
        self._layer_names, self._layer_objs, self._layer_params = [], [], []
        self._bottoms, self._tops = [], []
        self._loss_weights = []
        self._inputs = []
        self._param_owner = {}          # shared param name -> (blob, spec)
        self._mult_given = {}           # id(learnable blob) -> {'lr_mult', 'decay_mult'} given so far
        self._learnable = []            # [blob, lr_mult, decay_mult], unique blobs
        learnable_index = {}
        layer_need, bottom_need, param_need = [], [], []
        blob_need = {}
        available = set()
        for lp in param.layer:
            if not layer_included(lp, param.state):
                continue
            if lp.name in self._layer_names:
                raise CaffeError('%s: two layers are named %r' % (self._source, lp.name))
            layer = self._create_layer(lp)
            for b in lp.bottom:
                if b not in self._blobs:
                    raise CaffeError("%s: layer %r reads bottom blob %r, which no earlier layer produces"
                                     % (self._source, lp.name, b))
            if len(lp.propagate_down) not in (0, len(lp.bottom)):
                raise CaffeError('%s: layer %r gives propagate_down %d times; give it 0 or once per bottom'
                                 % (self._source, lp.name, len(lp.propagate_down)))
            bneed = [bool(lp.propagate_down[j]) if len(lp.propagate_down) else blob_need.get(b, False)
                     for j, b in enumerate(lp.bottom)]
            need = any(blob_need.get(b, False) for b in lp.bottom)
            for b in lp.bottom:
                available.discard(b)
            for t in lp.top:
                if t in self._blobs and t not in lp.bottom:
                    raise CaffeError('%s: top blob %r of layer %r is produced by more than one layer'
                                     % (self._source, t, lp.name))
                if t not in self._blobs:
                    self._blobs[t] = Blob()
                available.add(t)
            self._layer_names.append(lp.name)
            self._layer_objs.append(layer)
            self._layer_params.append(lp)
            self._bottoms.append(list(lp.bottom))
            self._tops.append(list(lp.top))
            self._setup_layer(layer, lp)
            if lp.type == 'Input':
                self._inputs.extend(lp.top)
            pneed = self._setup_params(layer, lp, learnable_index)
            need = need or any(pneed)
            layer_need.append(need)
            bottom_need.append(bneed)
            param_need.append(pneed)
            if need:
                for t in lp.top:
                    blob_need[t] = True
        self._outputs = sorted(b for b in self._blobs if b in available)   # Caffe: a std::set<string>
        self._decide_backward(param, layer_need, bottom_need, param_need)
        self._consumed_later = self._later_consumers()
        self._spent_inputs = self._in_place_relus_ending_their_input()
        self._tape = {}
        self._link = None    # a LinkedPass while a linked recording awaits its backward
        self._ran = None
        self._timer = None   # a timing.LayerTimes while one is attached
        self._segments = {}  # (first, last) layer index -> compiled.Segment, for fast mode's compile

    def _create_layer(self, lp):
        if lp.type == 'Python':
            return create_python_layer(lp, self._layer_phase(lp))
        cls = REGISTRY.get(lp.type)
        if cls is None:
            raise CaffeError('%s: layer %r has unknown type %r' % (self._source, lp.name, lp.type))
        layer = cls(lp, self._layer_phase(lp))
        layer.check_counts(len(lp.bottom), len(lp.top))
        return layer

    def _layer_phase(self, lp):
        return lp.phase if lp.HasField('phase') else self.phase

    def _setup_layer(self, layer, lp):
        bottoms = [self._blobs[b] for b in lp.bottom]
        tops = [self._blobs[t] for t in lp.top]
        if self._is_python(layer):
            with self._python_errors(lp.name, 'setup'):
                layer.setup(bottoms, tops)
                layer.reshape(bottoms, tops)
        elif getattr(layer, 'passive', False):
            for blob, shape in zip(tops, layer.input_shapes(len(tops))):
                blob.reshape(shape)
        else:
            with self._layer_errors(lp.name, lp.type, bottoms, 'set up'):
                layer.setup([b.shape for b in bottoms])
                shapes = layer.top_shapes([b.shape for b in bottoms])
            for blob, shape in zip(tops, shapes):
                blob.reshape(shape)
        weights = list(lp.loss_weight)
        if not weights and getattr(layer, 'is_loss', False):
            weights = [1.0]
        weights += [0.0] * (len(lp.top) - len(weights))
        if len(weights) > len(lp.top):
            raise CaffeError('%s: layer %r gives %d loss_weight values for %d tops'
                             % (self._source, lp.name, len(weights), len(lp.top)))
        for blob, w in zip(tops, weights):
            if w:
                blob.diff[...] = w
        self._loss_weights.append(weights)

    def _setup_params(self, layer, lp, learnable_index):
        """Resolve sharing and learning rates; returns which params need a diff."""
        need = []
        n_blobs = len(layer.blobs)
        if len(lp.param) > n_blobs:
            raise CaffeError('%s: layer %r gives %d param specs but has %d parameter blobs'
                             % (self._source, lp.name, len(lp.param), n_blobs))
        for j in range(n_blobs):
            spec = lp.param[j] if j < len(lp.param) else caffe_pb2.ParamSpec()
            blob = layer.blobs[j]
            if spec.name and spec.name in self._param_owner:
                owner, owner_spec = self._param_owner[spec.name]
                strict = spec.share_mode != caffe_pb2.ParamSpec.PERMISSIVE
                if (strict and owner.shape != blob.shape) or owner.count != blob.count:
                    raise CaffeError('%s: layer %r shares param %r of shape %s with shape %s'
                                     % (self._source, lp.name, spec.name, owner.shape, blob.shape))
                layer.blobs[j] = owner
                entry = self._learnable[learnable_index[id(owner)]]
                for k, field in ((1, 'lr_mult'), (2, 'decay_mult')):
                    if not spec.HasField(field):
                        continue
                    given = self._mult_given.setdefault(id(owner), set())
                    if field in given:
                        if getattr(spec, field) != entry[k]:
                            raise CaffeError('%s: layer %r shares param %r with %s %g, but it already has %s %g'
                                             % (self._source, lp.name, spec.name, field, getattr(spec, field),
                                                field, entry[k]))
                    else:
                        entry[k] = getattr(spec, field)
                        given.add(field)
            else:
                if spec.name:
                    self._param_owner[spec.name] = (blob, spec)
                learnable_index[id(blob)] = len(self._learnable)
                self._learnable.append([blob, spec.lr_mult, spec.decay_mult])
                self._mult_given[id(blob)] = {f for f in ('lr_mult', 'decay_mult') if spec.HasField(f)}
            need.append(spec.lr_mult != 0)
        return need

    def _decide_backward(self, param, layer_need, bottom_need, param_need):
        """Caffe's rules: only layers that feed a loss run backward, unless force_backward."""
        under_loss, readers_skip = set(), {}
        for i in reversed(range(len(self._layer_objs))):
            tops = self._tops[i]
            contributes = any(self._loss_weights[i][j] or t in under_loss for j, t in enumerate(tops))
            # Caffe gives each reader of a blob its own split copy: a top skips backward only
            # when every later layer reading this version of it skips it.
            skip_all = all(readers_skip.get(t, False) for t in tops)
            for t in tops:
                readers_skip.pop(t, None)
            if layer_need[i] and skip_all:
                layer_need[i] = False
                bottom_need[i] = [False] * len(bottom_need[i])
            if not contributes:
                layer_need[i] = False
            for j, b in enumerate(self._bottoms[i]):
                if contributes:
                    under_loss.add(b)
                else:
                    bottom_need[i][j] = False
                readers_skip[b] = readers_skip.get(b, True) and not bottom_need[i][j]
        if param.force_backward:
            for i, layer in enumerate(self._layer_objs):
                layer_need[i] = True
                allow = getattr(layer, 'allow_force_backward', lambda j: True)
                bottom_need[i] = [need or allow(j) for j, need in enumerate(bottom_need[i])]
                param_need[i] = [True] * len(param_need[i])
        self._layer_need, self._bottom_need, self._param_need = layer_need, bottom_need, param_need
        self._records = any(layer_need)
        self._linkable = self._can_link()

    def _can_link(self):
        """Whether a whole pass can be recorded as one graph (see linked_pass) and give what the
        per-layer walk gives: no Python layer runs backward, and every in-place layer that runs
        backward passes the gradient to the blob it overwrote."""
        for i, layer in enumerate(self._layer_objs):
            if not self._layer_need[i] or getattr(layer, 'passive', False):
                continue
            if self._is_python(layer):
                return False
            in_place = [j for j, b in enumerate(self._bottoms[i]) if b in self._tops[i]]
            if not all(self._bottom_need[i][j] for j in in_place):
                return False
        return True

    def _later_consumers(self):
        """consumed[i][j]: whether top j of layer i, as layer i leaves it, is read by a later layer."""
        consumed = []
        for i, tops in enumerate(self._tops):
            row = []
            for t in tops:
                row.append(any(t in self._bottoms[k] for k in range(i + 1, len(self._tops))))
            consumed.append(row)
        return consumed

    # Producers whose fresh output their own backward never reads.
    _OUTPUT_FREE_BACKWARD = ('Convolution', 'Deconvolution', 'InnerProduct')

    def _in_place_relus_ending_their_input(self):
        """Layers (in-place ReLUs, slope 0) after which the value they overwrote is read by nobody.

        In Caffe that value is gone once the ReLU writes over it. Here the
        producer's output lives on in the recorded pass unless released, doubling
        the activation memory of a training pass; ReLU's backward needs only its
        own output, and these producers' backward needs neither.  A backward
        that must record the pass again takes the ReLU's mask from its output,
        as Caffe's in-place ReLU backward does.
        """
        spent = set()
        for i, lp in enumerate(self._layer_params):
            if lp.type != 'ReLU' or lp.relu_param.negative_slope != 0 or self._tops[i] != self._bottoms[i]:
                continue
            blob = self._bottoms[i][0]
            producer = max((k for k in range(i) if blob in self._tops[k]), default=None)
            if producer is None or self._layer_params[producer].type not in self._OUTPUT_FREE_BACKWARD:
                continue
            if not any(blob in self._bottoms[k] for k in range(producer + 1, i)):
                spent.add(i)
        return spent

    @contextlib.contextmanager
    def _layer_errors(self, name, type_, bottoms, doing):
        """Turn a computation error inside a built-in layer into a CaffeError naming it and its inputs."""
        try:
            yield
        except CaffeError:
            raise
        except (RuntimeError, ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as e:
            shapes = ', '.join(str(b.shape) for b in bottoms) or 'none'
            detail = _first_line(e) or type(e).__name__
            raise CaffeError('%s: cannot %s layer %r (%s) on bottom shapes %s: %s'
                             % (self._source, doing, name, type_, shapes, detail)) from e

    @staticmethod
    @contextlib.contextmanager
    def _python_errors(name, doing):
        """Any exception from a user's Python layer becomes a CaffeError naming the layer and the step."""
        try:
            yield
        except CaffeError:
            raise
        except Exception as e:
            raise CaffeError('Python layer %r failed in %s: %s: %s' % (name, doing, type(e).__name__, e)) from e

    @staticmethod
    def _is_python(layer):
        return not isinstance(layer, BuiltinLayer)

    # -- pycaffe's attributes ---------------------------------------------------
    @property
    def blobs(self):
        return self._blobs

    @property
    def params(self):
        return OrderedDict((n, l.blobs) for n, l in zip(self._layer_names, self._layer_objs) if len(l.blobs))

    @property
    def layers(self):
        return list(self._layer_objs)

    @property
    def layer_dict(self):
        return OrderedDict(zip(self._layer_names, self._layer_objs))

    @property
    def _blob_names(self):
        return list(self._blobs)

    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    @property
    def top_names(self):
        return OrderedDict(zip(self._layer_names, (list(t) for t in self._tops)))

    @property
    def bottom_names(self):
        return OrderedDict(zip(self._layer_names, (list(b) for b in self._bottoms)))

    @property
    def blob_loss_weights(self):
        weights = OrderedDict((name, 0.0) for name in self._blobs)
        for tops, ws in zip(self._tops, self._loss_weights):
            for t, w in zip(tops, ws):
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
        return [entry[0] for entry in self._learnable]

    # -- computation ----------------------------------------------------------------
    def _index(self, name, default):
        if name is None:
            return default
        if name not in self._layer_names:
            raise CaffeError('no layer named %r in net %r' % (name, self.name))
        return self._layer_names.index(name)

    def _run_layer(self, i, record):
        layer, lp = self._layer_objs[i], self._layer_params[i]
        bottoms = [self._blobs[b] for b in self._bottoms[i]]
        tops = [self._blobs[t] for t in self._tops[i]]
        if self._is_python(layer):
            with self._python_errors(lp.name, 'forward'):
                layer.reshape(bottoms, tops)
                layer.forward(bottoms, tops)
            if self._link is not None:
                self._link.forget(self._tops[i])
            return
        if getattr(layer, 'passive', False):
            return
        bt = [b.tensor for b in bottoms]
        pt = [p.tensor for p in layer.blobs]
        if self._layer_need[i]:
            self._seen[i] = bt              # what this layer read, should backward need to re-record it
        with self._layer_errors(lp.name, lp.type, bottoms, 'run'):
            if record and self._layer_need[i]:
                if self._link is not None:
                    out, first = self._record_linked(i, bt, pt)
                else:
                    out = self._record(i, bt, pt)
                    first = self._tape[i][0][0]
                if i in self._spent_inputs and first._base is None:
                    first.untyped_storage().resize_(0)   # the overwritten value: see _in_place_relus...
                    self._seen[i] = None
            else:
                with torch.no_grad():
                    out = layer.forward(bt, pt)
                if self._link is not None:
                    self._link.forget(self._tops[i])
        for blob, t in zip(tops, out):
            blob.set_tensor(t.detach())

    def _forward_range(self, start, end):
        """Run layers start..end (inclusive).

        TRAIN nets (and force_backward nets) record for backward as they go; a
        TEST net scores without that cost and re-records only if backward is asked.
        """
        self._tape, self._seen = {}, {}
        record = self._records and torch.is_grad_enabled() and \
            (self.phase == TRAIN or self._param.force_backward)
        timer = self._timer
        whole = start == 0 and end == len(self._layer_objs) - 1
        self._link = LinkedPass() if record and whole and self._linkable and not timer else None
        with mode.autocast():
            if not record and not timer and mode.arithmetic().compile:
                self._forward_compiled(start, end)
            else:
                for i in range(start, end + 1):
                    since = timer and timer.clock()
                    self._run_layer(i, record)
                    if timer:
                        timer.record('forward', i, since)
        self._ran = (start, end, record)

    def _compilable(self, i):
        layer = self._layer_objs[i]
        return not self._is_python(layer) and not getattr(layer, 'passive', False)

    def _forward_compiled(self, start, end):
        """Layers start..end with each run of built-in layers as one compiled segment."""
        i = start
        while i <= end:
            if not self._compilable(i):
                self._run_layer(i, False)
                i += 1
                continue
            last = i
            while last < end and self._compilable(last + 1):
                last += 1
            key = (i, last)
            if key not in self._segments:
                self._segments[key] = Segment(range(i, last + 1), self._layer_objs, self._bottoms, self._tops)
            segment = self._segments[key]
            inputs = [self._blobs[name].tensor for name in segment.reads]
            try:
                outputs = segment(inputs)
            except CaffeError:
                raise
            except Exception as e:
                self._explain_compile_failure(segment, e)
            if any(self._layer_need[k] for k in segment.indices):
                self._seen[key] = (segment, inputs)   # backward re-runs the segment uncompiled
            for name, t in zip(segment.writes, outputs):
                self._blobs[name].set_tensor(t.detach())
            i = last + 1

    def _explain_compile_failure(self, segment, error):
        """Name the layer when it fails uncompiled too; otherwise blame torch.compile."""
        for k in segment.indices:
            self._run_layer(k, False)
        first, last = (self._layer_names[k] for k in (segment.indices[0], segment.indices[-1]))
        raise CaffeError('%s: torch.compile failed on layers %r..%r (they run uncompiled; '
                         'set_fast_mode(compile=False) avoids it): %s: %s'
                         % (self._source, first, last, type(error).__name__, _first_line(error))) from error

    def _rerun_segment(self, segment, inputs):
        """Record a compiled segment's layers for backward, from the blobs it read."""
        values = dict(zip(segment.reads, inputs))
        for i in segment.indices:
            layer = self._layer_objs[i]
            bt = [values[b] for b in self._bottoms[i]]
            pt = [p.tensor for p in layer.blobs]
            if self._layer_need[i]:
                out = self._record(i, bt, pt)
            else:
                with torch.no_grad():
                    out = layer.forward(bt, pt)
            values.update(zip(self._tops[i], (t.detach() for t in out)))

    def _rerun_recording(self):
        """Recompute the last forward's built-in layers with recording (Python layers keep their tops)."""
        start, end, _ = self._ran
        with mode.autocast():
            for i, seen in self._seen.items():
                if isinstance(i, tuple):        # a compiled segment: (segment, the blobs it read)
                    self._rerun_segment(*seen)
                    continue
                if seen is None:   # a released ReLU input: like Caffe, take the mask from the blob it wrote
                    seen = [self._blobs[self._tops[i][0]].tensor]
                self._record(i, seen, [p.tensor for p in self._layer_objs[i].blobs])
        self._ran = (start, end, True)

    def _record_linked(self, i, bottoms, params):
        """Run built-in layer i into the pass's one graph; returns its tops and the value of its
        first bottom it read."""
        link, layer = self._link, self._layer_objs[i]
        bt = [link.bottom(name, t, need) for name, t, need in zip(self._bottoms[i], bottoms, self._bottom_need[i])]
        pt = [link.param(blob, t, need) for blob, t, need in zip(layer.blobs, params, self._param_need[i])]
        with torch.enable_grad():
            out = layer.forward(bt, pt)
        link.wrote(self._tops[i], out, [not later for later in self._consumed_later[i]])
        return out, bt[0] if bt else None

    def _record(self, i, bottoms, params):
        """Run built-in layer i on autograd leaves of what it reads, keeping its tape for backward."""
        bt = [t.detach().requires_grad_() if need else t for t, need in zip(bottoms, self._bottom_need[i])]
        pt = [t.detach().requires_grad_() if need else t for t, need in zip(params, self._param_need[i])]
        with torch.enable_grad():
            out = self._layer_objs[i].forward(bt, pt)
        self._tape[i] = (bt, pt, out)
        return out

    def _loss(self):
        """Sum of loss tops times their weights, as Caffe's Forward returns it."""
        total = None
        for i in range(len(self._tops)):
            for t, w in zip(self._tops[i], self._loss_weights[i]):
                if w:
                    value = self._blobs[t].tensor.sum() * w
                    total = value if total is None else total + value
        return 0.0 if total is None else float(total)

    def _backward_range(self, start, end):
        """Backward through layers start down to end (inclusive)."""
        link, self._link = self._link, None
        if link is not None:
            self._ran = self._ran[:2] + (False,)   # the graph is spent (or, for a part, not used)
            if (start, end) == (len(self._layer_objs) - 1, 0) and not self._timer:
                link.backward(self._blobs)
                return
        if self._records and self._ran is not None and not self._ran[2]:
            self._rerun_recording()
        pending = {}
        seeds = set()
        timer = self._timer
        whole = start == len(self._layer_objs) - 1
        for i in range(start, end - 1, -1):
            if not self._layer_need[i] or getattr(self._layer_objs[i], 'passive', False):
                continue
            since = timer and timer.clock()
            grads_out = []
            for j, t in enumerate(self._tops[i]):
                # A top read by a layer this backward visits gets its diff from there; one whose
                # readers lie beyond `start` brings the diff its blob holds, as in Caffe.
                if self._consumed_later[i][j] if whole else \
                        any(t in self._bottoms[k] for k in range(i + 1, start + 1)):
                    grads_out.append(pending.get(t))
                else:
                    g = self._blobs[t].diff_tensor
                    seeds.add(g.data_ptr())
                    grads_out.append(g)
            layer = self._layer_objs[i]
            if self._is_python(layer):
                bottom_grads = self._backward_python(i, layer, grads_out)
            else:
                bottom_grads = self._backward_torch(i, layer, grads_out)
            for j, b in enumerate(self._bottoms[i]):
                if not self._bottom_need[i][j]:
                    continue
                g = bottom_grads[j]
                if g is None:
                    g = torch.zeros_like(self._blobs[b].tensor)
                if b in self._tops[i] or b not in pending or pending[b] is None:
                    pending[b] = g
                else:
                    pending[b] = pending[b] + g
            if timer:
                timer.record('backward', i, since)
        for name, g in pending.items():
            if g.data_ptr() in seeds:
                g = g.clone()
            self._blobs[name].set_diff_tensor(g)
        self._tape = {}
        self._ran = self._ran[:2] + (False,)  # the tape is spent: another backward re-records

    def _backward_torch(self, i, layer, grads_out):
        if i not in self._tape:
            raise CaffeError('backward through layer %r needs a forward pass that reached it first'
                             % self._layer_names[i])
        bt, pt, out = self._tape[i]
        pairs = [(t, g) for t, g in zip(out, grads_out) if g is not None and t.requires_grad]
        want = [t for t, need in zip(bt, self._bottom_need[i]) if need]
        want += [t for t, need in zip(pt, self._param_need[i]) if need]
        if not pairs or not want:
            return [None] * len(bt)
        grads = torch.autograd.grad([t for t, _ in pairs], want, [g for _, g in pairs], allow_unused=True)
        grads = list(grads)
        bottom_grads = [grads.pop(0) if need else None for need in self._bottom_need[i]]
        for blob, need in zip(layer.blobs, self._param_need[i]):
            g = grads.pop(0) if need else None
            if g is not None:
                blob.diff_tensor.add_(g)
        return bottom_grads

    def _backward_python(self, i, layer, grads_out):
        tops = [self._blobs[t] for t in self._tops[i]]
        bottoms = [self._blobs[b] for b in self._bottoms[i]]
        for blob, g in zip(tops, grads_out):
            if g is None:
                blob.diff[...] = 0
            elif g.data_ptr() != blob.diff_tensor.data_ptr():
                blob.set_diff_tensor(g.clone())
        with self._python_errors(self._layer_names[i], 'backward'):
            layer.backward(tops, list(self._bottom_need[i]), bottoms)
        return [b.diff_tensor.clone() if need else None for b, need in zip(bottoms, self._bottom_need[i])]

    def forward(self, blobs=None, start=None, end=None, **kwargs):
        """Run the net (or layers start..end); returns {output blob: data}."""
        blobs = list(blobs or [])
        start_i = self._index(start, 0)
        end_i = self._index(end, len(self._layer_objs) - 1)
        outputs = self._tops[end_i] + blobs if end is not None else self._outputs + blobs
        for name, value in kwargs.items():
            if name not in self._inputs:
                raise CaffeError('forward(%s=...): %r is not an input of the net (inputs: %s)'
                                 % (name, name, ', '.join(self._inputs)))
            value = np.asarray(value)
            if value.shape[0] != self._blobs[name].shape[0]:
                raise CaffeError('forward(%s=...): batch size %d does not match the blob\'s %d; '
                                 'reshape the blob first' % (name, value.shape[0], self._blobs[name].shape[0]))
            self._blobs[name].data[...] = value
        self._forward_range(start_i, end_i)
        return {name: self._blobs[name].data for name in OrderedDict.fromkeys(outputs)}

    def backward(self, diffs=None, start=None, end=None, **kwargs):
        """Backpropagate (from layer start down to end); returns {input blob: diff}."""
        diffs = list(diffs or [])
        start_i = self._index(start, len(self._layer_objs) - 1)
        end_i = self._index(end, 0)
        outputs = self._bottoms[end_i] + diffs if end is not None else self._inputs + diffs
        if kwargs:
            if set(kwargs) != set(self._outputs):
                raise CaffeError('backward(): top diff arguments must name exactly the net outputs (%s)'
                                 % ', '.join(self._outputs))
            for name, value in kwargs.items():
                self._blobs[name].diff[...] = value
        self._backward_range(start_i, end_i)
        return {name: self._blobs[name].diff for name in OrderedDict.fromkeys(outputs)}

    def forward_all(self, blobs=None, **kwargs):
        """Forward whole arrays of inputs in batches of the input blobs' size; returns full outputs."""
        if not kwargs:
            raise CaffeError('forward_all needs input arrays, e.g. forward_all(data=array)')
        arrays = {k: np.asarray(v) for k, v in kwargs.items()}
        total = len(next(iter(arrays.values())))
        if any(len(a) != total for a in arrays.values()):
            raise CaffeError('forward_all: input arrays differ in length')
        batch = self._blobs[next(iter(arrays))].shape[0]
        collected = {}
        for start in range(0, total, batch):
            chunk = {}
            for k, a in arrays.items():
                part = a[start:start + batch]
                if len(part) < batch:
                    pad = np.zeros((batch - len(part),) + part.shape[1:], part.dtype)
                    part = np.concatenate([part, pad])
                chunk[k] = part
            for name, value in self.forward(blobs=blobs, **chunk).items():
                collected.setdefault(name, []).append(np.array(value))
        return {name: np.concatenate(parts)[:total] for name, parts in collected.items()}

    def forward_backward(self):
        """One forward and backward pass; returns the loss (Caffe's ForwardBackward)."""
        self._forward_range(0, len(self._layer_objs) - 1)
        self._backward_range(len(self._layer_objs) - 1, 0)
        return self._loss()

    def reshape(self):
        """Propagate input shapes through every layer, as Caffe's Net::Reshape."""
        with torch.no_grad():
            for i, layer in enumerate(self._layer_objs):
                bottoms = [self._blobs[b] for b in self._bottoms[i]]
                tops = [self._blobs[t] for t in self._tops[i]]
                if self._is_python(layer):
                    with self._python_errors(self._layer_names[i], 'reshape'):
                        layer.reshape(bottoms, tops)
                elif not getattr(layer, 'passive', False):
                    lp = self._layer_params[i]
                    with self._layer_errors(lp.name, lp.type, bottoms, 'reshape'):
                        shapes = layer.top_shapes([b.shape for b in bottoms])
                    for blob, shape in zip(tops, shapes):
                        blob.reshape(shape)

    # -- weights ------------------------------------------------------------------
    def copy_from(self, path):
        """Copy parameters from a caffemodel by layer name; all checks pass before anything is written."""
        path = os.fspath(path)
        source = io.read_binary(path, caffe_pb2.NetParameter, 'caffemodel')
        upgrade_net(source, path)
        layers = dict(zip(self._layer_names, self._layer_objs))
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
        out = caffe_pb2.NetParameter(name=self._param.name)
        for lp, layer in zip(self._layer_params, self._layer_objs):
            entry = out.layer.add()
            entry.CopyFrom(lp)
            del entry.blobs[:]
            for blob in layer.blobs:
                entry.blobs.append(io.array_to_blobproto(blob.data, blob.diff if write_diff else None))
        return out

    def save(self, path):
        """Write the parameters as a caffemodel, atomically."""
        io.write_binary(path, self.to_proto())

    def share_with(self, other):
        """Use other's parameter memory for every layer both nets have (Caffe's ShareTrainedLayersWith)."""
        mine = dict(zip(self._layer_names, self._layer_objs))
        for name, src in zip(other._layer_names, other._layer_objs):
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
        for name, layer, tops in zip(self._layer_names, self._layer_objs, self._tops):
            for j, p in enumerate(layer.blobs):
                if not bool(torch.isfinite(p.tensor).all()):
                    return 'layer %r has a non-finite parameter %d' % (name, j)
            for t in tops:
                if not bool(torch.isfinite(self._blobs[t].tensor).all()):
                    return 'layer %r is the first to output NaN/Inf (top %r)' % (name, t)
        return 'no layer output is NaN/Inf; the loss itself overflowed'

    def nonfinite_params(self):
        """Names of layers with a NaN or Inf parameter value."""
        flags = [(name, torch.stack([torch.isfinite(p.tensor).all() for p in layer.blobs]).all())
                 for name, layer in zip(self._layer_names, self._layer_objs) if len(layer.blobs)]
        return [name for name, ok in flags if not bool(ok)]

    def __repr__(self):
        return 'Net(%r, %d layers, phase=%s)' % (self.name, len(self._layer_objs),
                                                 'TRAIN' if self.phase == TRAIN else 'TEST')


def _shape_matches(blob, bp):
    """Caffe's Blob::ShapeEquals: legacy 4-D dims are compared right-aligned."""
    if any(bp.HasField(f) for f in ('num', 'channels', 'height', 'width')):
        return len(blob.shape) <= 4 and tuple(blob.legacy_shape(i) for i in (-4, -3, -2, -1)) == \
            (bp.num, bp.channels, bp.height, bp.width)
    return tuple(bp.shape.dim) == blob.shape
