"""Tiles equal the whole (issue 20): scores stitched from tiles whose origins lie on the net's pooling
grid, with the receptive field's reach of real context around each kept part, are the whole-image
scores; a margin one stride short is not.

The net is shapes-fcn8s's geometry (pad 100, five poolings, fc6 7x7, the 8s skips: stride 32, reach
245 pixels, both computed from the prototxt) with 4-channel layers (infer_helpers.micro_fcn8s) and
He-scaled random weights with bilinear upsampling, so that the scores vary across the image: the
slim net itself runs about 5 s a megapixel on the shared 2-core CPU, the tiles overlap several times,
and the geometry, which is all tiling depends on, is the same.
"""
import numpy as np
import pytest

from fcn import inference, tiling
from infer_helpers import he_weights, micro_fcn8s, photo
from models import records


@pytest.fixture(scope='module')
def micro(tmp_path_factory):
    folder = micro_fcn8s(tmp_path_factory.mktemp('nets') / 'micro-fcn8s')
    rec = records.get(folder)
    return inference.Segmenter(rec, he_weights(rec.deploy, tmp_path_factory.mktemp('w') / 'he.caffemodel'), 4 << 30)


def test_the_geometry_is_read_from_the_prototxts():
    for name, reach in (('shapes-fcn8s', 245), ('voc-fcn8s', 245), ('voc-fcn16s', 241), ('voc-fcn32s', 233)):
        rec = records.get(name)
        assert tiling.geometry(rec.deploy, ['data'], 'score') == tiling.Geometry(32, reach, reach)


def stitched(seg, arrays, kept):
    h, w = arrays['color'].shape[:2]
    out = np.full((seg.channels[0], h, w), np.nan, np.float32)
    for (y0, y1), (x0, x1), scores in seg.tiles(arrays, inference.Plan('tiles', (h, w), 0, kept)):
        out[:, y0:y1, x0:x1] = scores[0]
    return out


def compare(seg, size, kept, geometry=None):
    """(max relative difference, share of labels that agree, whether within 1e-4 relative)."""
    arrays = {'color': photo(*size)}
    whole = seg.forward_scores(arrays)[0].copy()
    seg.release()
    saved, seg.geometry = seg.geometry, geometry or seg.geometry
    try:
        tiled = stitched(seg, arrays, kept)
    finally:
        seg.geometry = saved
    scale = np.abs(whole).max()
    within = np.allclose(tiled, whole, rtol=1e-4, atol=1e-4 * scale)
    agree = (tiled.argmax(0) == whole.argmax(0)).mean()
    print('%s tile %d: max relative difference %.2g, labels agree at %.5f%%'
          % (size, kept, np.abs(tiled - whole).max() / scale, 100 * agree))
    return within, agree, whole


@pytest.mark.parametrize('size, kept', [((1125, 1500), 512), ((701, 933), 333)])
def test_tiles_give_the_whole_image_scores(micro, size, kept):
    within, agree, whole = compare(micro, size, kept)
    assert len(np.unique(whole.argmax(0))) >= 2                     # the labels vary: the test can fail
    assert within and agree >= 0.9999


def test_a_margin_one_stride_short_changes_the_scores(micro):
    g = micro.geometry
    short = tiling.Geometry(g.stride, g.before - g.stride, g.after - g.stride)
    within, _, _ = compare(micro, (1125, 1500), 512, short)
    assert not within


def test_tile_windows_lie_on_the_grid_with_the_reach_around_the_kept_part():
    g = tiling.Geometry(32, 245, 245)
    cuts = tiling.tiles(1125, 512, g)
    assert [(k0, k1) for _, _, k0, k1 in cuts] == [(0, 512), (512, 1024), (1024, 1125)]
    for x0, x1, k0, k1 in cuts:
        assert x0 % 32 == 0 and (x0 == 0 or k0 - x0 >= 245) and (x1 == 1125 or x1 - k1 >= 245)
        assert x1 - x0 <= tiling.window_side(512, g)


# -- infer.py and fcn.segment -----------------------------------------------------------------------


@pytest.fixture(scope='module')
def micro_files(tmp_path_factory):
    """(net folder, weights, a 1125 x 1500 photo file)."""
    root = tmp_path_factory.mktemp('files')
    folder = micro_fcn8s(root / 'micro-fcn8s')
    weights = he_weights(records.get(folder).deploy, root / 'he.caffemodel')
    from PIL import Image
    path = root / 'photo.png'
    Image.fromarray(photo(1125, 1500, seed=1)).save(path)
    return folder, weights, str(path)


def test_over_the_budget_infer_segments_in_tiles_at_full_resolution(micro_files, tmp_path, capsys):
    import infer
    import vis
    folder, weights, path = micro_files
    seg = inference.Segmenter(records.get(folder), weights, 4 << 30)
    whole = seg.segment({'image': path, 'color': path})
    pixel_bytes = seg.pixel_bytes({'image': 'RGB'})
    budget = seg._tile_need(512, 1125, 1500, 1125, 1500, pixel_bytes) * 1.02      # tiles of 512 fit, the whole not
    assert seg.memory_needed(1125, 1500, 1125, 1500, pixel_bytes) > budget
    assert infer.main([path, '--net', folder, '--weights', weights, '--out', str(tmp_path),
                       '--max-memory', '%dK' % (budget // 1024)]) == 0
    err = capsys.readouterr().err
    import re
    kept = int(re.search(r'segmented at full resolution in \d+ tiles of (\d+) pixels', err).group(1))
    assert 512 <= kept < 1125
    labels = vis.read_label_png(str(tmp_path / 'photo.png'))
    assert (labels == whole.labels[0]).mean() >= 0.9999


def test_scores_sum_to_one_and_a_tta_of_identical_passes_is_the_plain_pass(micro_files):
    import fcn
    folder, weights, path = micro_files
    labels, probs = fcn.segment(path, net=folder, weights_path=weights, scores=True, max_memory='4G')
    assert probs.dtype == np.float16 and probs.shape == (4, 1125, 1500) and labels.shape == (1125, 1500)
    assert np.abs(probs.astype(np.float32).sum(0) - 1).max() < 4e-3                  # float16 rounding
    assert (probs.argmax(0) == labels).mean() > 0.999                                 # ties in float16 aside
    tta_labels, tta_probs = fcn.segment(path, net=folder, weights_path=weights, scores=True, scales=(1, 1),
                                        max_memory='4G')
    np.testing.assert_array_equal(tta_labels, labels)
    np.testing.assert_allclose(tta_probs.astype(np.float32), probs.astype(np.float32), atol=1e-3)
    tiled_labels, tiled_probs = fcn.segment(path, net=folder, weights_path=weights, scores=True, tile=512,
                                            max_memory='4G')
    assert (tiled_labels == labels).mean() >= 0.9999
    np.testing.assert_allclose(tiled_probs.astype(np.float32), probs.astype(np.float32), atol=1e-3)


def test_flip_and_scales_average_the_softmax(micro_files, tmp_path):
    import infer
    folder, weights, path = micro_files
    assert infer.main([path, '--net', folder, '--weights', weights, '--out', str(tmp_path), '--tta', 'flip',
                       '--scales', '0.5,1', '--scores', '--max-memory', '4G']) == 0
    probs = np.load(tmp_path / 'photo_scores.npy').astype(np.float32)
    assert probs.shape == (4, 1125, 1500) and np.abs(probs.sum(0) - 1).max() < 4e-3
    from PIL import Image
    conf = np.asarray(Image.open(tmp_path / 'photo_confidence.png'))
    assert conf.shape == (1125, 1500) and abs(conf.astype(int) - np.rint(255 * probs.max(0))).max() <= 1


@pytest.mark.parametrize('args, words', [
    (['--scales', '-1'], ['--scales', 'positive']),
    (['--scales', '1,x'], ['--scales']),
    (['--tile', '16'], ['--tile 16', 'stride', '32']),
    (['--tile', '-3'], ['--tile', 'positive']),
    (['--tile', '64', '--resize'], ['--resize']),
    (['--tta', 'rotate'], ['--tta']),
])
def test_bad_values_of_the_new_flags_are_one_line(micro_files, tmp_path, args, words):
    import subprocess
    import sys
    from infer_helpers import REPO, subprocess_env
    folder, weights, path = micro_files
    p = subprocess.run([sys.executable, 'infer.py', path, '--net', folder, '--weights', weights,
                        '--out', str(tmp_path)] + args, cwd=REPO, env=subprocess_env(), capture_output=True, text=True)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode != 0 and 'Traceback' not in p.stderr
    assert all(w in lines[-1] for w in words), p.stderr
