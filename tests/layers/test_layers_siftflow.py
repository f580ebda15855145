"""layers.siftflow: SIFTFlowSegDataLayer on a tiny SIFT Flow tree."""
import os
import re

import numpy as np
import pytest

from layer_helpers import data_net, expected_input, rand_rgb, run, save_jpeg, save_mat, write_lines

SUB = 'spatial_envelope_256x256_static_8outdoorcategories'
IDS = ['coast_natu975', 'insidecity_art947', 'street_urb506']
SIZES = [(6, 8), (5, 5), (7, 3)]
MEAN = (114.578, 115.294, 108.353)
LAYER = ('layers.siftflow', 'SIFTFlowSegDataLayer')
TOPS = ['data', 'sem', 'geo']


def names_cell(names):
    cell = np.empty((1, len(names)), dtype=object)
    cell[0, :] = names
    return cell


@pytest.fixture
def siftflow(tmp_path):
    root = tmp_path / 'sift-flow'
    rng = np.random.RandomState(2)
    raw = {}
    for i, (h, w) in zip(IDS, SIZES):
        save_jpeg(str(root / 'Images' / SUB / (i + '.jpg')), rand_rgb(rng, h, w))
        sem = rng.randint(0, 34, (h, w)).astype(np.float64)  # MATLAB doubles, 0 = void
        geo = rng.randint(-1, 4, (h, w)).astype(np.float64)  # -1 = void (0 shows up too)
        sem[0, 0], sem[0, 1], geo[0, 0], geo[0, 1] = 0, 33, -1, 0
        save_mat(str(root / 'SemanticLabels' / SUB / (i + '.mat')),
                 {'S': sem, 'names': names_cell(['awning', 'balcony'])})
        save_mat(str(root / 'GeoLabels' / SUB / (i + '.mat')),
                 {'S': geo, 'names': names_cell(['sky', 'horizontal', 'vertical'])})
        raw[i] = (sem, geo)
    write_lines(str(root / 'trainval.txt'), IDS)
    write_lines(str(root / 'test.txt'), IDS)
    return root, raw


def params(root, **kw):
    p = dict(siftflow_dir=str(root), seed=1337, split='test')
    p.update(kw)
    return p


def test_three_tops_and_label_shift(siftflow, tmp_path):
    root, raw = siftflow
    net = data_net(tmp_path, *LAYER, params(root), TOPS)
    for k, out in enumerate(run(net, len(IDS))):
        i = IDS[k]
        sem, geo = raw[i]
        h, w = sem.shape
        assert out['data'].shape == (1, 3, h, w)
        assert out['sem'].shape == (1, 1, h, w) and out['geo'].shape == (1, 1, h, w)
        want = expected_input(str(root / 'Images' / SUB / (i + '.jpg')), np.float32(MEAN))
        np.testing.assert_allclose(out['data'][0], want, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['sem'][0, 0], np.where(sem == 0, 255, sem - 1))
        np.testing.assert_array_equal(out['geo'][0, 0], np.where(geo <= 0, 255, geo - 1))
        assert set(np.unique(out['sem'])) <= set(range(33)) | {255}
        assert set(np.unique(out['geo'])) <= {0, 1, 2, 255}
        assert out['sem'][0, 0, 0, 0] == 255 and out['sem'][0, 0, 0, 1] == 32
        assert out['geo'][0, 0, 0, 0] == 255 and out['geo'][0, 0, 0, 1] == 255


def test_trainval_order_is_seeded(siftflow, tmp_path):
    root, raw = siftflow

    def order(name, **kw):
        outs = run(data_net(tmp_path, *LAYER, params(root, split='trainval', **kw), TOPS, name=name), 6)
        return [IDS.index(next(i for i in IDS if o['sem'].shape[2:] == raw[i][0].shape)) for o in outs]

    rs = np.random.RandomState(1337)
    assert order('a') == [rs.randint(3) for _ in range(6)]
    assert order('b') == order('c')
    assert order('d', randomize=False) == [0, 1, 2, 0, 1, 2]


def test_siftflow_errors(siftflow, tmp_path):
    root, raw = siftflow
    with pytest.raises(Exception, match=r'SIFTFlowSegDataLayer needs 3 tops \(data, sem, geo\)'):
        data_net(tmp_path, *LAYER, params(root), ['data', 'label'])
    with pytest.raises(Exception, match="unknown param_str key 'mean'"):
        data_net(tmp_path, *LAYER, params(root, mean=(1, 2, 3)), TOPS)
    sem_path = root / 'SemanticLabels' / SUB / (IDS[0] + '.mat')
    sem = raw[IDS[0]][0].copy()
    sem[2, 2] = 34
    save_mat(str(sem_path), {'S': sem})
    with pytest.raises(Exception, match=re.escape(str(sem_path)) + r' has values \[34\] outside semantic'):
        data_net(tmp_path, *LAYER, params(root), TOPS)
    geo_path = root / 'GeoLabels' / SUB / (IDS[0] + '.mat')
    save_mat(str(sem_path), {'S': raw[IDS[0]][0]})
    save_mat(str(geo_path), {'S': raw[IDS[0]][1] * 2})
    with pytest.raises(Exception, match=re.escape(str(geo_path)) + r' has values \[-2, 4, 6\]'):
        data_net(tmp_path, *LAYER, params(root), TOPS)
    os.remove(str(geo_path))
    with pytest.raises(Exception, match='geometric label not found: ' + re.escape(str(geo_path))):
        data_net(tmp_path, *LAYER, params(root), TOPS)
