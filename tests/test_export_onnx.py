"""export_onnx.py: writes an ONNX model of a deploy net at the size asked for,
checks it against torchcaffe in onnxruntime (and the check does catch a model
that differs), and stops with one line on a missing net, missing weights or
an output path it cannot write; voc-fcn8s itself exports and matches."""
import os

import numpy as np
import onnx
import pytest

import export_onnx
from fcn import cli
import torchcaffe as caffe       # what export_onnx exports with, whatever backend.py selects

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# An FCN in miniature: convolutions, a pooled coarse score, upsampling and a crop back to the input.
DEPLOY = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 6 kernel_size: 3 pad: 4 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "score_fr" type: "Convolution" bottom: "pool" top: "score_fr"
        convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 }
                            bias_filler { type: "constant" value: 0.1 } } }
layer { name: "upscore" type: "Deconvolution" bottom: "score_fr" top: "upscore"
        convolution_param { num_output: 4 kernel_size: 4 stride: 2 bias_term: false group: 4
                            weight_filler { type: "bilinear" } } }
layer { name: "score" type: "Crop" bottom: "upscore" bottom: "data" top: "score"
        crop_param { axis: 2 offset: 3 } }
'''


@pytest.fixture
def tiny_net(tmp_path):
    folder = tmp_path / 'tiny-fcn'
    folder.mkdir()
    (folder / 'deploy.prototxt').write_text(DEPLOY)
    caffe.set_random_seed(5)
    net = caffe.Net(str(folder / 'deploy.prototxt'), caffe.TEST)
    weights = folder / 'tiny.caffemodel'
    net.save(str(weights))
    return str(folder), str(weights)


def run(args):
    return export_onnx.main([str(a) for a in args])


def test_writes_a_model_at_the_size_asked_for_and_checks_it(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    out = tmp_path / 'models' / 'tiny.onnx'                   # the folder is created
    assert run(['--net', folder, '--weights', weights, '--height', 21, '--width', 30, '--out', out]) == 0
    model = onnx.load(str(out))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.input) + list(model.graph.output)}
    assert shapes == {'data': [1, 3, 21, 30], 'score': [1, 4, 21, 30]}
    printed = capsys.readouterr().out
    assert 'score: max |difference|' in printed and 'argmax agreement 1.000000' in printed
    assert printed.rstrip().endswith('onnxruntime reproduces torchcaffe')


def test_the_check_catches_a_model_that_differs(tiny_net, tmp_path):
    folder, weights = tiny_net
    net, _, _ = export_onnx.load_deploy(folder, weights)
    export_onnx.resize_inputs(net, 12, 12)
    path = export_onnx.engine()[1].export(net, tmp_path / 'tiny.onnx')
    assert export_onnx.check(net, path)['score']['ok']
    net.params['score_fr'][0].data[...] *= -1
    stats = export_onnx.check(net, path)['score']
    assert not stats['ok'] and stats['max_rel'] > export_onnx.MAX_REL and stats['argmax_agreement'] < 0.9


@pytest.mark.parametrize('case,message', [
    ('no-net', "no net '"),
    ('no-weights', 'does not exist'),
    ('out-is-folder', 'it is a folder'),
    ('out-under-a-file', 'is a file, not a folder'),
    ('bad-size', 'argument --width: 0 is not positive'),
    ('argmax-layer', "cannot export tiny-fcn: cannot export layer 'label' (ArgMax)"),
])
def test_bad_arguments_stop_with_one_line(tiny_net, tmp_path, case, message, capsys):
    folder, weights = tiny_net
    args = {'--net': folder, '--weights': weights, '--out': tmp_path / 'x.onnx'}
    if case == 'no-net':
        args['--net'] = tmp_path / 'nowhere'
    elif case == 'no-weights':
        args['--weights'] = tmp_path / 'none.caffemodel'
    elif case == 'out-is-folder':
        args['--out'] = tmp_path
    elif case == 'out-under-a-file':
        args['--out'] = os.path.join(weights, 'x.onnx')
    elif case == 'bad-size':
        args['--width'] = 0
    else:
        with open(os.path.join(folder, 'deploy.prototxt'), 'a') as f:
            f.write('layer { name: "label" type: "ArgMax" bottom: "score" top: "label" '
                    'argmax_param { axis: 1 } }')
    argv = [str(a) for pair in args.items() for a in pair]
    try:
        status = cli.run(export_onnx.main, argv)
    except SystemExit as stop:               # the parser refuses an argument
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and 'Traceback' not in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / 'x.onnx')


def test_voc_fcn8s_exports_and_matches_at_a_small_size(tmp_path):
    """The real deploy net (pad 100, three crops, fc6/fc7 as convolutions) with random weights."""
    net = caffe.Net(os.path.join(ROOT, 'models', 'voc-fcn8s', 'deploy.prototxt'), caffe.TEST)
    rng = np.random.default_rng(0)
    for blobs in net.params.values():
        for blob in blobs:
            fan_in = int(np.prod(blob.shape[1:]))
            blob.data[...] = rng.standard_normal(blob.shape, dtype=np.float32) * np.float32((2.0 / fan_in) ** 0.5)
    export_onnx.resize_inputs(net, 64, 64)
    path = export_onnx.engine()[1].export(net, tmp_path / 'voc-fcn8s.onnx')
    stats = export_onnx.check(net, path)
    assert list(stats) == ['score'] and net.blobs['score'].shape == (1, 21, 64, 64)
    assert stats['score']['ok'], stats
