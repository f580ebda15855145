"""layers.augment and the batches of layers.common.SegDataLayer: mirror, scale and crop keep every
label on its pixels, padding is void in the label and the mean in the image, batches stack crops,
and every draw is a function of the seed and the stream position (prefetch, skip, ranks)."""
import numpy as np
import pytest

from backend import caffe
from layer_helpers import data_layer, data_net, run
from layers import augment
from layers.common import ParamError
from tests.owndata_helpers import make_dataset

MEAN = (101.5, 112.25, 123.0)
FOLDER = ('layers.folder', 'FolderSegDataLayer')
TOPS = ['data', 'label']
#: The BGR colours owndata_helpers paints the disc (class 1) and the bar (class 2) with, minus MEAN.
DISC = np.array((40, 220, 230), np.float32) - MEAN


def example(h=6, w=8):
    """(image 3 x h x w, label 1 x h x w): every pixel distinct, the image a function of the label."""
    label = (np.arange(h * w).reshape(1, h, w) % 7).astype(np.uint8)
    label[0, 0, :3] = 255
    image = np.stack([label[0] * 10.0, label[0] * -3.0, np.arange(h * w).reshape(h, w) * 1.0]).astype(np.float32)
    return image, label


def test_mirror_flips_image_and_label_together():
    image, label = example()
    out = augment.apply((image, label), (False, True), augment.Draw(True, 1.0, 0.3, 0.7), None)
    np.testing.assert_array_equal(out[0], image[..., ::-1])
    np.testing.assert_array_equal(out[1], label[..., ::-1])
    same = augment.apply((image, label), (False, True), augment.Draw(False, 1.0, 0.3, 0.7), None)
    np.testing.assert_array_equal(same[0], image)


def test_scale_keeps_labels_on_their_pixels():
    image, label = example()
    big = augment.apply((image, label), (False, True), augment.Draw(False, 2.0, 0, 0), None)
    assert big[0].shape == (3, 12, 16) and big[1].shape == (1, 12, 16) and big[1].dtype == np.uint8
    # x2 by nearest neighbour on PIL's pixel-centre grid: each label pixel becomes a 2 x 2 block
    np.testing.assert_array_equal(big[1], label.repeat(2, axis=1).repeat(2, axis=2))
    # bilinear: a region of constant image stays so, where its label says (away from its edges)
    flat = np.zeros((1, 8, 8), np.uint8)
    flat[0, 2:6, 2:6] = 3
    img = (flat * 50.0).astype(np.float32).repeat(3, axis=0)
    small = augment.apply((img, flat), (False, True), augment.Draw(False, 1.5, 0, 0), None)
    assert small[1].shape == (1, 12, 12)
    inner = small[1][0] == 3
    assert inner.sum() == 36 and np.allclose(small[0][:, 4:8, 4:8], 150)
    assert set(np.unique(small[1])) == {0, 3}                    # labels are never blended


def test_crop_pads_with_void_labels_and_the_mean():
    image, label = example(6, 8)
    out = augment.apply((image, label), (False, True), augment.Draw(False, 1.0, 0.999, 0.999), 10)
    assert out[0].shape == (3, 10, 10) and out[1].shape == (1, 10, 10)
    np.testing.assert_array_equal(out[1][:, :6, :8], label)       # the example at the top left
    np.testing.assert_array_equal(out[0][:, :6, :8], image)
    assert (out[1][:, 6:, :] == 255).all() and (out[1][:, :, 8:] == 255).all()
    assert (out[0][:, 6:, :] == 0).all() and (out[0][:, :, 8:] == 0).all()   # 0 = the mean, subtracted
    # a crop inside the example: the draw's fraction places it, image and label alike
    image, label = example(20, 30)
    low = augment.apply((image, label), (False, True), augment.Draw(False, 1.0, 0.999, 0.0), 10)
    np.testing.assert_array_equal(low[1], label[:, 10:20, 0:10])
    np.testing.assert_array_equal(low[0], image[:, 10:20, 0:10])


def test_draws_are_a_function_of_seed_and_position():
    aug = augment.Augment(True, (0.5, 2.0), 8)
    a = [augment.draw(3, k, aug) for k in range(50)]
    assert a == [augment.draw(3, k, aug) for k in range(50)]
    assert a != [augment.draw(4, k, aug) for k in range(50)]
    assert 10 < sum(d.mirror for d in a) < 40 and all(0.5 <= d.scale <= 2.0 for d in a)
    assert all(not d.mirror and d.scale == 1.0 for d in (augment.draw(3, k, augment.Augment(False, None, 8))
                                                          for k in range(20)))


def params(root, **kw):
    p = dict(dataset_dir=str(root), split='train', mean=MEAN, seed=5)
    p.update(kw)
    return p


def train_net(tmp_path, root, name='data.prototxt', **kw):
    return data_net(tmp_path, *FOLDER, params(root, **kw), TOPS, phase=caffe.TRAIN, name=name)


def test_batches_of_crops_keep_labels_on_their_pixels(tmp_path):
    root = tmp_path / 'd'
    make_dataset(root, n_train=4, size=(40, 48))
    aug = dict(mirror=True, scale=(0.5, 2.0), crop=32, batch=3)
    seen = set()
    for out in run(train_net(tmp_path, root, **aug), 4):
        data, label = out['data'], out['label']
        assert data.shape == (3, 3, 32, 32) and label.shape == (3, 1, 32, 32)
        values = set(np.unique(label))
        assert values <= {0, 1, 2, 255}
        seen |= values
        for n in range(3):
            pixels = data[n].transpose(1, 2, 0)
            disc, bar, ground = (label[n, 0] == c for c in (1, 2, 0))
            if disc.sum() > 20:      # the median is away from bilinear edges and JPEG ringing
                assert np.abs(np.median(pixels[disc], axis=0) - DISC).max() < 25
            if bar.any() and ground.any():   # 2 pixels wide: blended when shrunk, but darker than the ground
                assert (np.median(pixels[bar], axis=0) < np.median(pixels[ground], axis=0) - 20).all()
            void = label[n, 0] == 255
            padded = (np.abs(pixels).sum(axis=-1) == 0)
            assert (void | ~padded).all()                       # all padding is void
    assert {1, 2, 255} <= seen


def test_mirrored_examples_come_with_mirrored_labels(tmp_path):
    root = tmp_path / 'd'
    written = make_dataset(root, n_train=1, size=(20, 24))
    flips = 0
    for out in run(train_net(tmp_path, root, mirror=True), 12):
        label = out['label'][0, 0]
        if np.array_equal(label, written['tr00'][:, ::-1]):
            flips += 1
        else:
            np.testing.assert_array_equal(label, written['tr00'])
    assert 0 < flips < 12


def test_stream_is_seeded_and_skip_prefetch_and_ranks_read_it_alike(tmp_path, monkeypatch):
    root = tmp_path / 'd'
    make_dataset(root, n_train=5, size=(20, 24))
    aug = dict(mirror=True, scale=(0.75, 1.5), crop=16, batch=2)

    def stream(n, skip=0, **kw):
        net = train_net(tmp_path, root, **dict(aug, **kw))
        data_layer(net).skip(skip)
        return [np.concatenate([o['data'].ravel(), o['label'].ravel()]) for o in run(net, n)]
    whole = stream(6)
    assert all(np.array_equal(a, b) for a, b in zip(whole, stream(6, prefetch=False)))
    assert all(np.array_equal(a, b) for a, b in zip(whole[4:], stream(2, skip=4)))
    assert not all(np.array_equal(a, b) for a, b in zip(whole, stream(6, seed=6)))
    # two torchrun ranks: rank r reads batches r, r+2, ..., augmentation included
    monkeypatch.setenv('WORLD_SIZE', '2')
    for r in range(2):
        monkeypatch.setenv('RANK', str(r))
        assert all(np.array_equal(a, b) for a, b in zip(whole[r::2], stream(3)))


def test_off_by_default_and_bad_keys_refused(tmp_path):
    root = tmp_path / 'd'
    written = make_dataset(root, n_train=1, size=(20, 24))
    out = run(train_net(tmp_path, root), 1)[0]
    assert out['data'].shape == (1, 3, 20, 24)
    np.testing.assert_array_equal(out['label'][0, 0], written['tr00'])
    for kw, message in ((dict(batch=2), "'batch' is 2, which needs 'crop'"),
                        (dict(batch=0, crop=8), "'batch' must be a positive integer"),
                        (dict(crop=0), "'crop' must be None or a positive integer"),
                        (dict(scale=(2.0, 1.0)), "'scale' must be None or \\(lo, hi\\)"),
                        (dict(mirror='yes'), "'mirror' must be True or False")):
        with pytest.raises(Exception, match=message) as caught:
            train_net(tmp_path, root, **kw)
        assert isinstance(caught.value, ParamError) or 'ParamError' in str(caught.value)
