"""Screenshots of the three report pages of a trained net, taken by headless Chromium (make screenshots).

    python docs/screenshots.py                       # the demo net (after `make demo`) into docs/
    python docs/screenshots.py --net my-net --dataset data/my-data --out shots/

The dataset's page (data/check.py --report) and the evaluation page of the net's newest snapshot
(evaluate.py --report) are written into out/<net>/pages/; the training page is out/<net>/index.html,
which training rewrites after each seg test.  Each page is opened from disk by Chromium (Debian's
`chromium` package) with a fresh profile and no network, shot at 1280 pixels wide, cut below its
last line and saved as a small PNG: <out>/page-check.png, page-evaluation.png, page-training.png.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from fcn import cli, paths, training
from fcn.errors import FCNError, MissingFile

BROWSERS = ('chromium', 'chromium-browser')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']
WIDTH, HEIGHT = 1280, 6000
SHOWN_WIDTH = 960


def browser():
    """The Chromium command, or FCNError saying how to install it."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise FCNError('chromium is not installed, so no screenshots were taken: install it '
                   '(Debian: apt-get install chromium) and run again')


def shoot(chromium, page, png):
    """Screenshot of a page file, cut below its content and shrunk to a small PNG."""
    with tempfile.TemporaryDirectory() as profile:
        raw = os.path.join(profile, 'shot.png')
        run = subprocess.run([chromium] + FLAGS + ['--user-data-dir=' + os.path.join(profile, 'p'),
                                                   '--screenshot=' + raw, '--window-size=%d,%d' % (WIDTH, HEIGHT),
                                                   'file://' + os.path.abspath(page)],
                             capture_output=True, text=True, timeout=120)
        if run.returncode or not os.path.isfile(raw):
            raise FCNError('chromium could not shoot %s: %s' % (page, run.stderr.strip()[-500:]))
        with Image.open(raw) as im:
            rgb = np.asarray(im.convert('RGB'))
    ink = np.flatnonzero((rgb < 250).any(axis=(1, 2)))
    rgb = rgb[:ink[-1] + 20 if ink.size else rgb.shape[0]]
    im = Image.fromarray(rgb)
    im = im.resize((SHOWN_WIDTH, round(im.size[1] * SHOWN_WIDTH / im.size[0])), Image.LANCZOS)
    palette = im.quantize(256, method=Image.Quantize.MEDIANCUT, kmeans=3)    # 256 colours, dithered: a
    im.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(png, optimize=True)  # quarter the size
    return png


def step(*args):
    print('$ python ' + ' '.join(args), flush=True)
    run = subprocess.run([sys.executable, os.path.join(paths.ROOT, args[0])] + list(args[1:]), cwd=paths.ROOT)
    if run.returncode not in (0, 2):      # data/check.py says 2 when it found problems: still a page
        raise FCNError('`python %s` failed (exit status %d)' % (' '.join(args), run.returncode))


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('--net', default='shapes-fcn8s', help='a trained net (default: the demo\'s, shapes-fcn8s)')
    ap.add_argument('--dataset', default=os.path.join(paths.DATA, 'shapes'), help='its dataset folder')
    ap.add_argument('--out', default=os.path.join(paths.ROOT, 'docs'), help='folder for the PNGs (default docs/)')
    args = ap.parse_args(argv)
    chromium = browser()
    odir = paths.out_dir(args.net)
    weights = training.final_weights(args.net)
    training_page = os.path.join(odir, 'index.html')
    if weights is None or not os.path.isfile(training_page):
        raise MissingFile('%s has no trained snapshot and training page in %s: train it first (make demo for '
                          'the demo net)' % (args.net, odir))
    check_dir, eval_dir = os.path.join(odir, 'pages', 'check'), os.path.join(odir, 'pages', 'evaluation')
    step('data/check.py', args.dataset, '--report', check_dir)
    step('evaluate.py', args.net, '--weights', weights, '--report', eval_dir, '--report-images', '3')
    os.makedirs(args.out, exist_ok=True)
    for name, page in (('check', check_dir + '/index.html'), ('evaluation', eval_dir + '/index.html'),
                       ('training', training_page)):
        print('screenshot: %s' % shoot(chromium, page, os.path.join(args.out, 'page-%s.png' % name)))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
