"""Caffe's parameter sharing by name, and each learnable blob's lr_mult and decay_mult.

A ParamSpec with a name already given by an earlier layer makes that layer's
blob the owner's (shapes must agree, or only counts under PERMISSIVE, where the
layer keeps its own shape over the owner's values and diff, as net.cpp's
ShareData/ShareDiff do); the multipliers of a shared blob may be given by any of
its layers, but must agree where several give them.
"""
from .blob import Blob
from .errors import CaffeError
from .proto import caffe_pb2


class ReshapedShare(Blob):
    """A PERMISSIVE share: the owner's data and diff memory seen under this layer's own shape."""

    def __init__(self, owner, shape):
        super().__init__(shape=shape)
        self.owner = owner

    @property
    def data(self):
        return self.owner.data.reshape(self.shape)

    @data.setter
    def data(self, value):
        self.data[...] = value

    @property
    def diff(self):
        return self.owner.diff.reshape(self.shape)

    @diff.setter
    def diff(self, value):
        self.diff[...] = value

    @property
    def allocated(self):
        return self.owner.allocated

    @property
    def tensor(self):
        return self.owner.tensor.view(self.shape)

    @property
    def diff_tensor(self):
        return self.owner.diff_tensor.view(self.shape)

    def set_tensor(self, t):
        self.owner.tensor.copy_(t.reshape(self.owner.shape))

    def set_diff_tensor(self, t):
        self.owner.diff_tensor.copy_(t.reshape(self.owner.shape))

    def reshape(self, *shape):
        raise CaffeError('a parameter blob shared under PERMISSIVE cannot be reshaped')

    def share_data(self, other):
        raise CaffeError('a parameter blob shared under PERMISSIVE cannot take other memory')


class Learnable:
    """A unique learnable blob with its learning-rate and weight-decay multipliers (as the solver reads them)."""

    __slots__ = ('blob', 'lr_mult', 'decay_mult')

    def __init__(self, blob, lr_mult, decay_mult):
        self.blob, self.lr_mult, self.decay_mult = blob, lr_mult, decay_mult


class ParamSharing:
    """The learnable blobs of a net under construction, layer by layer, in net order."""

    def __init__(self, source):
        self.source = source
        self.learnable = []
        self._owner = {}     # shared param name -> its Learnable
        self._given = {}     # id(blob) -> the multiplier fields given so far

    def add_layer(self, name, layer, specs):
        """Resolve the layer's params against earlier layers; returns which of them need a diff."""
        need = []
        if len(specs) > len(layer.blobs):
            raise CaffeError('%s: layer %r gives %d param specs but has %d parameter blobs'
                             % (self.source, name, len(specs), len(layer.blobs)))
        for j in range(len(layer.blobs)):
            spec = specs[j] if j < len(specs) else caffe_pb2.ParamSpec()
            blob = layer.blobs[j]
            if spec.name and spec.name in self._owner:
                layer.blobs[j] = self._share(name, spec, blob)
            else:
                entry = Learnable(blob, spec.lr_mult, spec.decay_mult)
                if spec.name:
                    self._owner[spec.name] = entry
                self.learnable.append(entry)
                self._given[id(blob)] = {f for f in ('lr_mult', 'decay_mult') if spec.HasField(f)}
            need.append(spec.lr_mult != 0)
        return need

    def _share(self, layer_name, spec, blob):
        """The owner's blob for `blob`, after checking shapes and merging the multipliers."""
        entry = self._owner[spec.name]
        owner = entry.blob
        strict = spec.share_mode != caffe_pb2.ParamSpec.PERMISSIVE
        if (strict and owner.shape != blob.shape) or owner.count != blob.count:
            raise CaffeError('%s: layer %r shares param %r of shape %s with shape %s'
                             % (self.source, layer_name, spec.name, owner.shape, blob.shape))
        shared = owner if owner.shape == blob.shape else ReshapedShare(owner, blob.shape)
        given = self._given[id(owner)]
        for field in ('lr_mult', 'decay_mult'):
            if not spec.HasField(field):
                continue
            if field in given:
                if getattr(spec, field) != getattr(entry, field):
                    raise CaffeError('%s: layer %r shares param %r with %s %g, but it already has %s %g'
                                     % (self.source, layer_name, spec.name, field, getattr(spec, field),
                                        field, getattr(entry, field)))
            else:
                setattr(entry, field, getattr(spec, field))
                given.add(field)
        return shared
