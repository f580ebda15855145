"""evaluate.py: every net that has published figures is scored through its own val/test net on a
tiny dataset written in its dataset's real format, and each figure is printed beside ours."""
import os
import re

import numpy as np
import pytest
import scipy.io
from PIL import Image

import evaluate
import score
from fcn import evaluation
import vis
from backend import caffe
from models import records

SIZE = (24, 32)   # H x W of every image: small, the nets' pad-100 trunks run at ~230 x 240
IDS = ['i1', 'i2']
SIFT_SUB = 'spatial_envelope_256x256_static_8outdoorcategories'


def rgb(rng):
    return rng.randint(0, 256, size=SIZE + (3,)).astype(np.uint8)


def save(path, array, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kw)


def lines(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(i + '\n' for i in ids))


# The class-0 share of the labelled pixels of each dataset written, as its data layer reads the labels.
CLASS0 = {}


def class0(family, labels, void=255):
    labels = np.concatenate([np.ravel(a) for a in labels])
    CLASS0[family] = np.mean(labels[labels != void] == 0)


def write_voc(root, rng):
    voc = os.path.join(root, 'pascal', 'VOC2011')
    labels = []
    for i in IDS:
        save(os.path.join(voc, 'JPEGImages', i + '.jpg'), rgb(rng), quality=95)
        label = rng.randint(0, 21, size=SIZE).astype(np.uint8)
        label[0] = 255
        labels.append(label)
        os.makedirs(os.path.join(voc, 'SegmentationClass'), exist_ok=True)
        vis.save_label_png(os.path.join(voc, 'SegmentationClass', i + '.png'), label)
    lines(os.path.join(voc, 'ImageSets', 'Segmentation', 'seg11valid.txt'), IDS)
    lines(os.path.join(root, 'pascal', 'seg11valid.txt'), IDS)
    class0('voc', labels)


def write_nyud(root, rng):
    nyud = os.path.join(root, 'nyud')
    labels = []
    for i in IDS:
        name = 'img_%s' % i
        save(os.path.join(nyud, 'data', 'images', name + '.png'), rgb(rng))
        save(os.path.join(nyud, 'data', 'hha', name + '.png'), rgb(rng))
        depth = rng.randint(500, 6000, size=SIZE).astype(np.uint16)
        save(os.path.join(nyud, 'data', 'depth', name + '.png'), depth)
        os.makedirs(os.path.join(nyud, 'segmentation'), exist_ok=True)
        raw = rng.randint(0, 41, size=SIZE).astype(np.uint8)
        scipy.io.savemat(os.path.join(nyud, 'segmentation', name + '.mat'), {'segmentation': raw})
        labels.append(raw.astype(int) - 1)          # stored 0 is void, k is class k - 1
    lines(os.path.join(nyud, 'test.txt'), IDS)
    class0('nyud', labels, void=-1)


def write_siftflow(root, rng):
    sift = os.path.join(root, 'sift-flow')
    labels = []
    for i in IDS:
        save(os.path.join(sift, 'Images', SIFT_SUB, i + '.jpg'), rgb(rng), quality=95)
        for folder, hi, lo in (('SemanticLabels', 33, 0), ('GeoLabels', 3, -1)):
            os.makedirs(os.path.join(sift, folder, SIFT_SUB), exist_ok=True)
            raw = rng.randint(lo, hi + 1, size=SIZE).astype(np.int16)
            scipy.io.savemat(os.path.join(sift, folder, SIFT_SUB, i + '.mat'), {'S': raw})
            if folder == 'SemanticLabels':
                labels.append(raw.astype(int) - 1)  # stored 0 is void, k is class k - 1
    lines(os.path.join(sift, 'test.txt'), IDS)
    class0('siftflow', labels, void=-1)


def write_context(root, rng):
    voc = os.path.join(root, 'pascal', 'VOC2010')
    for i in IDS:
        save(os.path.join(voc, 'JPEGImages', i + '.jpg'), rgb(rng), quality=95)
        os.makedirs(os.path.join(root, 'pascal-context', 'trainval'), exist_ok=True)
        scipy.io.savemat(os.path.join(root, 'pascal-context', 'trainval', i + '.mat'),
                         {'LabelMap': rng.randint(1, 460, size=SIZE).astype(np.uint16)})
    lines(os.path.join(voc, 'ImageSets', 'Main', 'val.txt'), IDS)


WRITERS = {'voc': write_voc, 'nyud': write_nyud, 'siftflow': write_siftflow, 'pascalcontext': write_context}
PUBLISHED = [n for n in records.names() if records.get(n).published]
# One net of each dataset format and of each way of feeding NYUDv2 (one, stacked, two inputs).
RUN = ['voc-fcn-alexnet', 'voc-fcn8s', 'nyud-fcn32s-color-d', 'nyud-fcn32s-color-hha', 'siftflow-fcn16s',
       'pascalcontext-fcn32s']


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    rng = np.random.RandomState(0)
    for write in WRITERS.values():
        write(root, rng)
    return root


@pytest.fixture(scope='module')
def no_weights(tmp_path_factory):
    """A caffemodel that sets no layer: every net keeps its zero fillers and predicts class 0."""
    path = str(tmp_path_factory.mktemp('w') / 'none.caffemodel')
    with open(path, 'wb') as f:
        f.write(caffe.proto.caffe_pb2.NetParameter(name='none').SerializeToString())
    return path


def published_rows(rec, out):
    for p in rec.published:
        title = evaluation.SUMMARY[p.metric]
        row = [line for line in out.splitlines()
               if line.endswith('%s (%s)' % (p.split, p.source)) and title in line.split('  ')[0]]
        assert len(row) == 1, (p, out)
        published, measured = re.findall(r'\s(\d+\.\d)\s', row[0])[:2]
        assert float(published) == p.value
        yield p, float(measured)


@pytest.mark.parametrize('name', PUBLISHED)
def test_the_report_sets_every_published_figure_beside_the_measured_one(name):
    rec = records.get(name)
    rng = np.random.RandomState(1)
    metrics = {}
    for out in rec.outputs:
        n = len(out.class_names())
        metrics[out.blob] = score.compute_metrics(rng.randint(0, 50, size=(n, n)))
    ev = evaluation.Evaluation(rec, 'w.caffemodel', IDS, metrics, partial=False)
    for p, measured in published_rows(rec, evaluation.report(ev)):
        assert measured == round(100 * metrics[p.output][p.metric], 1)


@pytest.mark.parametrize('name', RUN)
def test_evaluate_scores_the_val_net_on_the_dataset(name, data_root, no_weights, monkeypatch, capsys):
    monkeypatch.setenv('FCN_DATA_ROOT', data_root)
    rec = records.get(name)
    assert evaluate.main([name, '--weights', no_weights, '--allow-partial']) == 0
    out = capsys.readouterr().out
    assert '%s on %d images' % (name, len(IDS)) in out
    for p, measured in published_rows(rec, out):
        assert 0.0 <= measured <= 100.0
    # zero weights give zero scores, so every pixel is predicted class 0: the first head's pixel accuracy
    # is the share of class-0 pixels among the labelled ones of the files written
    if rec.family in CLASS0:
        acc = re.search(r'^pixel accuracy\s+(\d+\.\d+)$', out, re.M).group(1)
        assert float(acc) == pytest.approx(100 * CLASS0[rec.family], abs=0.006)


def test_sift_flow_reports_the_geometric_head(data_root, no_weights, monkeypatch, capsys):
    monkeypatch.setenv('FCN_DATA_ROOT', data_root)
    assert evaluate.main(['siftflow-fcn16s', '--weights', no_weights, '--allow-partial']) == 0
    out = capsys.readouterr().out
    assert 'geometric (score_geo)' in out and 'semantic (score_sem)' in out
    assert re.search(r'geometric pixel accuracy\s+94\.3\s+\d', out)
