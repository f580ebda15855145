"""Segmenting images with a net's deploy prototxt, as its record says, within a memory budget.

    rec = records.get('voc-fcn8s')
    seg = Segmenter(rec, weights.locate(rec.name), budget=2 << 30)   # seg.warnings: from the weights check
    plan = inputs_of(['photo.jpg'], rec)                             # {image: {kind: file}}
    result = seg.segment(plan['photo.jpg'])                          # Result: labels, one per output
    write_outputs(result, 'out/', 'photo', rec)

Inputs, from the record (models/records.py): every deploy input blob gets its
modalities stacked along the channels, each read and normalized by
fcn.readers.modality_input with the net's own means, exactly as the data
layers build them.  The positional image is always the colour photo (the
overlay is drawn on it); NYUDv2 nets that take depth or HHA find them per
image (`inputs_of`): given explicitly (--depth FILE, --hha FILE, one image),
else in the dataset's own layout, sibling folders of the image's folder with
the same file name:

    .../images/img_5001.png  ->  .../depth/img_5001.png (16-bit PNG, mm) or .../depth/img_5001.mat (metres)
                                 .../hha/img_5001.png

Memory: the budget bounds everything one image costs beyond the process's
fixed cost (Python, the engine's libraries):

    weights + pass constant + 1.25 x blob bytes at the pass size
            + per pass pixel bytes x pass pixels + per image pixel bytes x image pixels

* weights: the net's parameters, resident;
* pass constant: measured once per net when it is loaded (before its
  weights), as the peak memory a forward at the net's smallest input adds
  beyond its blobs (weight copies and reorders the engine makes per pass,
  thread pools): on Linux from the process's peak RSS (VmHWM, reset through
  /proc/self/clear_refs), on a CUDA device from torch's allocator
  statistics, elsewhere one more copy of the weights is assumed;
* blob bytes: every blob of the pass, shapes propagated by reshape (which
  allocates nothing), times 1.25 for the transients of a layer (measured at
  1.03-1.22 on the FCN nets);
* per pass pixel: the resized inputs in uint8 and float32 and the argmax;
* per image pixel: the largest of what the phases at the image's own size
  hold (Segmenter.pixel_bytes): decoding a file (7 bytes for RGB, more for
  other modes), or the decoded photo (uint8, kept) with one uint8 label
  map per output and the overlay (PIL RGB, 4 bytes a pixel) that is blended
  into it strip by strip.

An image whose pass would not fit is segmented at the largest size of the
same aspect that fits (resized with PIL in uint8) and its label maps scaled
back (nearest) to the image's size; one whose own pixels do not fit is
refused before it is decoded.  After each pass the input blobs are reshaped
to the smallest size, which releases the blobs (torchcaffe).
"""
import itertools
import math
import os
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np
from PIL import Image

import vis
from backend import caffe
from fcn import files, readers, tiling
from fcn.errors import FCNError, InputError
from models import records

#: Bytes a blob's transients add per byte of blobs, at most (see the module docstring).
BLOB_FACTOR = 1.25
#: Peak bytes per pixel of decoding an image file by its PIL mode: PIL's buffer, the bytes numpy wraps,
#: a converted copy (RGB: 4 + 3; palette / grayscale: 1 + 4 + 3; 16-bit: 2 + 2 + 1 + 3; 32-bit gray goes
#: through float64); other modes (RGBA, CMYK, ...) 4 + 4 + 3.
DECODE_BYTES = {'RGB': 7, 'L': 8, 'P': 8, '1': 8, 'I;16': 8, 'I;16B': 8, 'I;16L': 8, 'I': 40, 'F': 40}
DECODE_OTHER = 11
#: Bytes per pixel of the photo held while the pass and the outputs are made (3) plus what each phase
#: adds: resizing it (PIL RGB copy, 4), or one label map per output with the overlay (PIL RGB, 4).
HELD_BYTES = 3 + 4
#: A depth PNG: PIL's 16-bit buffer and bytes (2 + 2), float32 (4), the float32 PIL copy to resize (4).
DEPTH_BYTES = 12
#: Bytes per pass pixel and input channel: uint8 resized copy (PIL + array) and float32 input with a copy.
PASS_BYTES = 12
#: Bytes per pass pixel and output: argmax int64 and the uint8 label.
PASS_OUTPUT_BYTES = 9
#: Bytes per pass pixel and class of a softmax (float32 exponentials and the kept part's copy).
SOFTMAX_BYTES = 8
#: Sides tried for the smallest input a net accepts.
SMALLEST_SIDES = (1, 16, 32, 64, 128, 256)
#: The shortest side a pass is shrunk to before an image is refused.
MIN_SIDE = 32
#: File names of the extra modalities in the dataset layout, and how to ask for them.
EXTRA_FOLDERS = {'depth': 'depth', 'hha': 'hha'}
EXTRA_NAMES = {'depth': 'a depth image', 'hha': 'an HHA image'}
#: Images read window by window when they do not fit (fcn.readers.TiffWindows).
TIFF_EXTS = ('.tif', '.tiff')
#: The longest side of the (downsampled) overlay of an image read window by window.
PREVIEW_SIDE = 2048
#: Peak bytes per pixel of a strip of the overlay as vis blends it (float64 copies of the image and the
#: colours, and their sum); the overlay of an image read window by window is blended OVERLAY_STRIP
#: pixels at a time.
OVERLAY_STRIP_BYTES = 80
OVERLAY_STRIP = 1 << 17
#: Side of the tiles of the label TIFF written for an image read window by window.
LABEL_TILE = 128
#: Bytes per pixel of a band of an image read window by window: its RGB rows (3), the label rows (1) and
#: the rows waiting to fill a row of label tiles (1), copies of them and allocator slack (7: measured on
#: a 12000-pixel-wide TIFF, tests/test_infer_memory.py).
BAND_BYTES = 12
#: Bytes per pixel of a row of label tiles that tifffile's encoder holds while it compresses them
#: (measured: about 9 on a 12000-pixel-wide image, zlib).
WRITER_BYTES = 12
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.ppm', '.webp')
WHO = 'infer'


class OverBudget(InputError):
    """An image that cannot be segmented within the memory budget."""


def parse_memory(text):
    """A memory size in bytes: '2' (GiB), '2G', '2GB', '2GiB', '512M', '1.5g', '800K'; binary units.

    ValueError for anything that is not a positive finite size.
    """
    t = str(text).strip()
    units = {'': 30, 'K': 10, 'M': 20, 'G': 30, 'T': 40}
    number, unit = t, ''
    for suffix in ('iB', 'B', 'i'):
        if number[-len(suffix):].lower() == suffix.lower() and len(number) > len(suffix):
            number = number[:-len(suffix)]
            break
    if number and number[-1].upper() in units and number[-1].isalpha():
        number, unit = number[:-1], number[-1].upper()
    elif number != t:
        raise ValueError('%r: give a size such as 2, 2G, 2GiB or 512M' % text)
    try:
        value = float(number)
    except ValueError:
        raise ValueError('%r: give a size such as 2, 2G, 2GiB or 512M' % text) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError('%r: the size must be positive' % text)
    return int(value * 2 ** units[unit])


def gib(n):
    return '%.3g GiB' % (n / 2 ** 30)


def _cuda_device():
    """The CUDA device torchcaffe computes on, or None (CPU, or the pycaffe backend)."""
    if caffe.__name__ == 'torchcaffe' and caffe.mode.device().type == 'cuda':
        return caffe.mode.device()
    return None


def default_budget():
    """Half the memory available now (MemAvailable), or 80% of the free memory of the CUDA device in use."""
    cuda = _cuda_device()
    if cuda is not None:
        import torch
        return int(0.8 * torch.cuda.mem_get_info(cuda)[0])
    try:
        with open('/proc/meminfo') as f:
            info = dict(line.split(':', 1) for line in f)
        return int(0.5 * int(info['MemAvailable'].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        return 4 << 30


# -- what to read --------------------------------------------------------------------------------------


def expand_images(paths):
    """Files given directly, plus the images inside any folder given (sorted), each once."""
    files, seen = [], set()
    for p in paths:
        found = [p]
        if os.path.isdir(p):
            found = sorted(os.path.join(p, f) for f in os.listdir(p)
                           if f.lower().endswith(IMAGE_EXTS) and os.path.isfile(os.path.join(p, f)))
        for f in found:
            key = os.path.realpath(f)
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def kinds_needed(record):
    """The modalities the net takes, in input order, each once."""
    kinds = []
    for inp in record.inputs:
        kinds += [k for k in inp.kinds if k not in kinds]
    return kinds


def dataset_sibling(image, kind):
    """Where the NYUDv2 layout keeps `kind` (depth, hha) for an image: ../<kind>/<same name>; for depth a
    .mat of the same stem too.  The first that exists, else the PNG path."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(image))), EXTRA_FOLDERS[kind])
    name = os.path.basename(image)
    candidates = [os.path.join(folder, name)]
    if kind == 'depth':
        candidates.append(os.path.join(folder, os.path.splitext(name)[0] + '.mat'))
    return next((c for c in candidates if os.path.isfile(c)), candidates[0])


def inputs_of(images, record, given=None):
    """{image: {kind: file}} for every image: the photo as 'image' (and 'color'), and each extra modality
    the net takes, from `given` ({kind: file}, one image only) or the dataset layout.

    FCNError, before anything is read, when an extra input is missing: one
    message naming the (first) image and what to pass.
    """
    given = {k: v for k, v in (given or {}).items() if v}
    kinds = kinds_needed(record)
    for kind in given:
        if kind not in kinds:
            raise FCNError('--%s: %s takes no %s input (it takes %s)' % (kind, record.name, kind, ', '.join(kinds)))
    if given and len(images) > 1:
        raise FCNError('--%s FILE goes with one image, not %d; for several, keep the dataset layout '
                       '(.../images/NAME with .../%s/NAME)' % (next(iter(given)), len(images), next(iter(given))))
    plan, missing = {}, []
    for image in images:
        files = {'image': image}
        if 'color' in kinds:
            files['color'] = image
        for kind in kinds:
            if kind == 'color':
                continue
            path = given.get(kind) or dataset_sibling(image, kind)
            if not os.path.isfile(path):
                missing.append((image, kind, path, kind in given))
            files[kind] = path
        plan[image] = files
    if missing:
        image, kind, path, explicit = missing[0]
        more = ' (and %d more missing inputs)' % (len(missing) - 1) if len(missing) > 1 else ''
        if explicit:
            raise FCNError('%s: the %s file %s does not exist%s' % (image, kind, path, more))
        raise FCNError('%s: %s needs %s for it: pass --%s FILE, or put it at %s (the NYUDv2 layout)%s'
                       % (image, record.name, EXTRA_NAMES[kind], kind, path, more))
    return plan


def output_names(images, record):
    """({image: base name}, notes): outputs are <out>/<base><suffix>.png and <base><suffix>_overlay.jpg.

    The base is the image's stem; images whose outputs would collide with
    another's (x.jpg and x.png, or x.jpg and x_geometric.jpg under SIFT Flow)
    keep their extension instead (x.jpg.png, x.png.png), which a note says.
    FCNError when even that collides (the same file name in two folders).
    """
    def files(base):
        return [base + out.suffix + end for out in record.outputs for end in ('.png', '_overlay.jpg')]

    def clashes(bases):
        owner, clash = {}, set()
        for image, base in bases.items():
            for f in files(base):
                if f in owner and owner[f] != image:
                    clash.update((image, owner[f]))
                owner.setdefault(f, image)
        return clash

    bases = {im: os.path.splitext(os.path.basename(im))[0] for im in images}
    clash = clashes(bases)
    notes = []
    if clash:
        for im in clash:
            bases[im] = os.path.basename(im)
        notes.append('%s share output names: they are named after the whole file name (%s)'
                     % (', '.join(sorted(clash)), ', '.join(sorted(bases[im] + '.png' for im in clash))))
        again = clashes(bases)
        if again:
            raise FCNError('%s would write the same outputs; segment them into different --out folders'
                           % ' and '.join(sorted(again)))
    return bases, notes


# -- the net ----------------------------------------------------------------------------------------


def _rss():
    """(VmRSS, VmHWM) in bytes, None where /proc/self/status has no such lines."""
    try:
        with open('/proc/self/status') as f:
            info = dict(line.split(':', 1) for line in f if ':' in line)
        return int(info['VmRSS'].split()[0]) * 1024, int(info['VmHWM'].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def _reset_peak():
    """Reset VmHWM to the current RSS (Linux clear_refs 5); False where that is not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Options:
    """How to segment.  tile: None for the whole pass where it fits (else tiles, else a resized pass),
    0 for tiles of the largest size that fits, N for tiles keeping N x N pixels; resize: a pass that does
    not fit is shrunk rather than tiled; scores: keep the probabilities; flip, scales: test-time
    augmentation, the softmax averaged over horizontal flips and over the image scaled by each factor."""
    tile: int = None
    resize: bool = False
    scores: bool = False
    flip: bool = False
    scales: tuple = (1.0,)

    @property
    def tta(self):
        return self.flip or tuple(self.scales) != (1.0,)


class Plan(NamedTuple):
    """One pass over an input of `size` (h, w): kind 'whole', 'resized' (size is the shrunk size) or
    'tiles' (kept: the side of each tile's kept part); need: the bytes it was sized to."""
    kind: str
    size: tuple
    need: float
    kept: int = None


class Result:
    """Label maps of one image (H x W uint8, one per record output), its probabilities (C x H x W
    float16 per output, with Options.scores) and how it was segmented (plans: [((scale, flip), Plan)])."""

    def __init__(self, image, rgb, labels, pass_size, need, probs=None, plans=()):
        self.image, self.rgb, self.labels, self.probs = image, rgb, labels, probs
        self.pass_size, self.need, self.plans = pass_size, need, list(plans)

    @property
    def scaled(self):
        """The (first) pass ran at a smaller size than the image's, its labels scaled back."""
        return any(plan.kind == 'resized' for _, plan in self.plans) or (
            not self.plans and self.pass_size != self.rgb.shape[:2])

    @property
    def tiled(self):
        """(number of tiles, kept side) of the first tiled pass, or None."""
        for (scale, _), plan in self.plans:
            if plan.kind == 'tiles':
                h, w = plan.size
                return -(-h // plan.kept) * -(-w // plan.kept), plan.kept
        return None


class Segmenter:
    """A deploy net with its record and weights, segmenting images within `budget` bytes.

    Raises MissingFile / WeightsMismatch (fcn.weights) for the weights, and
    RecordError when the deploy net's inputs or outputs are not the record's.
    `warnings` holds the weights check's warnings for the caller to show.
    """

    def __init__(self, record, weights_path, budget, allow_partial=False):
        from fcn import weights
        if not os.path.isfile(record.deploy):
            raise records.RecordError('%s has no deploy net (looked for %s)' % (record.name, record.deploy))
        self.record, self.budget = record, int(budget)
        self.net = caffe.Net(record.deploy, caffe.TEST)
        self._check_record()
        self.weight_bytes = 4 * sum(p.count for ps in self.net.params.values() for p in ps)
        self.smallest = self._smallest()
        self.constant = self._calibrate()
        self.warnings = weights.load(self.net, weights_path, allow_partial)
        self.palettes = [out.palette_colors() for out in record.outputs]
        self.channels = [self.net.blobs[out.blob].shape[1] for out in record.outputs]
        self.classes = sum(self.channels)
        self.geometry, self.untileable = None, None
        try:
            geos = [tiling.geometry(record.deploy, [i.blob for i in record.inputs], out.blob)
                    for out in record.outputs]
            self.geometry = tiling.Geometry(math.lcm(*(g.stride for g in geos)), max(g.before for g in geos),
                                            max(g.after for g in geos))
        except tiling.TilingError as e:
            self.untileable = tiling.TilingError('%s cannot be segmented in tiles: %s' % (record.name, e))

    def _check_record(self):
        net_inputs, rec_inputs = list(self.net.inputs), [i.blob for i in self.record.inputs]
        if sorted(net_inputs) != sorted(rec_inputs):
            raise records.RecordError('%s: the deploy net\'s inputs (%s) are not its record\'s (%s)'
                                      % (self.record.name, ', '.join(net_inputs), ', '.join(rec_inputs)))
        for inp in self.record.inputs:
            channels = self.net.blobs[inp.blob].shape[1]
            if channels != inp.channels:
                raise records.RecordError('%s: input %s has %d channels, its record stacks %d (%s)'
                                          % (self.record.name, inp.blob, channels, inp.channels,
                                             ' + '.join(inp.kinds)))
        for out in self.record.outputs:
            if out.blob not in self.net.blobs:
                raise records.RecordError('%s: the deploy net has no output blob %r' % (self.record.name, out.blob))

    def _reshape(self, h, w):
        for inp in self.record.inputs:
            self.net.blobs[inp.blob].reshape(1, inp.channels, h, w)
        self.net.reshape()

    def blob_bytes(self, h, w):
        """Bytes of every blob of a pass at h x w (inf when the net cannot take that size)."""
        try:
            self._reshape(h, w)
        except getattr(caffe, 'CaffeError', RuntimeError):   # a blob over the engine's limit, a size too small
            return math.inf
        return 4 * sum(b.count for b in self.net.blobs.values())

    def _smallest(self):
        for side in SMALLEST_SIDES:
            if math.isfinite(self.blob_bytes(side, side)):
                return side, side
        raise records.RecordError('%s: the deploy net takes no input of %s pixels or fewer'
                                  % (self.record.name, SMALLEST_SIDES[-1]))

    def _calibrate(self):
        """Peak bytes a forward at the smallest size adds beyond its blobs (see the module docstring): on
        a CUDA device (torchcaffe) from torch's allocator statistics, else from the process's peak RSS."""
        h, w = self.smallest
        blobs = self.blob_bytes(h, w)
        for inp in self.record.inputs:
            self.net.blobs[inp.blob].data[...] = 0
        cuda = _cuda_device()
        if cuda is not None:
            import torch
            torch.cuda.synchronize(cuda)
            torch.cuda.reset_peak_memory_stats(cuda)
            start = torch.cuda.memory_allocated(cuda)
            self.net.forward()
            torch.cuda.synchronize(cuda)
            peak = torch.cuda.max_memory_allocated(cuda)
            self.release()
            return max(0, peak - start - blobs)
        start = _rss() if _reset_peak() else None
        self.net.forward()
        end = _rss()
        self.release()
        if start is None or end is None:
            return self.weight_bytes
        return max(0, end[1] - start[0] - blobs)

    def release(self):
        """Shrink the pass to the smallest size, which releases the blobs (torchcaffe)."""
        self._reshape(*self.smallest)

    def pixel_bytes(self, modes):
        """Peak bytes per image pixel of everything held at the image's own size (see DECODE_BYTES ...):
        modes is {kind: PIL mode of its file} ('mat' for a .mat depth)."""
        kept = sum(4 if kind == 'depth' else 3 for kind in modes if kind not in ('image', 'color'))
        peaks = [HELD_BYTES + len(self.record.outputs) + kept]
        for kind, mode in modes.items():
            if kind == 'depth':
                peaks.append(DEPTH_BYTES if mode != 'mat' else 3 * 8)
            else:
                peaks.append(DECODE_BYTES.get(mode, DECODE_OTHER))
        return max(peaks) + 1

    def memory_needed(self, h, w, height, width, pixel_bytes):
        """Bytes segmenting a height x width image with a pass at h x w needs (see the module docstring)."""
        channels = sum(inp.channels for inp in self.record.inputs)
        n_out = len(self.record.outputs)
        return (self.weight_bytes + self.constant + BLOB_FACTOR * self.blob_bytes(h, w)
                + (PASS_BYTES * channels + PASS_OUTPUT_BYTES * n_out + SOFTMAX_BYTES * self.classes) * h * w
                + pixel_bytes * height * width)

    def fitting_size(self, height, width, pixel_bytes=HELD_BYTES + 2, held=None):
        """(h, w, bytes): the image's own size if its pass fits in the budget, else the largest fitting
        size of the same aspect; h is None when not even a MIN_SIDE-pixel short side fits.  held: the
        (height, width) of the image whose pixels are held, when the pass input is a scaled copy."""
        held = held or (height, width)
        scale = 1.0
        while True:
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            need = self.memory_needed(h, w, *held, pixel_bytes)
            if need <= self.budget:
                return h, w, need
            if min(h, w) <= MIN_SIDE:
                return None, None, need
            fixed = self.memory_needed(*self.smallest, *held, pixel_bytes)
            ratio = (self.budget - fixed) / (need - fixed) if math.isfinite(need) and self.budget > fixed else 0.25
            scale *= min(0.95, max(0.25, math.sqrt(max(ratio, 0.0))))

    def check(self, options):
        """Refuse options this net cannot take: TilingError for --tile on a net without a coordinate map,
        InputError for a tile smaller than the net's stride or a scale that is not positive."""
        if any(not (s > 0 and math.isfinite(s)) for s in options.scales):
            raise InputError('--scales: every scale must be positive, not %s' % ','.join(map(str, options.scales)))
        self._check_tile(options.tile)

    def _check_tile(self, tile):
        """TilingError for a tile asked of a net without a coordinate map, InputError for one smaller
        than its stride."""
        if tile is not None and self.geometry is None:
            raise self.untileable
        if tile and tile < self.geometry.stride:
            raise InputError('--tile %d: tiles must keep at least %s\'s stride, %d pixels'
                             % (tile, self.record.name, self.geometry.stride))

    def plan(self, h, w, height, width, pixel_bytes, options):
        """How to make the scores of an h x w pass input for a height x width image (pixel_bytes per image
        pixel held meanwhile): Plan('whole'), Plan('tiles') with the kept side, or Plan('resized') to the
        largest size of the same aspect that fits (--resize, or where not even the smallest tile fits).

        Raises OverBudget when nothing fits (or the tile asked for does not), TilingError for --tile on a
        net without a coordinate map, InputError for a tile smaller than the net's stride."""
        need = self.memory_needed(h, w, height, width, pixel_bytes)
        if options.tile is None and (need <= self.budget or options.resize):
            if need <= self.budget:
                return Plan('whole', (h, w), need)
            return self._resized(h, w, height, width, pixel_bytes)
        self._check_tile(options.tile)
        if self.geometry is None:
            return self._resized(h, w, height, width, pixel_bytes)
        if options.tile:
            need = self._tile_need(options.tile, h, w, height, width, pixel_bytes)
            if need > self.budget:
                best = self._largest_tile(h, w, height, width, pixel_bytes)
                raise OverBudget('--tile %d needs %s, over the %s budget (%s)'
                                 % (options.tile, gib(need), gib(self.budget),
                                    'the largest tile that fits is %d' % best if best else 'no tile fits'))
            return Plan('tiles', (h, w), need, options.tile)
        kept = self._largest_tile(h, w, height, width, pixel_bytes)
        if kept is None:
            return self._resized(h, w, height, width, pixel_bytes)
        return Plan('tiles', (h, w), self._tile_need(kept, h, w, height, width, pixel_bytes), kept)

    def _tile_need(self, kept, h, w, height, width, pixel_bytes):
        side = tiling.window_side(kept, self.geometry)
        return self.memory_needed(min(h, side), min(w, side), height, width, pixel_bytes)

    def _largest_tile(self, h, w, height, width, pixel_bytes):
        """The largest kept side (a multiple of the stride, up to the input's) whose tiles fit, or None."""
        return self._largest_kept(max(h, w), lambda kept: self._tile_need(kept, h, w, height, width, pixel_bytes))

    def _largest_kept(self, side, need):
        """The largest multiple of the stride, up to `side` rounded up, whose need(kept) fits the budget
        (a binary search: need grows with kept), or None."""
        stride = self.geometry.stride
        lo, hi = 0, -(-side // stride)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if need(mid * stride) <= self.budget:
                lo = mid
            else:
                hi = mid - 1
        return lo * stride or None

    def _resized(self, h, w, height, width, pixel_bytes):
        hh, ww, need = self.fitting_size(h, w, pixel_bytes, held=(height, width))
        if hh is None:
            raise OverBudget('%dx%d pixels need %s even with a %d-pixel short side, over the %s budget '
                             '(raise --max-memory)' % (width, height, gib(need), MIN_SIDE, gib(self.budget)))
        return Plan('resized', (hh, ww), need)

    def held_bytes(self, options):
        """Bytes per image pixel the scores and the test-time augmentation keep at the image's size:
        float16 probabilities (--scores), a float32 sum of probabilities with, per scale, the scaled
        photo and its probabilities, and one channel resized (TTA)."""
        extra = 2 * self.classes if options.scores else 0
        if options.tta:
            extra += 4 * self.classes + 8 + max(s * s * (HELD_BYTES + 4 * self.classes) for s in options.scales)
        return extra

    def segment(self, files, options=None):
        """Result of one image: files is {'image': photo, kind: file, ...} as inputs_of gives; options an
        Options (default: the whole pass where it fits, else tiles, else a resized pass).

        Raises InputError (OverBudget when it cannot fit) naming the image.
        """
        prepared = self.prepare(files, options)
        return self.run(prepared, self.read(prepared))

    def prepare(self, files, options=None):
        """Plan one image's passes within the budget from its headers, before anything is decoded:
        (files, options, (height, width), pixel bytes, passes planned).  Raises as
        `segment` does.  It reshapes the net: call it where the passes run."""
        options = options or Options()
        image = files['image']
        height, width, mode = readers.image_size(image, 'image', WHO)
        modes = {'image': mode}
        for kind, path in files.items():
            if kind in ('image', 'color'):
                continue
            if path.lower().endswith('.mat'):
                modes[kind] = 'mat'
                continue
            *size, modes[kind] = readers.image_size(path, kind, WHO)
            if tuple(size) != (height, width):
                raise InputError('%s is %dx%d but its %s %s is %dx%d (W x H)'
                                 % (image, width, height, kind, path, size[1], size[0]))
        pixel_bytes = self.pixel_bytes(modes) + self.held_bytes(options)
        plans = self._image_plans(image, height, width, pixel_bytes, options)
        return files, options, (height, width), pixel_bytes, plans

    def read(self, prepared):
        """Decode a prepared image: (rgb, {kind: array}).  It does not touch the net, so it may run in
        another thread while a pass runs."""
        files, _, (height, width), _, _ = prepared
        image = files['image']
        max_pixels = height * width
        arrays = {}
        for kind, path in files.items():       # the extra modalities first, while the photo is not held
            if kind in ('image', 'color'):
                continue
            reader = readers.read_depth if kind == 'depth' else readers.read_rgb
            arrays[kind] = reader(path, kind, WHO, upright=True, max_pixels=max_pixels)
        rgb = readers.read_rgb(image, 'image', WHO, upright=True, max_pixels=max_pixels)
        for kind, array in arrays.items():
            if array.shape[:2] != rgb.shape[:2]:
                raise InputError('%s is %dx%d but its %s %s is %dx%d (W x H)'
                                 % (image, rgb.shape[1], rgb.shape[0], kind, files[kind], array.shape[1],
                                    array.shape[0]))
        if 'color' in files:
            arrays['color'] = rgb
        return rgb, arrays

    def run(self, prepared, decoded):
        """Result of a prepared and decoded image: its passes, label maps and probabilities."""
        files, options, size, pixel_bytes, plans = prepared
        rgb, arrays = decoded
        if rgb.shape[:2] != size:                # EXIF orientation swapped the sides
            plans = self._image_plans(files['image'], *rgb.shape[:2], pixel_bytes, options)
        labels, probs = self.labels_and_probs(arrays, plans, options)
        return Result(files['image'], rgb, labels, plans[0][1].size, max(p.need for _, p in plans), probs, plans)

    def _image_plans(self, image, height, width, pixel_bytes, options):
        try:
            return self._plans(height, width, pixel_bytes, options)
        except InputError as e:
            raise type(e)('%s: %s' % (image, e)) from None

    def _plans(self, height, width, pixel_bytes, options):
        """[((scale, flip), Plan)] of every pass the options ask for."""
        plans = []
        for scale in options.scales:
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            plan = self.plan(h, w, height, width, pixel_bytes, options)
            plans += [((scale, False), plan)] + ([((scale, True), plan)] if options.flip else [])
        return plans

    def labels_and_probs(self, arrays, plans, options):
        """([H x W uint8 label map per output], [C x H x W float16 probabilities per output] or None) of
        the inputs arrays ({kind: H x W (x C) array}) through every planned pass: without TTA the label
        map is the argmax of the scores; with it, of the mean of the softmax over the passes."""
        height, width = next(iter(arrays.values())).shape[:2]
        n_out = len(self.record.outputs)
        if not options.tta:
            (_, plan), = plans
            if plan.size != (height, width):
                arrays = {k: _resize(a, *plan.size, Image.NEAREST if k == 'depth' else Image.BILINEAR)
                          for k, a in arrays.items()}
            labels = [np.empty(plan.size, np.uint8) for _ in range(n_out)]
            probs = [np.empty((c,) + plan.size, np.float16) for c in self.channels] if options.scores else None
            for (y0, y1), (x0, x1), scores in self.tiles(arrays, plan):
                for k, s in enumerate(scores):
                    labels[k][y0:y1, x0:x1] = s.argmax(0)
                    if probs is not None:
                        probs[k][:, y0:y1, x0:x1] = softmax(s)
            if plan.size != (height, width):
                labels = [_resize(label, height, width, Image.NEAREST) for label in labels]
                probs = probs and [_resize_channels(p, height, width, np.float16) for p in probs]
            return labels, probs
        total = [np.zeros((c, height, width), np.float32) for c in self.channels]
        for (scale, flip), plan in plans:
            variant = {k: _resize(a, *plan.size, Image.NEAREST if k == 'depth' else Image.BILINEAR)
                       for k, a in arrays.items()}
            if flip:
                variant = {k: a[:, ::-1] for k, a in variant.items()}
            at_size = plan.size == (height, width)
            sums = total if at_size else [np.zeros((c,) + plan.size, np.float32) for c in self.channels]
            w = plan.size[1]
            for (y0, y1), (x0, x1), scores in self.tiles(variant, plan):
                for k, s in enumerate(scores):
                    p = softmax(s)
                    if flip:
                        sums[k][:, y0:y1, w - x1:w - x0] += p[:, :, ::-1]
                    else:
                        sums[k][:, y0:y1, x0:x1] += p
            del variant
            if not at_size:
                for k in range(n_out):
                    for c in range(self.channels[k]):
                        total[k][c] += _resize(sums[k][c], height, width, Image.BILINEAR)
                del sums
        labels = [_argmax_rows(t) for t in total]
        probs = None
        if options.scores:
            probs = []
            for t in total:
                t /= len(plans)
                probs.append(t.astype(np.float16))
        return labels, probs

    def tiles(self, arrays, plan):
        """((y0, y1), (x0, x1), [C x (y1 - y0) x (x1 - x0) scores per output]) for every kept part of a
        pass over arrays (already at plan.size): the whole, or the tiles of plan.kept.  The scores are
        the score blobs' memory: use them before the next item."""
        h, w = plan.size
        if plan.kind == 'tiles':
            rows, cols = tiling.tiles(h, plan.kept, self.geometry), tiling.tiles(w, plan.kept, self.geometry)
        else:
            rows, cols = [(0, h, 0, h)], [(0, w, 0, w)]
        try:
            for y0, y1, k0, k1 in rows:
                for x0, x1, j0, j1 in cols:
                    scores = self.forward_scores({k: a[y0:y1, x0:x1] for k, a in arrays.items()})
                    yield (k0, k1), (j0, j1), [s[:, k0 - y0:k1 - y0, j0 - x0:j1 - x0] for s in scores]
        finally:
            self.release()

    def forward_scores(self, arrays):
        """The score blobs (C x h x w float32, one per output) of one pass over arrays ({kind: h x w (x C)
        array}); the blobs' own memory, valid until the next pass."""
        h, w = next(iter(arrays.values())).shape[:2]
        self._reshape(h, w)
        for inp in self.record.inputs:
            blob = self.net.blobs[inp.blob].data
            c = 0
            for m in inp.modalities:
                blob[0, c:c + m.channels] = readers.modality_input(m.kind, np.ascontiguousarray(arrays[m.kind]),
                                                                  m.mean, who=WHO)
                c += m.channels
        self.net.forward()
        return [self.net.blobs[out.blob].data[0] for out in self.record.outputs]

    def forward(self, arrays):
        """Label maps (h x w uint8, one per output) of one pass: arrays is {kind: H x W (x 3) array}."""
        try:
            return [s.argmax(0).astype(np.uint8) for s in self.forward_scores(arrays)]
        finally:
            self.release()


    def streams(self, files):
        """Whether the image of files is a TIFF too large to decode within the budget (or one PIL cannot
        read, such as a BigTIFF): it is then segmented window by window (segment_windows)."""
        image = files['image']
        if not image.lower().endswith(TIFF_EXTS):
            return False
        try:
            height, width, mode = readers.image_size(image, 'image', WHO)
        except readers.DataError:
            return True
        pixel_bytes = self.pixel_bytes({'image': mode})
        return self.memory_needed(*self.smallest, height, width, pixel_bytes) > self.budget

    def _preview_factor(self, height, width):
        """The downsampling of the overlay of an image read window by window: to PREVIEW_SIDE pixels a
        side at most, and more where blending it would not fit in the budget."""
        factor = max(1, -(-max(height, width) // PREVIEW_SIDE))
        while factor < max(height, width):
            pixels = -(-height // factor) * -(-width // factor)
            if (self.weight_bytes + self.constant + (3 + 1 + 4) * pixels
                    + OVERLAY_STRIP_BYTES * min(pixels, OVERLAY_STRIP)) <= self.budget:
                break
            factor += 1
        return factor

    def _window_need(self, kept, height, width, segment_bytes):
        side = tiling.window_side(kept, self.geometry)
        band = min(height, side) + LABEL_TILE       # the image rows, and label rows waiting for a tile row
        factor = self._preview_factor(height, width)
        preview = (3 + 1) * -(-height // factor) * -(-width // factor)
        return (self.memory_needed(min(height, side), min(width, side), band, width, BAND_BYTES)
                + 2 * segment_bytes + preview + WRITER_BYTES * LABEL_TILE * width)

    def segment_windows(self, files, out_dir, base, options=None):
        """Segment a TIFF image read window by window (fcn.readers.TiffWindows) in bands of tiles, each
        band decoded, segmented and written before the next is read: <base>.tif, the label map at full
        size (a tiled palette TIFF, zlib, BigTIFF when needed), and <base>_overlay.jpg, downsampled to
        PREVIEW_SIDE pixels at most.  Returns (written paths, overlay factor).

        Raises InputError for a net with more than a colour input or one output, for --scores and
        --tta (their outputs would not fit either), OverBudget when not even the smallest tile fits,
        TilingError for a net without a coordinate map, DataError for a TIFF that cannot be read so.
        """
        import tifffile
        from fcn.files import write_whole
        options = options or Options()
        image = files['image']
        out = self.record.outputs
        if set(files) - {'image', 'color'} or len(out) != 1:
            raise InputError('%s is read window by window, which only colour nets with one output can '
                             'segment (%s)' % (image, self.record.name))
        if options.scores or options.tta:
            raise InputError('%s is read window by window: --scores, --tta and --scales need images that fit'
                             % image)
        if options.resize:
            raise InputError('%s is read window by window: it is segmented in tiles, not resized' % image)
        if self.geometry is None:
            raise self.untileable
        with readers.TiffWindows(image, 'image', WHO) as src:
            height, width = src.height, src.width
            if options.tile:
                kept = options.tile
                need = self._window_need(kept, height, width, src.segment_bytes)
                if need > self.budget:
                    raise OverBudget('%s: --tile %d needs %s, over the %s budget' % (image, kept, gib(need),
                                                                                 gib(self.budget)))
            else:
                kept = self._largest_kept(max(height, width),
                                          lambda k: self._window_need(k, height, width, src.segment_bytes))
                if kept is None:
                    stride = self.geometry.stride
                    raise OverBudget('%s: %dx%d pixels read window by window need %s even in tiles of %d, over '
                                     'the %s budget (raise --max-memory)'
                                     % (image, width, height, gib(self._window_need(stride, height, width,
                                                                                    src.segment_bytes)),
                                        stride, gib(self.budget)))
            factor = self._preview_factor(height, width)
            preview_rgb = np.zeros((-(-height // factor), -(-width // factor), 3), np.uint8)
            preview = np.zeros(preview_rgb.shape[:2], np.uint8)
            counts = np.zeros(256, np.int64)
            palette = self.palettes[0]
            stem = os.path.join(out_dir, base + out[0].suffix)

            def label_rows():
                """The label map in bands of kept rows, each made from one band of the image."""
                cols = tiling.tiles(width, kept, self.geometry)
                try:
                    for y0, y1, k0, k1 in tiling.tiles(height, kept, self.geometry):
                        band = src.read(y0, y1, 0, width)
                        labels = np.empty((k1 - k0, width), np.uint8)
                        for x0, x1, j0, j1 in cols:
                            scores = self.forward_scores({'color': band[:, x0:x1]})[0]
                            labels[:, j0:j1] = scores[:, k0 - y0:k1 - y0, j0 - x0:j1 - x0].argmax(0)
                        first = (-k0) % factor
                        rows = slice((k0 + first) // factor, (k0 + first) // factor + len(range(first, k1 - k0, factor)))
                        preview[rows] = labels[first::factor, ::factor]
                        preview_rgb[rows] = band[k0 - y0 + first:k1 - y0:factor, ::factor]
                        counts[:] += np.bincount(labels.ravel(), minlength=256)
                        del band
                        yield labels
                finally:
                    self.release()

            def label_tiles():
                """LABEL_TILE-square tiles of the label map, row by row (the TIFF's order)."""
                t = LABEL_TILE
                pending = np.zeros((0, width), np.uint8)
                strip = np.zeros((t, -(-width // t) * t), np.uint8)
                for labels in itertools.chain(label_rows(), [None]):
                    if labels is not None:
                        pending = np.concatenate([pending, labels])
                    while len(pending) >= t or (labels is None and len(pending)):
                        strip[:] = 0
                        strip[:min(t, len(pending)), :width] = pending[:t]
                        pending = pending[t:]
                        for x in range(0, width, t):
                            yield np.ascontiguousarray(strip[:, x:x + t])

            cmap = np.asarray(palette, np.uint16).T * 257
            write_whole(stem + '.tif', lambda tmp: tifffile.imwrite(
                tmp, label_tiles(), shape=(height, width), dtype=np.uint8, tile=(LABEL_TILE, LABEL_TILE),
                compression='zlib', photometric='palette', colormap=cmap, bigtiff=height * width > 1 << 31,
                metadata=None, maxworkers=1, buffersize=LABEL_TILE * LABEL_TILE * -(-width // LABEL_TILE)))
        names = out[0].class_names() if out[0].classes else []
        entries = [(names[c] if c < len(names) else 'class %d' % c, palette[c])
                   for c in np.flatnonzero(counts) if c != readers.VOID]
        ignore = (0, readers.VOID) if names[:1] == ['background'] else (readers.VOID,)
        im = Image.new('RGB', preview.shape[::-1])
        rows = max(1, OVERLAY_STRIP // preview.shape[1])
        for r in range(0, preview.shape[0], rows):
            im.paste(vis.overlay_image(preview_rgb[r:r + rows], preview[r:r + rows], ignore=ignore, palette=palette),
                     (0, r))
        vis.draw_legend(im, entries)
        write_whole(stem + '_overlay.jpg', partial(im.save, format='JPEG', quality=92))
        return [stem + '.tif', stem + '_overlay.jpg'], factor


def tta_probs(net, record, inputs, flip, scales):
    """[C x H x W float32 mean softmax per record output] of a deploy net over its input blobs
    ({blob: C x H x W float32, already normalized}) mirrored (flip) and scaled by each factor
    (bilinear, channel by channel), every variant's softmax brought back to H x W."""
    h, w = next(iter(inputs.values())).shape[1:]
    total = None
    n = 0
    for scale in scales:
        size = max(1, round(h * scale)), max(1, round(w * scale))
        for mirrored in ((False, True) if flip else (False,)):
            for inp in record.inputs:
                x = inputs[inp.blob]
                x = np.stack([_resize(np.ascontiguousarray(c, np.float32), *size, Image.BILINEAR) for c in x])
                blob = net.blobs[inp.blob]
                blob.reshape(1, x.shape[0], *size)
                blob.data[0] = x[:, :, ::-1] if mirrored else x
            net.reshape()
            net.forward()
            probs = []
            for out in record.outputs:
                p = softmax(net.blobs[out.blob].data[0])
                if mirrored:
                    p = p[:, :, ::-1]
                probs.append(_resize_channels(p, h, w, np.float32) if size != (h, w) else p)
            total = probs if total is None else [t + p for t, p in zip(total, probs)]
            n += 1
    return [t / n for t in total]


def softmax(scores):
    """Softmax over the classes (axis 0) of C x H x W scores, float32 (Caffe's Softmax layer)."""
    e = np.exp(scores - scores.max(0, keepdims=True))
    e /= e.sum(0, keepdims=True)
    return e


def _argmax_rows(total):
    """argmax over axis 0 of a C x H x W array as H x W uint8, a strip of rows at a time."""
    out = np.empty(total.shape[1:], np.uint8)
    rows = max(1, vis.STRIP_PIXELS // max(1, total.shape[2]))
    for r in range(0, total.shape[1], rows):
        out[r:r + rows] = total[:, r:r + rows].argmax(0)
    return out


def _resize_channels(probs, h, w, dtype):
    """C x H x W probabilities resized to C x h x w (bilinear, channel by channel)."""
    out = np.empty((probs.shape[0], h, w), dtype)
    for c in range(probs.shape[0]):
        out[c] = _resize(probs[c].astype(np.float32), h, w, Image.BILINEAR)
    return out


def _resize(array, h, w, resample):
    """An H x W (x 3) uint8 or float32 array resized to h x w with PIL (same array when already h x w)."""
    if array.shape[:2] == (h, w):
        return array
    return np.asarray(Image.fromarray(array).resize((w, h), resample))


def output_endings(options=None):
    """The endings of the files written per output (after <base><suffix>)."""
    scores = ('_scores.npy', '_confidence.png') if options is not None and options.scores else ()
    return ('.png', '_overlay.jpg', '.tif') + scores


def write_outputs(result, out_dir, base, record, palettes=None):
    """Write <base><suffix>.png (palette label map) and <base><suffix>_overlay.jpg (with a legend of the
    classes present) for every output, and with probabilities <base><suffix>_scores.npy (float16,
    classes x H x W) and <base><suffix>_confidence.png (8-bit, round(255 x top probability)); each file
    appears whole or not at all. Returns the paths.

    The overlay tints every class but void; class 0 too, unless the classes file calls it background."""
    written = []
    for k, (out, label) in enumerate(zip(record.outputs, result.labels)):
        palette = palettes[k] if palettes else out.palette_colors()
        names = out.class_names() if out.classes else []
        stem = os.path.join(out_dir, base + out.suffix)
        files.write_whole(stem + '.png', partial(vis.save_label_png, label=label, palette=palette, format='PNG'))
        present = [c for c in vis.classes_present(label) if c != readers.VOID]
        entries = [(names[c] if c < len(names) else 'class %d' % c, palette[c]) for c in present]
        ignore = (0, readers.VOID) if names[:1] == ['background'] else (readers.VOID,)
        im = vis.overlay_image(result.rgb, label, ignore=ignore, palette=palette)
        vis.draw_legend(im, entries)
        files.write_whole(stem + '_overlay.jpg', partial(im.save, format='JPEG', quality=92))
        del im
        written += [stem + '.png', stem + '_overlay.jpg']
        if result.probs is not None:
            written += save_probabilities(stem, result.probs[k])
    return written


def save_probabilities(stem, probs):
    """Write <stem>_scores.npy (C x H x W float16 probabilities) and <stem>_confidence.png (8-bit, the
    top probability x 255), each whole or not at all.  Returns the paths."""
    files.write_whole(stem + '_scores.npy', lambda tmp: _save_npy(tmp, probs))
    files.write_whole(stem + '_confidence.png', lambda tmp: Image.fromarray(confidence(probs)).save(tmp, format='PNG'))
    return [stem + '_scores.npy', stem + '_confidence.png']


def _save_npy(path, array):
    with open(path, 'wb') as f:
        np.save(f, array)


def confidence(probs):
    """H x W uint8 round(255 x the top probability) of C x H x W probabilities, a strip of rows at a time."""
    out = np.empty(probs.shape[1:], np.uint8)
    rows = max(1, vis.STRIP_PIXELS // max(1, probs.shape[2]))
    for r in range(0, probs.shape[1], rows):
        out[r:r + rows] = np.rint(255 * probs[:, r:r + rows].max(0).astype(np.float32))
    return out


# -- for scripts that segment one RGB image with a VOC-style net -----------------------------------------


def load_rgb(path):
    """An image file as H x W x 3 uint8 RGB, upright, by the one reading policy (fcn.readers.read_rgb)."""
    return readers.read_rgb(os.fspath(path), 'image', WHO, upright=True)


def segment(net, rgb, mean=records.ILSVRC_MEAN, score='score', data='data'):
    """Label map (H x W uint8) of one RGB image through a single-input net (mean in BGR order)."""
    x = readers.modality_input('color', rgb, np.asarray(mean), who=WHO)
    blob = net.blobs[data]
    blob.reshape(1, *x.shape)
    net.reshape()
    blob.data[0] = x
    net.forward()
    return net.blobs[score].data[0].argmax(0).astype(np.uint8)
