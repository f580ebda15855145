"""Blob: a named array with data and diff, living on the compute device.

Like Caffe's SyncedMemory, the device tensor is the working copy and numpy is a
view on demand. On the CPU the numpy array *is* the tensor's memory. On a GPU,
touching `.data` or `.diff` gives a host copy that becomes the truth: it is
uploaded before the next computation reads the blob, and nothing is copied
for blobs nobody looked at. As in Caffe, the host copy lives in pinned memory
and is kept: uploads from it do not stall the host, and a blob the device has
not changed since (an input, once its layer has read it) is handed back
without a download, so a data layer writing its tops never waits for the GPU.
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


def _host_copy_needed(device):
    """Whether numpy needs a copy of values kept on `device` (every device but the CPU)."""
    return device.type != 'cpu'


def _version(t):
    """The tensor's in-place modification counter; None where torch keeps none (inference mode)."""
    try:
        return t._version
    except RuntimeError:
        return None


class Synced:
    """One tensor (zeros until first used) plus, on a GPU, a host copy that may hold newer values.

    The host copy is in one of Caffe's three states: newer than the tensor (`_host_newer`),
    equal to it (`_mirror_version` is the tensor's version counter when they were made equal, so
    any later in-place change is seen), or stale.
    """

    __slots__ = ('_t', '_shape', '_host', '_host_newer', '_mirror_version', '_uploaded')

    def __init__(self, t=None, shape=None):
        self._t = t
        self._shape = tuple(t.shape) if t is not None else tuple(shape)
        self._host = None              # host tensor, pinned when the tensor is on a GPU
        self._host_newer = False
        self._mirror_version = None
        self._uploaded = None          # CUDA event recorded after the last upload from _host

    @property
    def tensor(self):
        """The up-to-date tensor on the current compute device."""
        dev = mode.device()
        if self._host_newer:
            self._upload(dev)
        elif self._t is None:
            self._t = torch.zeros(self._shape, dtype=torch.float32, device=dev)
        elif self._t.device != dev:
            self._replace(self._t.to(dev))
        return self._t

    def _upload(self, dev):
        self._host_newer = False
        if not _host_copy_needed(dev):
            self._replace(self._host)
            self._host = None
            return
        if self._t is None or self._t.device != dev or self._t.dtype != torch.float32:
            self._replace(torch.empty(self._shape, dtype=torch.float32, device=dev))
        self._t.copy_(self._host, non_blocking=True)
        if dev.type == 'cuda':
            self._uploaded = torch.cuda.Event()
            self._uploaded.record()
        self._mirror_version = _version(self._t)

    def _replace(self, t):
        self._t = t
        self._mirror_version = None

    def set(self, t):
        """Replace the value by a tensor computed on the device."""
        if tuple(t.shape) != self._shape:
            self._shape = tuple(t.shape)
            self._host = None
        self._replace(t)
        self._host_newer = False

    def numpy(self):
        """A writable numpy array of the value (a view of the memory on the CPU).

        A value fast mode computed in bfloat16 becomes float32 here, as pycaffe shows every blob.
        """
        if self._host_newer:
            return self._host.numpy()
        dev = self._t.device if self._t is not None else mode.device()
        if not _host_copy_needed(dev):
            if self._t is None:
                self._t = torch.zeros(self._shape, dtype=torch.float32)
            if self._t.dtype != torch.float32:
                self._t = self._t.float()
            return self._t.numpy()
        if self._t is not None and self._t.dtype != torch.float32:
            self._replace(self._t.float())
        self._bring_host_up_to_date(dev)
        self._host_newer = True
        self._mirror_version = None
        return self._host.numpy()

    def _bring_host_up_to_date(self, dev):
        if self._host is None:
            self._host = torch.empty(self._shape, dtype=torch.float32, pin_memory=dev.type == 'cuda')
        if self._t is None:
            self._host.zero_()
        elif self._mirror_version is not None and self._mirror_version == _version(self._t):
            if self._uploaded is not None:
                self._uploaded.synchronize()   # the host is about to be written: the upload must be done
        else:
            self._host.copy_(self._t)
        self._uploaded = None

    @property
    def shape(self):
        return self._shape


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
    def allocated(self):
        """Whether the data has memory yet (it gets it on first use, so a reshape alone allocates nothing)."""
        return self._data is not None

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
            check_size(self._shape)
            self._data = Synced(shape=self._shape)
        return self._data

    def _diff_synced(self):
        if self._diff is None or self._diff.shape != self._shape:
            check_size(self._shape)
            self._diff = Synced(shape=self._shape)
        return self._diff

    def __repr__(self):
        return 'Blob(%s)' % (self.shape,)
