"""Smoke tests of the CPU demo: the shapes generator and a --quick run of demo.py end to end.

The full run (`make demo`) trains for minutes; here a tiny dataset and a few
iterations check that every stage runs and reports.  --quick writes only under
out/shapes-fcn8s-quick/ (which the test removes), never into models/ or data/.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

import demo
import vis
from fcn import dataset, paths

ROOT = paths.ROOT
shapes = demo.shapes


def digests(folder):
    """{relative path: sha256} of every file under folder."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def test_generator_writes_the_folder_layout(tmp_path):
    out = str(tmp_path / 'shapes')
    ids = shapes.generate(out, n_train=5, n_val=3, size=40, seed=7, verbose=False)
    assert ids == {'train': ['train_%05d' % i for i in range(5)], 'val': ['val_%05d' % i for i in range(3)]}
    names = shapes.class_names()
    assert names == ['background', 'circle', 'square', 'triangle']
    for split, split_ids in ids.items():
        listed = (tmp_path / 'shapes' / (split + '.txt')).read_text().split()
        assert listed == split_ids
        for i in split_ids:
            with Image.open(os.path.join(out, 'images', i + '.jpg')) as im:
                assert im.format == 'JPEG' and im.mode == 'RGB' and im.size == (40, 40)
            with Image.open(os.path.join(out, 'labels', i + '.png')) as im:
                assert im.format == 'PNG' and im.mode == 'P' and im.size == (40, 40)
                assert im.getpalette()[:3 * 256] == list(vis.PALETTE.ravel())
            label = vis.read_label_png(os.path.join(out, 'labels', i + '.png'))
            values = set(np.unique(label).tolist())
            assert values <= set(range(len(names))) | {255}
            assert 0 in values and 255 in values and values & {1, 2, 3}   # shapes with void borders
    assert not set(ids['train']) & set(ids['val'])
    assert (tmp_path / 'shapes' / 'classes.txt').read_text().split() == names
    assert dataset.check(out).problems == []            # a dataset as a user's own is laid out
    assert shapes.is_complete(out, 5, 3, 40, 7)
    assert not shapes.is_complete(out, 5, 3, 40, 8)
    with open(os.path.join(out, shapes.MANIFEST)) as f:
        assert json.load(f)['size'] == 40


def test_generator_is_deterministic(tmp_path):
    a, b, c = (str(tmp_path / d) for d in 'abc')
    shapes.generate(a, n_train=4, n_val=2, size=48, seed=3, verbose=False)
    shapes.generate(b, n_train=4, n_val=2, size=48, seed=3, verbose=False)
    shapes.generate(c, n_train=4, n_val=2, size=48, seed=4, verbose=False)
    da, db, dc = digests(a), digests(b), digests(c)
    assert da == db and len(da) == 2 * 6 + 4
    assert da['images/train_00000.jpg'] != dc['images/train_00000.jpg']
    # the held-out images do not depend on how many training images there are
    d = str(tmp_path / 'd')
    shapes.generate(d, n_train=1, n_val=2, size=48, seed=3, verbose=False)
    assert digests(d)['images/val_00001.jpg'] == da['images/val_00001.jpg']


def repo_state():
    """What the quick demo must leave alone: the committed net and the full dataset's folder."""
    folders = [demo.NET_DIR, demo.DEFAULT_DATA, paths.out_dir(demo.NAME)]
    return {f: sorted((p, os.path.getmtime(os.path.join(d, p))) for d, _, fs in os.walk(f) for p in fs)
            for f in folders}


def test_quick_demo_end_to_end(tmp_path):
    odir = paths.out_dir(demo.NAME + '-quick')
    shutil.rmtree(odir, ignore_errors=True)
    before = repo_state()
    cmd = [sys.executable, os.path.join(ROOT, 'demo.py'), '--quick']
    try:
        run = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        lines = run.stdout.strip().splitlines()
        m = re.fullmatch(r'mean IU (\d+\.\d{4})', lines[-1])
        assert m, lines[-5:]
        assert 0.0 <= float(m.group(1)) <= 1.0
        for name in shapes.class_names():
            assert any(line.startswith(name + ' ') for line in lines), name
        # each step is a command line a user types for their own data, printed before it runs
        typed = [line[2:] for line in lines if line.startswith('$ ')]
        net = 'out/shapes-fcn8s-quick/models/shapes-fcn8s-quick'
        assert [t.split()[1] for t in typed] == [
            'data/shapes/make_shapes.py', 'data/check.py', 'models/create.py', 'solve.py', 'evaluate.py',
            'infer.py']
        assert typed[2].startswith('python models/create.py shapes-fcn8s-quick --dataset '
                                   'out/shapes-fcn8s-quick/data --arch fcn8s --init scratch --width-divisor 8')
        assert typed[3].startswith('python solve.py %s' % net)
        # trained through solve.py into out/<net>, with a seg test and a snapshot
        snaps = os.listdir(os.path.join(odir, 'snapshots'))
        assert 'train_iter_%d.caffemodel' % demo.QUICK['iters'] in snaps
        with open(os.path.join(odir, 'log.csv')) as f:
            assert f.read().count('\n') >= 2
        # the held-out image was segmented by infer.py: a palette PNG of its size and an overlay
        with open(os.path.join(odir, 'data', 'val.txt')) as f:
            val0 = f.read().split()[0]
        with Image.open(os.path.join(odir, 'demo', val0 + '.png')) as im:
            assert im.mode == 'P' and im.size == (demo.QUICK['size'],) * 2
        assert os.path.isfile(os.path.join(odir, 'demo', val0 + '_overlay.jpg'))

        # run again: the data is reused and training resumes at max_iter (nothing to do)
        again = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert 'already generated' in again.stdout and 'resuming' in again.stdout
        assert again.stdout.strip().splitlines()[-1] == lines[-1]
        # the committed net, the full dataset and the full demo's outputs are as they were
        assert repo_state() == before
    finally:
        shutil.rmtree(odir, ignore_errors=True)
