"""Blob: a named array with data and diff, living on the compute device.

Like Caffe's SyncedMemory, the device tensor is the working copy and numpy is a
view on demand. On the CPU the numpy array *is* the tensor's memory. On a GPU,
touching `.data` or `.diff` downloads a host copy that becomes the truth: it is
uploaded before the next computation reads the blob, and nothing is copied
for blobs nobody looked at.
"""
import os

import numpy as np
import torch

from . import mode
from .errors import CaffeError

# The largest single blob the engine will allocate (bytes of float32); a hostile or mistaken
# prototxt asking for more gets a CaffeError instead of exhausting memory.
MAX_BLOB_BYTES = int(os.environ.get('TORCHCAFFE_MAX_BLOB_BYTES', 16 << 30))


def check_size(shape):
    """CaffeError if a float32 blob of `shape` would exceed MAX_BLOB_BYTES."""
    count = 1
    for d in shape:
        count *= int(d)
    if count * 4 > MAX_BLOB_BYTES:
        raise CaffeError('a blob of shape %s would take %.1f GiB, over the limit of %.1f GiB '
                         '(TORCHCAFFE_MAX_BLOB_BYTES)' % (tuple(shape), count * 4 / 2 ** 30,
                                                          MAX_BLOB_BYTES / 2 ** 30))


class Synced:
    """One tensor plus, on a GPU, a host copy that may hold newer values."""

    __slots__ = ('_t', '_host')

    def __init__(self, t):
        self._t = t
        self._host = None

    @property
    def tensor(self):
        """The up-to-date tensor on the current compute device."""
        dev = mode.device()
        if self._t.device != dev:
            src = torch.from_numpy(self._host) if self._host is not None else self._t
            self._t = src.to(dev)
            self._host = None
        elif self._host is not None:
            self._t.copy_(torch.from_numpy(self._host))
            self._host = None
        return self._t

    def set(self, t):
        """Replace the value by a tensor computed on the device."""
        self._t = t
        self._host = None

    def numpy(self):
        """A writable numpy array of the value (a view of the memory on the CPU).

        A value fast mode computed in bfloat16 becomes float32 here, as pycaffe shows every blob.
        """
        if self._t.dtype != torch.float32:
            self._t = self._t.float()
        if self._t.device.type == 'cpu':
            return self._t.numpy()
        if self._host is None:
            self._host = self._t.cpu().numpy()
        return self._host

    @property
    def shape(self):
        return tuple(self._t.shape)


def _zeros(shape):
    check_size(shape)
    return torch.zeros(shape, dtype=torch.float32, device=mode.device())


class Blob:
    """Caffe's Blob as pycaffe shows it: `.data`, `.diff`, `.shape`, `.reshape`.

    Memory is allocated (as zeros) on first use, so tops that a layer computes
    are never zero-filled first.
    """

    def __init__(self, shape=(), tensor=None):
        if tensor is not None:
            self._shape = tuple(tensor.shape)
            self._data = Synced(tensor)
        else:
            self._shape = tuple(int(d) for d in shape)
            self._data = None
        self._diff = None

    # -- pycaffe's view -------------------------------------------------
    @property
    def data(self):
        return self._data_synced().numpy()

    @data.setter
    def data(self, value):
        self.data[...] = value

    @property
    def diff(self):
        return self._diff_synced().numpy()

    @diff.setter
    def diff(self, value):
        self.diff[...] = value

    @property
    def shape(self):
        return self._shape

    @property
    def count(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def legacy_shape(self, index):
        """Caffe's LegacyShape: axes counted like num/channels/height/width, 1 beyond the blob."""
        shape = self.shape
        if index >= len(shape) or index < -len(shape):
            return 1
        return shape[index]

    num = property(lambda self: self.legacy_shape(0))
    channels = property(lambda self: self.legacy_shape(1))
    height = property(lambda self: self.legacy_shape(2))
    width = property(lambda self: self.legacy_shape(3))

    def reshape(self, *shape):
        """Change the shape; values are kept only when the shape does not change."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise CaffeError('blob shape %s has a negative dimension' % (shape,))
        check_size(shape)
        if shape != self._shape:
            self._shape = shape
            self._data = None
            self._diff = None

    # -- the engine's view ------------------------------------------------
    @property
    def tensor(self):
        """Device tensor of the data."""
        return self._data_synced().tensor

    @property
    def diff_tensor(self):
        """Device tensor of the diff (allocated as zeros on first use)."""
        return self._diff_synced().tensor

    def set_tensor(self, t):
        """Make a freshly computed tensor the blob's data (the diff survives a same-shape update)."""
        shape = tuple(t.shape)
        if shape != self._shape:
            self._shape = shape
            self._diff = None
        if self._data is None:
            self._data = Synced(t)
        else:
            self._data.set(t)

    def set_diff_tensor(self, t):
        if self._diff is None:
            self._diff = Synced(t)
        else:
            self._diff.set(t)

    def share_data(self, other):
        """Use other's data memory from now on (Caffe's ShareData)."""
        self._data = other._data_synced()

    def _data_synced(self):
        if self._data is None or self._data.shape != self._shape:
            self._data = Synced(_zeros(self._shape))
        return self._data

    def _diff_synced(self):
        if self._diff is None or self._diff.shape != self._shape:
            self._diff = Synced(_zeros(self._shape))
        return self._diff

    def __repr__(self):
        return 'Blob(%s)' % (self.shape,)
