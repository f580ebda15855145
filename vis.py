"""Label-map I/O and visualisation with the PASCAL VOC colour palette.

Segmentation labels are stored as palette ('P' mode) PNGs: each pixel holds a
class index and the file's palette only says how to display it.  The VOC
palette is used everywhere here so that saved predictions look like the VOC
ground truth (255 = void, drawn in a light cream colour).
"""
import numpy as np
from PIL import Image


def voc_palette(n=256):
    """Return the VOC colour map as an (n, 3) uint8 array.

    The colour of label k spreads k's bits over the three channels, most
    significant channel bits first: bit 0 -> red, bit 1 -> green, bit 2 ->
    blue, bit 3 -> red again one position lower, and so on.  This gives 256
    distinct colours (0 black, 1 dark red, ..., 255 cream).
    """
    palette = np.zeros((n, 3), dtype=np.uint8)
    for k in range(n):
        r = g = b = 0
        c = k
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[k] = (r, g, b)
    return palette


PALETTE = voc_palette()

# Colours packed as 0xRRGGBB, sorted, for mapping RGB images back to labels.
_KEYS = (PALETTE[:, 0].astype(np.int64) << 16 | PALETTE[:, 1].astype(np.int64) << 8
         | PALETTE[:, 2].astype(np.int64))
_KEY_ORDER = np.argsort(_KEYS)
_SORTED_KEYS = _KEYS[_KEY_ORDER]


def _as_label(label):
    """Validate a 2-D label map with values in [0, 255] and return it as uint8."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError('label map must be 2-D (H, W), got shape %s' % (label.shape,))
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError('label values must lie in [0, 255], got [%s, %s]'
                         % (label.min(), label.max()))
    return label.astype(np.uint8)


def save_label_png(path, label):
    """Write a 2-D label map as a palette PNG with the VOC palette."""
    im = Image.fromarray(_as_label(label))  # 'L' image of indices
    im.putpalette(PALETTE.tobytes())         # turns it into a 'P' image
    im.save(path)


def rgb_to_label(rgb):
    """Map an (H, W, 3) image painted with VOC palette colours to indices.

    Raises ValueError for colours outside the palette (e.g. a JPEG or a
    resized image whose colours were blended).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError('expected an (H, W, 3) image, got shape %s' % (rgb.shape,))
    rgb = rgb.astype(np.int64)
    keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    pos = np.searchsorted(_SORTED_KEYS, keys).clip(max=len(_SORTED_KEYS) - 1)
    bad = _SORTED_KEYS[pos] != keys
    if bad.any():
        colours = sorted({tuple(int(v) for v in c) for c in rgb[bad][:1000]})[:5]
        raise ValueError('%d pixel(s) have colours outside the VOC palette, e.g. %s'
                         % (int(bad.sum()), colours))
    return _KEY_ORDER[pos].astype(np.uint8)


def read_label_png(path):
    """Read a label PNG and return its class indices as a uint8 (H, W) array.

    * 'P' (palette) images: the stored indices are returned as they are; the
      file's own palette is ignored (VOC ground truth is stored this way).
    * 'L' (greyscale) images: pixel values are taken as indices.
    * 'RGB'/'RGBA' images: colour-coded labels are converted back to indices
      by exact lookup in the VOC palette (alpha is ignored); a colour that is
      not in the palette raises ValueError naming the file.
    """
    with Image.open(path) as im:
        mode = im.mode
        if mode in ('P', 'L'):
            return np.array(im, dtype=np.uint8)
        if mode in ('RGB', 'RGBA'):
            rgb = np.array(im.convert('RGB'))
        else:
            raise ValueError('%s: unsupported label image mode %r (expected a palette, '
                             'greyscale or VOC-coloured RGB PNG)' % (path, mode))
    try:
        return rgb_to_label(rgb)
    except ValueError as e:
        raise ValueError('%s: RGB label image cannot be mapped to class indices: %s'
                         % (path, e)) from None


def colorize(label):
    """Return the VOC colours of a label map as an (H, W, 3) uint8 image."""
    return PALETTE[_as_label(label)]


def overlay(image_rgb, label, alpha=0.5, ignore=(0, 255)):
    """Blend the coloured labels over an image.

    Each labelled pixel becomes (1 - alpha) * image + alpha * colour.  Pixels
    whose label is in `ignore` (by default background 0 and void 255) keep
    the image unchanged so that only the objects are tinted; pass
    ignore=() to tint every pixel, background (black) and void included.
    A greyscale (H, W) image is treated as RGB.
    """
    image = np.asarray(image_rgb)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    label = _as_label(label)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != label.shape:
        raise ValueError('image shape %s does not match label shape %s'
                         % (image.shape, label.shape))
    if not 0.0 <= alpha <= 1.0:
        raise ValueError('alpha must lie in [0, 1], got %r' % (alpha,))
    blended = (1.0 - alpha) * image.astype(np.float64) + alpha * PALETTE[label]
    keep = np.isin(label, list(ignore))
    blended[keep] = image[keep]
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)
