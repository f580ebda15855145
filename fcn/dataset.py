"""A user's own segmentation dataset: where its files are, how its labels read, and what is wrong with it.

Two layouts are accepted (data/README.md, "Your own data"):

    the folder layout                    PASCAL VOC's layout, as it is
    DIR/images/<id>.jpg (.jpeg, .png)    DIR/JPEGImages/<id>.jpg
    DIR/labels/<id>.png                  DIR/SegmentationClass/<id>.png
    DIR/train.txt, DIR/val.txt           DIR/ImageSets/Segmentation/train.txt, val.txt
    DIR/test.txt (optional)              DIR/ImageSets/Segmentation/test.txt (optional)
    DIR/classes.txt                      DIR/classes.txt (without one: VOC's 21 classes)
    DIR/palette.txt (optional)           DIR/palette.txt (optional)

classes.txt has one class name a line; the line number (from 0) is the class
index.  A label image holds class indices (a palette or grayscale PNG, or a
16-bit one), 255 marking void pixels that neither the loss nor the scores
count.  A colour (RGB) label image is read through palette.txt: one "R G B"
line per class, in class order, optionally followed by one more line, the
colour of void; a colour label without a palette.txt is refused.

void.txt (optional) names the stored label values that mean "unlabelled" when
the dataset marks them with a value other than 255 (e.g. `0`, or `11`), one a
line: those pixels are read as void (255), and the other stored values are the
classes, in order, so classes.txt lists the classes without the void ones
(with void 0, stored 1 is class 0).  It applies to index labels; colour labels
give void as palette.txt's extra line.

A split file lists one id a line, or one `image label` pair of paths a line
(absolute, or relative to the split file), as many published lists do; a
pair's id is its image's file name without the extension.

`open_dataset(dir)` reads the structure (raising DatasetError on the first
problem); `check(dir)` reads every file and lists every problem at once,
with counts, image sizes, the per-class pixel histogram and the BGR mean of
the training images.
"""
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

import vis
from fcn import paths
from fcn.errors import FCNError
from fcn.readers import DataError, VOID, check_labels, read_label_png, read_palette, read_rgb

SPLITS = ('train', 'val')
#: Split files read too when they are there: a test split, scored at the end (evaluate.py --val).
OPTIONAL_SPLITS = ('test',)
IMAGE_EXTS = ('.jpg', '.jpeg', '.png')
VOID_FILE = 'void.txt'
#: Class names that say "unlabelled": listed in classes.txt beside a void.txt, they are a mistake.
VOID_NAMES = ('void', 'unlabeled', 'unlabelled', 'ignore', 'ignored', 'unknown')
#: The classes of a dataset in VOC's layout that has no classes.txt (relative to the data root).
VOC_CLASSES = 'pascal/classes.txt'
LAYOUTS = {
    'folder': dict(images='images', labels='labels', splits=''),
    'voc': dict(images='JPEGImages', labels='SegmentationClass', splits=os.path.join('ImageSets', 'Segmentation')),
}
WHO = 'dataset'


class DatasetError(FCNError):
    """A dataset that cannot be used as it is (the message names the file and the problem)."""


class ColourLabelError(DataError):
    """A colour (RGB) label image in a dataset that has no palette.txt to read it with."""


def _rel(root, path):
    return os.path.relpath(path, root)


def read_names(path):
    """The non-blank lines of a text file, stripped."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def example_id(entry):
    """The id of a split file's line: its first field, or where that is an image's path (an `image
    label` pair) the image's file name without its extension."""
    first = entry.split()[0]
    if os.path.splitext(first)[1].lower() in IMAGE_EXTS + ('.bmp', '.tif', '.tiff'):
        return os.path.splitext(os.path.basename(first))[0]
    return first


def read_void(path):
    """The stored label values void.txt names (integers 0..255, one a line); DataError otherwise."""
    values = []
    for line in read_names(path):
        try:
            v = int(line)
        except ValueError:
            v = -1
        if not 0 <= v <= VOID:
            raise DataError('%s: %r is not a label value (an integer 0..%d, one a line)' % (path, line, VOID))
        values.append(v)
    if not values:
        raise DataError('%s: names no label value (one integer 0..%d a line)' % (path, VOID))
    return tuple(sorted(set(values)))


@dataclass
class Dataset:
    """A dataset's layout and files.  Build it with open_dataset() or check()."""
    root: str
    layout: str
    classes_path: str
    class_names: list
    palette_path: str = ''
    palette: object = None            # (k, 3) uint8 or None
    problems: list = field(default_factory=list)   # structural problems, (path, what)
    void: tuple = ()                  # stored label values void.txt makes void (255 always is)

    @property
    def lookup(self):
        """(VOID + 1,) stored index value -> class index, VOID, or -1 (not a value of this dataset),
        from void.txt: the void values and 255 are void, the other values are the classes in order."""
        table = np.full(VOID + 1, -1, dtype=np.int64)
        kept = [v for v in range(VOID) if v not in self.void][:self.n_classes]
        table[kept] = np.arange(len(kept))
        table[list(self.void) + [VOID]] = VOID
        return table

    @property
    def n_classes(self):
        return len(self.class_names)

    def folder(self, kind):
        return os.path.join(self.root, LAYOUTS[self.layout][kind])

    def split_path(self, split):
        return os.path.join(self.root, LAYOUTS[self.layout]['splits'], split + '.txt')

    def read_entries(self, split):
        """The lines of a split file (blank lines skipped): ids, or `image label` path pairs."""
        return read_names(self.split_path(split))

    def read_ids(self, split):
        """The ids of a split file (see example_id); [] for an empty file."""
        return [example_id(e) for e in self.read_entries(split)]

    def entry_paths(self, entry, base=None):
        """(image path or None, label path) of a split file's line: an id's files in the layout, or
        a pair's paths (relative to the split file's folder, `base` when it is another, unless
        absolute)."""
        pair = self._pair(entry, base)
        if pair:
            image, label = pair
            return (image if os.path.isfile(image) else None), label
        return self.image_path(entry), self.label_path(entry)

    def entry_key(self, entry):
        """What makes a split file's line one example: its id, or a pair's image path."""
        pair = self._pair(entry)
        return os.path.normpath(pair[0]) if pair else entry

    def expected_entry_image(self, entry, base=None):
        pair = self._pair(entry, base)
        return pair[0] if pair else self.expected_image(entry)

    def _pair(self, entry, base=None):
        """(image path, label path) of an `image label` line, relative to `base` (default: the split
        files' folder) unless absolute; None for an id."""
        fields = entry.split()
        if len(fields) < 2:
            return None
        base = base or os.path.dirname(self.split_path('train'))
        return os.path.join(base, fields[0]), os.path.join(base, fields[1])

    def image_path(self, example_id):
        """The image of an id (the first of <id>.jpg, .jpeg, .png there is), or None."""
        exts = ('.jpg',) if self.layout == 'voc' else IMAGE_EXTS
        for ext in exts:
            path = os.path.join(self.folder('images'), example_id + ext)
            if os.path.isfile(path):
                return path
        return None

    def expected_image(self, example_id):
        exts = '.jpg' if self.layout == 'voc' else '|'.join(IMAGE_EXTS)
        return os.path.join(self.folder('images'), example_id + exts)

    def label_path(self, example_id):
        return os.path.join(self.folder('labels'), example_id + '.png')

    @property
    def meaning(self):
        if self.void:
            kept = np.flatnonzero((self.lookup >= 0) & (self.lookup < VOID))
            return ('stored values %s (the classes of %s) or void %s (%s) and %d'
                    % (_ranges(kept), self.classes_path, ', '.join(map(str, self.void)), VOID_FILE, VOID))
        return 'classes 0..%d of %s or void %d' % (self.n_classes - 1, self.classes_path, VOID)

    def read_label(self, path, who=WHO):
        """A label image as H x W int64 class indices, checked against the classes.

        Index images are read as stored; colour images through the palette.
        Raises FileNotFoundError for a missing file and DataError for one that
        cannot be read or holds values (or colours) outside the classes.
        """
        if not os.path.isfile(path):
            raise FileNotFoundError('%s: label not found: %s' % (who, path))
        with Image.open(path) as im:
            mode = im.mode
        if mode in ('RGB', 'RGBA'):
            raw = self._map_colours(path, who)
        else:
            raw = read_label_png(path, 'label', who)
            if self.void:
                raw = check_labels(raw, 0, VOID, (), path, who, self.meaning)
                mapped = self.lookup[raw]
                if (mapped < 0).any():
                    raise DataError('%s: label %s has values %s outside %s'
                                    % (who, path, ', '.join(str(v) for v in np.unique(raw[mapped < 0])[:5]),
                                       self.meaning))
                raw = mapped
        return check_labels(raw, 0, self.n_classes - 1, (VOID,), path, who, self.meaning)

    def _map_colours(self, path, who):
        if self.palette is None and self.palette_path:
            raise DataError('%s: label %s is a colour (RGB) image, and %s cannot be used to map its colours '
                            '(see its problem)' % (who, path, self.palette_path))
        if self.palette is None:
            raise ColourLabelError('%s: label %s is a colour (RGB) image, and %s has no palette.txt to map its '
                            'colours to classes: add one "R G B" line per class, or save labels as class '
                            'indices (palette or grayscale PNG)' % (who, path, self.root))
        rgb = read_rgb(path, 'label', who).astype(np.int64)
        keys = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
        table = self.palette.astype(np.int64)
        table_keys = table[:, 0] << 16 | table[:, 1] << 8 | table[:, 2]
        values = np.arange(len(table))
        if len(table) == self.n_classes + 1:   # the last line is the void colour
            values[-1] = VOID
        order = np.argsort(table_keys)
        pos = np.searchsorted(table_keys[order], keys).clip(max=len(order) - 1)
        known = table_keys[order][pos] == keys
        if not known.all():
            colours = sorted({tuple(int(v) for v in c) for c in rgb[~known][:10000]})
            shown = ', '.join('(%d %d %d)' % c for c in colours[:5]) + (', ...' if len(colours) > 5 else '')
            raise DataError('%s: label %s has %d pixel(s) of colours that are not in %s: %s'
                            % (who, path, int((~known).sum()), self.palette_path, shown))
        return values[order][pos]


def _structure(root):
    """The Dataset of a folder, with every structural problem it has in .problems."""
    root = os.path.abspath(root)
    if not os.path.isdir(root):
        raise DatasetError('%s: no such folder' % root)
    found = [name for name, parts in LAYOUTS.items()
             if any(os.path.isdir(os.path.join(root, parts[k])) for k in ('images', 'labels'))]
    listed = _lists_pairs(root)
    if not found and not listed:
        raise DatasetError('%s: not a dataset: it has neither images/ and labels/ nor VOC\'s JPEGImages/ and '
                           'SegmentationClass/, nor a train.txt of "image label" pairs (see data/README.md, '
                           '"Your own data")' % root)
    layout = found[0] if found else 'folder'
    problems = []
    for kind in ('images', 'labels'):
        folder = os.path.join(root, LAYOUTS[layout][kind])
        if not os.path.isdir(folder) and not listed:
            problems.append((folder, 'folder missing'))
    classes_path = os.path.join(root, 'classes.txt')
    if not os.path.isfile(classes_path) and layout == 'voc':
        classes_path = paths.data_path(VOC_CLASSES)
    names = []
    if not os.path.isfile(classes_path):
        problems.append((classes_path, 'missing: one class name a line (line 0 is class 0, e.g. background)'))
    else:
        names = read_names(classes_path)
        if len(names) < 2:
            problems.append((classes_path, 'lists %d class(es); a segmentation task has at least 2' % len(names)))
        elif len(names) > VOID:
            problems.append((classes_path, 'lists %d classes; at most %d (255 means void)' % (len(names), VOID)))
        dupes = sorted(n for n, c in Counter(names).items() if c > 1)
        if dupes:
            problems.append((classes_path, 'names a class twice: %s' % ', '.join(dupes)))
    ds = Dataset(root, layout, classes_path, names, problems=problems)
    void_path = os.path.join(root, VOID_FILE)
    if os.path.isfile(void_path):
        try:
            ds.void = read_void(void_path)
        except DataError as e:
            problems.append((void_path, str(e).split(': ', 1)[1]))
        said = [n for n in names if n.lower() in VOID_NAMES]
        if said:
            problems.append((classes_path, 'lists %s, and %s makes void pixels void: leave the void class out '
                             'of classes.txt (it lists the classes only, in the order of their stored values)'
                             % (', '.join(said), VOID_FILE)))
        if names and len(names) + len([v for v in ds.void if v != VOID]) > VOID:
            problems.append((classes_path, 'lists %d classes beside %d void value(s): more than the %d stored '
                             'values below %d' % (len(names), len(ds.void), VOID, VOID)))
    palette_path = os.path.join(root, 'palette.txt')
    if os.path.isfile(palette_path):
        ds.palette_path = palette_path
        try:
            ds.palette = read_palette(palette_path)
        except DataError as e:
            problems.append((palette_path, str(e).split(': ', 1)[1]))
        else:
            if names and len(ds.palette) not in (len(names), len(names) + 1):
                problems.append((palette_path, 'has %d colours for %d classes: give one "R G B" line per class, '
                                 'and optionally one more for void' % (len(ds.palette), len(names))))
                ds.palette = None
            elif len({tuple(c) for c in ds.palette.tolist()}) != len(ds.palette):
                problems.append((palette_path, 'gives the same colour to two classes'))
                ds.palette = None
    return ds


def _ranges(values):
    """Sorted integers as '0..4, 6..10'."""
    runs, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            runs.append('%d..%d' % (start, v) if v != start else '%d' % v)
            start = None
    return ', '.join(runs)


def _lists_pairs(root):
    """Whether a folder-layout train.txt in root lists `image label` pairs."""
    path = os.path.join(root, 'train.txt')
    if not os.path.isfile(path):
        return False
    entries = read_names(path)
    return bool(entries) and len(entries[0].split()) >= 2


def open_dataset(root):
    """The Dataset in folder `root`; DatasetError naming the first structural problem."""
    ds = _structure(root)
    if ds.problems:
        path, what = ds.problems[0]
        raise DatasetError('%s: %s' % (path, what))
    return ds


@dataclass
class Report:
    """What check() found: the dataset, its ids per split, sizes, histograms, mean and problems."""
    dataset: Dataset
    ids: dict = field(default_factory=dict)          # split -> ids
    sizes: Counter = field(default_factory=Counter)  # (H, W) -> images
    hist: dict = field(default_factory=dict)         # split -> (n_classes + 1,) pixels per class, void last
    present: object = None     # (n_classes,) labelled pixels of the training images where each class is
    mean: tuple = ()                                 # BGR mean of the training images
    problems: list = field(default_factory=list)     # (path, what)
    warnings: list = field(default_factory=list)     # (path, what)


def check(root, progress=None):
    """Read every file of the dataset in `root` and report; raises DatasetError only when `root` is
    not a dataset at all.  `progress(iterable)` may wrap the loop over the examples (e.g. tqdm)."""
    ds = _structure(root)
    report = Report(ds, problems=list(ds.problems))
    problems = report.problems
    entries = {}
    for split in SPLITS + tuple(s for s in OPTIONAL_SPLITS if os.path.isfile(ds.split_path(s))):
        path = ds.split_path(split)
        if not os.path.isfile(path):
            problems.append((path, 'split file missing: one id, or one "image label" pair, a line'))
            report.ids[split] = []
            entries[split] = []
            continue
        lines = ds.read_entries(split)
        if not lines:
            (report.warnings if split in OPTIONAL_SPLITS else problems).append((path, 'the %s split is empty' % split))
        keys = [ds.entry_key(e) for e in lines]
        dupes = sorted(example_id(lines[keys.index(k)]) for k, c in Counter(keys).items() if c > 1)
        if dupes:
            report.warnings.append((path, 'lists %d example(s) more than once: %s' % (len(dupes), _some(dupes))))
        unique = list(dict(zip(keys, lines)).values())
        entries[split] = unique
        report.ids[split] = [example_id(e) for e in unique]
        named = sorted(i for i, c in Counter(report.ids[split]).items() if c > 1)
        if named and split != 'train':
            problems.append((path, 'lists %d image(s) of the same file name, which names their predictions: %s'
                             % (len(named), _some(named))))
    def shared(a, b):
        """The ids of the examples that splits a and b both list."""
        return [example_id(k) for k in sorted(set(map(ds.entry_key, entries[a])) & set(map(ds.entry_key, entries[b])))]

    for split in [s for s in entries if s != 'train']:
        both = shared('train', split)
        if both:
            problems.append((ds.split_path(split), '%d id(s) are in both train and %s: %s'
                             % (len(both), split, _some(both))))
        both = shared('val', split) if split in OPTIONAL_SPLITS else []
        if both:   # best.caffemodel is chosen on val, so these test images score it too kindly
            report.warnings.append((ds.split_path(split), '%d id(s) are in both val and %s, whose score is then '
                                    'not of unseen images: %s' % (len(both), split, _some(both))))
    if not ds.class_names:
        return report
    n = ds.n_classes
    colour_labels = []
    report.present = np.zeros(n, dtype=np.int64)
    bgr_sum, pixels = np.zeros(3), 0
    examples = [(s, e) for s in entries for e in entries[s]]
    for split, entry in (progress(examples) if progress else examples):
        hist = report.hist.setdefault(split, np.zeros(n + 1, dtype=np.int64))
        image_path, label_path = ds.entry_paths(entry)
        rgb = label = None
        if image_path is None:
            problems.append((ds.expected_entry_image(entry), 'missing image (listed in %s.txt)' % split))
        else:
            try:
                rgb = read_rgb(image_path, 'image', WHO)
            except (DataError, OSError) as e:
                problems.append((image_path, 'unreadable: %s' % _reason(e)))
        if not os.path.isfile(label_path):
            jpeg = [p for p in (os.path.splitext(label_path)[0] + x for x in ('.jpg', '.jpeg')) if os.path.isfile(p)]
            problems.append((label_path, 'missing label (listed in %s.txt)%s' % (
                split, '; %s is there: %s' % (_rel(ds.root, jpeg[0]), JPEG_FIX) if jpeg else '')))
        elif _is_jpeg(label_path):
            problems.append((label_path, MISTAKES['jpeg']))
        else:
            try:
                label = ds.read_label(label_path)
            except ColourLabelError:
                colour_labels.append(label_path)
            except (DataError, OSError) as e:
                mistake = _label_mistake(ds, label_path)
                problems.append((label_path, _reason(e) + ('; ' + MISTAKES[mistake] if mistake else '')))
        if rgb is not None:
            report.sizes[rgb.shape[:2]] += 1
            if split == 'train':
                bgr_sum += rgb.reshape(-1, 3)[:, ::-1].sum(axis=0, dtype=np.float64)
                pixels += rgb.shape[0] * rgb.shape[1]
        if label is not None:
            if rgb is not None and label.shape != rgb.shape[:2]:
                problems.append((label_path, 'label is %dx%d (HxW) but its image %s is %dx%d'
                                 % (label.shape + (_rel(ds.root, image_path),) + rgb.shape[:2])))
            counts = np.bincount(label.ravel(), minlength=VOID + 1)
            hist[:n] += counts[:n]
            hist[n] += counts[VOID]
            if split == 'train':
                report.present[counts[:n] > 0] += counts[:n].sum()
    if colour_labels:
        if _voc_coloured(colour_labels[0]):
            what = ('%d label image(s) are RGB copies of palette PNGs (%s): their colours are the VOC palette\'s. '
                    'Save them as palette ("P") PNGs, or add a palette.txt with the first %d VOC colours (%s), '
                    'one "R G B" line per class, and "224 224 192" for void'
                    % (len(colour_labels), _some([_rel(ds.root, p) for p in colour_labels]), n,
                       ', '.join('%d %d %d' % tuple(c) for c in _voc_colours(min(n, 3)))
                       + (', ...' if n > 3 else '')))
        else:
            what = ('missing: %d label image(s) are colour (RGB) images (%s), and without a palette.txt '
                    '(one "R G B" line per class) their colours cannot be mapped to classes; add one, or '
                    'save labels as class indices (palette or grayscale PNG)'
                    % (len(colour_labels), _some([_rel(ds.root, p) for p in colour_labels])))
        problems.append((os.path.join(ds.root, 'palette.txt'), what))
    train = report.hist.get('train')
    if n == 2 and report.hist and not ds.void and all(h[1] == 0 and h[n] > 0 for h in report.hist.values()):
        problems.append((ds.classes_path, 'lists 2 classes, but the labels hold only 0 and 255: a two-class mask '
                         'saved as 0/255, whose 255 is void here, so class 1 (%s) is never seen. %s'
                         % (ds.class_names[1], MASK_FIX)))
    if pixels:
        report.mean = tuple(float(v) for v in bgr_sum / pixels)
    if train is not None and not problems:
        absent = [ds.class_names[c] for c in range(n) if train[c] == 0]
        if absent:
            report.warnings.append((ds.classes_path, 'no training pixels of class(es) %s' % ', '.join(absent)))
    return report


JPEG_FIX = 'labels must be PNGs: JPEG\'s lossy compression puts values between the classes at every edge'
MASK_FIX = ('Save the masks with 1 for the foreground (e.g. numpy: np.where(mask > 127, 1, 0) saved as an "L" '
            'PNG), or name a void value in void.txt if 0 is unlabelled')
MISTAKES = {
    'jpeg': 'it is a JPEG file named .png: ' + JPEG_FIX + '; save it as a PNG from the original index map',
    'between': ('its values lie between the classes, as JPEG compression or a resize with interpolation leave '
                'them: save labels as PNGs and resize them with nearest-neighbour sampling'),
}


def _is_jpeg(path):
    try:
        with Image.open(path) as im:
            return im.format == 'JPEG'
    except OSError:
        return False


def _label_mistake(ds, path):
    """The usual mistake behind a label whose values are outside the classes: 'between' (more
    distinct values than the classes: lossy compression or interpolation), or None."""
    try:
        with Image.open(path) as im:
            if im.mode not in ('P', 'L'):
                return None
            values = np.unique(np.asarray(im))
    except OSError:
        return None
    known = set(range(ds.n_classes + len(ds.void))) | {VOID}
    if len(values) > len(known) and len([v for v in values if v in known]) >= 2:
        return 'between'
    return None


def _voc_colours(n):
    return vis.voc_palette(n)


def _voc_coloured(path):
    """Whether a colour label image uses only VOC palette colours, black and at least one other
    (an RGB copy of a palette PNG; all black says nothing)."""
    rgb = read_rgb(path, 'label', WHO).reshape(-1, 3).astype(np.int64)
    keys = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2])
    table = _voc_colours(VOID + 1).astype(np.int64)
    return bool(np.any(keys != 0) and np.isin(keys, table[:, 0] << 16 | table[:, 1] << 8 | table[:, 2]).all())


def _some(items, n=5):
    return ', '.join(items[:n]) + (', ...' if len(items) > n else '')


def _reason(error):
    """An error's message without the 'dataset: ' prefix and the path the problem list already names."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    text = str(error)
    return text[len(WHO) + 2:] if text.startswith(WHO + ': ') else text


def format_report(report):
    """The report as text: layout, classes, counts, sizes, per-class pixels, warnings and problems."""
    ds = report.dataset
    lines = ['dataset %s (%s layout)' % (ds.root, 'PASCAL VOC' if ds.layout == 'voc' else 'folder')]
    lines.append('classes: %d (%s)%s' % (ds.n_classes, ds.classes_path,
                                          ', palette %s' % ds.palette_path if ds.palette_path else ''))
    if ds.void:
        lines.append('void: stored label value(s) %s (%s), read as %d'
                     % (', '.join(map(str, ds.void)), os.path.join(ds.root, VOID_FILE), VOID))
    lines.append('examples: ' + ', '.join('%s %d' % (s, len(ids)) for s, ids in report.ids.items()))
    if report.sizes:
        common = report.sizes.most_common(3)
        hs = [h for h, _ in report.sizes]
        ws = [w for _, w in report.sizes]
        lines.append('image sizes (HxW): %d distinct, %d..%d x %d..%d; most common %s'
                     % (len(report.sizes), min(hs), max(hs), min(ws), max(ws),
                        ', '.join('%dx%d (%d)' % (h, w, c) for (h, w), c in common)))
    if report.mean:
        lines.append('mean of the training images (B G R): %.3f %.3f %.3f' % report.mean)
    if report.hist and ds.class_names:
        splits = [s for s in report.ids if s in report.hist]
        width = max(len(name) for name in ds.class_names + ['void'])
        lines.append('pixels per class:')
        lines.append('  %-*s %s' % (width + 4, 'class', ''.join('%14s' % s for s in splits)))
        totals = {s: max(1, int(report.hist[s].sum())) for s in splits}
        for c, name in enumerate(ds.class_names + ['void']):
            label = '%3s %s' % (c if c < ds.n_classes else VOID, name)
            lines.append('  %-*s %s' % (width + 4, label, ''.join(
                '%14s' % ('%d %4.1f%%' % (report.hist[s][c], 100.0 * report.hist[s][c] / totals[s]))
                for s in splits)))
    for path, what in report.warnings:
        lines.append('warning: %s: %s' % (path, what))
    if report.problems:
        lines.append('%d problem(s):' % len(report.problems))
        lines.extend('  %s: %s' % (path, what) for path, what in report.problems)
    else:
        lines.append('no problems found')
    return '\n'.join(lines)


def refuse(report):
    """DatasetError summing up a report's problems (listed in full by format_report)."""
    return DatasetError('%s: %d problem(s) with this dataset (listed above); fix them and run again'
                        % (report.dataset.root, len(report.problems)))


def param_path(path):
    """A path as a record or param_str gives it: relative to the data root when inside it, else absolute."""
    path = os.path.abspath(path)
    data = os.path.abspath(paths.DATA)
    return os.path.relpath(path, data) if path.startswith(data + os.sep) else path
