"""Tiny datasets in the layouts a user's own data comes in: the folder layout (index or colour
labels) and PASCAL VOC's, written as real JPEG and PNG files."""
import os

import numpy as np
from PIL import Image

import vis

CLASSES = ['background', 'disc', 'bar']
PALETTE = [(0, 0, 0), (200, 40, 40), (40, 200, 40)]
VOID_COLOUR = (255, 255, 255)


def write_lines(path, lines):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), 'w') as f:
        f.write(''.join('%s\n' % line for line in lines))


def example(rng, h, w):
    """An image with a bright disc and a dark bar on noise, and its label map (void border ring)."""
    yy, xx = np.mgrid[0:h, 0:w]
    label = np.zeros((h, w), np.uint8)
    cy, cx, r = rng.randint(h // 4, 3 * h // 4), rng.randint(w // 4, 3 * w // 4), max(2, min(h, w) // 5)
    label[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 1
    x0 = rng.randint(0, w - 3)
    label[:, x0:x0 + 2][label[:, x0:x0 + 2] == 0] = 2
    label[0, :] = 255
    rgb = rng.randint(60, 120, size=(h, w, 3)).astype(np.uint8)
    rgb[label == 1] = (230, 220, 40)
    rgb[label == 2] = (10, 20, 30)
    return rgb, label


def make_dataset(root, layout='folder', labels='index', n_train=4, n_val=2, size=(40, 48), seed=0,
                 ext='.jpg', classes=True):
    """Write a dataset; returns {id: label map}.  labels: 'index' (palette PNG), 'gray' (L PNG) or
    'rgb' (colour PNG through palette.txt, written with it, void white)."""
    root = str(root)
    rng = np.random.RandomState(seed)
    images, label_dir, split_dir = {'folder': ('images', 'labels', ''),
                                    'voc': ('JPEGImages', 'SegmentationClass',
                                            os.path.join('ImageSets', 'Segmentation'))}[layout]
    for sub in (images, label_dir):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = {'train': ['tr%02d' % i for i in range(n_train)], 'val': ['va%02d' % i for i in range(n_val)]}
    out = {}
    for split, split_ids in ids.items():
        for i in split_ids:
            rgb, label = example(rng, *size)
            Image.fromarray(rgb).save(os.path.join(root, images, i + ext), quality=95)
            path = os.path.join(root, label_dir, i + '.png')
            if labels == 'index':
                vis.save_label_png(path, label)
            elif labels == 'gray':
                Image.fromarray(label, 'L').save(path)
            else:
                colours = np.array(PALETTE + [VOID_COLOUR] * (256 - len(PALETTE)), np.uint8)
                Image.fromarray(colours[label], 'RGB').save(path)
            out[i] = label
        write_lines(os.path.join(root, split_dir, split + '.txt'), split_ids)
    if classes:
        write_lines(os.path.join(root, 'classes.txt'), CLASSES)
    if labels == 'rgb':
        write_lines(os.path.join(root, 'palette.txt'), ['%d %d %d' % c for c in PALETTE + [VOID_COLOUR]])
    return out


def tree(folder):
    """Every path under folder (relative), or None when it does not exist."""
    folder = str(folder)
    if not os.path.exists(folder):
        return None
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, ds, fs in os.walk(folder) for f in fs + ds)


def to_void_index(root, written, void):
    """Store the void pixels of a folder-layout dataset with class index `void` instead of 255 (the
    classes at `void` and above move up by one) and name it in void.txt, as a dataset whose
    unlabelled pixels carry a class index does; read through void.txt, the labels are `written`."""
    for i, label in written.items():
        stored = np.where(label >= void, label + 1, label).astype(np.uint8)
        stored[label == 255] = void
        Image.fromarray(stored, 'L').save(os.path.join(str(root), 'labels', i + '.png'))
    write_lines(os.path.join(str(root), 'void.txt'), [void])


def to_list_files(root, absolute=False):
    """Move a folder-layout dataset's files to pics/ and masks/ and list them as `image label` pairs
    in train.txt and val.txt (relative to the split file, or absolute), as published lists do."""
    root = str(root)
    os.rename(os.path.join(root, 'images'), os.path.join(root, 'pics'))
    os.rename(os.path.join(root, 'labels'), os.path.join(root, 'masks'))
    for split in ('train', 'val'):
        path = os.path.join(root, split + '.txt')
        with open(path) as f:
            ids = [line.strip() for line in f if line.strip()]
        base = root if absolute else ''
        write_lines(path, ['%s %s' % (os.path.join(base, 'pics', i + '.jpg'), os.path.join(base, 'masks', i + '.png'))
                           for i in ids])


#: make_rare_dataset's classes: three large regions, four rare thin or small ones (each under 1%
#: of the pixels), and their colours in the images.  A rare class is drawn in a colour near that of
#: what surrounds it (a greyish pole before the background, a pale wire across the sky, a dull sign,
#: a dark crack in the ground: 20 to 40 levels apart, with noise of 12), so, as in street scenes,
#: a pixel's colour alone does not tell it, and a net trained with every pixel alike learns to
#: predict the large classes there (IU near 0 for some rare classes; tests/test_class_balance.py).
RARE_CLASSES = ['background', 'ground', 'sky', 'pole', 'wire', 'sign', 'crack']
RARE_COLOURS = [(90, 110, 90), (120, 100, 80), (150, 180, 220), (115, 125, 105), (120, 145, 185), (130, 130, 70),
                (100, 85, 70)]


def rare_example(rng, h, w, n_classes, void):
    """One image of make_rare_dataset and its label map (void 255) and stored label (void `void`)."""
    label = np.zeros((h, w), np.uint8)
    horizon = rng.randint(h // 4, h // 2)
    ground = rng.randint(h // 2 + 4, 3 * h // 4)
    label[:horizon] = 2
    label[ground:] = 1
    if rng.rand() < 0.5:                                   # a pole: 2 to 4 px wide, a quarter of the height
        x, top, wide = rng.randint(2, w - 6), rng.randint(horizon, ground), rng.randint(2, 5)
        label[max(0, top - h // 4):top, x:x + wide] = 3
    if rng.rand() < 0.5:                                   # a wire: a 2 px line across part of the sky
        y, x0 = rng.randint(1, max(2, horizon - 2)), rng.randint(0, w // 2)
        label[y:y + 2, x0:x0 + rng.randint(w // 6, w // 3)] = 4
    if rng.rand() < 0.4:                                   # a sign: a square of 4 to 8 px
        side = rng.randint(4, 9)
        y, x = rng.randint(max(0, horizon - side), ground - side), rng.randint(0, w - side)
        label[y:y + side, x:x + side] = 5
    if rng.rand() < 0.4:                                   # a crack: a 2 px thick diagonal in the ground
        y, x = rng.randint(ground, h), rng.randint(0, w - 14)
        for k in range(rng.randint(6, 13)):
            if y + k < h:
                label[y + k, x + k:x + k + 2] = 6
    colours = np.array(RARE_COLOURS[:n_classes], np.float64)
    rgb = colours[label] + rng.normal(0, 12, size=(h, w, 3))
    unlabelled = np.zeros((h, w), bool)
    unlabelled[:, :1] = unlabelled[:, -1:] = True                # the frame's edge, as annotators leave it
    if rng.rand() < 0.3:                                   # a blob nobody labelled
        y, x = rng.randint(0, h - 6), rng.randint(0, w - 6)
        unlabelled[y:y + 6, x:x + 6] = True
    truth = label.copy()
    truth[unlabelled] = 255
    stored = label.copy()
    stored[unlabelled] = void
    return np.clip(rgb, 0, 255).astype(np.uint8), truth, stored


def make_rare_dataset(root, n_train=300, n_val=60, size=(48, 64), seed=0, ext='.png'):
    """A folder-layout dataset of rare thin classes: ground, sky and background cover most pixels;
    pole (2 to 4 px wide), wire (2 px high), sign (4 x 4 to 8 x 8) and crack (a 2 px thick diagonal)
    each under 1%
    of them; unlabelled pixels (the frame's edge, some blobs) are stored as class index 7 and named
    in void.txt.  Returns {id: label map}, void as 255 (what the data layer gives)."""
    root = str(root)
    rng = np.random.RandomState(seed)
    void = len(RARE_CLASSES)
    for sub in ('images', 'labels'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = {'train': ['r%04d' % i for i in range(n_train)], 'val': ['v%04d' % i for i in range(n_val)]}
    out = {}
    for split, split_ids in ids.items():
        for i in split_ids:
            rgb, truth, stored = rare_example(rng, size[0], size[1], len(RARE_CLASSES), void)
            Image.fromarray(rgb).save(os.path.join(root, 'images', i + ext), quality=95)
            Image.fromarray(stored, 'L').save(os.path.join(root, 'labels', i + '.png'))
            out[i] = truth
        write_lines(os.path.join(root, split + '.txt'), split_ids)
    write_lines(os.path.join(root, 'classes.txt'), RARE_CLASSES)
    write_lines(os.path.join(root, 'void.txt'), [void])
    return out
