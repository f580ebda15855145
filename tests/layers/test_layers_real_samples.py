"""The data layers on real dataset files (tests/data): two SBD images with their cls/*.mat ground truth,
one NYUDv2 frame (colour, 16-bit depth in mm, HHA; downscaled 4x); and modality_input, the one
reading + transform that the layers and inference share."""
import os
import re
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

from fcn import readers
from fcn.readers import DataError
from layer_helpers import REPO, data_net, expected_input, run, write_lines

SBD = os.path.join(REPO, 'tests', 'data', 'sbd')
SBD_IDS = ['2008_000051', '2008_000195']
NYUD = os.path.join(REPO, 'tests', 'data', 'nyud')
MEAN = (104.00698793, 116.66876762, 122.67891434)


def test_sbdd_layer_reads_the_real_sbd_files(tmp_path):
    root = tmp_path / 'dataset'
    shutil.copytree(SBD, root)
    write_lines(str(root / 'val.txt'), SBD_IDS)
    params = dict(sbdd_dir=str(root), split='val', mean=MEAN)
    net = data_net(tmp_path, 'layers.voc', 'SBDDSegDataLayer', params, ['data', 'label'])
    for i, out in zip(SBD_IDS, run(net, 2)):
        width, height = Image.open(os.path.join(SBD, 'img', i + '.jpg')).size
        assert out['data'].shape == (1, 3, height, width) and out['label'].shape == (1, 1, height, width)
        np.testing.assert_allclose(out['data'][0], expected_input(os.path.join(SBD, 'img', i + '.jpg'), MEAN),
                                   rtol=0, atol=1e-4)
        seg = scipy.io.loadmat(os.path.join(SBD, 'cls', i + '.mat'))['GTcls']['Segmentation'][0, 0]
        np.testing.assert_array_equal(out['label'][0, 0], seg)
        classes = set(np.unique(out['label']).tolist())
        assert classes <= set(range(21)) | {255} and len(classes - {0, 255}) >= 1   # real objects


def nyud_tree(tmp_path):
    root = tmp_path / 'nyud'
    shutil.copytree(NYUD, root)
    write_lines(str(root / 'test.txt'), ['5001'])
    return root


def test_nyud_layer_and_modality_input_agree_on_the_real_frame(tmp_path):
    root = nyud_tree(tmp_path)
    params = dict(nyud_dir=str(root), split='test', tops=['color', 'depth', 'hha'])
    out = run(data_net(tmp_path, 'layers.nyud', 'NYUDSegDataLayer', params, ['color', 'depth', 'hha']), 1)[0]
    from layers import nyud
    images = root / 'data'
    color = readers.modality_input('color', readers.read_rgb(str(images / 'images' / 'img_5001.png'), 'c', 'T'),
                                  nyud.MEAN_BGR)
    hha = readers.modality_input('hha', str(images / 'hha' / 'img_5001.png'), nyud.MEAN_HHA)
    depth = readers.modality_input('depth', str(images / 'depth' / 'img_5001.png'), nyud.MEAN_LOGD)
    np.testing.assert_array_equal(out['color'][0], color)
    np.testing.assert_array_equal(out['hha'][0], hha)
    np.testing.assert_array_equal(out['depth'][0], depth)
    mm = np.asarray(Image.open(images / 'depth' / 'img_5001.png'), dtype=np.float32)
    assert 1000 < mm.min() and mm.max() < 10000                             # millimetres, hole-filled
    np.testing.assert_allclose(depth[0], np.log(mm) - 7.844, rtol=0, atol=1e-6)


def test_depth_from_a_mat_in_metres_equals_the_png_in_millimetres(tmp_path):
    png = os.path.join(NYUD, 'data', 'depth', 'img_5001.png')
    mm = np.asarray(Image.open(png), dtype=np.float64)
    scipy.io.savemat(str(tmp_path / 'd.mat'), {'depth': mm / 1000.0})
    np.testing.assert_array_equal(readers.read_depth(str(tmp_path / 'd.mat'), 'depth', 'T'),
                                  readers.read_depth(png, 'depth', 'T'))
    scipy.io.savemat(str(tmp_path / 'labeled.mat'), {'depths': mm / 1000.0})   # NYU's name in its labeled .mat
    np.testing.assert_array_equal(readers.read_depth(str(tmp_path / 'labeled.mat'), 'depth', 'T'), mm)
    scipy.io.savemat(str(tmp_path / 'other.mat'), {'z': mm})
    with pytest.raises(DataError, match=re.escape(str(tmp_path / 'other.mat')) + ".*no variable 'depth'.*z"):
        readers.read_depth(str(tmp_path / 'other.mat'), 'depth', 'T')
    scipy.io.savemat(str(tmp_path / 'stack.mat'), {'depth': np.ones((3, 4, 2))})
    with pytest.raises(DataError, match='one H x W frame'):
        readers.read_depth(str(tmp_path / 'stack.mat'), 'depth', 'T')


def test_modality_input_shapes_values_and_errors(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    x = readers.modality_input('color', rgb, (1.0, 2.0, 3.0))
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0, 0], [2 - 1, 1 - 2, 0 - 3])          # BGR minus the mean
    h = readers.modality_input('hha', rgb, (1.0, 2.0, 3.0))
    np.testing.assert_array_equal(h[:, 0, 0], [0 - 1, 1 - 2, 2 - 3])          # as stored, no swap
    d = readers.modality_input('depth', np.full((2, 3), 1000.0), (7.0,))
    assert d.shape == (1, 2, 3) and d.dtype == np.float32
    np.testing.assert_allclose(d, np.log(1000.0) - 7.0, rtol=0, atol=1e-6)
    holes = tmp_path / 'raw.png'
    Image.fromarray(np.array([[0, 1200], [1300, 0]], np.uint16)).save(holes)
    with pytest.raises(DataError, match=re.escape(str(holes)) + '.*2 pixels <= 0.*hole-filled'):
        readers.modality_input('depth', str(holes), (7.0,))
    with pytest.raises(ValueError, match='modality kind'):
        readers.modality_input('ir', rgb, (0.0,))


def test_over_max_pixels_is_refused_from_the_header_without_pil_warnings(tmp_path):
    import warnings
    path = tmp_path / 'big.png'
    Image.new('L', (10000, 9000)).save(path)                                 # 90 Mpixels: PIL would warn
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert readers.image_size(str(path), 'image', 'T') == (9000, 10000, 'L')
        with pytest.raises(DataError, match=re.escape(str(path)) + '.*too many pixels.*10000x9000'):
            readers.read_rgb(str(path), 'image', 'T', max_pixels=10 ** 6)
