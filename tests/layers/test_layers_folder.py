"""layers.folder: FolderSegDataLayer on tiny datasets in the folder layout and in VOC's."""
import contextlib
import os
import re

import numpy as np
import pytest
from PIL import Image

from backend import caffe
from layer_helpers import data_layer, data_net, expected_input, run
from tests.owndata_helpers import make_dataset

MEAN = (101.5, 112.25, 123.0)
FOLDER = ('layers.folder', 'FolderSegDataLayer')
TOPS = ['data', 'label']


def params(root, **kw):
    p = dict(dataset_dir=str(root), split='val', mean=MEAN)
    p.update(kw)
    return p


@pytest.mark.parametrize('layout,labels', [('folder', 'index'), ('folder', 'rgb'), ('voc', 'index')])
def test_tops_follow_each_example(tmp_path, layout, labels):
    root = tmp_path / 'd'
    written = make_dataset(root, layout, labels)
    net = data_net(tmp_path, *FOLDER, params(root), TOPS)
    images = 'images' if layout == 'folder' else 'JPEGImages'
    for k, out in enumerate(run(net, 3)):
        i = ['va00', 'va01'][k % 2]
        assert out['data'].shape == (1, 3, 40, 48) and out['label'].shape == (1, 1, 40, 48)
        np.testing.assert_allclose(out['data'][0], expected_input(str(root / images / (i + '.jpg')), MEAN),
                                   rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['label'][0, 0], written[i])


def test_train_order_is_seeded_and_skip_resumes_it(tmp_path):
    root = tmp_path / 'd'
    written = make_dataset(root, n_train=4)

    def ids(net, n):
        return [next(i for i, lab in written.items() if np.array_equal(o['label'][0, 0], lab))
                for o in run(net, n)]
    a = ids(data_net(tmp_path, *FOLDER, params(root, split='train', seed=5), TOPS, phase=caffe.TRAIN), 8)
    b = ids(data_net(tmp_path, *FOLDER, params(root, split='train', seed=5), TOPS, phase=caffe.TRAIN), 8)
    assert a == b and set(a) <= {'tr00', 'tr01', 'tr02', 'tr03'} and a != sorted(a)
    net = data_net(tmp_path, *FOLDER, params(root, split='train', seed=5), TOPS, phase=caffe.TRAIN)
    data_layer(net).skip(5)
    assert ids(net, 3) == a[5:]


@contextlib.contextmanager
def layer_error(kind, pattern):
    """A Python layer's exception `kind` whose message matches `pattern`: as itself (pycaffe re-raises
    it) or named in the engine's error (torchcaffe reports its type and message)."""
    with pytest.raises(Exception) as caught:
        yield
    e = caught.value
    assert type(e).__name__ == kind or '%s: ' % kind in str(e), repr(e)
    assert re.search(pattern, str(e)), str(e)


def test_problems_name_the_file(tmp_path):
    """Each problem is its own exception naming the file."""
    root = tmp_path / 'd'
    make_dataset(root)
    bad = np.full((40, 48), 7, np.uint8)
    Image.fromarray(bad, 'L').save(str(root / 'labels' / 'va00.png'))
    with layer_error('DataError', r'va00\.png has values \[7\] outside classes 0\.\.2'):
        data_net(tmp_path, *FOLDER, params(root), TOPS)
    os.remove(str(root / 'images' / 'va01.jpg'))
    make_dataset(root / 'ok')
    os.remove(str(root / 'ok' / 'images' / 'va01.jpg'))
    net = data_net(tmp_path, *FOLDER, params(root / 'ok', prefetch=False), TOPS)
    net.forward()
    with layer_error('FileNotFoundError', r'image not found: .*va01\.jpg\|\.jpeg\|\.png'):
        net.forward()
    with layer_error('DatasetError', 'neither images/'):
        data_net(tmp_path, *FOLDER, params(root / 'images'), TOPS)
    with layer_error('ParamError', "lacks the required key 'mean'"):
        data_net(tmp_path, *FOLDER, {'dataset_dir': str(root), 'split': 'val'}, TOPS)


def test_colour_labels_without_palette_are_refused(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, labels='rgb')
    os.remove(str(root / 'palette.txt'))
    with layer_error('ColourLabelError', r'colour \(RGB\) image.*no palette.txt'):
        data_net(tmp_path, *FOLDER, params(root), TOPS)


def test_a_void_class_index_reaches_the_label_top_as_255(tmp_path):
    """void.txt's value is read as 255, so the loss's ignore_label skips it; the classes shift back."""
    from tests.owndata_helpers import to_void_index
    root = tmp_path / 'd'
    written = make_dataset(root)
    to_void_index(root, written, 0)
    with Image.open(str(root / 'labels' / 'va00.png')) as im:
        assert (np.asarray(im) == 0).sum() == (written['va00'] == 255).sum() > 0
    net = data_net(tmp_path, *FOLDER, params(root), TOPS)
    for k, out in enumerate(run(net, 2)):
        np.testing.assert_array_equal(out['label'][0, 0], written[['va00', 'va01'][k]])


@pytest.mark.parametrize('absolute', [False, True])
def test_a_split_of_image_label_pairs_is_read_as_it_is(tmp_path, absolute):
    from tests.owndata_helpers import to_list_files
    root = tmp_path / 'd'
    written = make_dataset(root)
    to_list_files(root, absolute)
    net = data_net(tmp_path, *FOLDER, params(root), TOPS)
    for k, out in enumerate(run(net, 2)):
        i = ['va00', 'va01'][k]
        np.testing.assert_allclose(out['data'][0], expected_input(str(root / 'pics' / (i + '.jpg')), MEAN),
                                   rtol=0, atol=1e-4)
        np.testing.assert_array_equal(out['label'][0, 0], written[i])
    os.remove(str(root / 'pics' / 'va01.jpg'))
    net = data_net(tmp_path, *FOLDER, params(root, prefetch=False), TOPS)
    with pytest.raises(Exception, match='image not found: .*pics/va01.jpg'):
        run(net, 2)
