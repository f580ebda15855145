"""layers.voc: VOCSegDataLayer and SBDDSegDataLayer on tiny datasets in their real layouts."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from backend import caffe
from layer_helpers import (data_layer, data_net, expected_input, rand_rgb, run, save_jpeg, save_mat,
                           save_palette_png, save_png, save_sbd_cls, write_lines)

MEAN = (104.00699, 116.66877, 122.67892)
SIZES = [(7, 9), (5, 6), (8, 4), (6, 6)]
IDS = ['2007_000033', '2007_000042', '2007_000061', '2008_000123']
VOC = ('layers.voc', 'VOCSegDataLayer')
SBDD = ('layers.voc', 'SBDDSegDataLayer')


def random_label(rng, h, w):
    label = rng.randint(0, 21, (h, w))
    label[0, :] = 255  # a void border, as VOC draws around objects
    return label.astype(np.uint8)


@pytest.fixture
def voc(tmp_path):
    """A VOC year folder with 4 examples listed in both a train and a seg11valid split."""
    root = tmp_path / 'VOC2011'
    rng = np.random.RandomState(0)
    labels = {}
    for i, (h, w) in zip(IDS, SIZES):
        save_jpeg(str(root / 'JPEGImages' / (i + '.jpg')), rand_rgb(rng, h, w))
        labels[i] = random_label(rng, h, w)
        save_palette_png(str(root / 'SegmentationClass' / (i + '.png')), labels[i])
    for split in ('train', 'seg11valid'):
        write_lines(str(root / 'ImageSets' / 'Segmentation' / (split + '.txt')), IDS)
    return root, labels


@pytest.fixture
def sbdd(tmp_path):
    root = tmp_path / 'sbdd' / 'dataset'
    rng = np.random.RandomState(1)
    labels = {}
    for i, (h, w) in zip(IDS, SIZES):
        save_jpeg(str(root / 'img' / (i + '.jpg')), rand_rgb(rng, h, w))
        labels[i] = rng.randint(0, 21, (h, w)).astype(np.uint8)
        save_sbd_cls(str(root / 'cls' / (i + '.mat')), labels[i])
    for split in ('train', 'val'):
        write_lines(str(root / (split + '.txt')), IDS)
    return root, labels


def voc_params(root, **kw):
    params = dict(voc_dir=str(root), split='seg11valid', mean=MEAN)
    params.update(kw)
    return params


def which(out, labels):
    """The id whose label the outputs carry."""
    hits = [i for i, lab in labels.items() if out['label'].shape[2:] == lab.shape and
            np.array_equal(out['label'][0, 0], lab)]
    assert len(hits) == 1
    return hits[0]


def test_voc_tops_follow_each_image(voc, tmp_path):
    root, labels = voc
    net = data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])
    outs = run(net, len(IDS) + 2)
    for k, out in enumerate(outs):
        i = IDS[k % len(IDS)]  # sequential, wrapping around
        h, w = labels[i].shape
        assert out['data'].shape == (1, 3, h, w) and out['label'].shape == (1, 1, h, w)
        want = expected_input(str(root / 'JPEGImages' / (i + '.jpg')), MEAN)
        np.testing.assert_allclose(out['data'][0], want, rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['label'][0, 0], labels[i])
    assert set(np.unique(outs[0]['label'])) <= set(range(21)) | {255}


def test_voc_bgr_order_and_mean(tmp_path):
    root = tmp_path / 'VOC'
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (200, 100, 30)
    save_jpeg(str(root / 'JPEGImages' / 'a.jpg'), rgb, quality=100)
    save_palette_png(str(root / 'SegmentationClass' / 'a.png'), np.zeros((16, 16)))
    write_lines(str(root / 'ImageSets' / 'Segmentation' / 'val.txt'), ['a'])
    net = data_net(tmp_path, *VOC, voc_params(root, split='val'), ['data', 'label'])
    data = net.forward()['data'][0]
    assert data.dtype == np.float32
    for channel, value in enumerate((30, 100, 200)):  # B, G, R
        assert abs(data[channel].mean() - (value - MEAN[channel])) < 2


def test_voc_release_prototxt_text(voc, tmp_path):
    """The param_str exactly as the release's val.prototxt spells it (escaped quotes)."""
    root, labels = voc
    text = ('layer { name: "data" type: "Python" top: "data" top: "label"\n'
            '  python_param { module: "layers.voc" layer: "VOCSegDataLayer"\n'
            "    param_str: \"{\\'voc_dir\\': \\'%s\\', \\'seed\\': 1337, \\'split\\': \\'seg11valid\\', "
            "\\'mean\\': (104.00699, 116.66877, 122.67892)}\" } }\n" % root)
    path = tmp_path / 'val.prototxt'
    path.write_text(text)
    net = caffe.Net(str(path), caffe.TEST)
    layer = data_layer(net)
    assert layer.voc_dir == str(root) and layer.seed == 1337 and not layer.random
    assert which(run(net, 1)[0], labels) == IDS[0]


def test_eval_split_is_sequential_even_when_randomize(voc, tmp_path):
    root, labels = voc
    net = data_net(tmp_path, *VOC, voc_params(root, randomize=True, seed=3), ['data', 'label'])
    assert [which(o, labels) for o in run(net, 5)] == IDS + IDS[:1]


def test_train_split_random_order_is_seeded(voc, tmp_path):
    root, labels = voc

    def order(seed, name):
        net = data_net(tmp_path, *VOC, voc_params(root, split='train', seed=seed), ['data', 'label'], name=name)
        return [which(o, labels) for o in run(net, 10)]

    rs = np.random.RandomState(1337)
    assert order(1337, 'a.prototxt') == [IDS[rs.randint(len(IDS))] for _ in range(10)]
    assert order(1337, 'b.prototxt') == order(1337, 'c.prototxt')
    assert order(1337, 'd.prototxt') != order(5, 'e.prototxt')
    # randomize off: file order, train split or not
    net = data_net(tmp_path, *VOC, voc_params(root, split='train', randomize=False), ['data', 'label'])
    assert [which(o, labels) for o in run(net, 4)] == IDS


def test_prefetch_does_not_change_anything(voc, tmp_path):
    root, labels = voc
    a = run(data_net(tmp_path, *VOC, voc_params(root, split='train', seed=9), ['data', 'label'], name='a'), 6)
    b = run(data_net(tmp_path, *VOC, voc_params(root, split='train', seed=9, prefetch=False),
                     ['data', 'label'], name='b'), 6)
    for x, y in zip(a, b):
        for k in ('data', 'label'):
            np.testing.assert_array_equal(x[k], y[k])


def test_backward_is_a_no_op(voc, tmp_path):
    root, _ = voc
    net = data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])
    net.forward()
    layer = data_layer(net)
    tops = [net.blobs['data'], net.blobs['label']]
    before = [np.array(t.data) for t in tops]
    layer.backward(tops, [False, False], [])
    for t, b in zip(tops, before):
        np.testing.assert_array_equal(t.data, b)


# -- errors ------------------------------------------------------------------------------


def test_bad_param_str(voc, tmp_path):
    root, _ = voc
    with pytest.raises(Exception, match=r"VOCSegDataLayer: unknown param_str key 'vocdir'"):
        data_net(tmp_path, *VOC, dict(vocdir=str(root), split='val', mean=MEAN), ['data', 'label'])
    with pytest.raises(Exception, match=r"VOCSegDataLayer: param_str lacks the required key 'mean'"):
        data_net(tmp_path, *VOC, dict(voc_dir=str(root), split='val'), ['data', 'label'])
    marker = tmp_path / 'MARKER'
    code = "{'voc_dir': __import__('os').system('touch %s'), 'split': 'val', 'mean': (1, 2, 3)}" % marker
    with pytest.raises(Exception, match='literal_eval'):
        data_net(tmp_path, *VOC, code, ['data', 'label'])
    assert not marker.exists()
    with pytest.raises(Exception, match=r'VOCSegDataLayer needs 2 tops \(data, label\), the prototxt gives 1'):
        data_net(tmp_path, *VOC, voc_params(root), ['data'])


def test_missing_files(voc, tmp_path):
    root, _ = voc
    with pytest.raises(Exception, match='split file not found: ' + re.escape(
            os.path.join(str(root), 'ImageSets', 'Segmentation', 'nosuch.txt'))):
        data_net(tmp_path, *VOC, voc_params(root, split='nosuch'), ['data', 'label'])
    # the second image goes missing: the first forward works, the second names the file
    image = root / 'JPEGImages' / (IDS[1] + '.jpg')
    os.remove(str(image))
    net = data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])
    net.forward()
    with pytest.raises(Exception, match='image not found: ' + re.escape(str(image))):
        net.forward()
    label = root / 'SegmentationClass' / (IDS[0] + '.png')
    os.remove(str(label))
    with pytest.raises(Exception, match='label not found: ' + re.escape(str(label))):
        data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])


def test_label_out_of_range(voc, tmp_path):
    root, labels = voc
    bad = labels[IDS[0]].copy()
    bad[2, 2], bad[3, 3] = 21, 77
    path = root / 'SegmentationClass' / (IDS[0] + '.png')
    save_palette_png(str(path), bad)
    with pytest.raises(Exception, match=re.escape(str(path)) + r' has values \[21, 77\] outside classes 0..20'):
        data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])


def test_colour_label_and_size_mismatch(voc, tmp_path):
    root, labels = voc
    path = root / 'SegmentationClass' / (IDS[0] + '.png')
    save_png(str(path), np.zeros(labels[IDS[0]].shape + (3,), np.uint8))
    with pytest.raises(Exception, match="mode 'RGB'; a label image must hold class indices"):
        data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])
    save_palette_png(str(path), np.zeros((3, 3)))
    with pytest.raises(Exception, match=r'is 7x9 \(HxW\) but .* is 3x3'):
        data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])


def test_corrupt_image(voc, tmp_path):
    root, _ = voc
    path = root / 'JPEGImages' / (IDS[0] + '.jpg')
    path.write_bytes(b'\xff\xd8 not really a jpeg')
    with pytest.raises(Exception, match='cannot read image ' + re.escape(str(path))):
        data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])


@pytest.mark.parametrize('kind', ['gray', 'cmyk', 'rgba', 'palette', '16bit'])
def test_unusual_image_modes_become_rgb(voc, tmp_path, kind):
    """Whatever the stored mode, the input is 3 x H x W BGR minus mean of the RGB rendering."""
    root, labels = voc
    i = IDS[0]
    h, w = labels[i].shape
    rng = np.random.RandomState(5)
    path = str(root / 'JPEGImages' / (i + '.jpg'))
    if kind == 'gray':
        gray = rng.randint(0, 256, (h, w)).astype(np.uint8)
        Image.fromarray(gray).save(path, 'JPEG', quality=95)
        with Image.open(path) as im:
            assert im.mode == 'L'
            rgb = np.repeat(np.array(im)[:, :, None], 3, axis=2)
    elif kind == 'cmyk':
        Image.fromarray(rand_rgb(rng, h, w)).convert('CMYK').save(path, 'JPEG', quality=95)
        with Image.open(path) as im:
            assert im.mode == 'CMYK'
            rgb = np.array(im.convert('RGB'))
    elif kind == 'rgba':  # PNG content under the .jpg name: PIL goes by content
        rgb = rand_rgb(rng, h, w)
        Image.fromarray(np.concatenate([rgb, np.full((h, w, 1), 7, np.uint8)], axis=2)).save(path, 'PNG')
    elif kind == 'palette':
        im = Image.fromarray(rng.randint(0, 256, (h, w)).astype(np.uint8))
        im.putpalette(rng.randint(0, 256, 768).astype(np.uint8).tolist())
        im.save(path, 'PNG')
        rgb = np.array(im.convert('RGB'))
    else:
        wide = rng.randint(0, 65536, (h, w)).astype(np.uint16)
        Image.fromarray(wide).save(path, 'PNG')
        rgb = np.repeat(np.rint(wide / 257.0).astype(np.uint8)[:, :, None], 3, axis=2)
    net = data_net(tmp_path, *VOC, voc_params(root), ['data', 'label'])
    data = net.forward()['data'][0]
    want = (rgb[:, :, ::-1].astype(np.float32) - np.array(MEAN)).astype(np.float32).transpose(2, 0, 1)
    assert data.shape == (3, h, w)
    np.testing.assert_allclose(data, want, rtol=0, atol=1e-4)


# -- SBDD ------------------------------------------------------------------------------------


def sbdd_params(root, **kw):
    params = dict(sbdd_dir=str(root), split='train', mean=MEAN, seed=1337)
    params.update(kw)
    return params


def test_sbdd_reads_gtcls_segmentation(sbdd, tmp_path):
    root, labels = sbdd
    net = data_net(tmp_path, *SBDD, sbdd_params(root, split='val'), ['data', 'label'])
    for k, out in enumerate(run(net, len(IDS))):
        i = IDS[k]
        h, w = labels[i].shape
        assert out['data'].shape == (1, 3, h, w) and out['label'].shape == (1, 1, h, w)
        np.testing.assert_allclose(out['data'][0], expected_input(str(root / 'img' / (i + '.jpg')), MEAN),
                                   rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['label'][0, 0], labels[i])


def test_sbdd_train_is_random_and_seeded(sbdd, tmp_path):
    root, labels = sbdd
    a = [which(o, labels) for o in run(data_net(tmp_path, *SBDD, sbdd_params(root), ['data', 'label'],
                                                name='a'), 8)]
    rs = np.random.RandomState(1337)
    assert a == [IDS[rs.randint(len(IDS))] for _ in range(8)]


def test_sbdd_errors(sbdd, tmp_path):
    root, labels = sbdd
    mat = root / 'cls' / (IDS[0] + '.mat')
    save_mat(str(mat), {'GTinst': {'Segmentation': labels[IDS[0]]}})
    with pytest.raises(Exception, match=re.escape(str(mat)) + " has no variable 'GTcls'"):
        data_net(tmp_path, *SBDD, sbdd_params(root, split='val'), ['data', 'label'])
    bad = labels[IDS[0]].astype(np.int32)
    bad[1, 1] = 300  # would silently wrap to 44 in uint8
    save_sbd_cls(str(mat), bad.astype(np.float64))
    with pytest.raises(Exception, match=re.escape(str(mat)) + r' has values \[300\]'):
        data_net(tmp_path, *SBDD, sbdd_params(root, split='val'), ['data', 'label'])
    mat.write_bytes(b'garbage')
    with pytest.raises(Exception, match='cannot read label ' + re.escape(str(mat))):
        data_net(tmp_path, *SBDD, sbdd_params(root, split='val'), ['data', 'label'])
    os.remove(str(mat))
    with pytest.raises(Exception, match='label not found: ' + re.escape(str(mat))):
        data_net(tmp_path, *SBDD, sbdd_params(root, split='val'), ['data', 'label'])
