"""Tests for vis.py: the VOC palette, label PNG I/O, colorize and overlay."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import vis  # noqa: E402


def test_palette_known_colours():
    p = vis.PALETTE
    assert p.shape == (256, 3) and p.dtype == np.uint8
    assert tuple(p[0]) == (0, 0, 0)            # background
    assert tuple(p[1]) == (128, 0, 0)          # aeroplane
    assert tuple(p[2]) == (0, 128, 0)          # bicycle
    assert tuple(p[3]) == (128, 128, 0)
    assert tuple(p[4]) == (0, 0, 128)
    assert tuple(p[8]) == (64, 0, 0)
    assert tuple(p[15]) == (192, 128, 128)     # person
    assert tuple(p[20]) == (0, 64, 128)        # tv/monitor
    assert tuple(p[255]) == (224, 224, 192)    # void
    assert len({tuple(c) for c in p}) == 256   # all distinct, so RGB -> index is exact
    np.testing.assert_array_equal(vis.voc_palette(21), p[:21])


def test_png_round_trip_is_palette_png(tmp_path):
    label = np.array([[0, 1, 2, 15], [20, 255, 0, 7]], dtype=np.int64)
    path = str(tmp_path / 'l.png')
    vis.save_label_png(path, label)
    with Image.open(path) as im:
        assert im.mode == 'P'
        assert im.size == (4, 2)
        pal = np.array(im.getpalette()[:768]).reshape(-1, 3)
    np.testing.assert_array_equal(pal, vis.PALETTE)
    out = vis.read_label_png(path)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, label)


def test_save_rejects_bad_labels(tmp_path):
    with pytest.raises(ValueError, match='0, 255'):
        vis.save_label_png(str(tmp_path / 'a.png'), np.array([[0, 300]]))
    with pytest.raises(ValueError, match='2-D'):
        vis.save_label_png(str(tmp_path / 'a.png'), np.zeros((2, 2, 3), np.uint8))


def test_read_palette_png_ignores_file_palette(tmp_path):
    # indices are what count, whatever palette the file carries
    im = Image.fromarray(np.array([[3, 4]], np.uint8))
    im.putpalette([255, 255, 255] * 256)
    im.save(str(tmp_path / 'p.png'))
    np.testing.assert_array_equal(vis.read_label_png(str(tmp_path / 'p.png')), [[3, 4]])


def test_read_greyscale_png(tmp_path):
    Image.fromarray(np.array([[0, 5, 255]], np.uint8)).save(str(tmp_path / 'g.png'))
    np.testing.assert_array_equal(vis.read_label_png(str(tmp_path / 'g.png')), [[0, 5, 255]])


def test_read_rgb_png_by_palette_lookup(tmp_path):
    label = np.array([[0, 1, 15], [255, 20, 2]], np.uint8)
    Image.fromarray(vis.colorize(label)).save(str(tmp_path / 'c.png'))
    np.testing.assert_array_equal(vis.read_label_png(str(tmp_path / 'c.png')), label)
    rgba = np.concatenate([vis.colorize(label), np.full(label.shape + (1,), 255, np.uint8)], -1)
    Image.fromarray(rgba).save(str(tmp_path / 'a.png'))
    np.testing.assert_array_equal(vis.read_label_png(str(tmp_path / 'a.png')), label)


def test_read_rgb_png_with_foreign_colour_fails(tmp_path):
    rgb = vis.colorize(np.zeros((2, 2), np.uint8))
    rgb[1, 1] = (1, 2, 3)
    path = str(tmp_path / 'bad.png')
    Image.fromarray(rgb).save(path)
    with pytest.raises(ValueError, match=r'bad\.png.*1 pixel.*\(1, 2, 3\)'):
        vis.read_label_png(path)


def test_read_unsupported_mode(tmp_path):
    path = str(tmp_path / 'i.png')
    Image.new('LA', (2, 2)).save(path)  # grey + alpha: not a label format
    with pytest.raises(ValueError, match='mode'):
        vis.read_label_png(path)


def test_colorize():
    rgb = vis.colorize(np.array([[0, 1], [15, 255]]))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, [[[0, 0, 0], [128, 0, 0]],
                                        [[192, 128, 128], [224, 224, 192]]])


def test_overlay_blends_objects_and_keeps_background_and_void():
    image = np.full((1, 4, 3), 100, np.uint8)
    label = np.array([[0, 1, 15, 255]])
    out = vis.overlay(image, label, alpha=0.5)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])   # background untouched
    np.testing.assert_array_equal(out[0, 1], [114, 50, 50])     # (100 + 128) / 2, 100 / 2
    np.testing.assert_array_equal(out[0, 2], [146, 114, 114])   # person (192, 128, 128)
    np.testing.assert_array_equal(out[0, 3], [100, 100, 100])   # void untouched
    # ignore=() tints everything: background towards black, void towards cream
    out = vis.overlay(image, label, alpha=0.5, ignore=())
    np.testing.assert_array_equal(out[0, 0], [50, 50, 50])
    np.testing.assert_array_equal(out[0, 3], [162, 162, 146])
    # alpha 0 is the image, alpha 1 the colours of the labelled pixels
    np.testing.assert_array_equal(vis.overlay(image, label, alpha=0.0), image)
    np.testing.assert_array_equal(vis.overlay(image, label, alpha=1.0)[0, 1], [128, 0, 0])


def test_overlay_greyscale_and_errors():
    out = vis.overlay(np.full((2, 2), 10, np.uint8), np.ones((2, 2), np.uint8), alpha=0.5)
    assert out.shape == (2, 2, 3)
    with pytest.raises(ValueError, match='shape'):
        vis.overlay(np.zeros((2, 3, 3), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match='alpha'):
        vis.overlay(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8), alpha=2)
