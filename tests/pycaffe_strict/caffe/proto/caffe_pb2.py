"""caffe.proto.caffe_pb2: torchcaffe's generated module (field-compatible with BVLC's)."""
from torchcaffe.proto.caffe_pb2 import *  # noqa: F401,F403
