"""A user's own segmentation dataset: where its files are, how its labels read, and what is wrong with it.

Two layouts are accepted (data/README.md, "Your own data"):

    the folder layout                    PASCAL VOC's layout, as it is
    DIR/images/<id>.jpg (.jpeg, .png)    DIR/JPEGImages/<id>.jpg
    DIR/labels/<id>.png                  DIR/SegmentationClass/<id>.png
    DIR/train.txt, DIR/val.txt           DIR/ImageSets/Segmentation/train.txt, val.txt
    DIR/classes.txt                      DIR/classes.txt (without one: VOC's 21 classes)
    DIR/palette.txt (optional)           DIR/palette.txt (optional)

classes.txt has one class name a line; the line number (from 0) is the class
index.  A label image holds class indices (a palette or grayscale PNG, or a
16-bit one), 255 marking void pixels that neither the loss nor the scores
count.  A colour (RGB) label image is read through palette.txt: one "R G B"
line per class, in class order, optionally followed by one more line, the
colour of void; a colour label without a palette.txt is refused.

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

from fcn import paths
from fcn.errors import FCNError
from fcn.readers import DataError, VOID, check_labels, read_label_png, read_palette, read_rgb

SPLITS = ('train', 'val')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png')
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

    @property
    def n_classes(self):
        return len(self.class_names)

    def folder(self, kind):
        return os.path.join(self.root, LAYOUTS[self.layout][kind])

    def split_path(self, split):
        return os.path.join(self.root, LAYOUTS[self.layout]['splits'], split + '.txt')

    def read_ids(self, split):
        """The ids of a split file, one a line (blank lines skipped); [] for an empty file."""
        return read_names(self.split_path(split))

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
    if not found:
        raise DatasetError('%s: not a dataset: it has neither images/ and labels/ nor VOC\'s JPEGImages/ and '
                           'SegmentationClass/ (see data/README.md, "Your own data")' % root)
    layout = found[0]
    problems = []
    for kind in ('images', 'labels'):
        folder = os.path.join(root, LAYOUTS[layout][kind])
        if not os.path.isdir(folder):
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
    mean: tuple = ()                                 # BGR mean of the training images
    problems: list = field(default_factory=list)     # (path, what)
    warnings: list = field(default_factory=list)     # (path, what)


def check(root, progress=None):
    """Read every file of the dataset in `root` and report; raises DatasetError only when `root` is
    not a dataset at all.  `progress(iterable)` may wrap the loop over the examples (e.g. tqdm)."""
    ds = _structure(root)
    report = Report(ds, problems=list(ds.problems))
    problems = report.problems
    for split in SPLITS:
        path = ds.split_path(split)
        if not os.path.isfile(path):
            problems.append((path, 'split file missing: one id a line'))
            report.ids[split] = []
            continue
        ids = ds.read_ids(split)
        if not ids:
            problems.append((path, 'the %s split is empty' % split))
        dupes = sorted(i for i, c in Counter(ids).items() if c > 1)
        if dupes:
            report.warnings.append((path, 'lists %d id(s) more than once: %s' % (len(dupes), _some(dupes))))
        report.ids[split] = list(dict.fromkeys(ids))
    both = sorted(set(report.ids['train']) & set(report.ids['val']))
    if both:
        problems.append((ds.split_path('val'), '%d id(s) are in both train and val: %s' % (len(both), _some(both))))
    if not ds.class_names:
        return report
    n = ds.n_classes
    colour_labels = []
    bgr_sum, pixels = np.zeros(3), 0
    examples = [(s, i) for s in SPLITS for i in report.ids[s]]
    for split, example_id in (progress(examples) if progress else examples):
        hist = report.hist.setdefault(split, np.zeros(n + 1, dtype=np.int64))
        image_path = ds.image_path(example_id)
        rgb = label = None
        if image_path is None:
            problems.append((ds.expected_image(example_id), 'missing image (listed in %s.txt)' % split))
        else:
            try:
                rgb = read_rgb(image_path, 'image', WHO)
            except (DataError, OSError) as e:
                problems.append((image_path, 'unreadable: %s' % _reason(e)))
        label_path = ds.label_path(example_id)
        if not os.path.isfile(label_path):
            problems.append((label_path, 'missing label (listed in %s.txt)' % split))
        else:
            try:
                label = ds.read_label(label_path)
            except ColourLabelError:
                colour_labels.append(label_path)
            except (DataError, OSError) as e:
                problems.append((label_path, _reason(e)))
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
    if colour_labels:
        problems.append((os.path.join(ds.root, 'palette.txt'),
                         'missing: %d label image(s) are colour (RGB) images (%s), and without a palette.txt '
                         '(one "R G B" line per class) their colours cannot be mapped to classes; add one, or '
                         'save labels as class indices (palette or grayscale PNG)'
                         % (len(colour_labels), _some([_rel(ds.root, p) for p in colour_labels]))))
    if pixels:
        report.mean = tuple(float(v) for v in bgr_sum / pixels)
    train = report.hist.get('train')
    if train is not None and not problems:
        absent = [ds.class_names[c] for c in range(n) if train[c] == 0]
        if absent:
            report.warnings.append((ds.classes_path, 'no training pixels of class(es) %s' % ', '.join(absent)))
    return report


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
    lines.append('examples: ' + ', '.join('%s %d' % (s, len(report.ids.get(s, ()))) for s in SPLITS))
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
        splits = [s for s in SPLITS if s in report.hist]
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
