"""The FCN net definitions under models/: generated prototxts, their structure and
crop offsets, deploy nets running forward, solvers, weights URLs.

Train/val nets read datasets through Python data layers, so they are checked
as NetParameters (and a few are built with the data layer swapped for an
Input layer); deploy nets are built and run on the CPU at a small input size.
"""
import ast
import importlib
import math
import os
import shutil
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from google.protobuf import text_format

import backend
from backend import caffe
from fcn import download
from models import common, records
from models.generate import load, net_names

caffe_pb2 = importlib.import_module(backend.name + '.proto.caffe_pb2')

MODELS = os.path.dirname(os.path.abspath(common.__file__))

VOC = {'train.prototxt': ('layers.voc', 'SBDDSegDataLayer', 'train', ['data', 'label']),
       'val.prototxt': ('layers.voc', 'VOCSegDataLayer', 'seg11valid', ['data', 'label'])}
CTX = {'train.prototxt': ('layers.pascalcontext', 'PASCALContextSegDataLayer', 'train',
                          ['data', 'label']),
       'val.prototxt': ('layers.pascalcontext', 'PASCALContextSegDataLayer', 'val',
                        ['data', 'label'])}
SIFT = {'trainval.prototxt': ('layers.siftflow', 'SIFTFlowSegDataLayer', 'trainval',
                              ['data', 'sem', 'geo']),
        'test.prototxt': ('layers.siftflow', 'SIFTFlowSegDataLayer', 'test',
                          ['data', 'sem', 'geo'])}


def nyud(tops, blobs=None):
    """NYUDv2 data layer asked for ``tops``, producing blobs named ``blobs`` (default: the same)."""
    return {'trainval.prototxt': ('layers.nyud', 'NYUDSegDataLayer', 'trainval', blobs or tops, tops),
            'test.prototxt': ('layers.nyud', 'NYUDSegDataLayer', 'test', blobs or tops, tops)}


def net(data, inputs, outputs, losses, solver, url=True):
    """data: {file: (module, layer, split, top blobs[, nyud tops])}; inputs: {blob: channels} of the
    deploy net; outputs: {score blob: classes}; losses: {loss: (score, label,
    normalize)}; solver: (base_lr, momentum, iter_size, test_iter, max_iter)."""
    return dict(data=data, inputs=inputs, outputs=outputs, losses=losses, solver=solver,
                url=url)


RGB = {'data': 3}
VOC_LOSS = {'loss': ('score', 'label', False)}
SIFT_LOSS = {'loss': ('score_sem', 'sem', False), 'loss_geo': ('score_geo', 'geo', False)}
SIFT_OUT = {'score_sem': 33, 'score_geo': 3}
NETS = {
    'voc-fcn32s': net(VOC, RGB, {'score': 21}, VOC_LOSS, (1e-10, 0.99, 1, 736, 100000)),
    'voc-fcn16s': net(VOC, RGB, {'score': 21}, VOC_LOSS, (1e-12, 0.99, 1, 736, 100000)),
    'voc-fcn8s': net(VOC, RGB, {'score': 21}, VOC_LOSS, (1e-14, 0.99, 1, 736, 100000)),
    'voc-fcn8s-atonce': net(VOC, RGB, {'score': 21}, VOC_LOSS, (1e-10, 0.99, 1, 736, 300000)),
    'voc-fcn-alexnet': net(VOC, RGB, {'score': 21}, {'loss': ('score', 'label', True)},
                           (1e-4, 0.9, 20, 736, 100000)),
    'voc-fcn-googlenet': net(VOC, RGB, {'score': 21}, {'loss': ('score', 'label', True)},
                             (5e-5, 0.9, 20, 736, 100000), url=False),
    'nyud-fcn32s-color': net(nyud(['color', 'label'], ['data', 'label']), RGB, {'score': 40}, VOC_LOSS,
                             (1e-10, 0.99, 1, 654, 300000)),
    'nyud-fcn32s-hha': net(nyud(['hha', 'label'], ['data', 'label']), RGB, {'score': 40}, VOC_LOSS,
                           (1e-10, 0.99, 1, 654, 300000)),
    'nyud-fcn32s-color-d': net(nyud(['color', 'depth', 'label']), {'data': 4}, {'score': 40},
                               VOC_LOSS, (1e-10, 0.99, 1, 654, 300000), url=False),
    'nyud-fcn32s-color-hha': net(nyud(['color', 'hha', 'label']), {'color': 3, 'hha': 3},
                                 {'score': 40}, VOC_LOSS, (1e-12, 0.99, 1, 654, 300000)),
    'siftflow-fcn32s': net(SIFT, RGB, SIFT_OUT, SIFT_LOSS, (1e-10, 0.99, 1, 200, 300000)),
    'siftflow-fcn16s': net(SIFT, RGB, SIFT_OUT, SIFT_LOSS, (1e-12, 0.99, 1, 200, 300000)),
    'siftflow-fcn8s': net(SIFT, RGB, SIFT_OUT, SIFT_LOSS, (1e-12, 0.99, 1, 200, 300000)),
    'pascalcontext-fcn32s': net(CTX, RGB, {'score': 60}, VOC_LOSS, (1e-10, 0.99, 1, 5105, 300000)),
    'pascalcontext-fcn16s': net(CTX, RGB, {'score': 60}, VOC_LOSS, (1e-12, 0.99, 1, 5105, 300000)),
    'pascalcontext-fcn8s': net(CTX, RGB, {'score': 60}, VOC_LOSS, (1e-14, 0.99, 1, 5105, 300000)),
}
FCNS = sorted(NETS)

# Crop offsets of the reference release (FCN-32s 19; FCN-16s 5, 27; FCN-8s 5, 9, 31).
KNOWN_OFFSETS = {
    'voc-fcn32s': {'score': 19},
    'voc-fcn16s': {'score_pool4c': 5, 'score': 27},
    'voc-fcn8s': {'score_pool4c': 5, 'score_pool3c': 9, 'score': 31},
    'voc-fcn8s-atonce': {'score_pool4c': 5, 'score_pool3c': 9, 'score': 31},
    'voc-fcn-alexnet': {'score': 18},
    'nyud-fcn32s-color-hha': {'score': 19},
    'siftflow-fcn8s': {'score_pool4_semc': 5, 'score_pool3_semc': 9, 'score_sem': 31,
                       'score_pool4_geoc': 5, 'score_pool3_geoc': 9, 'score_geo': 31},
    'pascalcontext-fcn16s': {'score_pool4c': 5, 'score': 27},
}


@pytest.fixture(autouse=True)
def _cpu():
    caffe.set_mode_cpu()


def read_net(path):
    return text_format.Parse(open(path).read(), caffe_pb2.NetParameter())


def net_files(name):
    return [f for f in load(name).prototxts()]


def layer(netp, name):
    found = [lp for lp in netp.layer if lp.name == name]
    assert len(found) == 1, name
    return found[0]


def with_input_size(netp, height, width):
    """Copy of a deploy NetParameter whose Input tops are height x width."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(netp)
    for lp in out.layer:
        if lp.type == 'Input':
            for shape in lp.input_param.shape:
                shape.dim[2], shape.dim[3] = height, width
    return out


def build(netp, tmp_path, phase, fname='net.prototxt'):
    """caffe.Net from a NetParameter (through a file, which every backend accepts)."""
    path = tmp_path / fname
    path.write_text(str(netp))
    return caffe.Net(str(path), phase)


def test_every_net_is_present():
    assert set(NETS) | {'ilsvrc'} <= set(net_names())


# -- generated files ---------------------------------------------------------------------------
@pytest.mark.parametrize('name', net_names())
def test_committed_prototxts_match_net_py(name):
    """Every committed prototxt is exactly what net.py generates now."""
    for fname, proto in load(name).prototxts().items():
        path = os.path.join(MODELS, name, fname)
        assert os.path.isfile(path), '%s missing: run python models/generate.py' % path
        assert open(path).read() == common.prototxt_text(proto), \
            '%s/%s is stale: run python models/generate.py' % (name, fname)


def test_make_net_writes_the_files(tmp_path):
    paths = load('voc-fcn8s').make_net(str(tmp_path))
    assert sorted(os.path.basename(p) for p in paths) == \
        ['deploy.prototxt', 'train.prototxt', 'val.prototxt']
    for p in paths:
        assert open(p).read() == open(os.path.join(MODELS, 'voc-fcn8s', os.path.basename(p))).read()


def test_ilsvrc_make_net_makes_its_subfolders(tmp_path):
    paths = load('ilsvrc').make_net(str(tmp_path))
    rel = [os.path.relpath(p, str(tmp_path)) for p in paths]
    assert rel == [os.path.join(c, 'deploy.prototxt') for c in ('vgg16', 'caffenet', 'googlenet')]
    for r in rel:
        assert open(os.path.join(str(tmp_path), r)).read() == \
            open(os.path.join(MODELS, 'ilsvrc', r)).read()


def test_net_py_runs_as_a_script_from_anywhere(tmp_path):
    """`python models/<net>/net.py` writes the net's prototxts beside it, whatever the
    working directory (here a copy of models/, so the repository is not written)."""
    copy = tmp_path / 'models'
    (copy / 'voc-fcn8s').mkdir(parents=True)
    for f in ('__init__.py', 'common.py', os.path.join('voc-fcn8s', 'net.py')):
        shutil.copy(os.path.join(MODELS, f), str(copy / f))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    # backend and torchcaffe, and whatever else the backend needs (the strict stand-in)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(MODELS)] +
        [os.path.abspath(p) for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    subprocess.run([sys.executable, str(copy / 'voc-fcn8s' / 'net.py')], cwd=str(elsewhere),
                   env=env, check=True)
    assert sorted(os.listdir(str(copy / 'voc-fcn8s'))) == \
        ['deploy.prototxt', 'net.py', 'train.prototxt', 'val.prototxt']
    for f in ('deploy.prototxt', 'train.prototxt', 'val.prototxt'):
        assert (copy / 'voc-fcn8s' / f).read_text() == \
            open(os.path.join(MODELS, 'voc-fcn8s', f)).read()
    assert os.listdir(str(elsewhere)) == []


@pytest.mark.parametrize('name', FCNS)
def test_net_folder(name):
    folder = os.path.join(MODELS, name)
    expected = set(NETS[name]['data']) | {'deploy.prototxt'}
    assert set(net_files(name)) == expected
    assert os.path.isfile(os.path.join(folder, 'README.md'))
    url = records.get(name).weights_url
    assert bool(url) == NETS[name]['url']
    if NETS[name]['url']:
        assert url.startswith('http://dl.caffe.berkeleyvision.org/') and url.endswith('.caffemodel')


@pytest.mark.parametrize('name', FCNS)
def test_solver(name):
    solver = text_format.Parse(open(os.path.join(MODELS, name, 'solver.prototxt')).read(),
                               caffe_pb2.SolverParameter())
    base_lr, momentum, iter_size, test_iter, max_iter = NETS[name]['solver']
    train, test = sorted(NETS[name]['data'], key=lambda f: 'test' in f or 'val' in f)
    assert (solver.train_net, list(solver.test_net)) == (train, [test])
    assert math.isclose(solver.base_lr, base_lr, rel_tol=1e-6)
    assert math.isclose(solver.momentum, momentum, rel_tol=1e-6)
    assert (solver.iter_size, list(solver.test_iter), solver.max_iter) == \
        (iter_size, [test_iter], max_iter)
    assert solver.lr_policy == 'fixed' and math.isclose(solver.weight_decay, 5e-4, rel_tol=1e-6)
    assert solver.test_interval == 999999999 and not solver.test_initialization
    assert solver.display == 20 and solver.average_loss == 20


# -- train / val structure ---------------------------------------------------------------------
def learned_layers(netp):
    """(name, type, params) of every layer with parameters, as text: what weights attach to."""
    out = []
    for lp in netp.layer:
        if lp.type in ('Convolution', 'Deconvolution', 'InnerProduct', 'Scale'):
            c = caffe_pb2.LayerParameter()
            c.CopyFrom(lp)
            c.ClearField('bottom')
            c.ClearField('top')
            out.append(str(c))
    return out


@pytest.mark.parametrize('name', FCNS)
def test_train_val_structure(name):
    spec = NETS[name]
    deploy = read_net(os.path.join(MODELS, name, 'deploy.prototxt'))
    for fname, (module, cls, split, tops, *asked) in spec['data'].items():
        netp = read_net(os.path.join(MODELS, name, fname))
        data = netp.layer[0]
        assert data.type == 'Python' and list(data.top) == tops
        assert (data.python_param.module, data.python_param.layer) == (module, cls)
        params = ast.literal_eval(data.python_param.param_str)
        assert params['split'] == split and params['seed'] == 1337
        if module == 'layers.nyud':
            assert params['tops'] == asked[0]
        assert all(lp.type != 'Python' for lp in netp.layer[1:])
        # every bottom is produced by an earlier layer
        seen = set()
        for lp in netp.layer:
            assert set(lp.bottom) <= seen, (fname, lp.name)
            seen.update(lp.top)
        # losses: unnormalized ("heavy") or normalized, void label 255 ignored
        losses = {lp.name: lp for lp in netp.layer if lp.type == 'SoftmaxWithLoss'}
        assert set(losses) == set(spec['losses'])
        for lname, (score, label, normalize) in spec['losses'].items():
            lp = losses[lname]
            assert list(lp.bottom) == [score, label]
            assert lp.loss_param.normalize == normalize and lp.loss_param.ignore_label == 255
        # dropout in train/val only; the learned layers are the deploy net's
        assert any(lp.type == 'Dropout' for lp in netp.layer)
        assert learned_layers(netp) == learned_layers(deploy)
    assert not any(lp.type in ('Dropout', 'SoftmaxWithLoss', 'Python') for lp in deploy.layer)


@pytest.mark.parametrize('name', FCNS)
def test_data_layers_accept_the_param_str(name):
    """The data layers (layers/) take every param_str key the nets give them."""
    common_layers = importlib.import_module('layers.common')
    parse = common_layers.parse_params
    for fname, (module, cls_name, _, _, *_) in NETS[name]['data'].items():
        netp = read_net(os.path.join(MODELS, name, fname))
        cls = getattr(importlib.import_module(module), cls_name)
        params = parse(netp.layer[0].python_param.param_str, cls_name, cls.REQUIRED,
                       common_layers.COMMON_OPTIONAL)
        assert params['seed'] == 1337


def test_upsampling_and_score_layers_follow_the_release():
    netp = read_net(os.path.join(MODELS, 'voc-fcn8s', 'train.prototxt'))
    for name, (ks, stride) in {'upscore2': (4, 2), 'upscore_pool4': (4, 2),
                               'upscore8': (16, 8)}.items():
        lp = layer(netp, name)
        assert lp.type == 'Deconvolution'
        cp = lp.convolution_param
        assert (cp.num_output, list(cp.kernel_size), list(cp.stride), cp.bias_term) == \
            (21, [ks], [stride], False)
        assert [p.lr_mult for p in lp.param] == [0]
    for name in ('score_fr', 'score_pool4', 'score_pool3', 'fc6', 'conv1_1'):
        lp = layer(netp, name)
        assert [(p.lr_mult, p.decay_mult) for p in lp.param] == [(1, 1), (2, 0)]
    assert list(layer(netp, 'conv1_1').convolution_param.pad) == [100]
    assert list(layer(netp, 'fc6').convolution_param.kernel_size) == [7]
    assert not layer(netp, 'score_fr').convolution_param.HasField('weight_filler')
    atonce = read_net(os.path.join(MODELS, 'voc-fcn8s-atonce', 'train.prototxt'))
    for name, value, bottom in (('scale_pool4', 0.01, 'pool4'), ('scale_pool3', 1e-4, 'pool3')):
        lp = layer(atonce, name)
        assert lp.type == 'Scale' and list(lp.bottom) == [bottom]
        assert lp.scale_param.filler.type == 'constant'
        assert math.isclose(lp.scale_param.filler.value, value, rel_tol=1e-6)
        assert [p.lr_mult for p in lp.param] == [0]
        assert list(layer(atonce, 'score_' + bottom).bottom) == [name]
    alex = read_net(os.path.join(MODELS, 'voc-fcn-alexnet', 'train.prototxt'))
    assert list(layer(alex, 'upscore').convolution_param.kernel_size) == [63]
    assert list(layer(alex, 'fc6').convolution_param.kernel_size) == [6]
    hha = read_net(os.path.join(MODELS, 'nyud-fcn32s-color-hha', 'trainval.prototxt'))
    fused = layer(hha, 'score_fused')
    assert list(fused.bottom) == ['score_frcolor', 'score_frhha']
    assert list(fused.eltwise_param.coeff) == [0.5, 0.5]
    assert list(layer(hha, 'score').bottom) == ['upscore', 'color']
    cd = read_net(os.path.join(MODELS, 'nyud-fcn32s-color-d', 'trainval.prototxt'))
    assert list(layer(cd, 'data').bottom) == ['color', 'depth']
    assert list(layer(cd, 'conv1_1_bgrd').bottom) == ['data']


# -- crop offsets ------------------------------------------------------------------------------
SPATIAL_IDENTITY = {'ReLU', 'Dropout', 'Eltwise', 'Concat', 'Scale', 'LRN', 'Split'}


def _step(lp):
    """(scale, shift) of one layer's input -> output coordinates."""
    if lp.type in ('Convolution', 'Pooling', 'Deconvolution'):
        if lp.type == 'Pooling':
            p = lp.pooling_param
            k, s, pad = p.kernel_size, p.stride, p.pad
        else:
            p = lp.convolution_param
            k, s, pad = p.kernel_size[0], (list(p.stride) or [1])[0], (list(p.pad) or [0])[0]
        if lp.type == 'Deconvolution':
            return Fraction(s), Fraction(k - 1, 2) - pad
        return Fraction(1, s), (pad - Fraction(k - 1, 2)) / s
    if lp.type == 'Crop':
        return Fraction(1), -Fraction(lp.crop_param.offset[0])
    assert lp.type in SPATIAL_IDENTITY, lp.type
    return Fraction(1), Fraction(0)


def _ancestors(producers, blob):
    """{ancestor blob: (scale, shift) from its coordinates to blob's}, walking back."""
    maps, queue = {blob: (Fraction(1), Fraction(0))}, [blob]
    for cur in queue:
        lp = producers.get(cur)
        if lp is None:
            continue
        a, b = maps[cur]
        sa, sb = _step(lp)
        bottoms = lp.bottom[:1] if lp.type == 'Crop' else lp.bottom
        for bot in bottoms:
            if bot not in maps:
                maps[bot] = (a * sa, a * sb + b)
                queue.append(bot)
    return maps


def independent_offsets(netp):
    """Crop offsets recomputed from the prototxt alone (not through NetSpec/coord_map)."""
    producers, offsets = {}, {}
    for lp in netp.layer:
        if lp.type in ('Input', 'Python'):
            continue
        for top in lp.top:
            if top not in lp.bottom:  # in-place layers keep coordinates
                producers[top] = lp
    for lp in netp.layer:
        if lp.type != 'Crop':
            continue
        src, ref = _ancestors(producers, lp.bottom[0]), _ancestors(producers, lp.bottom[1])
        common_anc = next(a for a in ref if a in src)
        (s1, b1), (s2, b2) = src[common_anc], ref[common_anc]
        assert s1 == s2 == 1, lp.name
        assert (b1 - b2).denominator == 1 and b1 >= b2, lp.name
        offsets[lp.name] = int(b1 - b2)
    return offsets


@pytest.mark.parametrize('name', FCNS)
def test_crop_offsets(name):
    for fname in net_files(name):
        netp = read_net(os.path.join(MODELS, name, fname))
        written = {lp.name: list(lp.crop_param.offset) for lp in netp.layer if lp.type == 'Crop'}
        assert written and all(layer(netp, n).crop_param.axis == 2 for n in written)
        assert {n: o[0] for n, o in written.items()} == independent_offsets(netp)
        for crop_name, offset in KNOWN_OFFSETS.get(name, {}).items():
            assert written[crop_name] == [offset], (fname, crop_name)


@pytest.mark.torchcaffe_only
def test_googlenet_states_the_offset_torchcaffe_coord_map_derives(monkeypatch):
    """voc-fcn-googlenet states its crop offset because pycaffe's coord_map stops at
    Concat; with torchcaffe's coord_map (which passes Concat) deriving it, the net is the same."""
    import torchcaffe.coord_map
    googlenet = load('voc-fcn-googlenet')
    stated = googlenet.fcn('deploy')
    assert list(layer(stated, 'score').crop_param.offset) == [googlenet.CROP_OFFSET]
    asked = []

    def derive(top_from, top_to, offset=None):
        asked.append(offset)
        return torchcaffe.coord_map.crop(top_from, top_to)

    monkeypatch.setattr(common, 'crop', derive)
    assert googlenet.fcn('deploy') == stated
    assert asked == [googlenet.CROP_OFFSET]


def test_crop_helper_uses_the_backends_coord_map():
    assert common.coord_map().__name__ == backend.name + '.coord_map'
    n = caffe.NetSpec()
    n.data = common.deploy_input()
    common.vgg16_fcn(n, n.data, 21, stride=32, train=False)
    assert list(n.to_proto().layer[-1].crop_param.offset) == [19]


# -- deploy nets run -------------------------------------------------------------------------
SIZE = (20, 44)  # small, not square and not a multiple of 32: crops must still align


@pytest.mark.parametrize('name', FCNS)
def test_deploy_forward(name, tmp_path):
    spec = NETS[name]
    deploy = read_net(os.path.join(MODELS, name, 'deploy.prototxt'))
    inputs = [lp for lp in deploy.layer if lp.type == 'Input']
    assert len(inputs) == 1 and inputs[0].name == 'input'
    shapes = {top: list(s.dim) for top, s in zip(inputs[0].top, inputs[0].input_param.shape)}
    assert shapes == {top: [1, c, 500, 500] for top, c in spec['inputs'].items()}
    net_ = build(with_input_size(deploy, *SIZE), tmp_path, caffe.TEST)
    rng = np.random.RandomState(0)
    for top in shapes:
        net_.blobs[top].data[...] = rng.uniform(-100, 100, net_.blobs[top].data.shape)
    out = net_.forward()
    assert set(out) == set(spec['outputs'])
    for blob, classes in spec['outputs'].items():
        assert out[blob].shape == (1, classes) + SIZE
        assert np.isfinite(out[blob]).all()


def test_deploy_file_loads_as_is_and_reshapes():
    """The committed deploy file itself (500x500 input) loads; reshaping the input
    and the net gives scores of the new size.  (FCN-AlexNet: the lightest to load.)"""
    net_ = caffe.Net(os.path.join(MODELS, 'voc-fcn-alexnet', 'deploy.prototxt'), caffe.TEST)
    assert net_.blobs['score'].data.shape == (1, 21, 500, 500)
    net_.blobs['data'].reshape(1, 3, 37, 29)
    net_.reshape()
    assert net_.forward()['score'].shape == (1, 21, 37, 29)


# -- train nets build and score with their losses ------------------------------------------------
def swap_data_for_input(netp, shapes):
    """The train net with its Python data layer replaced by an Input layer of shapes."""
    out = caffe_pb2.NetParameter()
    out.CopyFrom(netp)
    data = out.layer[0]
    tops = list(data.top)
    data.Clear()
    data.name, data.type = 'input', 'Input'
    data.top.extend(tops)
    for top in tops:
        data.input_param.shape.add().dim.extend(shapes[top])
    return out


@pytest.mark.parametrize('name,fname', [('voc-fcn-alexnet', 'train.prototxt'),
                                        ('siftflow-fcn8s', 'trainval.prototxt')])
def test_train_net_losses(name, fname, tmp_path):
    """With the (zero) initial weights every score is 0, so each loss is log(#classes)
    per counted pixel: summed over pixels (normalize: false) or averaged (true)."""
    spec = NETS[name]
    h, w = 18, 26
    netp = read_net(os.path.join(MODELS, name, fname))
    tops = list(netp.layer[0].top)
    channels = {'data': 3, 'color': 3, 'hha': 3, 'depth': 1}
    shapes = {t: [1, channels.get(t, 1), h, w] for t in tops}
    net_ = build(swap_data_for_input(netp, shapes), tmp_path, caffe.TRAIN)
    rng = np.random.RandomState(1)
    valid = {}
    for lname, (score, label, _) in spec['losses'].items():
        classes = spec['outputs'][score]
        lab = rng.randint(0, classes, (1, 1, h, w)).astype(np.float32)
        lab[0, 0, :3] = 255
        net_.blobs[label].data[...] = lab
        valid[lname] = int((lab != 255).sum())
    for t in tops:
        if channels.get(t):
            net_.blobs[t].data[...] = rng.uniform(-50, 50, shapes[t])
    net_.forward()
    for lname, (score, _, normalize) in spec['losses'].items():
        classes = spec['outputs'][score]
        assert net_.blobs[score].data.shape == (1, classes, h, w)
        expected = math.log(classes) * (1 if normalize else valid[lname])
        assert math.isclose(float(net_.blobs[lname].data), expected, rel_tol=1e-5)


# -- ILSVRC classifiers -----------------------------------------------------------------------
ILSVRC = {
    'vgg16': ((10, 3, 224, 224), {'conv1_1': [(64, 3, 3, 3), (64,)],
                                  'conv5_3': [(512, 512, 3, 3), (512,)],
                                  'fc6': [(4096, 25088), (4096,)], 'fc8': [(1000, 4096), (1000,)]},
              'http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/VGG_ILSVRC_16_layers.caffemodel'),
    'caffenet': ((10, 3, 227, 227), {'conv1': [(96, 3, 11, 11), (96,)],
                                     'conv2': [(256, 48, 5, 5), (256,)],
                                     'fc6': [(4096, 9216), (4096,)]},
                 'http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel'),
    'googlenet': ((10, 3, 224, 224), {'conv1/7x7_s2': [(64, 3, 7, 7), (64,)],
                                      'inception_5b/pool_proj': [(128, 832, 1, 1), (128,)],
                                      'loss3/classifier': [(1000, 1024), (1000,)]},
                  'http://dl.caffe.berkeleyvision.org/bvlc_googlenet.caffemodel'),
}


@pytest.mark.parametrize('name', sorted(ILSVRC))
def test_ilsvrc_classifier(name, tmp_path):
    shape, params, url = ILSVRC[name]
    folder = os.path.join(MODELS, 'ilsvrc', name)
    assert download.CLASSIFIERS[name].url == url
    netp = read_net(os.path.join(folder, 'deploy.prototxt'))
    assert list(netp.layer[0].input_param.shape[0].dim) == list(shape)
    small = caffe_pb2.NetParameter()
    small.CopyFrom(netp)
    small.layer[0].input_param.shape[0].dim[0] = 1
    net_ = build(small, tmp_path, caffe.TEST)
    for lname, shapes in params.items():
        assert [b.data.shape for b in net_.params[lname]] == shapes
    assert net_.blobs['prob'].data.shape == (1, 1000)
    if name != 'vgg16':  # VGG16 is too slow for the CPU suite; its shapes are checked above
        prob = net_.forward()['prob']
        assert np.allclose(prob, 1.0 / 1000)  # zero weights: uniform


@pytest.mark.parametrize('classifier,fcn', [('caffenet', 'voc-fcn-alexnet'),
                                            ('googlenet', 'voc-fcn-googlenet')])
def test_classifier_transplants_into_its_fcn(classifier, fcn, tmp_path):
    import surgery
    cls_p = read_net(os.path.join(MODELS, 'ilsvrc', classifier, 'deploy.prototxt'))
    cls_p.layer[0].input_param.shape[0].dim[0] = 1
    cls = build(cls_p, tmp_path, caffe.TEST, 'classifier.prototxt')
    rng = np.random.default_rng(2)
    for blobs in cls.params.values():
        for b in blobs:
            b.data[...] = rng.standard_normal(b.data.shape, dtype=np.float32)
    fcn_p = with_input_size(read_net(os.path.join(MODELS, fcn, 'deploy.prototxt')), 32, 32)
    new = build(fcn_p, tmp_path, caffe.TEST, 'fcn.prototxt')
    report = surgery.transplant(new, cls)
    learned = set(cls.params) - {'fc8', 'loss3/classifier'}
    assert {n for n, _ in report['copied'] + report['coerced']} == learned
    if classifier == 'caffenet':
        assert set(report['coerced']) == {('fc6', 0), ('fc7', 0)}
        assert np.array_equal(new.params['fc6'][0].data.reshape(4096, -1),
                              cls.params['fc6'][0].data)
