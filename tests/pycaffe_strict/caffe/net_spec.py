"""BVLC's python/caffe/net_spec.py surface (layers, params, NetSpec, to_proto) on torchcaffe's.

BVLC's NetSpec answers a missing top with KeyError (also from getattr/hasattr)
and has no ``in``: Python's fallback indexes it with 0, a KeyError too.
"""
from torchcaffe import net_spec as _tc
from torchcaffe.net_spec import Function, Layers, Parameters, Top, to_proto  # noqa: F401


class NetSpec(_tc.NetSpec):
    """Named tops; to_proto() makes the NetParameter that computes them."""

    def __getattr__(self, name):
        if name == 'tops':
            raise AttributeError(name)
        return self.tops[name]

    def __getitem__(self, key):
        return self.__getattr__(key)

    def __contains__(self, key):
        return self[0]


layers = Layers()
params = Parameters()
