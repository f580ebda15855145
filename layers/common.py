"""What every FCN data layer shares.

- `parse_params` and the `get_*` checkers turn a layer's param_str into a
  dict.  The text is parsed with `ast.literal_eval` and nothing else: it must
  be a dict literal such as the release's prototxts carry
  ("{'voc_dir': '../data/pascal/VOC2011', 'split': 'train', ...}"); any code in
  it is rejected without being run.  Unknown and missing keys are errors that
  name the layer and the key.
- Files are read through fcn.readers (images, label maps, depth, HHA, .mat),
  the one reading policy the data layers share with inference and the
  dataset check; `read_split` reads a split file.
- `SegDataLayer` is the base class: one example per forward (or, with
  crops, a batch of them), tops reshaped to each, order sequential or
  seeded-random, optional augmentation (layers.augment), the next batch
  decoded in a background thread while the net computes, a shard of the
  stream per rank in data-parallel training, and `skip` to continue the
  stream where a resumed run left it.
"""
import ast
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from backend import caffe
from fcn.readers import DataError, require_file
from fcn.paths import data_path

from . import augment

#: Keys every data layer accepts besides its own, with their defaults.
COMMON_OPTIONAL = dict({'randomize': True, 'seed': None, 'prefetch': True, 'batch': 1, 'split_file': None},
                       **augment.KEYS)


class ParamError(ValueError):
    """A layer's param_str or top/bottom configuration is wrong."""


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


def get_batch(params, key, who, crop):
    """Examples per forward: an integer >= 1; more than one needs a crop (examples differ in size)."""
    value = params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParamError('%s: param_str key %r must be a positive integer, got %r' % (who, key, value))
    if value > 1 and crop is None:
        raise ParamError("%s: param_str key %r is %d, which needs 'crop': S (examples of different sizes "
                         "cannot share a blob; a batch is N x C x S x S)" % (who, key, value))
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



# -- arrays ----------------------------------------------------------------------


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



# -- the layer -------------------------------------------------------------------------


class SegDataLayer(caffe.Layer):
    """Base of the dataset layers: a pair (or more) of arrays per example, one example (or a batch of
    crops) a forward.

    Subclasses set REQUIRED (param_str keys besides the common ones) and
    implement `configure(params) -> (split file path, top names)` and
    `load(example_id) -> tuple of arrays`, one C x H x W array per top (no
    batch axis).  Tops named in LABELS hold labels (nearest-neighbour
    scaling, void padding); the others are inputs.

    Common param_str keys:

    - split: name of the split; the subclass turns it into the split file.
    - split_file (default None): read the examples listed in this file of
      the same dataset instead (absolute, or relative to the data root);
      evaluate.py --val sets it to score another split (a test split).
    - randomize (default True): draw examples uniformly at random (with
      replacement), as the release does.  As in the release it applies only
      to splits whose name contains 'train'; other splits are always read in
      file order, so scoring sees every example once per pass.
    - seed (default None: fresh entropy): seed of this layer's own
      numpy RandomState, so a seeded layer always draws the same sequence,
      and of its augmentation draws.
    - prefetch (default True): decode the next batch in a background thread
      while the net runs.  The examples do not depend on it.
    - mirror, scale, crop (default off): random augmentation, see layers.augment.
    - batch (default 1): examples per forward, N x C x S x S; more than one
      needs a crop, as examples of different sizes cannot share a blob.

    The examples form one stream fixed by the split, `randomize` and `seed`;
    forward j reads the batch at position p = j (elements pB .. pB+B-1 of the
    stream, B the batch).  In a TRAIN net under torchrun (RANK, WORLD_SIZE),
    rank r of N reads positions r, r+N, r+2N, ...: with a seed, N ranks
    together read exactly what one process reads, augmentation included,
    which makes data-parallel training the same arithmetic as iter_size.
    Unseeded ranks draw independently.

    The layer has no bottoms; reshape sizes the tops to the current batch
    and forward copies it in and moves on.  backward does nothing.
    """

    REQUIRED = ('split',)
    LABELS = ('label', 'sem', 'geo')

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
        if params['split_file'] is not None:
            split_path = get_dir(params, 'split_file', who)
        self.split_path = split_path
        if len(bottom) != 0:
            raise ParamError('%s: a data layer takes no bottoms, the prototxt gives %d' % (who, len(bottom)))
        if len(top) != len(self.top_names):
            raise ParamError('%s needs %d tops (%s), the prototxt gives %d'
                             % (who, len(self.top_names), ', '.join(self.top_names), len(top)))
        randomize = get_bool(params, 'randomize', who)
        self.seed = get_seed(params, 'seed', who)
        self.prefetch = get_bool(params, 'prefetch', who)
        self.augment = augment.options(params, who, ParamError)
        self.batch = get_batch(params, 'batch', who, self.augment.crop)
        self.is_label = tuple(name in self.LABELS for name in self.top_names)
        self.indices = read_split(split_path, who)
        self.random = randomize and 'train' in self.split
        self.rng = np.random.RandomState(self.seed)
        self.augment_seed = self.seed if self.seed is not None else np.random.SeedSequence().entropy
        self._drawn, self._recent = 0, {}
        self.rank, self.world = shard_of_env() if self.phase == caffe.TRAIN else (0, 1)
        self.position = self.rank   # this rank's place in the stream, in batches
        self.plan = self._plan_at(self.position)
        self._ready = None    # (plan, arrays) of the batch the tops are shaped for
        self._pending = None  # (plan, future) of the batch being prefetched
        self._pool = None

    def reshape(self, bottom, top):
        arrays = self._batch(self.plan)
        for i in range(len(top)):   # pycaffe's blob vectors are indexed, not iterated
            top[i].reshape(*arrays[i].shape)

    def forward(self, bottom, top):
        arrays = self._batch(self.plan)
        for i in range(len(top)):
            top[i].data[...] = arrays[i]
        self.position += self.world
        self.plan = self._plan_at(self.position)
        if self.prefetch and self.plan != self._ready[0]:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.who)
            self._pending = (self.plan, self._pool.submit(self._load, self.plan))

    def backward(self, top, propagate_down, bottom):
        pass

    def skip(self, n):
        """Move past this rank's next n batches unread, as n forwards would (to resume a run)."""
        self.position += n * self.world
        self.plan = self._plan_at(self.position)

    # -- internals ---------------------------------------------------------------
    def _index_at(self, k):
        """The example at stream element k (k never goes below the newest batch's first element)."""
        if not self.random:
            return k % len(self.indices)
        while self._drawn <= k:
            self._recent[self._drawn] = int(self.rng.randint(len(self.indices)))
            self._recent.pop(self._drawn - self.batch, None)   # keep the newest batch's draws
            self._drawn += 1
        return self._recent[k]

    def _plan_at(self, p):
        """What the batch at position p holds: ((example index, augment.Draw or None), ...)."""
        ks = range(p * self.batch, (p + 1) * self.batch)
        if not augment.active(self.augment):
            return tuple((self._index_at(k), None) for k in ks)
        return tuple((self._index_at(k), augment.draw(self.augment_seed, k, self.augment)) for k in ks)

    def _load(self, plan):
        """The tops' arrays (N x C x H x W) of a batch plan: each example read, augmented, stacked."""
        examples = []
        for idx, d in plan:
            arrays = tuple(self.load(self.indices[idx]))
            if len(arrays) != len(self.top_names):
                raise RuntimeError('%s.load gave %d arrays for %d tops' % (self.who, len(arrays), len(self.top_names)))
            if d is not None:
                arrays = augment.apply(arrays, self.is_label, d, self.augment.crop)
            examples.append(arrays)
        return tuple(np.stack([ex[i] for ex in examples]) for i in range(len(self.top_names)))

    def _batch(self, plan):
        """The arrays of a batch plan: cached, prefetched, or read now."""
        if self._ready is not None and self._ready[0] == plan:
            return self._ready[1]
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == plan:
            arrays = pending[1].result()  # re-raises what the prefetch raised
        else:
            arrays = self._load(plan)
        self._ready = (plan, arrays)
        return arrays
