"""Write Caffe nets as Python expressions (pycaffe's ``caffe.net_spec``).

``layers`` (usually imported as ``L``) turns any attribute into a layer
constructor: ``L.Convolution(x, kernel_size=3, num_output=64)`` returns a
:class:`Top` standing for the layer's output blob.  ``params`` (``P``) exposes
the enum constants of the ``*Parameter`` messages, e.g. ``P.Pooling.MAX``.
Assigning tops to attributes of a :class:`NetSpec` names them, and
:meth:`NetSpec.to_proto` serialises the graph into a ``NetParameter``.

Keyword arguments of a layer are placed like pycaffe places them:

* keys ending in ``param`` (``param``, ``convolution_param``, ...) and keys
  that are not fields of the layer type's own parameter message are set on
  the ``LayerParameter`` itself (``loss_weight``, ``include``, ``name``...);
* other keys go to the type's parameter message, found by name
  (``Convolution`` -> ``convolution_param``, ``Python`` -> ``python_param``);
* lists (or single values) fill repeated fields, dicts fill sub-messages,
  and enum fields also accept the value's name as a string;
* ``ntop`` (default 1) sets the number of outputs and ``in_place=True`` makes
  the tops reuse the bottoms' names.
"""

from collections import Counter, OrderedDict

from google.protobuf.message import Message

from .proto import caffe_pb2

__all__ = ['Top', 'Function', 'NetSpec', 'Layers', 'Parameters',
           'layers', 'params', 'to_proto', 'assign_proto', 'param_name_dict']


def param_name_dict():
    """Map layer type names to the prefix of their ``*_param`` field.

    Derived, as in pycaffe, from the ``LayerParameter`` fields named
    ``<prefix>_param`` whose message type is ``<Type>Parameter``; e.g.
    ``{'Convolution': 'convolution', 'InnerProduct': 'inner_product'}``.
    """
    names = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        msg = field.message_type
        if field.name.endswith('_param') and msg is not None \
                and msg.name.endswith('Parameter'):
            names[msg.name[:-len('Parameter')]] = field.name[:-len('_param')]
    return names


# Layer types that share another type's parameter message (pycaffe has no
# entry for these, so bare keywords would fail there; here they just work).
_PARAM_ALIASES = {'Deconvolution': 'convolution', 'Im2col': 'convolution'}


def _is_repeated(field):
    """True for repeated fields (protobuf >= 5 drops ``label``)."""
    rep = getattr(field, 'is_repeated', None)
    return rep if rep is not None else field.label == field.LABEL_REPEATED


def _scalar(field, val):
    """Convert one Python value for a non-message field (enum names ok)."""
    if field.enum_type is not None and isinstance(val, str):
        try:
            return field.enum_type.values_by_name[val].number
        except KeyError:
            raise ValueError('%s is not a value of enum %s'
                             % (val, field.enum_type.name)) from None
    return val


def _fill(msg, val):
    """Fill sub-message ``msg`` from a dict or a message of the same type."""
    if isinstance(val, Message):
        msg.MergeFrom(val)
    elif isinstance(val, dict):
        for k, v in val.items():
            assign_proto(msg, k, v)
    else:
        raise TypeError('%s must be given as a dict, not %s'
                        % (msg.DESCRIPTOR.name, type(val).__name__))


def assign_proto(proto, name, val):
    """Set field ``name`` of message ``proto`` from a plain Python value.

    Lists/tuples (or a lone value) fill repeated fields, dicts fill
    sub-messages recursively, other values are assigned directly.
    """
    field = proto.DESCRIPTOR.fields_by_name.get(name)
    if field is None:
        raise AttributeError('%s has no field named %r'
                             % (proto.DESCRIPTOR.name, name))
    if _is_repeated(field):
        if hasattr(val, 'ndim') and val.ndim > 0:  # numpy arrays
            val = val.tolist()
        items = val if isinstance(val, (list, tuple)) else [val]
        container = getattr(proto, name)
        for item in items:
            if field.message_type is not None:
                _fill(container.add(), item)
            else:
                container.append(_scalar(field, item))
    elif field.message_type is not None:
        _fill(getattr(proto, name), val)
    else:
        setattr(proto, name, _scalar(field, val))


class Top(object):
    """One output blob of a layer: output number ``n`` of Function ``fn``."""

    def __init__(self, fn, n):
        self.fn = fn
        self.n = n

    def to_proto(self):
        """NetParameter with every layer needed to compute this top."""
        return to_proto(self)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)


class Function(object):
    """A layer: its type, its input Tops and its keyword parameters.

    ``params`` keeps the layer keywords (minus ``ntop``/``in_place``) exactly
    as given; coord_map reads them through :meth:`param_proto`.
    """

    def __init__(self, type_name, inputs, params):
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Top):
                raise TypeError('%s input %d is not a Top (got %s)'
                                % (type_name, i, type(inp).__name__))
        self.type_name = type_name
        self.inputs = tuple(inputs)
        self.params = dict(params)
        self.ntop = self.params.pop('ntop', 1)
        self.in_place = self.params.pop('in_place', False)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def param_proto(self):
        """LayerParameter holding only ``type`` and the keyword parameters."""
        layer = caffe_pb2.LayerParameter(type=self.type_name)
        prefix = _PARAM_ALIASES.get(self.type_name,
                                    _param_names.get(self.type_name))
        typed = getattr(layer, prefix + '_param') if prefix else None
        own = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
        for k, v in self.params.items():
            if typed is not None and not k.endswith('param') \
                    and k in typed.DESCRIPTOR.fields_by_name:
                assign_proto(typed, k, v)
            elif k in own:
                assign_proto(layer, k, v)
            else:
                where = ' nor of %s' % typed.DESCRIPTOR.name if typed else ''
                raise AttributeError('%s layer: %r is not a field of '
                                     'LayerParameter%s'
                                     % (self.type_name, k, where))
        return layer

    def _top_name(self, top, names, autonames):
        """Given name of ``top``, or the next ``<Type><count>`` auto name."""
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _name(self, names, autonames):
        """Layer name: its first top's name (or an auto name if no tops)."""
        if self not in names:
            if self.ntop > 0:
                names[self] = self._top_name(self.tops[0], names, autonames)
            else:
                autonames[self.type_name] += 1
                names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _to_proto(self, layers, names, autonames):
        """Add this layer (after its inputs, depth first) to ``layers``."""
        if self in layers:
            return
        bottoms = []
        for inp in self.inputs:
            inp._to_proto(layers, names, autonames)
            bottoms.append(layers[inp.fn].top[inp.n])
        layer = caffe_pb2.LayerParameter(type=self.type_name, bottom=bottoms)
        if self.in_place:
            layer.top.extend(bottoms)
        else:
            layer.top.extend(self._top_name(t, names, autonames)
                             for t in self.tops)
        layer.name = self._name(names, autonames)
        layer.MergeFrom(self.param_proto())  # explicit name= etc. win
        layers[self] = layer


def _net(order, names):
    """NetParameter of the layers reached from ``order`` (Tops/Functions)."""
    layers, autonames = OrderedDict(), Counter()
    for top in order:
        top._to_proto(layers, names, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


def to_proto(*tops):
    """NetParameter with all layers needed for ``tops`` (auto-named blobs)."""
    return _net(tops, {})


class NetSpec(object):
    """Named collection of tops; attribute names become blob/layer names.

    ``n.conv1 = L.Convolution(n.data, ...)`` names the top ``conv1``;
    ``n['conv1']`` works too.  :meth:`to_proto` emits all layers needed for
    the assigned tops in dependency order.
    """

    def __init__(self):
        super(NetSpec, self).__setattr__('tops', OrderedDict())

    def __setattr__(self, name, value):
        if not isinstance(value, (Top, Function)):
            raise TypeError('NetSpec.%s must be a Top (or the Function of an '
                            'ntop=0 layer), not %s'
                            % (name, type(value).__name__))
        self.tops[name] = value

    def __getattr__(self, name):
        if name == 'tops':  # not yet set (e.g. during copy/unpickling)
            raise AttributeError(name)
        try:
            return self.tops[name]
        except KeyError:
            raise AttributeError('NetSpec has no top named %r' % name) from None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, key):
        return self.tops[key]

    def __contains__(self, key):
        return key in self.tops

    def to_proto(self):
        """NetParameter of all assigned tops, named by their attributes."""
        names = {top: name for name, top in self.tops.items()}
        return _net(list(self.tops.values()), names)


class Layers(object):
    """``L.<Type>(*bottoms, **params)`` builds a layer of type ``<Type>``.

    Returns its Top, a tuple of Tops when ``ntop > 1``, or the Function
    itself when ``ntop == 0``.
    """

    def __getattr__(self, type_name):
        if type_name.startswith('_'):
            raise AttributeError(type_name)

        def layer_fn(*bottoms, **kwargs):
            fn = Function(type_name, bottoms, kwargs)
            if fn.ntop == 0:
                return fn
            return fn.tops[0] if fn.ntop == 1 else fn.tops
        layer_fn.__name__ = type_name
        return layer_fn


class _EnumScope(object):
    """Enum values of one ``<Type>Parameter`` message, e.g. ``P.Pooling``."""

    def __init__(self, msg_name):
        self._msg = getattr(caffe_pb2, msg_name)

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        try:
            return getattr(self._msg, name)
        except AttributeError:
            raise AttributeError('%s has no enum value %r'
                                 % (self._msg.DESCRIPTOR.name, name)) from None


class Parameters(object):
    """``P.<Type>.<VALUE>``: enum constant of ``caffe_pb2.<Type>Parameter``."""

    def __getattr__(self, type_name):
        if type_name.startswith('_'):
            raise AttributeError(type_name)
        if not hasattr(caffe_pb2, type_name + 'Parameter'):
            raise AttributeError('caffe_pb2 has no message %sParameter'
                                 % type_name)
        return _EnumScope(type_name + 'Parameter')


_param_names = param_name_dict()
layers = Layers()
params = Parameters()
