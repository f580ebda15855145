"""infer.py's peak memory stays within --max-memory plus the process's fixed cost (issue 14).

A 12000 x 9000 photo (108 Mpixels: over PIL's 89-Mpixel warning) through the slim shapes-fcn8s with
random weights and --max-memory 2, in a fresh process whose peak RSS (ru_maxrss) is compared with
the budget plus the fixed cost: the peak of the same command on a tiny image, measured here too.
"""
import os
import sys

from PIL import Image, ImageDraw

import vis
from fcn import readers
from infer_helpers import REPO, random_weights, run_measured, subprocess_env
from models import records

BUDGET = 2 << 30


def test_a_12000x9000_image_stays_within_the_budget_and_gets_a_label_map_of_its_size(tmp_path):
    rec = records.get('shapes-fcn8s')
    weights = random_weights(rec.deploy, tmp_path / 'shapes.caffemodel')
    huge = tmp_path / 'huge.png'
    im = Image.new('RGB', (12000, 9000), (120, 140, 90))          # flat colour compresses to ~1.5 MB
    ImageDraw.Draw(im).ellipse((3000, 2000, 8000, 7000), fill=(200, 30, 30))
    im.save(huge, compress_level=1)
    im.crop((0, 0, 120, 90)).save(tmp_path / 'tiny.png')
    del im

    def infer(image, out):
        return run_measured([sys.executable, os.path.join(REPO, 'infer.py'), str(image), '--net', 'shapes-fcn8s',
                             '--weights', weights, '--out', str(out), '--max-memory', '2'], env=subprocess_env())

    tiny = infer(tmp_path / 'tiny.png', tmp_path / 'out-tiny')
    assert tiny['rc'] == 0, tiny['stderr']
    big = infer(huge, tmp_path / 'out')
    assert big['rc'] == 0, big['stderr']
    assert 'Traceback' not in big['stderr'] and 'DecompressionBomb' not in big['stderr']
    assert 'segmented at' in big['stderr']                        # the pass was shrunk to fit
    fixed = tiny['peak']
    print('budget %.0f MiB, fixed cost %.0f MiB, peak %.0f MiB'
          % (BUDGET / 2 ** 20, fixed / 2 ** 20, big['peak'] / 2 ** 20))
    assert big['peak'] <= BUDGET + fixed
    assert readers.image_size(str(tmp_path / 'out' / 'huge.png'), 'label', 'test') == (9000, 12000, 'P')
    assert vis.read_label_png(str(tmp_path / 'out-tiny' / 'tiny.png')).shape == (90, 120)
    assert readers.image_size(str(tmp_path / 'out' / 'huge_overlay.jpg'), 'overlay', 'test') == (9000, 12000, 'RGB')
