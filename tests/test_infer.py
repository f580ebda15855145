"""infer.py: label maps the size of each image, overlays, and clear handling of bad inputs."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import infer
import vis
from backend import caffe

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_JPEG = os.path.join(HERE, 'data', 'voc-2007_000129.jpg')   # a PASCAL VOC photo, 500 x 334

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


def run(args):
    return infer.main([str(a) for a in args])


def test_real_jpeg_gives_a_label_png_of_its_size(tiny_net, tmp_path):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out]) == 0
    width, height = Image.open(REAL_JPEG).size
    label = Image.open(out / 'voc-2007_000129.png')
    assert label.mode == 'P' and label.size == (width, height)
    overlay = Image.open(out / 'voc-2007_000129_overlay.jpg')
    assert overlay.size == (width, height)


def test_label_map_is_the_argmax_of_the_net(tiny_net, tmp_path):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out])
    rgb = infer.load_rgb(REAL_JPEG)
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    x = infer.preprocess(rgb)
    net.blobs['data'].reshape(*x.shape)
    net.blobs['data'].data[...] = x
    net.forward()
    expected = net.blobs['score'].data[0].argmax(0)
    np.testing.assert_array_equal(vis.read_label_png(str(out / 'voc-2007_000129.png')), expected)


def test_preprocess_is_bgr_minus_the_mean_in_chw():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    x = infer.preprocess(rgb)
    assert x.shape == (1, 3, 2, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], np.array([30, 20, 10]) - infer.MEAN_BGR)


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
    assert 'notes.jpg: not an image' in err
    assert 'missing.jpg: no such file' in err
    assert 'cut.jpg' in err and not (out / 'notes.png').exists()


def test_missing_weights_name_the_make_target(tiny_net, tmp_path):
    folder, _ = tiny_net
    with pytest.raises(SystemExit, match='make weights'):
        run([REAL_JPEG, '--net', folder, '--weights', tmp_path / 'none.caffemodel'])


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
    out = infer.load_rgb(str(path))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4000)
    path = tmp_path / 'deep.png'
    Image.fromarray(ramp).save(path)
    out = infer.load_rgb(str(path))
    assert out[..., 0].max() == 255 and len(np.unique(out[..., 0])) == 16


def test_exif_rotation_is_applied(tmp_path):
    im = Image.new('RGB', (6, 2), (200, 10, 10))
    exif = Image.Exif()
    exif[0x0112] = 6          # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / 'rotated.jpg'
    im.save(path, exif=exif.tobytes())
    assert infer.load_rgb(str(path)).shape == (6, 2, 3)


def test_transparent_pixels_are_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    path = tmp_path / 'alpha.png'
    Image.fromarray(rgba, 'RGBA').save(path)
    out = infer.load_rgb(str(path))
    assert tuple(out[0, 0]) == (0, 0, 0) and tuple(out[1, 1]) == (255, 255, 255)


def test_an_image_over_the_memory_budget_is_segmented_smaller_and_scaled_back(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    width, height = Image.open(REAL_JPEG).size
    full = infer.memory_needed(net, height, width)
    budget_gib = full / 3 / 2 ** 30
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out,
                '--max-memory', budget_gib]) == 0
    err = capsys.readouterr().err
    assert 'over the' in err and 'scaling the labels back' in err
    label = vis.read_label_png(str(out / 'voc-2007_000129.png'))
    assert label.shape == (height, width)
    h, w, need = infer.fitting_size(net, height, width, budget_gib * 2 ** 30)
    assert (h, w) < (height, width) and need <= budget_gib * 2 ** 30
    small = np.asarray(Image.fromarray(infer.load_rgb(REAL_JPEG)).resize((w, h), Image.BILINEAR))
    expected = Image.fromarray(infer.segment(net, small)).resize((width, height), Image.NEAREST)
    np.testing.assert_array_equal(label, np.asarray(expected))


def test_an_image_no_budget_can_hold_is_skipped_with_a_message(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    out = tmp_path / 'out'
    assert run([REAL_JPEG, '--net', folder, '--weights', weights, '--out', out, '--max-memory', 1e-6]) == 1
    err = capsys.readouterr().err
    assert 'skipped' in err and 'budget' in err and not (out / 'voc-2007_000129.png').exists()


def test_memory_estimate_grows_with_the_pixels_and_allocates_nothing(tiny_net):
    folder, weights = tiny_net
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    small, big = infer.memory_needed(net, 100, 100), infer.memory_needed(net, 20000, 30000)
    assert big > 50 * small
    assert big > 4 * 13 * 20000 * 30000                       # 13 channels of blobs at 20000 x 30000
    assert not net.blobs['conv'].allocated                     # shapes only: nothing was allocated


def test_a_decompression_bomb_is_refused_before_decoding(tiny_net, tmp_path, capsys):
    folder, weights = tiny_net
    bomb = tmp_path / 'bomb.png'
    Image.new('1', (20000, 20000)).save(bomb)                  # 400 Mpixels that compress to almost nothing
    assert os.path.getsize(bomb) < 1 << 20
    out = tmp_path / 'out'
    assert run([bomb, '--net', folder, '--weights', weights, '--out', out]) == 1
    assert 'bomb.png: too many pixels' in capsys.readouterr().err


def test_a_huge_image_is_sized_to_the_budget_without_allocating_even_past_the_engine_limit(tiny_net, monkeypatch):
    import torchcaffe.blob
    folder, weights = tiny_net
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    monkeypatch.setattr(torchcaffe.blob, 'MAX_BLOB_BYTES', 4 * 6 * 4000 * 4000)  # the engine refuses full size
    assert infer.memory_needed(net, 20000, 30000) == float('inf')
    budget = infer.memory_needed(net, 1000, 1000)
    h, w, need = infer.fitting_size(net, 20000, 30000, budget)
    assert need <= budget and h * w > 0.5 * 1000 * 1000                  # close to the budget, not far below
    assert abs(w / h - 1.5) < 0.01                                       # the image's aspect is kept
    assert not any(b.allocated for b in net.blobs.values())


def test_a_huge_image_over_a_tiny_budget_is_refused_naming_its_size_before_any_allocation(tiny_net):
    folder, weights = tiny_net
    net = caffe.Net(os.path.join(folder, 'deploy.prototxt'), caffe.TEST, weights=weights)
    rgb = np.broadcast_to(np.zeros(3, np.uint8), (20000, 20000, 3))     # 1.2 GB of pixels that take no memory
    with pytest.raises(infer.InputError, match=r'20000x20000 pixels: .* GiB budget \(raise --max-memory\)'):
        infer.segment_within(net, rgb, 1024, 'huge.png')
    assert not any(b.allocated for b in net.blobs.values())
