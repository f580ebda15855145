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


def he_weights(deploy, path, seed=0):
    """Save a caffemodel of `deploy` whose convolutions are He-scaled (N(0, 2 / fan_in), biases
    N(0, 0.1^2)) and whose upsampling is bilinear (surgery.interp), so that labels vary over an image:
    the small weights of random_weights give one label everywhere, which would prove nothing."""
    import surgery
    net = caffe.Net(str(deploy), caffe.TEST)
    rng = np.random.default_rng(seed)
    ups = surgery.deconv_layers(net)
    for name, params in net.params.items():
        if name in ups:
            continue
        w = params[0].data
        fan_in = int(np.prod(w.shape[1:]))
        w[...] = rng.standard_normal(w.shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        if len(params) > 1:
            params[1].data[...] = rng.standard_normal(params[1].data.shape, dtype=np.float32) * np.float32(0.1)
    surgery.interp(net, ups)
    net.save(str(path))
    return str(path)


def photo(height, width, seed=0):
    """An H x W x 3 uint8 test photo: the real VOC JPEG tiled and mirrored to the size, with noise, so
    that every region differs."""
    from PIL import Image
    base = np.asarray(Image.open(REAL_JPEG).convert('RGB'))
    reps = (-(-height // base.shape[0]), -(-width // base.shape[1]))
    rows = [np.concatenate([base if (i + j) % 2 == 0 else base[:, ::-1] for j in range(reps[1])], axis=1)
            for i in range(reps[0])]
    big = np.concatenate(rows, axis=0)[:height, :width].astype(np.int16)
    noise = np.random.default_rng(seed).integers(-20, 21, big.shape, dtype=np.int16)
    return np.clip(big + noise, 0, 255).astype(np.uint8)


def micro_fcn8s(folder):
    """A net folder (deploy.prototxt, record.json) with shapes-fcn8s's geometry (pad 100, five poolings,
    fc6 7x7, the 8s skips, deconvolutions and crops) but 4-channel convolutions and 16-channel fc6/fc7:
    the same tiles and reach, at a small fraction of the slim net's arithmetic, for the tests that
    segment tens of megapixels.  Returns the folder."""
    import re
    os.makedirs(folder, exist_ok=True)
    src = os.path.join(REPO, 'models', 'shapes-fcn8s')
    text = open(os.path.join(src, 'deploy.prototxt')).read()
    text = re.sub(r'num_output: (8|16|32|64)\b', 'num_output: 4', text)
    text = re.sub(r'num_output: 512\b', 'num_output: 16', text)
    with open(os.path.join(folder, 'deploy.prototxt'), 'w') as f:
        f.write(text)
    with open(os.path.join(src, 'record.json')) as f:
        record = json.load(f)
    record.update(name=os.path.basename(os.path.normpath(folder)), title='shapes-fcn8s\'s geometry, 4 channels', aliases=[], published=[])
    with open(os.path.join(folder, 'record.json'), 'w') as f:
        json.dump(record, f)
    return str(folder)
