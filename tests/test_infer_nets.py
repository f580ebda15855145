"""infer.py on every deploy net in models/, from its record, with random weights saved as a caffemodel:
a label map of the image's size per output (two for SIFT Flow), NYUDv2 nets fed the real frame in
tests/data/nyud with their depth / HHA found by the dataset layout or given explicitly."""
import os
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

import infer
import vis
from infer_helpers import NYUD_IMAGE, REAL_JPEG, random_weights
from models import records

NAMES = records.names()


def photo(tmp_path):
    """A 64 x 48 crop of a real photo."""
    path = tmp_path / 'photo.jpg'
    Image.open(REAL_JPEG).crop((200, 100, 264, 148)).save(path, quality=95)
    return str(path)


def labels(out, stem, rec):
    return {o.suffix: vis.read_label_png(str(out / (stem + o.suffix + '.png'))) for o in rec.outputs}


@pytest.mark.parametrize('name', NAMES)
def test_every_net_segments_an_image_from_its_record(name, tmp_path, capsys):
    rec = records.get(name)
    weights = random_weights(rec.deploy, tmp_path / (name + '.caffemodel'))
    image = NYUD_IMAGE if rec.family == 'nyud' else photo(tmp_path)
    out = tmp_path / 'out'
    try:
        assert infer.main([image, '--net', name, '--weights', weights, '--out', str(out)]) == 0
        err = capsys.readouterr().err
        assert 'note: weights' not in err                       # the caffemodel sets every learnable layer
        stem = os.path.splitext(os.path.basename(image))[0]
        got = labels(out, stem, rec)
        width, height = Image.open(image).size
        assert len(got) == len(rec.outputs) and all(g.shape == (height, width) for g in got.values())
        for o in rec.outputs:
            assert len(o.class_names()) > got[o.suffix].max()
            assert (out / (stem + o.suffix + '_overlay.jpg')).exists()
        if name == 'nyud-fcn32s-color-d':
            # the same frame given explicitly, depth as a .mat in metres, gives the same labels
            alone = tmp_path / 'alone'
            alone.mkdir()
            shutil.copy(image, alone / 'frame.png')
            depth_mm = np.asarray(Image.open(os.path.join(os.path.dirname(os.path.dirname(image)), 'depth',
                                                          'img_5001.png')), dtype=np.float64)
            scipy.io.savemat(str(tmp_path / 'depth.mat'), {'depth': depth_mm / 1000.0})
            assert infer.main([str(alone / 'frame.png'), '--net', name, '--weights', weights, '--depth',
                               str(tmp_path / 'depth.mat'), '--out', str(tmp_path / 'out2')]) == 0
            np.testing.assert_array_equal(labels(tmp_path / 'out2', 'frame', rec)[''], got[''])
    finally:
        os.remove(weights)
