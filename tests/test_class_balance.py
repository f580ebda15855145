"""Rare thin classes are learnt better with class weights and augmentation than without (issue 19).

A synthetic dataset like a street scene's (tests/owndata_helpers.make_rare_dataset: three large
regions, four thin or small classes each under 1% of the pixels and coloured near what surrounds
them, unlabelled pixels stored as a class index named in void.txt) trains the slim FCN-8s from
scratch twice, through the command lines a user types, for the same number of iterations: as the
paper trained (whole images, every pixel alike) and with `--class-weights median-frequency
--augment`.  Trained the paper's way, the net all but never predicts some rare classes, as it did
on the real street scenes of issue 19.  The val split is scored from the predictions evaluate.py
saves.  Both runs are seeded (dataset, fillers, data layer), and each runs single-threaded, the two
side by side, so the figures are the same on every run of the test on one machine.
"""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

import score
from fcn import paths
from owndata_helpers import RARE_CLASSES, make_rare_dataset

PY = sys.executable
ITERS = 600
RARE = [RARE_CLASSES.index(c) for c in ('pole', 'wire', 'sign', 'crack')]
VARIANTS = {'plain': [], 'balanced': ['--class-weights', 'median-frequency', '--augment']}


def start(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.Popen([PY, os.path.join(paths.ROOT, script)] + [str(a) for a in args], cwd=paths.ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(runs):
    """Wait for every process of `runs` ({name: Popen}); fail with the output of one that failed."""
    for name, run in runs.items():
        out, _ = run.communicate(timeout=1800)
        assert run.returncode == 0, '%s: %s' % (name, out[-3000:])


def iu_per_class(pred_dir, truth, n_classes):
    hist = 0
    for i, label in truth.items():
        with Image.open(os.path.join(str(pred_dir), i + '.png')) as im:
            hist = hist + score.fast_hist(label, np.asarray(im), n_classes)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))


def trained_iu(tmp_path, seed):
    """{variant: IU per class on the val split} after ITERS iterations on make_rare_dataset(seed)."""
    data, models = tmp_path / 'data', tmp_path / 'models'
    written = make_rare_dataset(data, n_train=300, n_val=60, seed=seed)
    truth = {i: label for i, label in written.items() if i.startswith('v')}
    finish({name: start('models/create.py', name, '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch',
                        '--width-divisor', 8, '--max-iter', ITERS, '--models-dir', models, *argv)
            for name, argv in VARIANTS.items()})
    finish({name: start('solve.py', models / name, '--out', tmp_path / 'out' / name, '--test-interval', ITERS)
            for name in VARIANTS})
    finish({name: start('evaluate.py', models / name, '--save', tmp_path / 'pred' / name, '--weights',
                        tmp_path / 'out' / name / 'snapshots' / ('train_iter_%d.caffemodel' % ITERS))
            for name in VARIANTS})
    return {name: iu_per_class(tmp_path / 'pred' / name, truth, len(RARE_CLASSES)) for name in VARIANTS}


def test_class_weights_and_augmentation_learn_the_rare_classes(tmp_path):
    iu = trained_iu(tmp_path, seed=0)
    plain, balanced = iu['plain'], iu['balanced']
    shown = ', '.join('%s %.1f -> %.1f' % (c, 100 * p, 100 * b) for c, p, b in zip(RARE_CLASSES, plain, balanced))
    shown += '; mean IU %.1f -> %.1f' % (100 * plain.mean(), 100 * balanced.mean())
    assert not np.isnan(plain).any() and not np.isnan(balanced).any(), shown
    # The rare classes are learnt: three of the four higher (the crack, a 2 px diagonal, is at 0 in both
    # here), their mean IU 9.8 -> 18.0 (4.2 -> 17.0 and 8.0 -> 16.0 on the datasets of seeds 1, 2), and
    # the whole is higher too, as what they gain outweighs what the large classes lose (47.4 -> 50.3,
    # 44.2 -> 49.0, 46.5 -> 48.4).  README's "Your own data" has the figures, and longer runs.
    assert (balanced[RARE] > plain[RARE]).sum() >= 3, shown
    assert balanced[RARE].mean() > plain[RARE].mean() + 0.04, shown
    assert balanced.mean() > plain.mean() + 0.01, shown
