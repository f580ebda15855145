"""Label-map I/O and visualisation with the PASCAL VOC colour palette.

Segmentation labels are stored as palette ('P' mode) PNGs: each pixel holds a
class index and the file's palette only says how to display it.  The VOC
palette is the default so that saved predictions look like the VOC ground
truth (255 = void, drawn in a light cream colour); a net's record may give
its own (models/records.py, Output.palette_colors).

Everything here stays in uint8 at full resolution: the overlay is blended in
strips of rows, so an image of any size costs its output and a few MB more.
"""
import numpy as np
from PIL import Image, ImageDraw, ImageFont


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


def save_label_png(path, label, palette=PALETTE, format=None):
    """Write a 2-D label map as a palette PNG (the VOC palette unless a (256, 3) uint8 one is given)."""
    im = Image.fromarray(_as_label(label))  # 'L' image of indices
    im.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())  # turns it into a 'P' image
    im.save(path, format=format)


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


#: Pixels per strip when blending: float64 arithmetic on a strip costs about 80 MB at most.
STRIP_PIXELS = 1 << 20


def _check_overlay(image_rgb, label, alpha):
    image = np.asarray(image_rgb)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    label = np.asarray(label)
    if label.ndim != 2 or image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != label.shape:
        raise ValueError('image shape %s does not match label shape %s'
                         % (image.shape, label.shape))
    if not 0.0 <= alpha <= 1.0:
        raise ValueError('alpha must lie in [0, 1], got %r' % (alpha,))
    return image, label


def _strips(image, label, alpha, ignore, palette):
    """(first row, blended rows as uint8) strip by strip, each at most STRIP_PIXELS pixels."""
    palette = np.asarray(palette, dtype=np.uint8)
    rows = max(1, STRIP_PIXELS // max(1, label.shape[1]))
    for r in range(0, label.shape[0], rows):
        lab = _as_label(label[r:r + rows])
        img = image[r:r + rows]
        blended = (1.0 - alpha) * img.astype(np.float64) + alpha * palette[lab]
        keep = np.isin(lab, list(ignore))
        blended[keep] = img[keep]
        yield r, np.clip(np.round(blended), 0, 255).astype(np.uint8)


def overlay(image_rgb, label, alpha=0.5, ignore=(0, 255), palette=PALETTE):
    """Blend the coloured labels over an image; H x W x 3 uint8.

    Each labelled pixel becomes round((1 - alpha) * image + alpha * colour).
    Pixels whose label is in `ignore` (by default background 0 and void 255)
    keep the image unchanged so that only the objects are tinted; pass
    ignore=() to tint every pixel, background (black) and void included.
    A greyscale (H, W) image is treated as RGB.
    """
    image, label = _check_overlay(image_rgb, label, alpha)
    out = np.empty(label.shape + (3,), np.uint8)
    for r, rows in _strips(image, label, alpha, ignore, palette):
        out[r:r + len(rows)] = rows
    return out


def overlay_image(image_rgb, label, alpha=0.5, ignore=(0, 255), palette=PALETTE):
    """overlay() as a PIL RGB image, filled strip by strip (no full-size array besides the image)."""
    image, label = _check_overlay(image_rgb, label, alpha)
    out = Image.new('RGB', (label.shape[1], label.shape[0]))
    for r, rows in _strips(image, label, alpha, ignore, palette):
        out.paste(Image.fromarray(rows), (0, r))
    return out


def classes_present(label, n=256):
    """The label values that occur in a 2-D label map, ascending (counted strip by strip)."""
    label = np.asarray(label)
    rows = max(1, STRIP_PIXELS // max(1, label.shape[1]))
    counts = np.zeros(n, np.int64)
    for r in range(0, label.shape[0], rows):
        counts += np.bincount(_as_label(label[r:r + rows]).ravel(), minlength=n)[:n]
    return [int(k) for k in np.flatnonzero(counts)]


def draw_legend(im, entries):
    """Draw a legend box into the top-left corner of a PIL RGB image, in place.

    entries: (name, (r, g, b)) pairs, one a line with a colour swatch.  The
    text scales with the image (about 1/40 of its short side, 10 px at least);
    entries that do not fit in one column go on in more, and the text shrinks
    (to 6 px) until every entry fits; on an image too small even for that,
    the last line says how many were left out.
    """
    if not entries:
        return im
    draw = ImageDraw.Draw(im)
    size = max(10, min(im.size) // 40)
    while True:
        font, pad, line, rows, widths = _legend_layout(draw, im, entries, size)
        if sum(widths) <= im.size[0] or size <= 6:
            break
        size -= 1
    shown = list(entries)
    while sum(widths) > im.size[0] and len(shown) > 1:      # still too wide: drop entries, then say so
        shown = shown[:-1]
        left = len(entries) - len(shown)
        labelled = shown + [('+%d more' % left, None)]
        font, pad, line, rows, widths = _legend_layout(draw, im, labelled, size)
    if len(shown) < len(entries):
        shown = labelled
    draw.rectangle((0, 0, sum(widths), pad + line * min(rows, len(shown)) + pad), fill=(255, 255, 255))
    for k, (name, colour) in enumerate(shown):
        x, y = sum(widths[:k // rows]), pad + (k % rows) * line
        if colour is not None:
            draw.rectangle((x + pad, y, x + pad + size, y + size), fill=tuple(int(c) for c in colour),
                           outline=(0, 0, 0))
        draw.text((x + 3 * pad + size, y), name, fill=(0, 0, 0), font=font)
    return im


def _legend_layout(draw, im, entries, size):
    """(font, padding, line height, rows per column, column widths) of a legend at text size `size`."""
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # a Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    pad, line = max(2, size // 4), size + max(2, size // 4)
    rows = max(1, (im.size[1] - 2 * pad) // line)
    widths = [int(3 * pad + size + max(draw.textlength(name, font=font) for name, _ in entries[c:c + rows]) + pad)
              for c in range(0, len(entries), rows)]
    return font, pad, line, rows, widths
