"""layers.nyud: NYUDSegDataLayer on a tiny NYUDv2 tree, every choice of tops."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from layer_helpers import data_net, rand_rgb, run, save_mat, save_png, write_lines

IDS = ['5001', '5002', '5005']
SIZES = [(6, 8), (4, 5), (7, 7)]
MEAN_BGR = np.array((116.190, 97.203, 92.318), np.float32)
MEAN_HHA = np.array((132.431, 94.076, 118.477), np.float32)
MEAN_LOGD = np.float32(7.844)
LAYER = ('layers.nyud', 'NYUDSegDataLayer')


@pytest.fixture
def nyud(tmp_path):
    root = tmp_path / 'nyud'
    rng = np.random.RandomState(3)
    raw = {}
    for i, (h, w) in zip(IDS, SIZES):
        color = rand_rgb(rng, h, w)
        depth = rng.randint(400, 9000, (h, w)).astype(np.uint16)  # millimetres, hole-filled
        hha = rand_rgb(rng, h, w)
        seg = rng.randint(0, 41, (h, w)).astype(np.uint8)
        seg[0, 0], seg[0, 1] = 0, 40
        save_png(str(root / 'data' / 'images' / ('img_%s.png' % i)), color)
        save_png(str(root / 'data' / 'depth' / ('img_%s.png' % i)), depth)
        save_png(str(root / 'data' / 'hha' / ('img_%s.png' % i)), hha)
        save_mat(str(root / 'segmentation' / ('img_%s.mat' % i)), {'segmentation': seg})
        raw[i] = dict(color=color, depth=depth, hha=hha, label=seg)
    for split in ('trainval', 'test'):
        write_lines(str(root / (split + '.txt')), IDS)
    return root, raw


def params(root, tops, **kw):
    p = dict(tops=list(tops), seed=1337, nyud_dir=str(root), split='test')
    p.update(kw)
    return p


def expected(raw, top):
    if top == 'color':
        return (raw['color'][:, :, ::-1].astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)
    if top == 'depth':
        return (np.log(raw['depth'].astype(np.float32)) - MEAN_LOGD)[np.newaxis]
    if top == 'hha':  # channels as stored, no swap
        return (raw['hha'].astype(np.float32) - MEAN_HHA).transpose(2, 0, 1)
    seg = raw['label'].astype(np.int64)
    return np.where(seg == 0, 255, seg - 1)[np.newaxis]


@pytest.mark.parametrize('tops', [['color', 'label'], ['hha', 'label'], ['color', 'depth', 'label'],
                                  ['color', 'hha', 'label'], ['label', 'depth', 'hha', 'color']])
def test_tops_in_the_order_asked(nyud, tmp_path, tops):
    root, raw = nyud
    net = data_net(tmp_path, *LAYER, params(root, tops), tops)
    for k, out in enumerate(run(net, len(IDS) + 1)):
        r = raw[IDS[k % len(IDS)]]
        for t in tops:
            want = expected(r, t)
            assert out[t].shape == (1,) + want.shape
            np.testing.assert_allclose(out[t][0], want, rtol=0, atol=1e-5)
    assert set(np.unique(out['label'])) <= set(range(40)) | {255}


def test_label_shift_and_depth_values(nyud, tmp_path):
    root, raw = nyud
    out = run(data_net(tmp_path, *LAYER, params(root, ['depth', 'label']), ['depth', 'label']), 1)[0]
    assert out['label'][0, 0, 0, 0] == 255 and out['label'][0, 0, 0, 1] == 39
    d = raw[IDS[0]]['depth'][2, 3]
    assert abs(out['depth'][0, 0, 2, 3] - (np.log(d) - 7.844)) < 1e-5


def test_trainval_random_seeded(nyud, tmp_path):
    root, raw = nyud

    def order(name):
        outs = run(data_net(tmp_path, *LAYER, params(root, ['label'], split='trainval'), ['label'], name=name), 6)
        return [next(k for k, i in enumerate(IDS) if o['label'].shape[2:] == raw[i]['label'].shape) for o in outs]

    rs = np.random.RandomState(1337)
    assert order('a') == [rs.randint(3) for _ in range(6)] == order('b')


def test_nyud_errors(nyud, tmp_path):
    root, raw = nyud
    with pytest.raises(Exception, match="'tops' names unknown output 'rgb'"):
        data_net(tmp_path, *LAYER, params(root, ['rgb', 'label']), ['rgb', 'label'])
    with pytest.raises(Exception, match="'tops' must be a non-empty list"):
        data_net(tmp_path, *LAYER, dict(params(root, []), tops='color'), ['color'])
    with pytest.raises(Exception, match=r'NYUDSegDataLayer needs 2 tops \(color, label\), the prototxt gives 3'):
        data_net(tmp_path, *LAYER, params(root, ['color', 'label']), ['color', 'label', 'x'])
    depth_path = root / 'data' / 'depth' / ('img_%s.png' % IDS[0])
    depth = raw[IDS[0]]['depth'].copy()
    depth[1, 1] = 0
    save_png(str(depth_path), depth)
    with pytest.raises(Exception, match=re.escape(str(depth_path)) + ' has 1 pixels <= 0'):
        data_net(tmp_path, *LAYER, params(root, ['depth', 'label']), ['depth', 'label'])
    save_png(str(depth_path), np.zeros((6, 8, 3), np.uint8))
    with pytest.raises(Exception, match="mode 'RGB'; expected a single-channel"):
        data_net(tmp_path, *LAYER, params(root, ['depth', 'label']), ['depth', 'label'])
    label_path = root / 'segmentation' / ('img_%s.mat' % IDS[0])
    save_mat(str(label_path), {'segmentation': np.full((6, 8), 41, np.uint8)})
    with pytest.raises(Exception, match=re.escape(str(label_path)) + r' has values \[41\] outside classes 1..40'):
        data_net(tmp_path, *LAYER, params(root, ['color', 'label']), ['color', 'label'])
    save_mat(str(label_path), {'segmentation': np.zeros((5, 8), np.uint8)})
    with pytest.raises(Exception, match=r'is 6x8 \(HxW\) but .*img_5001.mat is 5x8'):
        data_net(tmp_path, *LAYER, params(root, ['color', 'label']), ['color', 'label'])
    hha_path = root / 'data' / 'hha' / ('img_%s.png' % IDS[0])
    os.remove(str(hha_path))
    with pytest.raises(Exception, match='HHA image not found: ' + re.escape(str(hha_path))):
        data_net(tmp_path, *LAYER, params(root, ['hha']), ['hha'])


def test_gray_color_png_is_replicated(nyud, tmp_path):
    root, raw = nyud
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(gray).save(str(root / 'data' / 'images' / ('img_%s.png' % IDS[0])))
    out = run(data_net(tmp_path, *LAYER, params(root, ['color']), ['color']), 1)[0]
    for c in range(3):
        np.testing.assert_allclose(out['color'][0, c], gray - MEAN_BGR[c], atol=1e-5)
