"""Tests for torchcaffe/proto: the Caffe-compatible protobuf schema.

The expected numbers, labels and defaults below are those of BVLC Caffe's
caffe.proto; if one of these tests fails, files no longer move cleanly
between Caffe and torchcaffe.
"""

import math
import struct

import pytest
from google.protobuf import text_format

from torchcaffe.proto import caffe_pb2



def _field(message, name):
    return getattr(caffe_pb2, message).DESCRIPTOR.fields_by_name[name]


def test_package_and_file():
    assert caffe_pb2.DESCRIPTOR.package == "caffe"
    assert caffe_pb2.DESCRIPTOR.name == "caffe.proto"
    assert caffe_pb2.NetParameter.DESCRIPTOR.full_name == "caffe.NetParameter"


def test_all_caffe_messages_present():
    expected = {
        "BlobShape", "BlobProto", "BlobProtoVector", "Datum", "FillerParameter",
        "NetParameter", "SolverParameter", "SolverState", "NetState",
        "NetStateRule", "ParamSpec", "LayerParameter",
        "TransformationParameter", "LossParameter", "AccuracyParameter",
        "ArgMaxParameter", "ClipParameter", "ConcatParameter",
        "BatchNormParameter", "BiasParameter", "ContrastiveLossParameter",
        "ConvolutionParameter", "CropParameter", "DataParameter",
        "DropoutParameter", "DummyDataParameter", "EltwiseParameter",
        "ELUParameter", "EmbedParameter", "ExpParameter", "FlattenParameter",
        "HDF5DataParameter", "HDF5OutputParameter", "HingeLossParameter",
        "ImageDataParameter", "InfogainLossParameter", "InnerProductParameter",
        "InputParameter", "LogParameter", "LRNParameter",
        "MemoryDataParameter", "MVNParameter", "ParameterParameter",
        "PoolingParameter", "PowerParameter", "PythonParameter",
        "RecurrentParameter", "ReductionParameter", "ReLUParameter",
        "ReshapeParameter", "ScaleParameter", "SigmoidParameter",
        "SliceParameter", "SoftmaxParameter", "SwishParameter",
        "TanHParameter", "TileParameter", "ThresholdParameter",
        "WindowDataParameter", "SPPParameter", "V1LayerParameter",
        "V0LayerParameter", "PReLUParameter",
    }
    assert set(caffe_pb2.DESCRIPTOR.message_types_by_name) == expected
    assert set(caffe_pb2.DESCRIPTOR.enum_types_by_name) == {"Phase"}


@pytest.mark.parametrize("message,field,number", [
    ("BlobShape", "dim", 1),
    ("BlobProto", "num", 1),
    ("BlobProto", "width", 4),
    ("BlobProto", "data", 5),
    ("BlobProto", "diff", 6),
    ("BlobProto", "shape", 7),
    ("BlobProto", "double_data", 8),
    ("NetParameter", "layers", 2),
    ("NetParameter", "input", 3),
    ("NetParameter", "input_dim", 4),
    ("NetParameter", "input_shape", 8),
    ("NetParameter", "layer", 100),
    ("LayerParameter", "blobs", 7),
    ("LayerParameter", "include", 8),
    ("LayerParameter", "phase", 10),
    ("LayerParameter", "propagate_down", 11),
    ("LayerParameter", "transform_param", 100),
    ("LayerParameter", "loss_param", 101),
    ("LayerParameter", "convolution_param", 106),
    ("LayerParameter", "pooling_param", 121),
    ("LayerParameter", "python_param", 130),
    ("LayerParameter", "batch_norm_param", 139),
    ("LayerParameter", "input_param", 143),
    ("LayerParameter", "crop_param", 144),
    ("LayerParameter", "clip_param", 148),
    ("ConvolutionParameter", "num_output", 1),
    ("ConvolutionParameter", "pad", 3),
    ("ConvolutionParameter", "kernel_size", 4),
    ("ConvolutionParameter", "group", 5),
    ("ConvolutionParameter", "stride", 6),
    ("ConvolutionParameter", "dilation", 18),
    ("SolverParameter", "train_net", 1),
    ("SolverParameter", "base_lr", 5),
    ("SolverParameter", "lr_policy", 8),
    ("SolverParameter", "momentum", 11),
    ("SolverParameter", "net", 24),
    ("SolverParameter", "clip_gradients", 35),
    ("SolverParameter", "iter_size", 36),
    ("SolverParameter", "type", 40),
    ("SolverParameter", "weights", 42),
    ("SolverState", "iter", 1),
    ("SolverState", "learned_net", 2),
    ("SolverState", "history", 3),
    ("SolverState", "current_step", 4),
    ("V1LayerParameter", "layer", 1),
    ("V1LayerParameter", "bottom", 2),
    ("V1LayerParameter", "type", 5),
    ("V1LayerParameter", "blobs", 6),
    ("V1LayerParameter", "blobs_lr", 7),
    ("V1LayerParameter", "weight_decay", 8),
    ("V1LayerParameter", "convolution_param", 10),
    ("V1LayerParameter", "param", 1001),
    ("V0LayerParameter", "blobs", 50),
    ("V0LayerParameter", "hdf5_output_param", 1001),
])
def test_field_numbers(message, field, number):
    assert _field(message, field).number == number


def test_field_types_and_labels():
    fd = caffe_pb2.BlobShape.DESCRIPTOR.fields_by_name["dim"]
    assert fd.type == fd.TYPE_INT64 and fd.is_repeated
    fd = _field("ConvolutionParameter", "kernel_size")
    assert fd.type == fd.TYPE_UINT32 and fd.is_repeated
    fd = _field("PoolingParameter", "kernel_size")
    assert fd.type == fd.TYPE_UINT32 and not fd.is_repeated
    fd = _field("SolverParameter", "random_seed")
    assert fd.type == fd.TYPE_INT64
    fd = _field("BlobProto", "double_data")
    assert fd.type == fd.TYPE_DOUBLE
    fd = _field("Datum", "data")
    assert fd.type == fd.TYPE_BYTES
    # ClipParameter is the one message with required fields.
    assert _field("ClipParameter", "min").is_required
    assert _field("ClipParameter", "max").is_required
    assert not caffe_pb2.ClipParameter().IsInitialized()
    assert caffe_pb2.ClipParameter(min=0, max=1).IsInitialized()


def test_enum_values():
    assert caffe_pb2.TRAIN == 0 and caffe_pb2.TEST == 1
    V1 = caffe_pb2.V1LayerParameter
    assert V1.NONE == 0
    assert V1.CONVOLUTION == 4
    assert V1.DATA == 5
    assert V1.INNER_PRODUCT == 14
    assert V1.POOLING == 17
    assert V1.RELU == 18
    assert V1.SOFTMAX_LOSS == 21
    assert V1.ELTWISE == 25
    assert V1.DECONVOLUTION == 39
    assert caffe_pb2.PoolingParameter.AVE == 1
    assert caffe_pb2.LossParameter.NONE == 3
    assert caffe_pb2.EltwiseParameter.SUM == 1
    assert caffe_pb2.SolverParameter.ADAM == 5
    # Two enums start at 1, which makes their first value the implicit default.
    assert caffe_pb2.HingeLossParameter.L1 == 1
    assert caffe_pb2.ReductionParameter.SUM == 1


def test_defaults():
    pool = caffe_pb2.PoolingParameter()
    assert pool.pool == caffe_pb2.PoolingParameter.MAX
    assert pool.stride == 1 and pool.pad == 0
    assert pool.round_mode == caffe_pb2.PoolingParameter.CEIL
    assert not pool.global_pooling

    filler = caffe_pb2.FillerParameter()
    assert filler.type == "constant"
    assert filler.value == 0 and filler.std == 1 and filler.max == 1
    assert filler.sparse == -1
    assert filler.variance_norm == caffe_pb2.FillerParameter.FAN_IN

    assert (caffe_pb2.LossParameter().normalization
            == caffe_pb2.LossParameter.VALID)

    conv = caffe_pb2.ConvolutionParameter()
    assert conv.bias_term and conv.group == 1 and conv.axis == 1
    assert conv.pad_h == 0 and not conv.HasField("kernel_h")
    assert len(conv.pad) == 0 and len(conv.stride) == 0

    solver = caffe_pb2.SolverParameter()
    assert solver.lr_policy == "" and not solver.HasField("lr_policy")
    assert solver.momentum == 0 and not solver.HasField("momentum")
    assert solver.weight_decay == 0
    assert solver.type == "SGD"
    assert solver.solver_type == caffe_pb2.SolverParameter.SGD
    assert solver.solver_mode == caffe_pb2.SolverParameter.GPU
    assert solver.snapshot_format == caffe_pb2.SolverParameter.BINARYPROTO
    assert solver.regularization_type == "L2"
    assert solver.iter_size == 1 and solver.average_loss == 1
    assert solver.clip_gradients == -1
    assert solver.random_seed == -1
    assert solver.test_initialization and solver.snapshot_after_train
    # Float defaults come back as float32 values.
    f32 = lambda x: struct.unpack("f", struct.pack("f", x))[0]
    assert solver.delta == f32(1e-8)
    assert solver.momentum2 == f32(0.999)
    assert solver.rms_decay == f32(0.99)

    assert caffe_pb2.NetState().phase == caffe_pb2.TEST
    assert caffe_pb2.NetStateRule().phase == caffe_pb2.TRAIN  # first value
    assert not caffe_pb2.NetStateRule().HasField("phase")
    spec = caffe_pb2.ParamSpec()
    assert spec.lr_mult == 1 and spec.decay_mult == 1
    assert spec.share_mode == caffe_pb2.ParamSpec.STRICT

    assert caffe_pb2.CropParameter().axis == 2
    assert caffe_pb2.ConcatParameter().axis == 1
    assert caffe_pb2.DropoutParameter().dropout_ratio == 0.5
    assert caffe_pb2.BatchNormParameter().eps == f32(1e-5)
    assert caffe_pb2.ExpParameter().base == -1
    assert caffe_pb2.FlattenParameter().end_axis == -1
    assert caffe_pb2.ReshapeParameter().num_axes == -1
    assert caffe_pb2.ReductionParameter().operation == caffe_pb2.ReductionParameter.SUM
    assert caffe_pb2.HingeLossParameter().norm == caffe_pb2.HingeLossParameter.L1
    assert caffe_pb2.EltwiseParameter().operation == caffe_pb2.EltwiseParameter.SUM
    assert caffe_pb2.DataParameter().prefetch == 4
    assert caffe_pb2.LRNParameter().local_size == 5
    assert caffe_pb2.LRNParameter().beta == 0.75
    assert caffe_pb2.WindowDataParameter().crop_mode == "warp"
    assert caffe_pb2.V0LayerParameter().biasterm
    assert caffe_pb2.BlobProto().num == 0


@pytest.mark.parametrize("message,field,packed", [
    ("BlobShape", "dim", True),
    ("BlobProto", "data", True),
    ("BlobProto", "diff", True),
    ("BlobProto", "double_data", True),
    ("BlobProto", "double_diff", True),
    ("Datum", "float_data", False),
    ("NetParameter", "input_dim", False),
    ("LayerParameter", "loss_weight", False),
    ("LayerParameter", "propagate_down", False),
    ("ConvolutionParameter", "pad", False),
    ("ConvolutionParameter", "kernel_size", False),
    ("TransformationParameter", "mean_value", False),
    ("V1LayerParameter", "blobs_lr", False),
    ("SolverParameter", "test_iter", False),
])
def test_packed_option(message, field, packed):
    fd = _field(message, field)
    assert fd.GetOptions().packed is packed
    assert fd.is_packed is packed


def test_packed_wire_format():
    # Packed: one length-delimited record (tag = 1 << 3 | 2).
    assert caffe_pb2.BlobShape(dim=[1, 2]).SerializeToString() == b"\x0a\x02\x01\x02"
    # Unpacked: one varint record per value (tag = 3 << 3 | 0).
    assert (caffe_pb2.ConvolutionParameter(pad=[1, 2]).SerializeToString()
            == b"\x18\x01\x18\x02")


def test_parse_hand_encoded_blob():
    # A BlobProto as Caffe writes it: packed data (field 5), then shape (7).
    data = struct.pack("<2f", 1.5, -2.0)
    raw = (b"\x2a" + bytes([len(data)]) + data
           + b"\x3a\x04" + b"\x0a\x02\x01\x02")
    blob = caffe_pb2.BlobProto.FromString(raw)
    assert list(blob.shape.dim) == [1, 2]
    assert list(blob.data) == [1.5, -2.0]
    assert caffe_pb2.BlobProto.FromString(blob.SerializeToString()) == blob


NET_TXT = """
name: "tiny"
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param {
    num_output: 4
    pad: 1
    kernel_size: 3
    weight_filler { type: "gaussian" std: 0.01 }
    bias_filler { type: "constant" value: 0 }
  }
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: AVE kernel_size: 2 stride: 2 }
}
layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "pool1"
  bottom: "label"
  top: "loss"
  include { phase: TRAIN }
  loss_param { ignore_label: 255 normalize: false }
}
"""


def test_text_format_round_trip():
    net = text_format.Parse(NET_TXT, caffe_pb2.NetParameter())
    assert [l.name for l in net.layer] == ["data", "conv1", "pool1", "loss"]
    conv = net.layer[1]
    assert list(conv.convolution_param.kernel_size) == [3]
    assert conv.convolution_param.weight_filler.type == "gaussian"
    assert math.isclose(conv.convolution_param.weight_filler.std, 0.01,
                        rel_tol=1e-6)
    assert conv.param[1].lr_mult == 2
    assert net.layer[2].pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    loss = net.layer[3]
    assert loss.include[0].phase == caffe_pb2.TRAIN
    assert loss.loss_param.HasField("normalize")
    assert not loss.loss_param.HasField("normalization")

    again = text_format.Parse(text_format.MessageToString(net),
                              caffe_pb2.NetParameter())
    assert again == net
    assert caffe_pb2.NetParameter.FromString(net.SerializeToString()) == net


def test_v1_text_format():
    txt = """
    name: "old"
    input: "data"
    input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4
    layers {
      name: "fc" type: INNER_PRODUCT bottom: "data" top: "fc"
      blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
      inner_product_param { num_output: 10 }
    }
    """
    net = text_format.Parse(txt, caffe_pb2.NetParameter())
    assert list(net.input_dim) == [1, 3, 4, 4]
    layer = net.layers[0]
    assert layer.type == caffe_pb2.V1LayerParameter.INNER_PRODUCT
    assert list(layer.blobs_lr) == [1, 2]
    assert layer.inner_product_param.num_output == 10


def test_solver_text_format():
    txt = """
    net: "train.prototxt"
    base_lr: 1e-10
    lr_policy: "fixed"
    momentum: 0.99
    weight_decay: 0.0005
    max_iter: 100000
    type: "Adam"
    snapshot_prefix: "snap"
    test_iter: 10 test_iter: 20
    """
    solver = text_format.Parse(txt, caffe_pb2.SolverParameter())
    assert solver.net == "train.prototxt"
    assert math.isclose(solver.base_lr, 1e-10, rel_tol=1e-6)
    assert solver.lr_policy == "fixed"
    assert list(solver.test_iter) == [10, 20]
    assert solver.solver_mode == caffe_pb2.SolverParameter.GPU

