"""What every FCN data layer shares.

- `parse_params` and the `get_*` checkers turn a layer's param_str into a
  dict.  The text is parsed with `ast.literal_eval` and nothing else: it must
  be a dict literal such as the release's prototxts carry
  ("{'voc_dir': '../data/pascal/VOC2011', 'split': 'train', ...}"); any code in
  it is rejected without being run.  Unknown and missing keys are errors that
  name the layer and the key.
- `read_rgb`, `read_gray`, `read_depth`, `read_label_png` and `read_mat` read
  dataset files.  Every missing file is a FileNotFoundError naming its path,
  and every file that cannot be decoded a DataError naming it.  `read_rgb`
  gives H x W x 3 uint8 RGB whatever the stored mode (grayscale, RGBA, CMYK,
  palette, 16-bit); `image_size` reads only the header.
- `check_labels` refuses label maps holding values outside a dataset's classes
  and void values, naming the file and the offending values.
- `modality_input` turns a colour, depth or HHA file (or array) into the
  C x H x W float32 input a net takes; the data layers and inference
  (fcn.inference) both go through it, so a file gives the same array in
  training, scoring and inference.  `caffe_input` is its colour case, the
  release's transformation.
- `SegDataLayer` is the base class: one example per forward (batch of 1),
  tops reshaped to each example, order sequential or seeded-random, the
  next example decoded in a background thread while the net computes, a
  shard of the stream per rank in data-parallel training, and `skip` to
  continue the stream where a resumed run left it.
"""
import ast
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.io
from PIL import Image, ImageOps

from backend import caffe
from fcn.paths import data_path
from models.records import MODALITIES

#: The label that marks pixels excluded from the loss and the scores.
VOID = 255

#: Keys every data layer accepts besides its own, with their defaults.
COMMON_OPTIONAL = {'randomize': True, 'seed': None, 'prefetch': True}


class ParamError(ValueError):
    """A layer's param_str or top/bottom configuration is wrong."""


class DataError(ValueError):
    """A dataset file exists but its content cannot be used."""


def shard_of_env():
    """(rank, world size) that torchrun gave this process; (0, 1) when it runs alone."""
    rank, world = int(os.environ.get('RANK', '0')), int(os.environ.get('WORLD_SIZE', '1'))
    if world < 1 or not 0 <= rank < world:
        raise ParamError('RANK=%d and WORLD_SIZE=%d do not describe a rank of the group' % (rank, world))
    return rank, world


# -- param_str ------------------------------------------------------------------


def _clip(text, n=200):
    return text if len(text) <= n else text[:n] + '...'


def parse_params(param_str, who, required, optional):
    """param_str -> dict with `optional`'s defaults filled in.

    `who` names the layer in errors.  Only a Python dict literal with string
    keys, all of them in `required` or `optional` and every `required` one
    present, is accepted.
    """
    text = (param_str or '').strip()
    accepted = list(required) + sorted(k for k in optional if k not in required)
    if not text:
        raise ParamError('%s: param_str is empty; give a dict literal with the keys %s'
                         % (who, ', '.join(repr(k) for k in required)))
    try:
        params = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ParamError('%s: param_str must be a Python dict literal (it is read with ast.literal_eval '
                         'and never executed); cannot read %r: %s' % (who, _clip(text), e)) from None
    if not isinstance(params, dict):
        raise ParamError('%s: param_str must be a dict literal, not a %s: %r'
                         % (who, type(params).__name__, _clip(text)))
    for key in params:
        if not isinstance(key, str):
            raise ParamError('%s: param_str key %r is not a string' % (who, key))
        if key not in accepted:
            raise ParamError('%s: unknown param_str key %r; accepted keys are %s'
                             % (who, key, ', '.join(repr(k) for k in accepted)))
    for key in required:
        if key not in params:
            raise ParamError('%s: param_str lacks the required key %r' % (who, key))
    out = dict(optional)
    out.update(params)
    return out


def get_str(params, key, who):
    value = params[key]
    if not isinstance(value, str) or not value:
        raise ParamError('%s: param_str key %r must be a non-empty string, got %r' % (who, key, value))
    return value


def get_dir(params, key, who):
    """A dataset folder: absolute as given, else relative to the data root (data/, see fcn.paths)."""
    return data_path(get_str(params, key, who))


def get_bool(params, key, who):
    value = params[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ParamError('%s: param_str key %r must be True or False, got %r' % (who, key, value))


def get_seed(params, key, who):
    value = params[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2 ** 32:
        raise ParamError('%s: param_str key %r must be None or an integer in [0, 2**32), got %r'
                         % (who, key, value))
    return value


def get_mean(params, key, who, n=3):
    """A tuple/list of n numbers, as a float64 array like the release's np.array(mean)."""
    value = params[key]
    ok = (isinstance(value, (tuple, list)) and len(value) == n
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if ok:
        mean = np.array(value, dtype=np.float64)
        if np.all(np.isfinite(mean)):
            return mean
    raise ParamError('%s: param_str key %r must be a tuple of %d numbers (B, G, R), got %r'
                     % (who, key, n, value))


# -- files ----------------------------------------------------------------------


def require_file(path, what, who, hint=''):
    if not os.path.isfile(path):
        raise FileNotFoundError('%s: %s not found: %s%s' % (who, what, path, hint))


def read_split(path, who):
    """The example ids of a split file, one a line (blank lines skipped).  A missing one is the first
    sign of a dataset that is not there, so its error says where to get it."""
    require_file(path, 'split file', who, ' (get the dataset first: see data/README.md)')
    with open(path) as f:
        ids = [line.strip() for line in f]
    ids = [i for i in ids if i]
    if not ids:
        raise DataError('%s: split file %s lists no examples' % (who, path))
    return ids


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


def label_blob(label):
    """H x W class indices -> the 1 x H x W uint8 array that fills a label top."""
    return np.asarray(label).astype(np.uint8)[np.newaxis, ...]


def check_same_size(who, named_arrays):
    """All (path, array) pairs must agree on H x W (their last two axes)."""
    sizes = [(path, tuple(a.shape[-2:])) for path, a in named_arrays]
    first_path, first = sizes[0]
    for path, size in sizes[1:]:
        if size != first:
            raise DataError('%s: %s is %dx%d (HxW) but %s is %dx%d'
                            % (who, first_path, first[0], first[1], path, size[0], size[1]))


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


# -- the layer -------------------------------------------------------------------------


class SegDataLayer(caffe.Layer):
    """Base of the dataset layers: a pair (or more) of arrays per example, one example a forward.

    Subclasses set REQUIRED (param_str keys besides the common ones) and
    implement `configure(params) -> (split file path, top names)` and
    `load(example_id) -> tuple of arrays`, one array per top without the batch
    axis.

    Common param_str keys:

    - split: name of the split; the subclass turns it into the split file.
    - randomize (default True): draw examples uniformly at random (with
      replacement), as the release does.  As in the release it applies only
      to splits whose name contains 'train'; other splits are always read in
      file order, so scoring sees every example once per pass.
    - seed (default None: fresh entropy): seed of this layer's own
      numpy RandomState, so a seeded layer always draws the same sequence.
    - prefetch (default True): decode the next example in a background thread
      while the net runs.  The order of examples does not depend on it.

    The examples form one stream fixed by the split, `randomize` and `seed`.
    In a TRAIN net under torchrun (RANK, WORLD_SIZE), rank r of N reads stream
    elements r, r+N, r+2N, ...: with a seed, N ranks together read exactly
    what one process reads, which makes data-parallel training the same
    arithmetic as iter_size.  Unseeded ranks draw independently.

    The layer has no bottoms; reshape sizes the tops to the current example
    (batch of 1) and forward copies it in and moves on.  backward does nothing.
    """

    REQUIRED = ('split',)

    # -- for subclasses -------------------------------------------------------
    def configure(self, params):
        raise NotImplementedError

    def load(self, example_id):
        raise NotImplementedError

    # -- pycaffe's Layer interface -------------------------------------------------
    def setup(self, bottom, top):
        who = self.who = type(self).__name__
        params = parse_params(self.param_str, who, self.REQUIRED, COMMON_OPTIONAL)
        self.split = get_str(params, 'split', who)
        split_path, self.top_names = self.configure(params)
        if len(bottom) != 0:
            raise ParamError('%s: a data layer takes no bottoms, the prototxt gives %d' % (who, len(bottom)))
        if len(top) != len(self.top_names):
            raise ParamError('%s needs %d tops (%s), the prototxt gives %d'
                             % (who, len(self.top_names), ', '.join(self.top_names), len(top)))
        randomize = get_bool(params, 'randomize', who)
        self.seed = get_seed(params, 'seed', who)
        self.prefetch = get_bool(params, 'prefetch', who)
        self.indices = read_split(split_path, who)
        self.random = randomize and 'train' in self.split
        self.rng = np.random.RandomState(self.seed)
        self._drawn, self._last_draw = 0, None
        self.rank, self.world = shard_of_env() if self.phase == caffe.TRAIN else (0, 1)
        self.position = self.rank   # this rank's place in the stream
        self.idx = self._index_at(self.position)
        self._ready = None    # (idx, arrays) of the example the tops are shaped for
        self._pending = None  # (idx, future) of the example being prefetched
        self._pool = None

    def reshape(self, bottom, top):
        arrays = self._example(self.idx)
        for i in range(len(top)):   # pycaffe's blob vectors are indexed, not iterated
            top[i].reshape(1, *arrays[i].shape)

    def forward(self, bottom, top):
        arrays = self._example(self.idx)
        for i in range(len(top)):
            top[i].data[...] = arrays[i]
        self.position += self.world
        self.idx = self._index_at(self.position)
        if self.prefetch and self.idx != self._ready[0]:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.who)
            self._pending = (self.idx, self._pool.submit(self._load, self.idx))

    def backward(self, top, propagate_down, bottom):
        pass

    def skip(self, n):
        """Move past this rank's next n examples unread, as n forwards would (to resume a run)."""
        self.position += n * self.world
        self.idx = self._index_at(self.position)

    # -- internals ---------------------------------------------------------------
    def _index_at(self, k):
        """The example at stream position k (positions only ever grow)."""
        if not self.random:
            return k % len(self.indices)
        while self._drawn <= k:
            self._last_draw = int(self.rng.randint(len(self.indices)))
            self._drawn += 1
        return self._last_draw

    def _load(self, idx):
        arrays = tuple(self.load(self.indices[idx]))
        if len(arrays) != len(self.top_names):
            raise RuntimeError('%s.load gave %d arrays for %d tops' % (self.who, len(arrays), len(self.top_names)))
        return arrays

    def _example(self, idx):
        """The arrays of example idx: cached, prefetched, or read now."""
        if self._ready is not None and self._ready[0] == idx:
            return self._ready[1]
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == idx:
            arrays = pending[1].result()  # re-raises what the prefetch raised
        else:
            arrays = self._load(idx)
        self._ready = (idx, arrays)
        return arrays
