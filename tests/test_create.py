"""models/create.py: a dataset folder to a net folder like every other, then trained, scored and
used through the same command lines as the paper's nets.

The end-to-end tests run each command as a user types it.  solve.py writes
out/<net> in the repository, so those nets get a unique name and their out/
folder is removed afterwards; everything else is written into tmp_path.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest
from PIL import Image

import backend
import score
from fcn import cli, paths
from models import common as C, create, records
from owndata_helpers import CLASSES, PALETTE, make_dataset, to_list_files, to_void_index, tree, write_lines

PY = sys.executable


def cmd(script, *args, timeout=600):
    run = subprocess.run([PY, os.path.join(paths.ROOT, script)] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout, cwd=paths.ROOT)
    return run


def create_in_process(capsys, *argv):
    """create.py's main inside its error boundary: (exit status, stdout, stderr)."""
    rc = cli.run(create.main, [str(a) for a in argv], prog='create.py')
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def net_name():
    """A fresh net name; its out/<name> (written by solve.py) is removed afterwards."""
    name = 'test-owndata-%s' % uuid.uuid4().hex[:8]
    yield name
    shutil.rmtree(paths.out_dir(name), ignore_errors=True)


def load_net_py(folder):
    spec = importlib.util.spec_from_file_location('created_net_%s' % uuid.uuid4().hex, os.path.join(folder, 'net.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- end to end, through the command lines --------------------------------------------------------
@pytest.mark.parametrize('layout,labels,full', [('folder', 'index', True), ('voc', 'gray', False),
                                                ('folder', 'rgb', False)])
def test_create_train_evaluate_infer(tmp_path, net_name, layout, labels, full):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data, layout, labels, n_train=4, n_val=2)
    iters = 4 if full else 2
    run = cmd('models/create.py', net_name, '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
              '--width-divisor', 8, '--max-iter', iters, '--models-dir', models)
    assert run.returncode == 0, run.stderr
    folder = models / net_name
    assert sorted(os.listdir(str(folder))) == ['README.md', 'deploy.prototxt', 'net.py', 'record.json',
                                               'solver.prototxt', 'train.prototxt', 'val.prototxt']
    assert 'make train NET=%s' % folder in run.stdout
    rec = records.get(str(folder))
    assert rec.outputs[0].class_names() == CLASSES and rec.init == ('scratch', '')
    assert (rec.outputs[0].palette == str(data / 'palette.txt')) == (labels == 'rgb')

    split = ('ImageSets/Segmentation/' if layout == 'voc' else '') + 'val.txt'
    run = cmd('solve.py', folder, '--test-interval', 2, '--val', data / split)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    weights = os.path.join(paths.out_dir(net_name), 'snapshots', 'train_iter_%d.caffemodel' % iters)
    assert os.path.isfile(weights)
    assert 'mean IU' in run.stdout

    run = cmd('evaluate.py', folder, '--weights', weights, '--val', data / split)
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r'mean IU\s+(\d+\.\d+)', run.stdout)
    assert m and 0 <= float(m.group(1)) <= 100, run.stdout
    if not full:
        return
    image = data / 'images' / 'va00.jpg'
    run = cmd('infer.py', image, '--net', folder, '--weights', weights, '--out', tmp_path / 'seg')
    assert run.returncode == 0, run.stderr[-2000:]
    with Image.open(str(tmp_path / 'seg' / 'va00.png')) as im:
        assert im.size == (48, 40) and set(np.unique(np.asarray(im))) <= {0, 1, 2}
    run = cmd('export_onnx.py', '--net', folder, '--weights', weights, '--out', tmp_path / 'net.onnx',
              '--height', 40, '--width', 48)
    if backend.name == 'torchcaffe':
        assert run.returncode == 0, run.stderr[-2000:]
        assert 'onnxruntime reproduces' in run.stdout
    else:                                                       # ONNX export is torchcaffe's: refused by name
        assert run.returncode == 2 and 'ONNX export is a torchcaffe feature' in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1


# -- bad datasets: each problem named, nothing written ------------------------------------------------
def spoil_missing_label(root):
    os.remove(str(root / 'labels' / 'tr01.png'))
    return 'labels/tr01.png', 'missing label'


def spoil_size(root):
    Image.fromarray(np.zeros((10, 12), np.uint8), 'L').save(str(root / 'labels' / 'va00.png'))
    return 'labels/va00.png', 'label is 10x12 (HxW) but its image images/va00.jpg is 40x48'


def spoil_values(root):
    label = np.zeros((40, 48), np.uint8)
    label[1, 1] = 9
    Image.fromarray(label, 'L').save(str(root / 'labels' / 'tr02.png'))
    return 'labels/tr02.png', 'has values [9] outside classes 0..2'


def spoil_empty_split(root):
    write_lines(root / 'val.txt', [])
    return 'val.txt', 'the val split is empty'


def spoil_both_splits(root):
    write_lines(root / 'val.txt', ['va00', 'tr03'])
    return 'val.txt', '1 id(s) are in both train and val: tr03'


def spoil_unreadable(root):
    (root / 'images' / 'tr00.jpg').write_bytes(b'\xff\xd8 truncated')
    return 'images/tr00.jpg', 'unreadable'


def spoil_colour_without_palette(root):
    rgb = np.array(PALETTE, np.uint8)[np.zeros((40, 48), np.int64)]
    Image.fromarray(rgb, 'RGB').save(str(root / 'labels' / 'va01.png'))
    return 'palette.txt', '1 label image(s) are colour (RGB) images (labels/va01.png)'


@pytest.mark.parametrize('spoil', [spoil_missing_label, spoil_size, spoil_values, spoil_empty_split,
                                   spoil_both_splits, spoil_unreadable, spoil_colour_without_palette])
def test_a_bad_dataset_is_refused_and_nothing_is_written(tmp_path, capsys, net_name, spoil):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    where, what = spoil(data)
    rc, out, err = create_in_process(capsys, net_name, '--dataset', data, '--init', 'scratch',
                                     '--width-divisor', 8, '--models-dir', models)
    assert rc == 2
    assert '  %s: ' % (data / where) in out and what in out, out
    assert err.strip() == ('create.py: error: %s: 1 problem(s) with this dataset (listed above); fix them and '
                           'run again' % data)
    assert tree(models) in (None, [])
    assert not os.path.exists(paths.out_dir(net_name))


def test_several_problems_are_all_listed(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    wants = [spoil(data) for spoil in (spoil_missing_label, spoil_size, spoil_values, spoil_unreadable)]
    rc, out, err = create_in_process(capsys, 'x', '--dataset', data, '--models-dir', models)
    assert rc == 2 and '4 problem(s)' in err
    for where, what in wants:
        assert '  %s: ' % (data / where) in out and what in out
    assert tree(models) in (None, [])


# -- what is written ---------------------------------------------------------------------------------
def test_created_net_is_like_every_other(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data, labels='rgb')
    rc, out, err = create_in_process(capsys, 'mine', '--dataset', data, '--arch', 'fcn16s', '--init', 'scratch',
                                     '--width-divisor', 4, '--models-dir', models)
    assert rc == 0, err
    folder = models / 'mine'
    module = load_net_py(str(folder))
    for fname, proto in module.prototxts().items():                        # net.py rewrites them exactly
        assert (folder / fname).read_text() == C.prototxt_text(proto)
    rec = records.get(str(folder))
    assert rec.has_record and rec.val_ids == str(data / 'val.txt') and rec.val_net == 'val.prototxt'
    assert rec.outputs[0].palette == str(data / 'palette.txt')
    assert rec.outputs[0].palette_colors()[:3].tolist() == [list(c) for c in PALETTE]
    # from scratch: the mean is the training images', as check reports it
    m = re.search(r'mean of the training images \(B G R\): (\S+) (\S+) (\S+)', out)
    np.testing.assert_allclose(rec.inputs[0].modalities[0].mean, [float(v) for v in m.groups()], atol=1e-3)
    train = (folder / 'train.prototxt').read_text()
    assert 'layers.folder' in train and 'FolderSegDataLayer' in train and "\\'dataset_dir\\': \\'%s\\'" % data in train
    assert 'type: "msra"' in train and 'normalize: true' in train
    assert 'num_output: 16\n' in train and 'num_output: 1024\n' in train   # conv1_1 64/4, fc6 4096/4
    solver = (folder / 'solver.prototxt').read_text()
    assert 'type: "Adam"' in solver and 'test_iter: 2\n' in solver
    # an existing net is kept unless --force
    rc, _, err = create_in_process(capsys, 'mine', '--dataset', data, '--models-dir', models)
    assert rc == 2 and 'exists' in err and 'fcn16s' in (folder / 'net.py').read_text()
    rc, _, err = create_in_process(capsys, 'mine', '--dataset', data, '--arch', 'fcn32s', '--models-dir', models,
                                   '--force')
    assert rc == 0, err
    assert "'arch': 'fcn32s'" in (folder / 'net.py').read_text()
    assert sorted(os.listdir(str(models))) == ['mine']


@pytest.mark.parametrize('arch,init,paper', [('fcn32s', 'vgg16', 'voc-fcn32s'),
                                             ('fcn8s', 'voc-fcn16s', 'voc-fcn8s'),
                                             ('fcn8s-atonce', None, 'voc-fcn8s-atonce'),
                                             ('alexnet', None, 'voc-fcn-alexnet'),
                                             ('googlenet', 'googlenet', 'voc-fcn-googlenet')])
def test_on_voc_classes_it_is_the_papers_net(tmp_path, capsys, arch, init, paper):
    """A 21-class dataset in VOC's layout gives the paper's deploy net, solver settings and init."""
    data, models = tmp_path / 'VOC', tmp_path / 'models'
    make_dataset(data, 'voc', classes=False, n_val=3)
    argv = ['net', '--dataset', data, '--arch', arch, '--models-dir', models] + (['--init', init] if init else [])
    rc, out, err = create_in_process(capsys, *argv)
    assert rc == 0, err
    folder = models / 'net'
    assert (folder / 'deploy.prototxt').read_text() == open(os.path.join(paths.MODELS, paper, 'deploy.prototxt')).read()
    theirs = open(os.path.join(paths.MODELS, paper, 'solver.prototxt')).read()
    # the paper's solver but for the val split's size and the schedule, sized to 4 training images
    iters = int(re.search(r'schedule: (\d+) iterations', out).group(1))
    every = int(re.search(r'a seg test and a snapshot every (\d+) iterations', out).group(1))
    paper_iters = int(re.search(r'max_iter: (\d+)', theirs).group(1))
    assert iters == -(-paper_iters * 4 // 8498)                           # the paper's passes over SBD
    want = theirs.replace('test_iter: 736', 'test_iter: 3').replace('max_iter: %d' % paper_iters, 'max_iter: %d' % iters)
    assert (folder / 'solver.prototxt').read_text() == want.replace('snapshot: 4000', 'snapshot: %d' % every)
    rec, published = records.get(str(folder)), records.get(paper)
    assert rec.init == published.init and rec.inputs == published.inputs
    want_loss = re.search(r'normalize: \w+', open(os.path.join(paths.MODELS, paper, 'train.prototxt')).read())
    assert want_loss.group(0) in (folder / 'train.prototxt').read_text()


def test_init_from_a_published_net_renames_the_score_layers(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    rc, _, err = create_in_process(capsys, 'ft', '--dataset', data, '--arch', 'fcn8s', '--init', 'voc-fcn8s',
                                   '--models-dir', models)
    assert rc == 0, err
    rec = records.get(str(models / 'ft'))
    assert rec.init == ('net', 'voc-fcn8s')

    def conv_outputs(path):
        text = open(str(path)).read()
        return dict(re.findall(r'name: "([^"]+)"\n  type: "(?:De)?[Cc]onvolution"[\s\S]*?num_output: (\d+)', text))
    ours = conv_outputs(models / 'ft' / 'deploy.prototxt')
    theirs = conv_outputs(os.path.join(paths.MODELS, 'voc-fcn8s', 'deploy.prototxt'))
    renamed = {'score_fr', 'upscore2', 'score_pool4', 'upscore_pool4', 'score_pool3', 'upscore8'}
    assert {n + '_3cls' for n in renamed} <= set(ours)
    assert not renamed & set(ours)
    shared = set(ours) & set(theirs)       # copy_from copies these by name: same shapes
    assert shared == set(theirs) - renamed and all(ours[n] == theirs[n] for n in shared)
    assert all(ours[n + '_3cls'] == '3' for n in ('score_fr', 'score_pool4', 'score_pool3'))


@pytest.mark.parametrize('argv,message', [
    (['--arch', 'fcn8s'], 'the paper trains fcn8s from a trained fcn16s'),
    (['--arch', 'alexnet', '--init', 'vgg16'], 'has the caffenet trunk'),
    (['--init', 'vgg16', '--width-divisor', 8], 'use it with --init scratch'),
    (['--arch', 'fcn32s', '--init', 'voc-fcn-alexnet'], 'not a vgg16 FCN'),
    (['--arch', 'fcn32s', '--init', 'nyud-fcn32s-hha'], 'takes hha input'),
    (['--init', 'no-such-net'], "no net 'no-such-net'"),
])
def test_impossible_nets_are_refused(tmp_path, capsys, argv, message):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    rc, _, err = create_in_process(capsys, 'x', '--dataset', data, '--models-dir', models, *argv)
    assert rc == 2 and message in err, err
    assert tree(models) in (None, [])


def test_record_is_valid_json_of_the_schema(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    rc, _, err = create_in_process(capsys, 'r', '--dataset', data, '--models-dir', models)
    assert rc == 0, err
    with open(str(models / 'r' / 'record.json')) as f:
        raw = json.load(f)
    assert set(raw) == set(json.load(open(os.path.join(paths.MODELS, 'voc-fcn8s', 'record.json'))))
    assert raw['init'] == {'from': 'classifier', 'net': 'vgg16'}


# -- class weights, void class index, list files --------------------------------------------------------
def test_class_weights_void_index_and_list_files_create_train_evaluate(tmp_path, net_name):
    """A dataset listed as `image label` pairs whose unlabelled pixels carry index 0 (void.txt), made
    with median-frequency weights: H = diag(weights) beside the net, InfogainLoss in the train and val
    nets (deploy as without weights), trained, and scored with the void pixels left out."""
    data, models = tmp_path / 'data', tmp_path / 'models'
    written = make_dataset(data, n_train=4, n_val=2)
    to_void_index(data, written, 0)
    to_list_files(data)
    run = cmd('models/create.py', net_name, '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
              '--width-divisor', 8, '--max-iter', 2, '--models-dir', models, '--class-weights', 'median-frequency')
    assert run.returncode == 0, run.stderr
    assert 'class weights: median-frequency' in run.stdout
    folder = models / net_name
    assert 'class_weights.binaryproto' in os.listdir(str(folder))
    train = [written['tr%02d' % i] for i in range(4)]
    counts = np.array([sum((lab == c).sum() for lab in train) for c in range(3)], float)
    present = np.array([sum((lab != 255).sum() for lab in train if (lab == c).any()) for c in range(3)], float)
    want = np.median(counts / present) / (counts / present)
    blob = backend.caffe.proto.caffe_pb2.BlobProto()
    blob.ParseFromString((folder / 'class_weights.binaryproto').read_bytes())
    h = backend.caffe.io.blobproto_to_array(blob)
    assert h.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(h[0, 0], np.diag(want), rtol=1e-6)
    for fname in ('train.prototxt', 'val.prototxt'):
        text = (folder / fname).read_text()
        assert 'type: "InfogainLoss"' in text and 'SoftmaxWithLoss' not in text and 'normalize' not in text
        assert 'source: "%s"' % (folder / 'class_weights.binaryproto') in text
        assert re.search(r'loss_param \{\s+ignore_label: 255\s+normalization: VALID\s+\}', text), text
    assert load_net_py(str(folder)).prototxts()['train.prototxt'] is not None
    rec = json.loads((folder / 'record.json').read_text())
    assert rec['class_weights']['scheme'] == 'median-frequency'
    np.testing.assert_allclose(rec['class_weights']['weights'], want, rtol=1e-5)
    assert 'Eigen & Fergus 2015' in (folder / 'README.md').read_text()
    run = cmd('models/create.py', 'plain', '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
              '--width-divisor', 8, '--max-iter', 2, '--models-dir', models)
    assert run.returncode == 0, run.stderr
    assert (models / 'plain' / 'deploy.prototxt').read_text() == (folder / 'deploy.prototxt').read_text()
    assert 'type: "SoftmaxWithLoss"' in (models / 'plain' / 'train.prototxt').read_text()

    run = cmd('solve.py', folder, '--test-interval', 2, '--val', data / 'val.txt')
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    weights = os.path.join(paths.out_dir(net_name), 'snapshots', 'train_iter_2.caffemodel')
    run = cmd('evaluate.py', folder, '--weights', weights, '--save', tmp_path / 'pred')
    assert run.returncode == 0, run.stderr[-2000:]
    hist = 0
    for i in ('va00', 'va01'):
        with Image.open(str(tmp_path / 'pred' / (i + '.png'))) as im:
            hist = hist + score.fast_hist(written[i], np.asarray(im), 3)     # 255 (void) left out
    assert hist.sum() == sum((written[i] != 255).sum() for i in ('va00', 'va01'))
    m = re.search(r'mean IU\s+(\d+\.\d+)', run.stdout)
    assert m and float(m.group(1)) == pytest.approx(100 * score.compute_metrics(hist)['mean_iu'], abs=0.051)


def test_class_weights_from_a_file_and_where_caffe_finds_them(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    write_lines(tmp_path / 'w.txt', ['1', '2.5', '4'])
    rc, out, err = create_in_process(capsys, 'w', '--dataset', data, '--models-dir', models, '--init', 'scratch',
                                     '--class-weights', tmp_path / 'w.txt')
    assert rc == 0, err
    blob = backend.caffe.proto.caffe_pb2.BlobProto()
    blob.ParseFromString((models / 'w' / 'class_weights.binaryproto').read_bytes())
    np.testing.assert_array_equal(backend.caffe.io.blobproto_to_array(blob)[0, 0], np.diag([1, 2.5, 4]))
    text = (models / 'w' / 'train.prototxt').read_text()
    assert 'normalization: VALID' in text      # the scratch net's loss was normalize: true
    write_lines(tmp_path / 'w.txt', ['1', '2.5'])
    rc, _, err = create_in_process(capsys, 'w2', '--dataset', data, '--models-dir', models,
                                   '--class-weights', tmp_path / 'w.txt')
    assert rc == 2 and 'gives 2 weights for 3 classes' in err and not os.path.exists(str(models / 'w2'))
    # Caffe opens `source` relative to the working directory: from the repository's root inside it
    assert create.weights_source(os.path.join(paths.MODELS, 'mine')) == 'models/mine/class_weights.binaryproto'
    assert create.weights_source(str(models / 'w')) == str(models / 'w' / 'class_weights.binaryproto')


def test_the_vgg_nets_heavy_loss_stays_unnormalized_with_class_weights(tmp_path):
    """normalize: false (the heavy nets' loss summed over pixels) is BATCH_SIZE, as Caffe reads it."""
    from models import custom
    spec = dict(arch='fcn32s', dataset='d', classes=3, mean=(1, 2, 3), width_divisor=1, normalize=False,
                class_weights='models/x/class_weights.binaryproto')
    train = C.prototxt_text(custom.fcn(spec, 'train'))
    assert 'normalization: BATCH_SIZE' in train and 'type: "InfogainLoss"' in train
    del spec['class_weights']
    assert 'normalize: false' in C.prototxt_text(custom.fcn(spec, 'train'))


# -- schedule, augmentation, batches ----------------------------------------------------------------------
def schedule_of(out):
    iters = int(re.search(r'schedule: (\d+) iterations', out).group(1))
    every = int(re.search(r'a seg test and a snapshot every (\d+) iterations', out).group(1))
    return iters, every


def test_schedule_is_sized_to_a_few_hundred_images(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data, n_train=300, n_val=3, size=(12, 14))
    rc, out, err = create_in_process(capsys, 'paper', '--dataset', data, '--models-dir', models)
    assert rc == 0, err
    # FCN-8s at-once: 300,000 iterations over SBD's 8,498 images = 35.3 passes, kept over 300 images
    assert schedule_of(out) == (10591, 600)
    assert ('= 35.3 passes over the 300 training images, as many as the paper\'s FCN-8s at-once (VGG16) schedule '
            'makes (voc-fcn8s-atonce: 300000 iterations of 1 image(s) over SBD\'s 8498 training images)') in out
    assert 'every 2 passes' in out
    solver = (models / 'paper' / 'solver.prototxt').read_text()
    assert 'max_iter: 10591\n' in solver and 'snapshot: 600\n' in solver
    scratch = ['--arch', 'fcn8s', '--init', 'scratch', '--width-divisor', 8, '--models-dir', models, '--force']
    rc, out, err = create_in_process(capsys, 'slim', '--dataset', data, *scratch)
    assert rc == 0, err
    assert schedule_of(out) == (1125, 300)         # the shapes demo's 1,500 iterations over 400 images: 3.75 passes
    rc, out, err = create_in_process(capsys, 'slim', '--dataset', data, *scratch, '--epochs', 10, '--batch', 4,
                                     '--crop', 8)
    assert rc == 0, err
    assert schedule_of(out) == (750, 75) and '--epochs 10' in out
    assert 'max_iter: 750\n' in (models / 'slim' / 'solver.prototxt').read_text()
    rc, out, err = create_in_process(capsys, 'slim', '--dataset', data, *scratch, '--max-iter', 40)
    assert rc == 0, err
    assert schedule_of(out) == (40, 40)
    assert 'out/slim/best.caffemodel' in out and 'out/slim/best.caffemodel' in (models / 'slim' / 'README.md').read_text()


def test_augment_and_batch_go_to_the_train_net_only(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data, size=(100, 120))
    rc, out, err = create_in_process(capsys, 'aug', '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
                                     '--width-divisor', 8, '--models-dir', models, '--augment', '--scale', 0.75, 1.5,
                                     '--batch', 2)
    assert rc == 0, err
    assert 'augmentation: random mirror, scale 0.75-1.5, random crop 96 x 96, batch 2' in out   # 100 down to 32s
    assert ('crop 96 x 96: batch 2 needs one size, so the median short side of the images, 100, rounded down to a '
            'multiple of 32') in out
    folder = models / 'aug'
    train = (folder / 'train.prototxt').read_text()
    assert "\\'mirror\\': True, \\'scale\\': (0.75, 1.5), \\'crop\\': 96, \\'batch\\': 2" in train
    for fname in ('val.prototxt', 'deploy.prototxt'):
        text = (folder / fname).read_text()
        assert not [k for k in ('mirror', 'scale', 'crop', 'batch') if "\\'%s\\':" % k in text]
    module = load_net_py(str(folder))
    for fname, proto in module.prototxts().items():                        # net.py rewrites them exactly
        assert (folder / fname).read_text() == C.prototxt_text(proto)
    assert module.SPEC['augment'] == {'mirror': True, 'scale': (0.75, 1.5), 'crop': 96} and module.SPEC['batch'] == 2
    # --augment alone mirrors whole images, one a forward
    rc, out, err = create_in_process(capsys, 'mirror', '--dataset', data, '--models-dir', models, '--augment')
    assert rc == 0, err
    assert 'augmentation: random mirror, whole images, batch 1' in out and '--augment is a random mirror' in out
    train = (models / 'mirror' / 'train.prototxt').read_text()
    assert "\\'mirror\\': True}" in train and "\\'crop\\'" not in train
    # without any of them the net is as before: no augmentation keys at all
    rc, out, err = create_in_process(capsys, 'plain', '--dataset', data, '--models-dir', models)
    assert rc == 0, err
    assert 'augmentation: none' in out and "'augment':" not in (models / 'plain' / 'net.py').read_text()


@pytest.mark.parametrize('argv,message', [
    (['--scale', 1.5, 0.75], '--scale LO HI: 0 < LO <= HI'),
    (['--batch', 0, '--crop', 8], '--batch, --crop and --epochs must be positive'),
    (['--epochs', 5, '--max-iter', 10], 'not allowed with argument'),
])
def test_impossible_schedules_and_batches_are_refused(tmp_path, capsys, argv, message):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data)
    try:
        rc, _, err = create_in_process(capsys, 'x', '--dataset', data, '--models-dir', models, *argv)
    except SystemExit as e:                             # argparse's refusal, before anything is read
        rc, err = e.code, capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert tree(models) in (None, [])


def test_a_dataset_with_a_test_split_is_told_how_to_score_it(tmp_path, capsys):
    data, models = tmp_path / 'data', tmp_path / 'models'
    make_dataset(data, n_train=6, n_val=2)
    write_lines(data / 'train.txt', ['tr%02d' % i for i in range(4)])
    write_lines(data / 'test.txt', ['tr04', 'tr05'])
    rc, out, err = create_in_process(capsys, 'tested', '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
                                     '--width-divisor', 8, '--models-dir', models)
    assert rc == 0, err
    line = '--weights out/tested/best.caffemodel --val %s' % (data / 'test.txt')
    assert line in out and line in (models / 'tested' / 'README.md').read_text()
    assert '4 train, 2 val, 2 test images' in (models / 'tested' / 'README.md').read_text()
