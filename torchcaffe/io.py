"""Reading and writing Caffe's files: text prototxt, binary caffemodel,
solverstate and binaryproto, plus BlobProto <-> numpy conversion.

Every failure is a CaffeError naming the file (and for text, the line).
"""
import os
import tempfile

import numpy as np
from google.protobuf import message, text_format

from .errors import CaffeError
from .proto import caffe_pb2


def _read_bytes(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CaffeError('%s file not found: %s' % (what, path))
    if os.path.isdir(path):
        raise CaffeError('%s path is a directory, not a file: %s' % (what, path))
    with open(path, 'rb') as f:
        return f.read()


def parse_text(text, msg, source='<string>'):
    """Merge prototxt text into msg; a syntax error names source, line and column."""
    try:
        text_format.Merge(text, msg)
    except RecursionError:
        raise CaffeError('%s: malformed prototxt: messages nested too deeply' % source) from None
    except text_format.ParseError as e:
        line, col = e.GetLine(), e.GetColumn()
        where = '%s:%s:%s' % (source, line, col) if line else source
        detail = str(e).split(' : ', 1)[-1]
        raise CaffeError('%s: malformed prototxt: %s' % (where, detail)) from None
    return msg


def read_prototxt(path, msg_type=caffe_pb2.NetParameter):
    """Parse a text prototxt file into a new message of msg_type."""
    data = _read_bytes(path, 'prototxt')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError:
        raise CaffeError('%s: not a text prototxt (it is not UTF-8; a binary caffemodel?)'
                         % os.fspath(path)) from None
    return parse_text(text, msg_type(), os.fspath(path))


def read_binary(path, msg_type, what):
    """Parse a binary protobuf file (caffemodel, solverstate, binaryproto)."""
    data = _read_bytes(path, what)
    msg = msg_type()
    try:
        msg.ParseFromString(data)
    except (message.DecodeError, RuntimeError, ValueError) as e:
        raise CaffeError('%s: corrupt or truncated %s (%s)' % (os.fspath(path), what, e)) from None
    return msg


def write_binary(path, msg):
    """Write a message atomically: a temp file in the same folder, then rename."""
    write_atomic(path, msg.SerializeToString())


def write_atomic(path, data):
    """Write bytes so that path holds either the old file or the whole new one."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def blobproto_shape(bp):
    """The shape a BlobProto declares: `shape.dim`, or legacy num/channels/height/width."""
    if bp.HasField('shape'):
        return tuple(bp.shape.dim)
    if any(bp.HasField(f) for f in ('num', 'channels', 'height', 'width')):
        return (bp.num, bp.channels, bp.height, bp.width)
    return (len(bp.data) or len(bp.double_data),)


def blobproto_to_array(bp, return_diff=False):
    """numpy array of a BlobProto's data (or diff), in its declared shape."""
    values = (bp.double_diff or bp.diff) if return_diff else (bp.double_data or bp.data)
    shape = blobproto_shape(bp)
    if any(d < 0 for d in shape):
        raise CaffeError('blob declares a negative dimension: shape %s' % (shape,))
    arr = np.asarray(values, dtype=np.float32)
    if arr.size != int(np.prod(shape, dtype=np.int64)):
        raise CaffeError('blob declares shape %s but holds %d values' % (shape, arr.size))
    return arr.reshape(shape)


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _packed_floats(field_number, arr):
    """Wire bytes of a packed float field (protobuf's extend() is slow for big arrays)."""
    raw = np.ascontiguousarray(arr, dtype='<f4').tobytes()
    return _varint(field_number << 3 | 2) + _varint(len(raw)) + raw


def array_to_blobproto(arr, diff=None):
    """BlobProto with `shape` and float data (and diff, when given)."""
    arr = np.asarray(arr, dtype=np.float32)
    bp = caffe_pb2.BlobProto()
    bp.shape.dim.extend(arr.shape)
    data_no = caffe_pb2.BlobProto.DESCRIPTOR.fields_by_name['data'].number
    bp.MergeFromString(_packed_floats(data_no, arr))
    if diff is not None:
        diff_no = caffe_pb2.BlobProto.DESCRIPTOR.fields_by_name['diff'].number
        bp.MergeFromString(_packed_floats(diff_no, diff))
    return bp


def load_mean(path):
    """A mean image stored as binaryproto, as an array (pycaffe's common use)."""
    return blobproto_to_array(read_binary(path, caffe_pb2.BlobProto, 'binaryproto'))
