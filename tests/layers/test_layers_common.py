"""layers.common: param_str parsing, file reading, label checks."""
import os
import re

import numpy as np
import pytest
from PIL import Image

from layers import common
from layers.common import DataError, ParamError

WHO = 'TestLayer'


def parse(text, required=('split',), optional=None):
    return common.parse_params(text, WHO, required, dict(common.COMMON_OPTIONAL, **(optional or {})))


# -- param_str -------------------------------------------------------------------


def test_parse_release_param_str():
    p = parse("{'voc_dir': '../data/pascal/VOC2011', 'seed': 1337, 'split': 'seg11valid', "
              "'mean': (104.00699, 116.66877, 122.67892)}", required=('voc_dir', 'split', 'mean'))
    assert p['voc_dir'] == '../data/pascal/VOC2011' and p['split'] == 'seg11valid'
    assert p['seed'] == 1337 and p['mean'] == (104.00699, 116.66877, 122.67892)
    assert p['randomize'] is True and p['prefetch'] is True  # defaults filled in


@pytest.mark.parametrize('text', [
    "__import__('os').system('touch MARKER')",
    "{'split': __import__('os').system('touch MARKER')}",
    "(lambda: open('MARKER', 'w'))()",
    "dict(split='train')",
    "{'split': 'train'} if open('MARKER', 'w') else 0",
])
def test_code_in_param_str_is_rejected_not_run(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamError, match='literal'):
        parse(text)
    assert not os.path.exists(tmp_path / 'MARKER')


def test_param_str_errors_name_layer_and_key():
    with pytest.raises(ParamError, match=r"TestLayer: unknown param_str key 'splitt'"):
        parse("{'splitt': 'train'}")
    with pytest.raises(ParamError, match=r"TestLayer: param_str lacks the required key 'split'"):
        parse("{'seed': 3}")
    with pytest.raises(ParamError, match='empty'):
        parse('')
    with pytest.raises(ParamError, match='dict literal, not a list'):
        parse("['split']")
    with pytest.raises(ParamError, match='not a string'):
        parse("{1: 'train', 'split': 'x'}")


def test_value_checks():
    assert common.get_seed({'seed': None}, 'seed', WHO) is None
    assert common.get_seed({'seed': 7}, 'seed', WHO) == 7
    for bad in (-1, 2 ** 32, 1.5, True, '7'):
        with pytest.raises(ParamError, match="'seed'"):
            common.get_seed({'seed': bad}, 'seed', WHO)
    assert common.get_bool({'r': 0}, 'r', WHO) is False
    for bad in ('False', 2, None):
        with pytest.raises(ParamError, match="'r' must be True or False"):
            common.get_bool({'r': bad}, 'r', WHO)
    m = common.get_mean({'mean': (1, 2.5, 3)}, 'mean', WHO)
    assert m.dtype == np.float64 and m.tolist() == [1, 2.5, 3]
    for bad in ((1, 2), (1, 2, 'x'), 5, (1, 2, float('nan'))):
        with pytest.raises(ParamError, match="'mean' must be a tuple of 3 numbers"):
            common.get_mean({'mean': bad}, 'mean', WHO)
    with pytest.raises(ParamError, match="'voc_dir' must be a non-empty string"):
        common.get_str({'voc_dir': None}, 'voc_dir', WHO)


# -- images ------------------------------------------------------------------------


def read_back(tmp_path, im, fmt, name='im'):
    path = str(tmp_path / name)
    im.save(path, fmt)
    return path, common.read_rgb(path, 'image', WHO)


def test_read_rgb_modes(tmp_path):
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, (5, 6, 3)).astype(np.uint8)
    gray = rng.randint(0, 256, (5, 6)).astype(np.uint8)

    _, got = read_back(tmp_path, Image.fromarray(rgb), 'PNG')
    assert got.dtype == np.uint8 and got.shape == (5, 6, 3)
    np.testing.assert_array_equal(got, rgb)

    _, got = read_back(tmp_path, Image.fromarray(gray), 'PNG')  # L: replicated
    np.testing.assert_array_equal(got, np.repeat(gray[:, :, None], 3, axis=2))

    rgba = np.concatenate([rgb, rng.randint(0, 256, (5, 6, 1)).astype(np.uint8)], axis=2)
    _, got = read_back(tmp_path, Image.fromarray(rgba), 'PNG')  # RGBA: alpha dropped
    np.testing.assert_array_equal(got, rgb)

    pal = Image.fromarray(gray)
    pal.putpalette(rng.randint(0, 256, 768).astype(np.uint8).tolist())
    path, got = read_back(tmp_path, pal, 'PNG')  # P: palette looked up
    np.testing.assert_array_equal(got, np.array(Image.open(path).convert('RGB')))

    cmyk = Image.fromarray(rgb).convert('CMYK')
    path, got = read_back(tmp_path, cmyk, 'JPEG')
    with Image.open(path) as im:
        assert im.mode == 'CMYK'
        want = np.array(im.convert('RGB'))
    np.testing.assert_array_equal(got, want)

    wide = (rng.randint(0, 65536, (5, 6))).astype(np.uint16)
    path, got = read_back(tmp_path, Image.fromarray(wide), 'PNG')  # 16-bit: scaled, not clipped
    with Image.open(path) as im:
        assert im.mode.startswith('I')
    want = np.rint(wide / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(got, np.repeat(want[:, :, None], 3, axis=2))


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'this is not an image')
    with pytest.raises(DataError, match=re.escape(str(bad))):
        common.read_rgb(str(bad), 'image', WHO)
    truncated = tmp_path / 'trunc.jpg'
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 90).save(str(truncated), 'JPEG')
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError, match=re.escape(str(truncated))):
        common.read_rgb(str(truncated), 'image', WHO)
    missing = tmp_path / 'nope.jpg'
    with pytest.raises(FileNotFoundError, match='TestLayer: image not found: ' + re.escape(str(missing))):
        common.read_rgb(str(missing), 'image', WHO)


def test_read_gray_and_label_png(tmp_path):
    depth = np.arange(1, 31, dtype=np.uint16).reshape(5, 6) * 1000
    Image.fromarray(depth).save(str(tmp_path / 'd.png'))
    got = common.read_gray(str(tmp_path / 'd.png'), 'depth', WHO)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, depth)
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(str(tmp_path / 'c.png'))
    with pytest.raises(DataError, match="mode 'RGB'; expected a single-channel"):
        common.read_gray(str(tmp_path / 'c.png'), 'depth', WHO)
    with pytest.raises(DataError, match="must hold class indices"):
        common.read_label_png(str(tmp_path / 'c.png'), 'label', WHO)


# -- labels --------------------------------------------------------------------------


def test_check_labels():
    ok = np.array([[0, 20], [255, 3]], dtype=np.uint8)
    got = common.check_labels(ok, 0, 20, (255,), 'x.png', WHO, 'classes 0..20 or void 255')
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, ok)
    with pytest.raises(DataError, match=r'TestLayer: label x.png has values \[21, 77\] outside classes'):
        common.check_labels(np.array([[0, 21], [77, 21]]), 0, 20, (255,), 'x.png', WHO, 'classes 0..20 or void 255')
    with pytest.raises(DataError, match=r'non-integer values \[1.5\]'):
        common.check_labels(np.array([[0, 1.5]]), 0, 20, (), 'x.mat', WHO, 'classes')
    with pytest.raises(DataError, match='2-D'):
        common.check_labels(np.zeros((2, 2, 3)), 0, 20, (), 'x.mat', WHO, 'classes')


def test_split_file(tmp_path):
    (tmp_path / 's.txt').write_text('a\n\n  b  \nc')
    assert common.read_split(str(tmp_path / 's.txt'), WHO) == ['a', 'b', 'c']
    (tmp_path / 'e.txt').write_text('\n\n')
    with pytest.raises(DataError, match='lists no examples'):
        common.read_split(str(tmp_path / 'e.txt'), WHO)
    with pytest.raises(FileNotFoundError, match='split file not found'):
        common.read_split(str(tmp_path / 'none.txt'), WHO)
