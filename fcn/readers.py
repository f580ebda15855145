"""Reading the files a net sees: images, label maps, depth, HHA, MATLAB files and palettes.

One module that the data layers (layers/), the library (fcn.dataset,
fcn.inference) and the records (models.records) all read through, so a file
gives the same array in training, scoring and inference.  It imports nothing
of the project.

- `read_rgb`, `read_gray`, `read_depth`, `read_label_png` and `read_mat` read
  files.  Every missing file is a FileNotFoundError naming its path, and every
  file that cannot be decoded a DataError naming it.  `read_rgb` gives
  H x W x 3 uint8 RGB whatever the stored mode (grayscale, RGBA, CMYK,
  palette, 16-bit); `image_size` reads only the header.  With `max_pixels`,
  an image with more pixels is refused from its header, before it is decoded
  (the decompression-bomb guard).
- `read_palette` reads a palette.txt ("R G B" per class).
- `check_labels` refuses label maps holding values outside a dataset's classes
  and void values, naming the file and the offending values.
- `modality_input` turns a colour, depth or HHA file (or array) into the
  C x H x W float32 input a net takes; `caffe_input` is its colour case, the
  release's transformation.
"""
import os
import threading

import numpy as np
import scipy.io
from PIL import Image, ImageOps

#: The label that marks pixels excluded from the loss and the scores.
VOID = 255

#: The modalities a net input stacks, with their channel counts.
MODALITIES = {'color': 3, 'depth': 1, 'hha': 3}


class DataError(ValueError):
    """A file exists but its content cannot be used (the message names the file)."""


def require_file(path, what, who, hint=''):
    if not os.path.isfile(path):
        raise FileNotFoundError('%s: %s not found: %s%s' % (who, what, path, hint))


_BOMB_CHECK = threading.Lock()


def _open(path, what, who, max_pixels):
    """Image.open (header only).  With max_pixels, PIL's own decompression-bomb limits (a warning over
    89 Mpixels, an error over 179) give way to this one: more pixels than max_pixels is a DataError."""
    require_file(path, what, who)
    try:
        if max_pixels is None:
            return Image.open(path)
        with _BOMB_CHECK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception as e:  # UnidentifiedImageError, OSError, DecompressionBombError, ...
        raise DataError('%s: cannot read %s %s: %s' % (who, what, path, e)) from e
    if im.width * im.height > max_pixels:
        im.close()
        raise DataError('%s: %s %s has too many pixels to decode here (%dx%d, over %d)'
                        % (who, what, path, im.width, im.height, max_pixels))
    return im


def image_size(path, what, who):
    """(height, width, PIL mode) of an image file, from its header (nothing is decoded; any size is accepted)."""
    with _open(path, what, who, max_pixels=float('inf')) as im:
        return im.height, im.width, im.mode


def _decode(path, what, who, to_array, upright=False, max_pixels=None):
    """Open and fully decode an image file (turned upright per its EXIF orientation if asked), then let
    to_array(im) read it."""
    im = _open(path, what, who, max_pixels)
    with im:
        try:
            im.load()
            if upright:
                im = ImageOps.exif_transpose(im)
        except Exception as e:
            raise DataError('%s: cannot decode %s %s: %s' % (who, what, path, e)) from e
        return to_array(im)


def _is_wide_gray(mode):
    return mode in ('I', 'F') or mode.startswith('I;16')


#: rint(v / 257) for every 16-bit value v: the 16-bit case of read_rgb by lookup.
_WIDE_TO_8BIT = np.rint(np.arange(65536) / 257.0).astype(np.uint8)


def read_rgb(path, what, who, upright=False, max_pixels=None):
    """An image file as H x W x 3 uint8 RGB: the one policy the data layers and inference share.

    8-bit modes go through PIL's conversion to RGB (grayscale is replicated,
    palettes looked up, CMYK converted).  Alpha is dropped, not composited:
    the nets were trained on the colours the files store, and compositing
    would invent a background (white? black?) they never saw; dropping also
    keeps a transparent pixel's stored colour, which is what the datasets'
    files hold.  Single-channel 16-bit images (and 32-bit 'I' / 'F' ones,
    read as 16-bit) are scaled by 255/65535 (/257), so a value means the same
    brightness in every image, rather than clipped at 255 as PIL would or
    stretched by each image's own peak.

    upright: apply the EXIF orientation (inference: a photo is segmented as it
    is displayed).  The data layers leave it off: their label maps are stored
    in the pixels' stored orientation.  max_pixels: see `_open`.  The array
    may be read-only (no copy of PIL's buffer is made).
    """
    def to_array(im):
        if im.mode == 'RGB':
            return np.asarray(im)
        if im.mode.startswith('I;16'):
            return np.repeat(_WIDE_TO_8BIT[np.asarray(im)][:, :, np.newaxis], 3, axis=2)
        if _is_wide_gray(im.mode):
            g = np.nan_to_num(np.asarray(im, dtype=np.float64))
            g = np.rint(np.clip(g, 0, 65535) / 257.0).astype(np.uint8)
            return np.repeat(g[:, :, np.newaxis], 3, axis=2)
        try:
            rgb = im.convert('RGB')
        except (ValueError, OSError) as e:
            raise DataError('%s: %s %s has image mode %r, which cannot be converted to RGB: %s'
                            % (who, what, path, im.mode, e)) from e
        return np.asarray(rgb)
    return _decode(path, what, who, to_array, upright, max_pixels)


def read_gray(path, what, who, upright=False, max_pixels=None):
    """A single-channel image (8- or 16-bit grayscale) as H x W float32, values as stored."""
    def to_array(im):
        if im.mode == 'L' or _is_wide_gray(im.mode):
            return np.array(im, dtype=np.float32)
        raise DataError('%s: %s %s has image mode %r; expected a single-channel grayscale image'
                        % (who, what, path, im.mode))
    return _decode(path, what, who, to_array, upright, max_pixels)


def read_depth(path, what, who, upright=False, max_pixels=None):
    """Depth as NYUDv2 ships it, as H x W float32 millimetres.

    A PNG (any other image file) holds millimetres as a 16-bit grayscale image.
    A .mat file holds metres in the variable 'depth' (or 'depths', the name in
    NYU's nyu_depth_v2_labeled.mat, when it is one H x W frame); they are
    multiplied by 1000.
    """
    if not path.lower().endswith('.mat'):
        return read_gray(path, what, who, upright, max_pixels)
    mat = read_mat(path, what, who)
    name = 'depth' if 'depth' in mat or 'depths' not in mat else 'depths'
    d = np.asarray(mat_variable(mat, name, path, who))
    if d.ndim != 2 or d.dtype.kind not in 'iuf':
        raise DataError('%s: %s %s: variable %r must be one H x W frame of depths in metres, got %s %s'
                        % (who, what, path, name, d.dtype, d.shape))
    return (d.astype(np.float64) * 1000.0).astype(np.float32)


def read_label_png(path, what, who):
    """A label image of class indices (palette or grayscale PNG) as an H x W integer array."""
    def to_array(im):
        if im.mode in ('P', 'L'):
            return np.array(im, dtype=np.uint8)
        if im.mode == 'I' or im.mode.startswith('I;16'):
            return np.array(im).astype(np.int64)
        raise DataError('%s: %s %s has image mode %r; a label image must hold class indices '
                        '(a palette "P" or grayscale "L" PNG), not colours' % (who, what, path, im.mode))
    return _decode(path, what, who, to_array)


def read_mat(path, what, who):
    """A MATLAB .mat file as scipy.io.loadmat's dict."""
    require_file(path, what, who)
    try:
        return scipy.io.loadmat(path)
    except NotImplementedError as e:
        raise DataError('%s: %s %s is a MATLAB v7.3 (HDF5) file, which scipy.io cannot read; '
                        're-save it with -v7: %s' % (who, what, path, e)) from e
    except Exception as e:
        raise DataError('%s: cannot read %s %s: %s' % (who, what, path, e)) from e


def mat_variable(mat, name, path, who):
    if name not in mat:
        names = sorted(k for k in mat if not k.startswith('__'))
        raise DataError('%s: %s has no variable %r (it has %s)' % (who, path, name, ', '.join(names) or 'none'))
    return mat[name]


def read_palette(path):
    """(k, 3) uint8 colours of palette.txt's "R G B" lines; DatasetError naming the line otherwise."""
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                values = [int(p) for p in parts]
            except ValueError:
                values = []
            if len(values) != 3 or min(values) < 0 or max(values) > 255:
                raise DataError('%s: line %d: a palette line is three integers "R G B" in 0..255, not %r'
                                   % (path, number, line.strip()))
            rows.append(values)
    if not rows:
        raise DataError('%s: the palette is empty; give one "R G B" line per class' % path)
    return np.array(rows, dtype=np.uint8)



# -- labels ----------------------------------------------------------------------


def _some(values, n=10):
    shown = ', '.join('%g' % v for v in values[:n])
    return '[%s%s]' % (shown, ', ...' if len(values) > n else '')


def check_labels(raw, lo, hi, void, path, who, meaning):
    """Validate a stored label map; returns it as int64.

    Allowed values are the integers in [lo, hi] and those in `void`; `meaning`
    says what they are for the error message, e.g. "classes 0..20 or void 255".
    """
    a = np.asarray(raw)
    if a.ndim != 2:
        raise DataError('%s: label %s must be a 2-D H x W map, got shape %s' % (who, path, a.shape))
    if a.dtype.kind == 'b':
        a = a.astype(np.uint8)
    if a.dtype.kind == 'f':
        bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            raise DataError('%s: label %s has non-integer values %s; labels must be %s'
                            % (who, path, _some(np.unique(a[bad])), meaning))
    elif a.dtype.kind not in 'iu':
        raise DataError('%s: label %s has dtype %s; labels must be integers (%s)' % (who, path, a.dtype, meaning))
    ok = (a >= lo) & (a <= hi)
    for v in void:
        ok |= a == v
    if not ok.all():
        raise DataError('%s: label %s has values %s outside %s'
                        % (who, path, _some(np.unique(a[~ok])), meaning))
    return a.astype(np.int64)



# -- transformation ------------------------------------------------------------------


def caffe_input(rgb, mean):
    """H x W x 3 RGB -> 3 x H x W float32 BGR minus `mean` (given in BGR order), as the release does."""
    x = np.array(rgb, dtype=np.float32)
    x = x[:, :, ::-1]
    x -= mean
    return x.transpose((2, 0, 1))


def modality_input(kind, source, mean, what=None, who='input', upright=False, max_pixels=None):
    """One modality of a net input as C x H x W float32, from a file or an array already read.

    color  an image (path, or H x W x 3 uint8 RGB from read_rgb)  -> 3 x H x W  BGR minus mean (B, G, R)
    hha    an HHA image (path, or H x W x 3 uint8)                -> 3 x H x W  channels as stored minus mean
    depth  depth (path, see read_depth, or H x W millimetres)     -> 1 x H x W  log(mm) minus mean

    These are the release's NYUDv2 and VOC transforms.  Depth must be
    positive everywhere (hole-filled): a DataError names the file otherwise.
    `what` names the file in errors (default: the kind); upright and max_pixels
    go to the reader.
    """
    if kind not in MODALITIES:
        raise ValueError('modality kind %r is not one of %s' % (kind, ', '.join(MODALITIES)))
    what = what or {'color': 'image', 'hha': 'HHA image', 'depth': 'depth image'}[kind]
    is_path = isinstance(source, (str, os.PathLike))
    name = os.fspath(source) if is_path else 'the %s array' % what
    if kind == 'depth':
        d = read_depth(name, what, who, upright, max_pixels) if is_path else np.array(source, dtype=np.float32)
        bad = int(np.count_nonzero(~(d > 0)))
        if bad:
            raise DataError('%s: %s %s has %d pixels <= 0, where log depth is undefined; '
                            'give hole-filled depth' % (who, what, name, bad))
        d = np.log(d)
        d -= mean
        return d[np.newaxis, ...]
    rgb = read_rgb(name, what, who, upright, max_pixels) if is_path else source
    if kind == 'color':
        return caffe_input(rgb, mean)
    x = np.array(rgb, dtype=np.float32)
    x -= mean
    return x.transpose((2, 0, 1))





class TiffWindows:
    """A TIFF or BigTIFF image read window by window with tifffile: a window decodes only the tiles (or
    strips) it covers, so an image far larger than memory can be segmented.  8-bit RGB, RGBA (alpha
    dropped, as read_rgb does) or grayscale, samples stored together.  `segment_bytes`: the decoded
    size of one tile or strip.  DataError, naming the file, for anything else or a damaged file."""

    def __init__(self, path, what, who):
        import tifffile
        require_file(path, what, who)
        self.path, self.what, self.who = path, what, who
        try:
            self._tif = tifffile.TiffFile(path)
            page = self._tif.pages.first
            page.dataoffsets   # noqa: B018 (read the tags now: a damaged file fails here)
        except Exception as e:
            raise DataError('%s: cannot read %s %s as a TIFF: %s' % (who, what, path, e)) from e
        self._page = page
        samples = page.samplesperpixel
        if page.dtype != np.uint8 or samples not in (1, 3, 4) or (samples > 1 and page.planarconfig != 1) \
                or page.imagedepth != 1 or page.photometric not in (1, 2):
            self.close()
            raise DataError('%s: %s %s cannot be read window by window: only 8-bit RGB, RGBA or grayscale '
                            'TIFFs with their samples stored together are (this one: %s, %d samples, %s)'
                            % (who, what, path, page.dtype, samples, page.photometric.name))
        self.height, self.width = page.imagelength, page.imagewidth
        if page.is_tiled:
            self._seg = (page.tilelength, page.tilewidth)
        else:
            self._seg = (min(page.rowsperstrip or self.height, self.height), self.width)
        self.segment_bytes = self._seg[0] * self._seg[1] * (samples + 3)

    def read(self, y0, y1, x0, x1):
        """Rows y0:y1, columns x0:x1 as (y1 - y0) x (x1 - x0) x 3 uint8 RGB."""
        page, (sh, sw) = self._page, self._seg
        out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        across = -(-self.width // sw)
        fh = self._tif.filehandle
        for r in range(y0 // sh, (y1 - 1) // sh + 1):
            for c in range(x0 // sw, (x1 - 1) // sw + 1):
                i = r * across + c
                try:
                    fh.seek(page.dataoffsets[i])
                    data = fh.read(page.databytecounts[i])
                    seg = page.decode(data, i, jpegtables=page.jpegtables)[0]
                    seg = seg.reshape(seg.shape[-3:])
                except Exception as e:
                    raise DataError('%s: cannot decode %s %s (segment %d): %s'
                                    % (self.who, self.what, self.path, i, e)) from e
                ys, xs = (max(y0, r * sh), min(y1, (r + 1) * sh)), (max(x0, c * sw), min(x1, (c + 1) * sw))
                part = seg[ys[0] - r * sh:ys[1] - r * sh, xs[0] - c * sw:xs[1] - c * sw]
                out[ys[0] - y0:ys[1] - y0, xs[0] - x0:xs[1] - x0] = part[..., :3] if part.shape[2] >= 3 else part
        return out

    def close(self):
        self._tif.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
