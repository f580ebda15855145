"""Bring legacy NetParameters up to the current format, as Caffe does on load.

Two legacy forms still circulate: V1 nets (`layers` with enum types, as in the
published VGG16 ILSVRC caffemodel) and nets that declare inputs with the
`input` / `input_shape` / `input_dim` fields instead of an Input layer.
"""
from .errors import CaffeError
from .proto import caffe_pb2

# V1 enum name -> layer type string (Caffe's own naming, which is not a plain CamelCase rule).
_V1_TYPES = {
    'ABSVAL': 'AbsVal', 'ACCURACY': 'Accuracy', 'ARGMAX': 'ArgMax', 'BNLL': 'BNLL',
    'CONCAT': 'Concat', 'CONTRASTIVE_LOSS': 'ContrastiveLoss', 'CONVOLUTION': 'Convolution',
    'DECONVOLUTION': 'Deconvolution', 'DATA': 'Data', 'DROPOUT': 'Dropout',
    'DUMMY_DATA': 'DummyData', 'EUCLIDEAN_LOSS': 'EuclideanLoss', 'ELTWISE': 'Eltwise',
    'EXP': 'Exp', 'FLATTEN': 'Flatten', 'HDF5_DATA': 'HDF5Data', 'HDF5_OUTPUT': 'HDF5Output',
    'HINGE_LOSS': 'HingeLoss', 'IM2COL': 'Im2col', 'IMAGE_DATA': 'ImageData',
    'INFOGAIN_LOSS': 'InfogainLoss', 'INNER_PRODUCT': 'InnerProduct', 'LRN': 'LRN',
    'MEMORY_DATA': 'MemoryData', 'MULTINOMIAL_LOGISTIC_LOSS': 'MultinomialLogisticLoss',
    'MVN': 'MVN', 'POOLING': 'Pooling', 'POWER': 'Power', 'RELU': 'ReLU',
    'SIGMOID': 'Sigmoid', 'SIGMOID_CROSS_ENTROPY_LOSS': 'SigmoidCrossEntropyLoss',
    'SILENCE': 'Silence', 'SOFTMAX': 'Softmax', 'SOFTMAX_LOSS': 'SoftmaxWithLoss',
    'SPLIT': 'Split', 'SLICE': 'Slice', 'TANH': 'TanH', 'WINDOW_DATA': 'WindowData',
    'THRESHOLD': 'Threshold',
}

_LAYER_FIELDS = set(caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name)


def _v1_to_layer(v1):
    layer = caffe_pb2.LayerParameter()
    layer.name = v1.name
    layer.bottom.extend(v1.bottom)
    layer.top.extend(v1.top)
    layer.include.extend(v1.include)
    layer.exclude.extend(v1.exclude)
    layer.loss_weight.extend(v1.loss_weight)
    layer.blobs.extend(v1.blobs)
    if v1.HasField('type'):
        enum_name = caffe_pb2.V1LayerParameter.LayerType.Name(v1.type)
        if enum_name not in _V1_TYPES:
            raise CaffeError('V1 layer %r has type %s, which has no current equivalent'
                             % (v1.name, enum_name))
        layer.type = _V1_TYPES[enum_name]
    n_specs = max(len(v1.param), len(v1.blob_share_mode), len(v1.blobs_lr), len(v1.weight_decay))
    for i in range(n_specs):
        spec = layer.param.add()
        if i < len(v1.param):
            spec.name = v1.param[i]
        if i < len(v1.blob_share_mode):
            spec.share_mode = v1.blob_share_mode[i]
        if i < len(v1.blobs_lr):
            spec.lr_mult = v1.blobs_lr[i]
        if i < len(v1.weight_decay):
            spec.decay_mult = v1.weight_decay[i]
    for field, value in v1.ListFields():
        if field.name.endswith('_param') and field.name in _LAYER_FIELDS:
            getattr(layer, field.name).CopyFrom(value)
    return layer


def _upgrade_inputs(net):
    has_shape, has_dim = len(net.input_shape) > 0, len(net.input_dim) > 0
    if has_shape or has_dim:
        layer = caffe_pb2.LayerParameter(name='input', type='Input')
        for i, name in enumerate(net.input):
            layer.top.append(name)
            shape = layer.input_param.shape.add()
            if has_shape:
                shape.CopyFrom(net.input_shape[i])
            else:
                shape.dim.extend(net.input_dim[4 * i:4 * i + 4])
        layers = [layer] + list(net.layer)
        del net.layer[:]
        net.layer.extend(layers)
    net.ClearField('input')
    net.ClearField('input_shape')
    net.ClearField('input_dim')


def upgrade_net(net, source='net'):
    """Upgrade a NetParameter in place; returns it. Raises CaffeError for V0 nets."""
    if len(net.layers):
        if any(v1.HasField('layer') for v1 in net.layers):
            raise CaffeError('%s: V0 (pre-2014) layer format is not supported; '
                             'upgrade it with Caffe\'s upgrade_net_proto_text first' % source)
        if len(net.layer):
            raise CaffeError('%s: mixes V1 `layers` and current `layer` fields' % source)
        net.layer.extend(_v1_to_layer(v1) for v1 in net.layers)
        net.ClearField('layers')
    if len(net.input):
        _upgrade_inputs(net)
    return net


def upgrade_solver(solver):
    """Map the legacy `solver_type` enum onto the `type` string."""
    if solver.HasField('solver_type'):
        name = caffe_pb2.SolverParameter.SolverType.Name(solver.solver_type)
        solver.type = {'SGD': 'SGD', 'NESTEROV': 'Nesterov', 'ADAGRAD': 'AdaGrad',
                       'RMSPROP': 'RMSProp', 'ADADELTA': 'AdaDelta', 'ADAM': 'Adam'}[name]
        solver.ClearField('solver_type')
    return solver
