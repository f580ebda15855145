"""Built-in layer types, registered by Caffe's type string."""
from . import loss, neuron, structure, vision  # noqa: F401  (importing registers them)
from .base import REGISTRY

__all__ = ['REGISTRY']
