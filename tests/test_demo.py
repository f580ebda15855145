"""Smoke tests of the CPU demo: the shapes generator and a --quick run of demo.py end to end.

The full run (`make demo`) trains for minutes; here a tiny dataset and a few
iterations check that every stage runs and reports, writing only into tmp_path.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import demo  # noqa: E402
import vis  # noqa: E402

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


def test_generator_writes_voc_layout(tmp_path):
    out = str(tmp_path / 'shapes')
    ids = shapes.generate(out, n_train=5, n_val=3, size=40, seed=7, verbose=False)
    assert ids == {'train': ['train_%05d' % i for i in range(5)], 'val': ['val_%05d' % i for i in range(3)]}
    names = shapes.class_names()
    assert names == ['background', 'circle', 'square', 'triangle']
    for split, split_ids in ids.items():
        listed = (tmp_path / 'shapes' / 'ImageSets' / 'Segmentation' / (split + '.txt')).read_text().split()
        assert listed == split_ids
        for i in split_ids:
            with Image.open(os.path.join(out, 'JPEGImages', i + '.jpg')) as im:
                assert im.format == 'JPEG' and im.mode == 'RGB' and im.size == (40, 40)
            with Image.open(os.path.join(out, 'SegmentationClass', i + '.png')) as im:
                assert im.format == 'PNG' and im.mode == 'P' and im.size == (40, 40)
                assert im.getpalette()[:3 * 256] == list(vis.PALETTE.ravel())
            label = vis.read_label_png(os.path.join(out, 'SegmentationClass', i + '.png'))
            values = set(np.unique(label).tolist())
            assert values <= set(range(len(names))) | {255}
            assert 0 in values and 255 in values and values & {1, 2, 3}   # shapes with void borders
    assert not set(ids['train']) & set(ids['val'])
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
    assert da == db and len(da) == 2 * 6 + 3
    assert da['JPEGImages/train_00000.jpg'] != dc['JPEGImages/train_00000.jpg']
    # the held-out images do not depend on how many training images there are
    d = str(tmp_path / 'd')
    shapes.generate(d, n_train=1, n_val=2, size=48, seed=3, verbose=False)
    assert digests(d)['JPEGImages/val_00001.jpg'] == da['JPEGImages/val_00001.jpg']


def repo_state():
    """What the demo would write in the repository itself: its output and dataset folders."""
    folders = [os.path.join(ROOT, 'out', demo.NAME), os.path.join(ROOT, 'out', demo.NAME + '-quick'),
               demo.DEFAULT_DATA, demo.NET_DIR]
    return {f: sorted((p, os.path.getmtime(os.path.join(d, p))) for d, _, fs in os.walk(f) for p in fs)
            for f in folders}


def test_quick_demo_end_to_end(tmp_path):
    data, out = tmp_path / 'data', tmp_path / 'out'
    before = repo_state()
    cmd = [sys.executable, os.path.join(ROOT, 'demo.py'), '--quick',
           '--data-dir', str(data), '--out-dir', str(out)]
    run = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    m = re.fullmatch(r'mean IU (\d+\.\d{4})', lines[-1])
    assert m, lines[-5:]
    assert 0.0 <= float(m.group(1)) <= 1.0
    for name in shapes.class_names():
        assert any(line.startswith(name + ' ') for line in lines), name
    # trained through solve.py into the given folder, with a seg test and a snapshot
    snaps = os.listdir(out / 'snapshots')
    assert 'train_iter_%d.caffemodel' % demo.QUICK['iters'] in snaps
    assert (out / 'log.csv').read_text().count('\n') >= 2
    # the held-out image was segmented: a palette PNG of its size and an overlay
    val0 = (data / 'ImageSets' / 'Segmentation' / 'val.txt').read_text().split()[0]
    with Image.open(out / 'demo' / (val0 + '.png')) as im:
        assert im.mode == 'P' and im.size == (demo.QUICK['size'],) * 2
    assert (out / 'demo' / (val0 + '_overlay.jpg')).is_file()

    # run again: the data is reused and training resumes at max_iter (nothing to do)
    again = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'already generated' in again.stdout and 'resuming' in again.stdout
    assert again.stdout.strip().splitlines()[-1] == lines[-1]
    # everything went into tmp_path: the repository's out/, data/ and models/ are as they were
    assert repo_state() == before
