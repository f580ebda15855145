"""A small synthetic segmentation dataset in the folder layout: shapes on textured backgrounds.

    python data/shapes/make_shapes.py                       # data/shapes: 400 train + 50 val, 320 x 320
    python data/shapes/make_shapes.py --out /tmp/shapes --train 20 --val 5 --size 64

Writes, under the output folder, a dataset in the layout every user's own
dataset has (data/README.md, "Your own data"; read by layers.folder):

    images/<id>.jpg         RGB image
    labels/<id>.png         palette PNG of class indices (vis.save_label_png), 255 = void
    train.txt, val.txt      ids of the training and the held-out split (never trained on)
    classes.txt             background, circle, square, triangle (data/shapes/classes.txt)
    shapes.json             the settings it was generated with (written last)

Each image has non-overlapping shapes of random class, size, position,
rotation and colour on a random textured background (noise, stripes, a
gradient or a checkerboard): one to three per 96 x 96 pixels of image (as many
as fit), each with the area of a circle of radius 14 to 30 pixels whatever its
class.  The colours of a shape are kept apart from those of the background so
that shapes stay visible, but which class a shape is can only be told from its
outline.  As in VOC, a thin band along every shape border is void (255): two
pixels wide, straddling the edge, so neither the loss nor the scores count the
ambiguous anti-aliased pixels.

Generation is deterministic: the same seed, size and counts give identical
files.  Each split draws from its own random stream (seeded by (seed, split)),
so the val images are independent of the training images and of how many
training images there are.
"""
import argparse
import json
import os
import re
import shutil

import numpy as np
from PIL import Image
from scipy import ndimage

import vis

HERE = os.path.dirname(os.path.abspath(__file__))

CLASSES_FILE = os.path.join(HERE, 'classes.txt')
DEFAULT_OUT = HERE
VOID = 255
SPLITS = ('train', 'val')
SUPERSAMPLE = 4      # sub-pixels per axis for the anti-aliased rendering
JPEG_QUALITY = 95
RADIUS = (14.0, 30.0)        # range of a shape's size as the radius of the circle of equal area, pixels
                             # (at most a quarter of the image side)
# circumradius (centre to corner) of a circle, square, triangle with the area of a circle of radius 1
CIRCUMRADIUS_PER_RHO = {1: 1.0, 2: np.sqrt(np.pi / 2), 3: np.sqrt(4 * np.pi / (3 * np.sqrt(3)))}
REF_AREA = 96 * 96           # an image of this area holds SHAPES_PER_REF shapes ...
SHAPES_PER_REF = (1, 3)      # ... between these counts; larger images proportionally more
MANIFEST = 'shapes.json'   # written last: the settings of a finished dataset


def class_names():
    with open(CLASSES_FILE) as f:
        return [line.strip() for line in f if line.strip()]


# -- backgrounds ------------------------------------------------------------------------------

def _colour(rng):
    return rng.uniform(0, 255, size=3)


def background(rng, size):
    """A size x size x 3 float image in [0, 255]: noise, stripes, gradient or checkerboard."""
    kind = rng.randint(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a, b = _colour(rng), _colour(rng)
    if kind == 0:    # smoothed colour noise around a base colour
        noise = ndimage.gaussian_filter(rng.random_sample((size, size, 3)) - 0.5,
                                        sigma=(rng.uniform(0.5, 3),) * 2 + (0,))
        noise /= noise.std() + 1e-9
        img = a + noise * rng.uniform(15, 45)
    elif kind == 1:  # stripes at a random angle and period
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(4, 32)
        t = (xx * np.cos(theta) + yy * np.sin(theta)) / period
        w = (0.5 + 0.5 * np.sin(2 * np.pi * t))[..., None]
        img = a * w + b * (1 - w)
    elif kind == 2:  # linear gradient between two colours
        theta = rng.uniform(0, 2 * np.pi)
        t = xx * np.cos(theta) + yy * np.sin(theta)
        t = ((t - t.min()) / (t.max() - t.min() + 1e-9))[..., None]
        img = a * t + b * (1 - t)
    else:            # checkerboard
        cell = rng.randint(3, 20)
        w = (((xx // cell) + (yy // cell)) % 2)[..., None]
        img = a * w + b * (1 - w)
    img = img + (rng.random_sample((size, size, 3)) - 0.5) * rng.uniform(7, 35)  # sensor noise everywhere
    return np.clip(img, 0, 255), (a, b) if kind else (a,)


# -- shapes -------------------------------------------------------------------------------------

def shape_mask(cls, cx, cy, r, angle, size, ss=SUPERSAMPLE):
    """Coverage in [0, 1] of the pixels of the shape's bounding box, from ss x ss sub-pixel samples.

    Returns ((y0, y1, x0, x1), coverage of rows y0:y1 and columns x0:x1).  r is
    the circumradius: the circle's radius, the distance from the centre of a
    square or equilateral triangle to its corners.
    """
    x0, y0 = max(0, int(cx - r) - 1), max(0, int(cy - r) - 1)
    x1, y1 = min(size, int(cx + r) + 2), min(size, int(cy + r) + 2)
    y = y0 + (np.arange((y1 - y0) * ss) + 0.5) / ss
    x = x0 + (np.arange((x1 - x0) * ss) + 0.5) / ss
    dy, dx = y[:, None] - cy, x[None, :] - cx
    if cls == 1:      # circle
        inside = dx * dx + dy * dy <= r * r
    else:
        u = dx * np.cos(angle) + dy * np.sin(angle)
        v = -dx * np.sin(angle) + dy * np.cos(angle)
        if cls == 2:  # square with corners at distance r
            h = r / np.sqrt(2)
            inside = (np.abs(u) <= h) & (np.abs(v) <= h)
        else:         # equilateral triangle: three half-planes at distance r/2 from the centre
            inside = np.ones(u.shape, dtype=bool)
            for k in range(3):
                phi = np.pi / 2 + 2 * np.pi * k / 3
                inside &= u * np.cos(phi) + v * np.sin(phi) <= r / 2
    cover = inside.reshape(y1 - y0, ss, x1 - x0, ss).mean(axis=(1, 3))
    return (y0, y1, x0, x1), cover


def fill(rng, shape, avoid):
    """A shape's fill (an array of `shape` + (3,)): a colour far (in RGB) from the background's
    colours, in half of the shapes with a faint linear shading."""
    for _ in range(100):
        c = _colour(rng)
        if all(np.linalg.norm(c - a) > 90 for a in avoid):
            break
    img = np.broadcast_to(c, shape + (3,)).copy()
    if rng.rand() < 0.5:
        yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
        theta = rng.uniform(0, 2 * np.pi)
        span = float(max(shape))
        img += ((xx * np.cos(theta) + yy * np.sin(theta)) / span * rng.uniform(-25, 25))[..., None]
    return img


def sample(rng, size, n_classes):
    """One image (size x size x 3 uint8 RGB) and its label map (uint8, 255 = void)."""
    img, bg_colours = background(rng, size)
    label = np.zeros((size, size), dtype=np.uint8)
    placed = []
    # shape sizes are in pixels, the number of shapes grows with the image's area
    area = float(size * size) / REF_AREA
    n_shapes = rng.randint(max(1, int(round(SHAPES_PER_REF[0] * area))),
                           max(1, int(round(SHAPES_PER_REF[1] * area))) + 1)
    rho_max = min(RADIUS[1], 0.25 * size)
    rho_min = min(RADIUS[0], 0.5 * rho_max)
    for _ in range(n_shapes):
        cls = rng.randint(1, n_classes)
        for _try in range(50):
            # every class draws from the same areas: pi rho^2 for rho uniform in [rho_min, rho_max]
            r = rng.uniform(rho_min, rho_max) * CIRCUMRADIUS_PER_RHO[cls]
            cx, cy = rng.uniform(r * 0.8, size - r * 0.8, size=2)
            if all(np.hypot(cx - px, cy - py) > r + pr + 2 for px, py, pr in placed):
                break
        else:
            continue
        (y0, y1, x0, x1), cover = shape_mask(cls, cx, cy, r, rng.uniform(0, 2 * np.pi), size)
        patch = img[y0:y1, x0:x1]
        w = cover[..., None]
        img[y0:y1, x0:x1] = patch * (1 - w) + fill(rng, cover.shape, bg_colours) * w
        label[y0:y1, x0:x1][cover >= 0.5] = cls
        placed.append((cx, cy, r))
    # void band: every pixel with a differently labelled 8-neighbour (both sides of each edge)
    edge = ndimage.maximum_filter(label, size=3) != ndimage.minimum_filter(label, size=3)
    label[edge] = VOID
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), label


# -- the dataset ---------------------------------------------------------------------------------

def split_ids(split, count):
    return ['%s_%05d' % (split, i) for i in range(count)]


def manifest(n_train, n_val, size, seed):
    """What a generated folder holds, as written to its shapes.json."""
    return {'format': 1, 'classes': class_names(), 'train': n_train, 'val': n_val, 'size': size,
            'seed': seed}


def is_complete(out, n_train=400, n_val=50, size=320, seed=0):
    """True if `out` holds a finished dataset generated with exactly these settings."""
    try:
        with open(os.path.join(out, MANIFEST)) as f:
            return json.load(f) == manifest(n_train, n_val, size, seed)
    except (OSError, ValueError):
        return False


def generate(out=DEFAULT_OUT, n_train=400, n_val=50, size=320, seed=0, verbose=True):
    """Write the dataset into `out` (the folder layout); returns {split: ids}."""
    n_classes = len(class_names())
    for sub in ('images', 'labels'):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    try:  # a dataset being rewritten is not complete until the manifest is back
        os.remove(os.path.join(out, MANIFEST))
    except FileNotFoundError:
        pass
    stale = re.compile(r'^(%s)_\d{5}\.(jpg|png)$' % '|'.join(SPLITS))
    for sub in ('images', 'labels'):   # an earlier dataset's images: all are rewritten
        for name in os.listdir(os.path.join(out, sub)):
            if stale.match(name):
                os.remove(os.path.join(out, sub, name))
    if os.path.abspath(out) != os.path.abspath(HERE):
        shutil.copyfile(CLASSES_FILE, os.path.join(out, 'classes.txt'))
    result = {}
    for k, (split, count) in enumerate(zip(SPLITS, (n_train, n_val))):
        rng = np.random.RandomState([seed, k])
        ids = split_ids(split, count)
        for i in ids:
            img, label = sample(rng, size, n_classes)
            Image.fromarray(img).save(os.path.join(out, 'images', i + '.jpg'), quality=JPEG_QUALITY)
            vis.save_label_png(os.path.join(out, 'labels', i + '.png'), label)
        with open(os.path.join(out, split + '.txt'), 'w') as f:
            f.write(''.join(i + '\n' for i in ids))
        result[split] = ids
        if verbose:
            print('wrote %d %s images (%dx%d) to %s' % (count, split, size, size, out))
    with open(os.path.join(out, MANIFEST), 'w') as f:
        json.dump(manifest(n_train, n_val, size, seed), f, indent=1, sort_keys=True)
        f.write('\n')
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=DEFAULT_OUT, help='output folder (default %(default)s)')
    ap.add_argument('--train', type=int, default=400, help='training images (default %(default)s)')
    ap.add_argument('--val', type=int, default=50, help='held-out images (default %(default)s)')
    ap.add_argument('--size', type=int, default=320, help='image side in pixels (default %(default)s)')
    ap.add_argument('--seed', type=int, default=0, help='random seed (default %(default)s)')
    args = ap.parse_args(argv)
    if args.size < 16 or args.train < 1 or args.val < 1:
        ap.error('need --size >= 16 and at least one image per split')
    generate(args.out, args.train, args.val, args.size, args.seed)


if __name__ == '__main__':
    main()
