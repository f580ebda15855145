"""layers.pascalcontext: PASCALContextSegDataLayer on a tiny VOC2010 + PASCAL-Context tree."""
import os
import re

import numpy as np
import pytest

from layer_helpers import REPO, data_layer, data_net, expected_input, rand_rgb, run, save_jpeg, save_mat, write_lines

LAYER = ('layers.pascalcontext', 'PASCALContextSegDataLayer')
MEAN = np.array((104.007, 116.669, 122.679), np.float32)
IDS = ['2008_000002', '2008_000003', '2010_000001']
SIZES = [(6, 7), (5, 9), (8, 8)]
# full id -> 59-class task label, checked by hand against the two lists
KNOWN = {0: 0, 1: 0,      # nothing / accordion: background
         2: 1,            # aeroplane
         19: 52,          # bedclothes = task 'bedcloth'
         80: 28,          # cloth = task 'clothes'
         397: 11,         # table = task 'diningtable'
         308: 16,         # pottedplant
         427: 20,         # tvmonitor
         360: 50,         # sky
         431: 0,          # unknown
         458: 59,         # wood
         459: 0}          # wool


def repo_list(name):
    with open(os.path.join(REPO, 'data', 'pascal-context', name)) as f:
        return [line.strip() for line in f if line.strip()]


@pytest.fixture
def context(tmp_path):
    voc = tmp_path / 'pascal'
    ctx = tmp_path / 'pascal-context'
    rng = np.random.RandomState(4)
    raw = {}
    keys = np.array(sorted(KNOWN))
    for i, (h, w) in zip(IDS, SIZES):
        save_jpeg(str(voc / 'VOC2010' / 'JPEGImages' / (i + '.jpg')), rand_rgb(rng, h, w))
        raw[i] = keys[rng.randint(0, len(keys), (h, w))].astype(np.uint16)
        save_mat(str(ctx / 'trainval' / (i + '.mat')), {'LabelMap': raw[i]})
    for split in ('train', 'val'):
        write_lines(str(voc / 'VOC2010' / 'ImageSets' / 'Main' / (split + '.txt')), IDS)
    # the PASCAL-Context lists, "<id>: <name>" as distributed
    write_lines(str(ctx / 'labels.txt'), ['%d: %s' % (k, n) for k, n in enumerate(repo_list('classes-459.txt'), 1)])
    task = repo_list('classes-59.txt')
    assert task[0] == 'background' and len(task) == 60
    write_lines(str(ctx / '59_labels.txt'), ['%d: %s' % (k, n) for k, n in enumerate(task[1:], 1)])
    return voc, ctx, raw


def params(voc, ctx, **kw):
    p = dict(context_dir=str(ctx), seed=1337, split='val', voc_dir=str(voc))
    p.update(kw)
    return p


def check_outputs(outs, voc, raw):
    for k, out in enumerate(outs):
        i = IDS[k % len(IDS)]
        h, w = raw[i].shape
        assert out['data'].shape == (1, 3, h, w) and out['label'].shape == (1, 1, h, w)
        want = expected_input(str(voc / 'VOC2010' / 'JPEGImages' / (i + '.jpg')), MEAN)
        np.testing.assert_allclose(out['data'][0], want, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['label'][0, 0], np.vectorize(KNOWN.get)(raw[i]))


def test_labels_mapped_to_59_classes(context, tmp_path):
    voc, ctx, raw = context
    net = data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
    check_outputs(run(net, len(IDS) + 1), voc, raw)
    lut = data_layer(net).lut
    assert data_layer(net).n_classes == 60
    assert sorted(lut[lut > 0].tolist()) == list(range(1, 60))  # every task class from exactly one full label


def test_repo_lists_stand_in(context, tmp_path):
    voc, ctx, raw = context
    os.remove(str(ctx / 'labels.txt'))
    os.remove(str(ctx / '59_labels.txt'))
    net = data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
    check_outputs(run(net, len(IDS)), voc, raw)


def test_train_random_seeded(context, tmp_path):
    voc, ctx, raw = context

    def order(name):
        outs = run(data_net(tmp_path, *LAYER, params(voc, ctx, split='train'), ['data', 'label'], name=name), 6)
        return [next(k for k, i in enumerate(IDS) if o['label'].shape[2:] == raw[i].shape) for o in outs]

    rs = np.random.RandomState(1337)
    assert order('a') == [rs.randint(3) for _ in range(6)] == order('b')


def test_context_errors(context, tmp_path):
    voc, ctx, raw = context
    with pytest.raises(Exception, match="lacks the required key 'context_dir'"):
        data_net(tmp_path, *LAYER, dict(voc_dir=str(voc), split='val'), ['data', 'label'])
    label = ctx / 'trainval' / (IDS[0] + '.mat')
    bad = raw[IDS[0]].copy()
    bad[0, 0] = 460
    save_mat(str(label), {'LabelMap': bad})
    with pytest.raises(Exception, match=re.escape(str(label)) + r' has values \[460\] outside full labels 0..459'):
        data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
    save_mat(str(label), {'labelmap': raw[IDS[0]]})
    with pytest.raises(Exception, match="has no variable 'LabelMap'"):
        data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
    write_lines(str(ctx / '59_labels.txt'), ['1: aeroplane', '2: spaceship'])
    with pytest.raises(Exception, match="task class 2 'spaceship'"):
        data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
    image = voc / 'VOC2010' / 'JPEGImages' / (IDS[0] + '.jpg')
    os.remove(str(image))
    write_lines(str(ctx / '59_labels.txt'), ['1: aeroplane'])
    with pytest.raises(Exception, match='image not found: ' + re.escape(str(image))):
        data_net(tmp_path, *LAYER, params(voc, ctx), ['data', 'label'])
