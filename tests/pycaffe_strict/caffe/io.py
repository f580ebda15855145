"""The part of BVLC's python/caffe/io.py that needs no scikit-image: BlobProto <-> array."""
from torchcaffe.io import array_to_blobproto, blobproto_to_array  # noqa: F401
