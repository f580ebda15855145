"""infer.py's peak memory stays within --max-memory plus the process's fixed cost (issues 14, 20).

A 12000 x 9000 photo (108 Mpixels: over PIL's 89-Mpixel warning) with --max-memory 2, in a fresh
process whose peak RSS (ru_maxrss) is compared with the budget plus the fixed cost: the peak of the
same command on a tiny image, measured here too.  The whole pass does not fit, so the label map is
made at full resolution from tiles.  The net has shapes-fcn8s's geometry with 4-channel layers
(infer_helpers.micro_fcn8s) and random weights: the slim net itself would take about ten CPU-minutes
on 108 Mpixels here (BENCHMARKS.md has the seconds per megapixel).
"""
import os
import sys

from PIL import Image, ImageDraw

import vis
from fcn import readers
from infer_helpers import REPO, micro_fcn8s, random_weights, run_measured, subprocess_env
from models import records

BUDGET = 2 << 30


def test_a_12000x9000_image_stays_within_the_budget_and_gets_a_full_resolution_label_map(tmp_path):
    folder = micro_fcn8s(tmp_path / 'micro-fcn8s')
    weights = random_weights(records.get(folder).deploy, tmp_path / 'micro.caffemodel', scale=0.5)
    huge = tmp_path / 'huge.png'
    im = Image.new('RGB', (12000, 9000), (120, 140, 90))          # flat colour compresses to ~1.5 MB
    ImageDraw.Draw(im).ellipse((3000, 2000, 8000, 7000), fill=(200, 30, 30))
    im.save(huge, compress_level=1)
    im.crop((0, 0, 120, 90)).save(tmp_path / 'tiny.png')
    del im

    def infer(image, out):
        return run_measured([sys.executable, os.path.join(REPO, 'infer.py'), str(image), '--net', folder,
                             '--weights', weights, '--out', str(out), '--max-memory', '2'], env=subprocess_env())

    tiny = infer(tmp_path / 'tiny.png', tmp_path / 'out-tiny')
    assert tiny['rc'] == 0, tiny['stderr']
    big = infer(huge, tmp_path / 'out')
    assert big['rc'] == 0, big['stderr']
    assert 'Traceback' not in big['stderr'] and 'DecompressionBomb' not in big['stderr']
    assert 'segmented at full resolution in' in big['stderr'] and 'scaled back' not in big['stderr']
    fixed = tiny['peak']
    print('budget %.0f MiB, fixed cost %.0f MiB, peak %.0f MiB'
          % (BUDGET / 2 ** 20, fixed / 2 ** 20, big['peak'] / 2 ** 20))
    assert big['peak'] <= BUDGET + fixed
    assert readers.image_size(str(tmp_path / 'out' / 'huge.png'), 'label', 'test') == (9000, 12000, 'P')
    assert vis.read_label_png(str(tmp_path / 'out-tiny' / 'tiny.png')).shape == (90, 120)
    assert readers.image_size(str(tmp_path / 'out' / 'huge_overlay.jpg'), 'overlay', 'test') == (9000, 12000, 'RGB')


# A net with the FCN contract and a reach of one pixel (3x3 convolution, no pooling): the windowed
# reading and writing are what this test measures, and their tiles then barely overlap.
NARROW = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "score" type: "Convolution" bottom: "conv" top: "score" convolution_param { num_output: 3 kernel_size: 1 } }
'''


def test_a_tiff_too_large_to_decode_is_segmented_window_by_window(tmp_path):
    import numpy as np
    import tifffile
    height, width, budget = 6000, 12000, 96 << 20
    folder = tmp_path / 'narrow-net'
    folder.mkdir()
    (folder / 'deploy.prototxt').write_text(NARROW)
    weights = random_weights(str(folder / 'deploy.prototxt'), tmp_path / 'narrow.caffemodel', scale=0.5)
    rows = np.linspace(0, 255, height).astype(np.uint8)

    def tiles():                                   # a vertical gradient, 512-pixel tiles, never whole here
        for y in range(0, height, 512):
            block = np.repeat(np.repeat(rows[y:y + 512, None, None], 512, 1), 3, 2)
            block = np.pad(block, ((0, 512 - len(block)), (0, 0), (0, 0)))
            block[:, :, 1] = 90
            for _ in range(0, width, 512):
                yield block
    big = tmp_path / 'big.tif'
    tifffile.imwrite(big, tiles(), shape=(height, width, 3), dtype=np.uint8, tile=(512, 512),
                     photometric='rgb', compression='zlib')
    Image.fromarray(np.zeros((90, 120, 3), np.uint8)).save(tmp_path / 'tiny.tif')

    def infer(image, out):
        return run_measured([sys.executable, os.path.join(REPO, 'infer.py'), str(image), '--net', str(folder),
                             '--weights', weights, '--out', str(out), '--max-memory', '96M'], env=subprocess_env())

    tiny = infer(tmp_path / 'tiny.tif', tmp_path / 'out-tiny')
    assert tiny['rc'] == 0, tiny['stderr']
    run = infer(big, tmp_path / 'out')
    assert run['rc'] == 0, run['stderr']
    import re
    factor = int(re.search(r'read window by window.* overlay at 1/(\d+) scale', run['stderr']).group(1))
    assert factor >= 6                                                              # 2048 pixels a side at most
    print('budget %.0f MiB, fixed cost %.0f MiB, peak %.0f MiB, the image decoded %.0f MiB'
          % (budget / 2 ** 20, tiny['peak'] / 2 ** 20, run['peak'] / 2 ** 20, 3 * height * width / 2 ** 20))
    assert run['peak'] - tiny['peak'] <= budget < 3 * height * width / 2          # never half the image
    with tifffile.TiffFile(tmp_path / 'out' / 'big.tif') as tif:
        page = tif.pages.first
        assert page.shape == (height, width) and page.is_tiled
        labels = page.asarray()
    assert len(np.unique(labels[:, 7000])) >= 2                                     # the gradient is seen
    assert (labels[:, 1:-1] == labels[:, 1:2]).all()           # no seams: constant along rows, as the image
                                                                # (the border columns see the net's padding)
    assert Image.open(tmp_path / 'out' / 'big_overlay.jpg').size == (-(-width // factor), -(-height // factor))


def test_an_unreadable_tiff_is_one_line(tmp_path):
    bad = tmp_path / 'bad.tif'
    bad.write_bytes(b'II*\x00' + b'\xff' * 60)
    p = run_measured([sys.executable, os.path.join(REPO, 'infer.py'), str(bad), '--net', 'shapes-fcn8s',
                      '--weights', random_weights(records.get('shapes-fcn8s').deploy, tmp_path / 'w.caffemodel'),
                      '--out', str(tmp_path / 'out')], env=subprocess_env())
    lines = p['stderr'].strip().splitlines()
    assert p['rc'] == 1 and 'Traceback' not in p['stderr']
    assert 'bad.tif' in lines[-1] and 'skipped' in lines[-1], p['stderr']
