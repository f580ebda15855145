"""Helpers for the inference tests: caffemodels of random weights for a net's deploy prototxt, and a
runner that measures a command's peak RSS in a fresh process."""
import json
import os
import subprocess
import sys

import numpy as np

from backend import caffe

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, 'tests', 'data')
NYUD = os.path.join(DATA, 'nyud')   # one real NYUDv2 frame (img_5001), downscaled 4x, in the dataset layout
NYUD_IMAGE = os.path.join(NYUD, 'data', 'images', 'img_5001.png')
REAL_JPEG = os.path.join(DATA, 'voc-2007_000129.jpg')   # a PASCAL VOC photo, 500 x 334


def random_weights(deploy, path, seed=0, scale=0.05):
    """Save a caffemodel that sets every learnable layer of `deploy` to seeded N(0, scale^2) values.

    The values come from one pool of 2^20 draws, each blob starting at its own seeded offset, so the
    half-gigabyte VGG nets are filled in a fraction of a second.
    """
    net = caffe.Net(str(deploy), caffe.TEST)
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal(1 << 20, dtype=np.float32) * np.float32(scale)
    for params in net.params.values():
        for p in params:
            data = p.data
            data[...] = np.resize(np.roll(pool, int(rng.integers(len(pool)))), data.shape)
    net.save(str(path))
    return str(path)


# Runs argv in a child of a fresh interpreter and prints the child's exit status and peak RSS (bytes) as
# JSON: RUSAGE_CHILDREN of a process that has had no other child is exactly that child's ru_maxrss.
_PEAK = '''
import json, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": p.returncode, "peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
                  "stderr": p.stderr, "stdout": p.stdout}))
'''


def run_measured(argv, env=None):
    """{'rc', 'peak' (bytes), 'stderr', 'stdout'} of argv run as a subprocess."""
    out = subprocess.run([sys.executable, '-c', _PEAK] + list(argv), capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout)


def subprocess_env():
    """The environment with this checkout first on PYTHONPATH, so the child imports this copy."""
    env = dict(os.environ)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    return env
