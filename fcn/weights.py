"""Which caffemodel a net loads, and whether it really fits that net.

Caffe's copy_from matches layers by name and silently skips every layer the
file does not name, so loading weights of another net "works" and leaves the
net on its fillers (constant 0 by default: all-background output).  Before
loading, `check` compares the layer names that hold blobs in the caffemodel
(its NetParameter, read with the backend's caffe_pb2; V1 `layers` as well as
`layer`) with the net's learnable layers (net.params):

* a file that sets none of them is an error (WeightsMismatch), unless
  allow_partial;
* one that sets only some is accepted with a warning naming those left unset;
* an empty (0-byte) or unparseable file is an error naming the file.

    path = weights.locate('voc-fcn8s', args.weights)      # MissingFile if absent
    net = caffe.Net(deploy, caffe.TEST)
    for line in weights.load(net, path, allow_partial): warn(line)   # check, then copy_from
"""
import importlib
import os

from google.protobuf import text_format

from backend import caffe
from fcn import paths
from fcn.errors import FCNError, MissingFile


class WeightsMismatch(FCNError):
    """A caffemodel that is empty, unreadable, or sets none of the net's learnable layers."""


def caffe_pb2():
    """The backend's caffe_pb2 (torchcaffe.proto.caffe_pb2 or caffe.proto.caffe_pb2)."""
    return importlib.import_module(caffe.__name__ + '.proto.caffe_pb2')


def read_prototxt(path):
    """The NetParameter of a net's .prototxt, parsed with the backend's caffe_pb2."""
    net = caffe_pb2().NetParameter()
    with open(path) as f:
        text_format.Merge(f.read(), net)
    return net


def locate(net_name, given=None):
    """The caffemodel to load: `given`, else weights/<net_name>.caffemodel; MissingFile if it is not there.

    Only a missing default file suggests `make weights NET=<net_name>`, which
    is what puts it there.
    """
    default = paths.weights_path(net_name)
    path = os.fspath(given) if given else default
    if os.path.isfile(path):
        return path
    if os.path.abspath(path) == os.path.abspath(default):
        raise MissingFile('no weights for %s: %s is missing; run `make weights NET=%s` to download them, '
                          'or give a caffemodel with --weights' % (net_name, path, net_name))
    if os.path.isdir(path):
        raise MissingFile('weights %s is a folder, not a caffemodel' % path)
    raise MissingFile('weights file %s does not exist' % path)


def layers_with_blobs(path):
    """Names of the layers (V2 `layer` and V1 `layers`) that hold blobs in a caffemodel, in file order."""
    if os.path.getsize(path) == 0:
        raise WeightsMismatch('weights %s is empty (0 bytes), not a caffemodel; download or save it again' % path)
    with open(path, 'rb') as f:
        data = f.read()
    param = caffe_pb2().NetParameter()
    try:
        param.ParseFromString(data)
    except Exception as e:  # DecodeError, RuntimeError and ValueError, depending on the protobuf build
        raise WeightsMismatch('weights %s is not a caffemodel (no NetParameter can be parsed from it: %s)'
                              % (path, e)) from None
    del data
    names = [layer.name for layer in param.layer if len(layer.blobs)]
    names += [layer.name for layer in param.layers if len(layer.blobs)]
    return names


def coverage(net, path):
    """(set, unset): the net's learnable layers (net.params keys, in net order) that the caffemodel names
    with blobs, and those it does not."""
    present = set(layers_with_blobs(path))
    learnable = list(net.params.keys())
    return [n for n in learnable if n in present], [n for n in learnable if n not in present]


def _listed(names, n=8):
    return ', '.join(names[:n]) + (', ... (%d in all)' % len(names) if len(names) > n else '')


def check(net, path, allow_partial=False):
    """Warnings (a list of one-line strings, empty when the caffemodel sets every learnable layer).

    Raises WeightsMismatch when the file is empty or unparseable, or sets none of
    the net's learnable layers and allow_partial is False.
    """
    done, unset = coverage(net, path)
    if not unset:
        return []
    if not done:
        message = ('weights %s set none of the net\'s %d learnable layers (%s): a caffemodel of another net?'
                   % (path, len(unset), _listed(unset)))
        if not allow_partial:
            raise WeightsMismatch(message + ' (--allow-partial runs the net on its fillers anyway)')
        return [message + '; the net runs on its fillers']
    return ['weights %s set %d of the net\'s %d learnable layers; left at their fillers: %s'
            % (path, len(done), len(done) + len(unset), _listed(unset))]


def load(net, path, allow_partial=False):
    """`check` the caffemodel at path against net, then copy it in; returns check's warnings."""
    warnings = check(net, path, allow_partial)
    net.copy_from(path)
    return warnings
