"""infer.py and fcn.inference: label maps the size of each image, overlays with legends, the memory
budget, output names, and one clear line for every bad input."""
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

import infer
import vis
from backend import caffe
from fcn import cli, inference, readers
from infer_helpers import NYUD, NYUD_IMAGE, REAL_JPEG, REPO, random_weights, subprocess_env
from models import records

# A tiny deploy net with the FCN contract: input `data`, per-pixel class scores `score` at input size.
DEPLOY = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 6 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "score" type: "Convolution" bottom: "conv" top: "score"
        convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gaussian" std: 0.1 }
                            bias_filler { type: "constant" value: 0.1 } } }
'''


@pytest.fixture
def tiny_net(tmp_path):
    folder = tmp_path / 'tiny-net'
    folder.mkdir()
    (folder / 'deploy.prototxt').write_text(DEPLOY)
    caffe.set_random_seed(3)
    net = caffe.Net(str(folder / 'deploy.prototxt'), caffe.TEST)
    weights = folder / 'tiny.caffemodel'
    net.save(str(weights))
    return str(folder), str(weights)


def segmenter(folder, weights, budget=1 << 30):
    return inference.Segmenter(records.get(folder), weights, budget)


def run(args):
    return infer.main([str(a) for a in args])


def cli_run(args):
    """(exit status, stderr lines) of infer.py's command line, in this process."""
    import io
    import contextlib
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = cli.run(infer.main, [str(a) for a in args], prog='infer.py')
        except SystemExit as e:   # argparse's own errors
            rc = e.code
    return rc, [line for line in err.getvalue().splitlines() if line.strip()]


def assert_one_clear_line(rc, lines, *words):
    assert rc not in (0, None) and 1 <= len(lines) <= 3, lines
    text = '\n'.join(lines)
    assert 'Traceback' not in text
    for w in words:
        assert str(w) in text, (w, text)


def test_real_jpeg_gives_a_label_png_of_its_size_and_an_overlay_with_a_legend(tiny_net, tmp_path):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out]) == 0
    width, height = Image.open(REAL_JPEG).size
    label = Image.open(out / 'voc-2007_000129.png')
    assert label.mode == 'P' and label.size == (width, height)
    overlay = Image.open(out / 'voc-2007_000129_overlay.jpg')
    assert overlay.size == (width, height) and overlay.mode == 'RGB'


def test_the_overlay_carries_a_legend_of_the_classes_present(tiny_net, tmp_path):
    folder, weights = tiny_net
    dark = tmp_path / 'dark.png'
    Image.new('RGB', (300, 200), (20, 20, 20)).save(dark)
    out = tmp_path / 'out'
    assert run([dark, '--net', folder, '--weights', weights, '--out', out]) == 0
    label = vis.read_label_png(str(out / 'dark.png'))
    overlay = np.asarray(Image.open(out / 'dark_overlay.jpg')).astype(int)
    white = (overlay > 230).all(axis=2)
    ys, xs = np.nonzero(white)
    assert len(ys) > 100 and ys.max() < 60 and xs.max() < 150             # a white box, top-left only
    present = vis.classes_present(label)
    im = Image.new('RGB', (300, 200), (20, 20, 20))
    palette = vis.voc_palette()
    vis.draw_legend(im, [('class %d' % c, palette[c]) for c in present])
    drawn = {tuple(c) for c in np.asarray(im).reshape(-1, 3)}
    assert all(tuple(palette[c]) in drawn for c in present)               # a swatch for every class


def test_label_map_is_the_argmax_of_the_net(tiny_net, tmp_path):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out])
    rgb = inference.load_rgb(REAL_JPEG)
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    x = (rgb[:, :, ::-1].astype(np.float32) - np.float32(records.ILSVRC_MEAN)).transpose(2, 0, 1)
    net.blobs['data'].reshape(1, *x.shape)
    net.blobs['data'].data[...] = x
    net.forward()
    expected = net.blobs['score'].data[0].argmax(0)
    np.testing.assert_array_equal(vis.read_label_png(str(out / 'voc-2007_000129.png')), expected)
    np.testing.assert_array_equal(inference.segment(net, rgb), expected)


def test_inference_and_the_data_layers_build_the_same_input(tmp_path):
    """One reading + transform: what fcn.inference feeds equals what the VOC layer's top holds."""
    path = str(tmp_path / 'x.png')
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, (7, 9, 3)).astype(np.uint8)).save(path)
    mean = np.array(records.ILSVRC_MEAN)
    layer_view = readers.modality_input('color', path, mean, 'image', 'VOCSegDataLayer')
    infer_view = readers.modality_input('color', inference.load_rgb(path), mean)
    np.testing.assert_array_equal(layer_view, infer_view)


def test_a_folder_is_expanded_and_bad_files_are_skipped_with_a_message(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    images = tmp_path / 'images'
    images.mkdir()
    shutil.copy(REAL_JPEG, images / 'good.jpg')
    (images / 'notes.jpg').write_text('this is not an image')
    data = open(REAL_JPEG, 'rb').read()
    (images / 'cut.jpg').write_bytes(data[:len(data) // 3])
    out = tmp_path / 'out'
    rc = run([images, tmp_path / 'missing.jpg', '--net', folder, '--weights', weights, '--out', out])
    err = capsys.readouterr().err
    assert rc == 1
    assert (out / 'good.png').exists()
    assert 'skipped' in err and 'notes.jpg' in err and 'cut.jpg' in err
    assert 'not found: %s' % (tmp_path / 'missing.jpg') in err
    assert not (out / 'notes.png').exists() and not (out / 'cut.png').exists()
    assert not [p for p in os.listdir(out) if p.endswith(('.part', '.tmp'))]


def test_missing_weights_say_so_and_name_the_make_target_only_for_the_default(tiny_net, tmp_path, monkeypatch):
    folder, _ = tiny_net
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', tmp_path / 'none.caffemodel'])
    assert_one_clear_line(rc, lines, 'none.caffemodel', 'does not exist')
    assert 'make weights' not in lines[0]
    from fcn import paths
    monkeypatch.setattr(paths, 'WEIGHTS', str(tmp_path / 'weights'))
    rc, lines = cli_run([REAL_JPEG, '--net', 'voc-fcn8s'])
    assert_one_clear_line(rc, lines, 'voc-fcn8s.caffemodel', 'make weights NET=voc-fcn8s')


@pytest.mark.parametrize('mode', ['L', 'LA', 'P', 'RGBA', 'CMYK', 'I;16', 'I', 'F', '1'])
def test_every_pil_mode_loads_as_rgb(tmp_path, mode):
    rgb = (np.arange(4 * 5 * 3).reshape(4, 5, 3) * 3).astype(np.uint8)
    if mode == 'I;16':
        im = Image.fromarray(rgb[..., 0].astype(np.uint16) * 200)
        assert im.mode == 'I;16'
    else:
        im = Image.fromarray(rgb).convert(mode)
    path = tmp_path / ('im.tiff' if mode in ('CMYK', 'I', 'F') else 'im.png')
    im.save(path)
    out = inference.load_rgb(str(path))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, readers.read_rgb(str(path), 'image', 'TestLayer'))


def test_sixteen_bit_images_are_scaled_by_257_as_the_data_layers_do(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    path = tmp_path / 'deep.png'
    Image.fromarray(ramp).save(path)
    out = inference.load_rgb(str(path))
    np.testing.assert_array_equal(out[..., 0], np.rint(ramp / 257.0).astype(np.uint8))
    assert len(np.unique(out[..., 0])) == 16


def test_exif_rotation_is_applied_for_inference_not_for_the_data_layers(tmp_path):
    im = Image.new('RGB', (6, 2), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6          # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / 'rotated.jpg'
    im.save(path, exif=exif.tobytes())
    assert inference.load_rgb(str(path)).shape == (6, 2, 3)
    assert readers.read_rgb(str(path), 'image', 'TestLayer').shape == (2, 6, 3)


def test_alpha_is_dropped_as_the_data_layers_do(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    rgba[1, 1] = (10, 20, 30, 0)
    path = tmp_path / 'alpha.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    out = inference.load_rgb(str(path))
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (10, 20, 30)


def test_with_resize_an_image_over_the_memory_budget_is_segmented_smaller_and_scaled_back(tiny_net, tmp_path,
                                                                                            capsys):
    folder, weights = tiny_net
    width, height = Image.open(REAL_JPEG).size
    seg = segmenter(folder, weights)
    pixel_bytes = seg.pixel_bytes({'image': 'RGB'})
    fixed = seg.memory_needed(1, 1, height, width, pixel_bytes)
    full = seg.memory_needed(height, width, height, width, pixel_bytes)
    budget = fixed + (full - fixed) / 3
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out, '--max-memory', '%dK' % (budget // 1024),
                '--resize']) == 0
    err = capsys.readouterr().err
    assert 'does not fit' in err and 'labels scaled back' in err
    label = vis.read_label_png(str(out / 'voc-2007_000129.png'))
    assert label.shape == (height, width)
    w, h = map(int, re.search(r'segmented at (\d+)x(\d+)', err).groups())
    assert (h, w) < (height, width) and abs(w / h - width / height) < 0.02
    seg.budget = budget // 1024 * 1024       # the constant measured at load varies a little between loads
    assert seg.memory_needed(h, w, height, width, pixel_bytes) <= seg.budget * 1.1
    small = np.asarray(Image.fromarray(inference.load_rgb(REAL_JPEG)).resize((w, h), Image.BILINEAR))
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    expected = Image.fromarray(inference.segment(net, small)).resize((width, height), Image.NEAREST)
    np.testing.assert_array_equal(label, np.asarray(expected))


def test_an_image_no_budget_can_hold_is_skipped_with_a_message(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out, '--max-memory', '1K']) == 1
    err = capsys.readouterr().err
    assert 'skipped' in err and 'budget' in err and not (out / 'voc-2007_000129.png').exists()


@pytest.mark.torchcaffe_only    # lazy allocation and its limit are the engine's
def test_memory_estimate_grows_with_the_pixels_and_allocates_nothing(tiny_net):
    folder, weights = tiny_net
    seg = segmenter(folder, weights)
    small, big = seg.blob_bytes(100, 100), seg.blob_bytes(20000, 30000)
    assert big > 50 * small
    assert big >= 4 * 13 * 20000 * 30000                    # 13 channels of blobs at 20000 x 30000
    assert not seg.net.blobs['conv'].allocated               # shapes only: nothing was allocated
    assert seg.memory_needed(10, 10, 20000, 30000, 8) - seg.memory_needed(10, 10, 10, 10, 8) \
        == 8 * (20000 * 30000 - 100)                          # every image pixel is counted


def test_a_decompression_bomb_is_refused_before_decoding_without_pil_warnings(tiny_net, tmp_path):
    folder, weights = tiny_net
    bomb = tmp_path / 'bomb.png'
    Image.new('1', (20000, 20000)).save(bomb)                  # 400 Mpixels that compress to almost nothing
    assert os.path.getsize(bomb) < 1 << 20
    with warnings.catch_warnings():
        warnings.simplefilter('error')                         # a DecompressionBombWarning would fail here
        rc, lines = cli_run([bomb, '--net', folder, '--weights', weights, '--out', tmp_path / 'out',
                             '--max-memory', '1G'])
    assert rc == 1
    assert any('bomb.png' in line and '20000x20000' in line and 'budget' in line for line in lines), lines
    assert not any('Decompression' in line for line in lines)


@pytest.mark.torchcaffe_only    # lazy allocation and its limit are the engine's
def test_a_huge_image_is_sized_to_the_budget_without_allocating_even_past_the_engine_limit(tiny_net, monkeypatch):
    import torchcaffe.blob
    folder, weights = tiny_net
    seg = segmenter(folder, weights)
    monkeypatch.setattr(torchcaffe.blob, 'MAX_BLOB_BYTES', 4 * 6 * 4000 * 4000)  # the engine refuses full size
    assert seg.blob_bytes(20000, 30000) == float('inf')
    seg.budget = seg.memory_needed(1000, 1000, 20000, 30000, 8)
    h, w, need = seg.fitting_size(20000, 30000, 8)
    assert need <= seg.budget and h * w > 0.5 * 1000 * 1000             # close to the budget, not far below
    assert abs(w / h - 1.5) < 0.01                                       # the image's aspect is kept
    assert not any(b.allocated for b in seg.net.blobs.values() if b.count > 3 * 64)


def test_max_memory_sizes():
    assert inference.parse_memory('2') == 2 << 30
    assert inference.parse_memory('2G') == inference.parse_memory('2GiB') == inference.parse_memory('2gb') == 2 << 30
    assert inference.parse_memory('512M') == 512 << 20
    assert inference.parse_memory('1.5G') == 3 << 29
    assert inference.parse_memory('800K') == 800 << 10
    for bad in ('-1', '0', 'abc', '2X', 'G', 'nan', 'inf', ''):
        with pytest.raises(ValueError):
            inference.parse_memory(bad)


@pytest.mark.parametrize('value', ['-1', 'abc', '0'])
def test_bad_max_memory_is_a_parser_error(tiny_net, value):
    folder, weights = tiny_net
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', weights, '--max-memory', value])
    assert_one_clear_line(rc, lines, '--max-memory', value)
    assert rc == 2


def test_the_same_stem_twice_gets_distinct_outputs_and_a_note(tiny_net, tmp_path):
    folder, weights = tiny_net
    rgb = np.asarray(Image.open(REAL_JPEG))
    Image.fromarray(rgb).save(tmp_path / 'x.jpg')
    Image.fromarray(255 - rgb).save(tmp_path / 'x.png')
    out = tmp_path / 'out'
    rc, lines = cli_run([tmp_path / 'x.jpg', tmp_path / 'x.png', '--net', folder, '--weights', weights, '--out', out])
    assert rc == 0
    assert any('x.jpg.png' in line and 'x.png.png' in line for line in lines), lines
    a, b = vis.read_label_png(str(out / 'x.jpg.png')), vis.read_label_png(str(out / 'x.png.png'))
    assert a.shape == b.shape == rgb.shape[:2] and not np.array_equal(a, b)
    assert (out / 'x.jpg_overlay.jpg').exists() and (out / 'x.png_overlay.jpg').exists()
    assert not (out / 'x.png').exists()


def test_the_same_file_name_in_two_folders_is_a_clear_error(tiny_net, tmp_path):
    folder, weights = tiny_net
    for sub in ('a', 'b'):
        (tmp_path / sub).mkdir()
        shutil.copy(REAL_JPEG, tmp_path / sub / 'x.jpg')
    rc, lines = cli_run([tmp_path / 'a' / 'x.jpg', tmp_path / 'b' / 'x.jpg', '--net', folder, '--weights', weights,
                         '--out', tmp_path / 'out'])
    assert_one_clear_line(rc, lines, os.path.join('a', 'x.jpg'), os.path.join('b', 'x.jpg'), '--out')
    assert not (tmp_path / 'out').exists()


def test_an_output_never_overwrites_an_input(tiny_net, tmp_path):
    folder, weights = tiny_net
    Image.open(REAL_JPEG).save(tmp_path / 'x.png')
    rc, lines = cli_run([tmp_path / 'x.png', '--net', folder, '--weights', weights, '--out', tmp_path])
    assert_one_clear_line(rc, lines, 'x.png', 'overwritten')


def test_an_empty_caffemodel_is_an_error_naming_it(tiny_net, tmp_path):
    folder, _ = tiny_net
    empty = tmp_path / 'empty.caffemodel'
    empty.write_bytes(b'')
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', empty, '--out', tmp_path / 'out'])
    assert_one_clear_line(rc, lines, str(empty), 'empty')
    assert rc == 2


def test_a_caffemodel_of_another_net_is_an_error_unless_allowed(tiny_net, tmp_path):
    folder, _ = tiny_net
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'deploy.prototxt').write_text(DEPLOY.replace('"conv"', '"c1"').replace('"score"', '"s1"')
                                           .replace('top: "s1"', 'top: "score"'))
    unrelated = random_weights(other / 'deploy.prototxt', tmp_path / 'other.caffemodel')
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', unrelated, '--out', tmp_path / 'out'])
    assert_one_clear_line(rc, lines, 'other.caffemodel', 'none of', '--allow-partial')
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', unrelated, '--out', tmp_path / 'out',
                         '--allow-partial'])
    assert rc == 0 and any('fillers' in line for line in lines)


def test_gpu_without_such_a_device_is_one_line(tiny_net, tmp_path):
    folder, weights = tiny_net
    rc, lines = cli_run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', tmp_path / 'out', '--gpu', '99'])
    assert_one_clear_line(rc, lines, '--gpu 99')
    caffe.set_device(0)
    caffe.set_mode_cpu()


def test_a_color_hha_net_without_its_hha_is_one_line_naming_the_image_and_the_option(tmp_path):
    shutil.copy(NYUD_IMAGE, tmp_path / 'img_5001.png')
    rc, lines = cli_run([tmp_path / 'img_5001.png', '--net', 'nyud-fcn32s-color-hha', '--weights',
                         tmp_path / 'unused.caffemodel', '--out', tmp_path / 'out'])
    assert_one_clear_line(rc, lines, 'img_5001.png', '--hha FILE', os.path.join('hha', 'img_5001.png'))
    rc, lines = cli_run([tmp_path / 'img_5001.png', '--net', 'nyud-fcn32s-color-d', '--depth', tmp_path / 'd.png',
                         '--out', tmp_path / 'out'])
    assert_one_clear_line(rc, lines, 'img_5001.png', 'd.png', 'does not exist')


def test_extra_inputs_follow_the_nyud_layout():
    rec = records.get('nyud-fcn32s-color-hha')
    plan = inference.inputs_of([NYUD_IMAGE], rec)[NYUD_IMAGE]
    assert plan['color'] == NYUD_IMAGE
    assert plan['hha'] == os.path.join(os.path.abspath(NYUD), 'data', 'hha', 'img_5001.png')
    rec = records.get('nyud-fcn32s-color-d')
    assert inference.inputs_of([NYUD_IMAGE], rec)[NYUD_IMAGE]['depth'].endswith(
        os.path.join('data', 'depth', 'img_5001.png'))


def test_a_subprocess_run_on_a_bad_image_exits_nonzero_with_one_line_per_image(tiny_net, tmp_path):
    folder, weights = tiny_net
    bad = tmp_path / 'bad.jpg'
    bad.write_text('not an image')
    p = subprocess.run([sys.executable, os.path.join(REPO, 'infer.py'), str(bad), '--net', folder, '--weights',
                        weights, '--out', str(tmp_path / 'out')], capture_output=True, text=True,
                       env=subprocess_env())
    assert p.returncode == 1 and 'Traceback' not in p.stderr
    assert [line for line in p.stderr.splitlines() if 'bad.jpg' in line][0].startswith('skipped')


def test_a_long_legend_goes_on_in_columns_and_says_what_it_left_out():
    palette = vis.voc_palette()
    entries = [('class %d' % k, palette[k]) for k in range(1, 34)]
    im = Image.new('RGB', (400, 120), (20, 20, 20))
    vis.draw_legend(im, entries)
    drawn = {tuple(c) for c in np.asarray(im).reshape(-1, 3)}
    assert all(tuple(palette[k]) in drawn for k in range(1, 34))           # every swatch, in columns
    small = Image.new('RGB', (60, 40), (20, 20, 20))
    vis.draw_legend(small, entries)
    drawn = {tuple(c) for c in np.asarray(small).reshape(-1, 3)}
    assert tuple(palette[1]) in drawn and tuple(palette[33]) not in drawn   # the first ones, then "+N more"


def test_class_zero_is_tinted_unless_it_is_background(tmp_path):
    label = np.zeros((200, 200), np.uint8)
    rgb = np.full((200, 200, 3), 100, np.uint8)
    result = inference.Result('x.png', rgb, [label, label], (200, 200), 0)
    inference.write_outputs(result, str(tmp_path), 'x', records.get('siftflow-fcn8s'))
    sky = np.asarray(Image.open(tmp_path / 'x_geometric_overlay.jpg')).astype(int)
    assert abs(sky[-1, -1] - 50).max() <= 3                                # class 0 (awning/sky) tinted black
    inference.write_outputs(inference.Result('x.png', rgb, [label], (200, 200), 0), str(tmp_path), 'v',
                            records.get('voc-fcn8s'))
    background = np.asarray(Image.open(tmp_path / 'v_overlay.jpg')).astype(int)
    assert abs(background[-1, -1] - 100).max() <= 3                        # VOC background left as is
