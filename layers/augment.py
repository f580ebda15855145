"""Random augmentation of the data layers' examples: horizontal mirror, scale, crop.

param_str keys (layers.common.SegDataLayer reads them; all off by default, so
the paper's nets read their examples as the paper trained on them):

    mirror  True: flip the example left-right with probability 1/2
    scale   (lo, hi): resize the example by a factor drawn uniformly in [lo, hi]
    crop    S: cut an S x S window at a uniformly drawn place; an example smaller
            than S (after scaling) is first padded at its bottom and right

Applied in that order to every top of the example alike, so a label stays on
its pixels.  Images (and depth, HHA) are resampled bilinearly, labels by
nearest neighbour, both with PIL on the same pixel-centre grid (as infer.py
resizes); PIL's bilinear filter widens with the factor when shrinking, so a
downscaled image is antialiased.  An image is scaled after its mean was
subtracted, which is the same as scaling it before (the filter is linear), and
padding is 0 in the inputs, that is the mean, and void (255) in the labels.

The draws of example k, its place in the layer's stream, come from a generator
of their own: numpy's PCG64 seeded with SeedSequence((seed, k)), four uniform
doubles in [0, 1) in the order (mirror, scale, crop row, crop column), drawn
whether or not each is used.  They are thus a function of (seed, k) alone:
they do not depend on prefetching, on which torchrun rank reads example k, or
on how a resumed run reached k (`SegDataLayer.skip`).
"""
from collections import namedtuple

import numpy as np
from PIL import Image

from fcn.readers import VOID

#: The param_str keys of augmentation and their defaults (off).
KEYS = {'mirror': False, 'scale': None, 'crop': None}

#: Which augmentation a layer applies: mirror (bool), scale ((lo, hi) or None), crop (S or None).
Augment = namedtuple('Augment', 'mirror scale crop')

#: The draws of one example: flip left-right, the scale factor, the crop's place (row, column in [0, 1)).
Draw = namedtuple('Draw', 'mirror scale row col')


def options(params, who, error):
    """Augment from a parsed param_str (KEYS' defaults filled in); `error` (a ParamError class) for bad
    values, naming the layer `who` and the key."""
    mirror = params['mirror']
    if not (isinstance(mirror, bool) or (isinstance(mirror, int) and mirror in (0, 1))):
        raise error('%s: param_str key %r must be True or False, got %r' % (who, 'mirror', mirror))
    scale = params['scale']
    if scale is not None:
        ok = (isinstance(scale, (tuple, list)) and len(scale) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale))
        if not ok or not 0 < scale[0] <= scale[1] < float('inf'):
            raise error('%s: param_str key %r must be None or (lo, hi) with 0 < lo <= hi, got %r'
                        % (who, 'scale', scale))
        scale = (float(scale[0]), float(scale[1]))
    crop = params['crop']
    if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
        raise error('%s: param_str key %r must be None or a positive integer (the side S of the S x S '
                    'crop), got %r' % (who, 'crop', crop))
    return Augment(bool(mirror), scale, crop)


def active(aug):
    return aug.mirror or aug.scale is not None or aug.crop is not None


def draw(seed, k, aug):
    """The Draw of the example at stream position k (seed: an int >= 0)."""
    u = np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, k)))).random(4)
    scale = 1.0 if aug.scale is None else aug.scale[0] + (aug.scale[1] - aug.scale[0]) * float(u[1])
    return Draw(bool(aug.mirror and u[0] < 0.5), scale, float(u[2]), float(u[3]))


def apply(arrays, is_label, d, crop):
    """The example's arrays (each C x H x W, all of one H x W) mirrored, scaled and cropped to S x S
    (crop: S or None) as Draw `d` says; is_label[i] tells whether arrays[i] holds labels."""
    out = []
    h, w = arrays[0].shape[-2:]
    size = (max(1, int(round(h * d.scale))), max(1, int(round(w * d.scale))))
    for a, label in zip(arrays, is_label):
        if d.mirror:
            a = a[..., ::-1]
        if size != (h, w):
            a = resize(a, size, label)
        out.append(np.ascontiguousarray(a))
    if crop is None:
        return tuple(out)
    hh, ww = max(size[0], crop), max(size[1], crop)
    top = int(d.row * (hh - crop + 1))
    left = int(d.col * (ww - crop + 1))
    return tuple(pad(a, hh, ww, VOID if label else 0)[:, top:top + crop, left:left + crop]
                 for a, label in zip(out, is_label))


def resize(a, size, label):
    """C x H x W -> C x size, channel by channel: nearest neighbour for labels, else bilinear (PIL)."""
    h, w = size
    resample = Image.NEAREST if label else Image.BILINEAR
    dtype = a.dtype
    channels = [np.asarray(Image.fromarray(c if label else c.astype(np.float32)).resize((w, h), resample))
                for c in a]
    return np.stack(channels).astype(dtype, copy=False)


def pad(a, h, w, value):
    """C x H0 x W0 -> C x h x w (h >= H0, w >= W0), the new rows and columns at the bottom and right
    set to value."""
    if a.shape[-2:] == (h, w):
        return a
    out = np.full(a.shape[:-2] + (h, w), value, dtype=a.dtype)
    out[:, :a.shape[-2], :a.shape[-1]] = a
    return out
