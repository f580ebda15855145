"""Report pages: one self-contained HTML page per question, its figures in the same folder.

    evaluation_page  evaluate.py NET --report DIR     how good are these weights, and where do they fail
    dataset_page     data/check.py DIR --report DIR2  what is in this dataset, and what is wrong with it
    training_page    out/<net>/index.html             how is training going (rewritten after each seg test)

A page is plain HTML with inline CSS and no script; its images are PNG and JPEG files beside it,
so it opens from disk in any browser and travels as one folder.  The figures are plots.py's
(matplotlib), the overlays and legends vis.py's, the numbers score.py's.  Every file is written
whole (fcn.files), the page last, so a page never names an image that is not there yet.  Each
figure on a page carries its exact value in a data-value attribute beside the text shown.
"""
import csv
import html
import math
import os
import re
from datetime import datetime

import numpy as np
from PIL import Image

import plots
import score
import vis
from fcn import files, paths, readers
from fcn.readers import VOID

#: Long side, in pixels, of an image shown on a page (an overlay's legend needs room).
SIDE = 320
#: Long side of a thumbnail beside a dataset problem, and of a grid image.
THUMB = 200
#: Validation images shown on the training page (the first of the split, the same at every seg test).
TRAINING_IMAGES = 4
SUMMARY = (('overall_acc', 'pixel accuracy'), ('mean_acc', 'mean accuracy'), ('mean_iu', 'mean IU'),
           ('fwavacc', 'f.w. IU'))

CSS = '''body{font-family:sans-serif;margin:1em auto;max-width:1250px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th{background:#eee;text-align:left}.l{text-align:left}td img{display:block}img{max-width:100%}
figure{display:inline-block;margin:.3em;vertical-align:top}figcaption{font-size:.8em;color:#555;max-width:320px}
.bad{color:#a00}.note{color:#555;font-size:.9em}nav a{margin-right:1em}'''


# -- HTML -------------------------------------------------------------------------------------------
def esc(text):
    return html.escape(str(text), quote=True)


def pct(value):
    """A fraction as the percent shown on a page; '-' for NaN (undefined: see score.py)."""
    return '-' if value is None or math.isnan(value) else '%.2f' % (100 * value)


def td(text, value=None, left=False, raw=False):
    """A table cell: text (escaped unless raw), with the exact figure in data-value when given."""
    attrs = ' class="l"' if left else ''
    if value is not None:
        attrs += ' data-value="%s"' % esc(repr(float(value)))
    return '<td%s>%s</td>' % (attrs, text if raw else esc(text))


def table(header, rows, cls=''):
    """An HTML table: header texts (the first left-aligned), rows of td() cells."""
    head = ''.join('<th%s>%s</th>' % (' class="l"' if k == 0 else '', esc(h)) for k, h in enumerate(header))
    body = ''.join('<tr>%s</tr>' % ''.join(r) for r in rows)
    return '<table%s><tr>%s</tr>%s</table>' % (' class="%s"' % cls if cls else '', head, body)


def img(src, alt, caption=None):
    tag = '<img src="%s" alt="%s">' % (esc(src), esc(alt))
    return '<figure>%s<figcaption>%s</figcaption></figure>' % (tag, esc(caption)) if caption else tag


def write_page(path, title, parts):
    """Write the page `path` whole: a title and HTML parts, with the time it was written."""
    stamp = datetime.now().strftime('%Y-%m-%d %H:%M:%S')
    text = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>%s</title><style>%s</style>'
            '</head><body>\n<h1>%s</h1>\n%s\n<p class="note">written %s</p></body></html>\n'
            % (esc(title), CSS, esc(title), '\n'.join(parts), stamp))
    return files.write_whole(path, lambda tmp: open(tmp, 'w', encoding='utf-8').write(text))


def shown(path):
    """A path as typed from the repository root when it lies inside it, else absolute."""
    path = os.path.abspath(path)
    return os.path.relpath(path, paths.ROOT) if path.startswith(paths.ROOT + os.sep) else path


def slug(name):
    """A blob or id as a file-name part."""
    return re.sub(r'[^A-Za-z0-9_.-]', '_', name)


# -- images -----------------------------------------------------------------------------------------
def fit(rgb, label, side=SIDE):
    """An image and its label map scaled together so that the long side is `side` (image bilinear
    when shrinking, labels always nearest); (H x W x 3 uint8, H x W uint8)."""
    h, w = label.shape
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    im = Image.fromarray(rgb).resize(size, Image.BILINEAR if s < 1 else Image.NEAREST)
    lab = Image.fromarray(np.asarray(label, np.uint8)).resize(size, Image.NEAREST)
    return np.asarray(im), np.asarray(lab)


def labelled(rgb, label, names, palette):
    """The label map over the image (vis.overlay_image) with a legend of the classes tinted: void
    is left untinted, and class 0 too when the classes call it background (as infer.py draws)."""
    ignore = (0, VOID) if names[:1] == ['background'] else (VOID,)
    entries = [(names[c] if c < len(names) else 'class %d' % c, palette[c])
               for c in vis.classes_present(label) if c not in ignore]
    return vis.draw_legend(vis.overlay_image(rgb, label, ignore=ignore, palette=palette), entries)


def save_jpeg(im, path):
    return files.write_whole(path, lambda tmp: im.save(tmp, format='JPEG', quality=90))


def save_png(im, path):
    return files.write_whole(path, lambda tmp: im.save(tmp, format='PNG'))


def triptych(folder, stem, rgb, label, pred, names, palette):
    """Write <stem>_image.jpg, <stem>_gt.jpg, <stem>_pred.jpg (the image, and the ground truth and
    the prediction over it with their legends) into folder; their file names.  A missing image
    (None, or one of another size than the label map) is drawn grey."""
    if rgb is None or rgb.shape[:2] != label.shape:
        rgb = np.full(label.shape + (3,), 128, np.uint8)
    shown, gt = fit(rgb, label)
    _, pr = fit(rgb, pred)
    names_out = []
    for kind, im in (('image', Image.fromarray(shown)), ('gt', labelled(shown, gt, names, palette)),
                     ('pred', labelled(shown, pr, names, palette))):
        name = '%s_%s.jpg' % (stem, kind)
        save_jpeg(im, os.path.join(folder, name))
        names_out.append(name)
    return names_out


def net_image(net, record):
    """The current example of a net as H x W x 3 uint8: the first modality of the record's first
    input blob with its mean added back (colour from BGR to RGB, HHA as stored, log depth stretched
    to grey), or None when the net has no such blob."""
    if not record.inputs or record.inputs[0].blob not in net.blobs:
        return None
    modality = record.inputs[0].modalities[0]
    x = np.array(net.blobs[record.inputs[0].blob].data[0, :modality.channels], dtype=np.float64)
    x += np.asarray(modality.mean, np.float64).reshape(-1, 1, 1)
    if modality.kind == 'color':
        x = x[::-1]
    elif modality.kind == 'depth':
        lo, hi = x.min(), x.max()
        x = np.repeat(255 * (x - lo) / (hi - lo if hi > lo else 1), 3, axis=0)
    return np.clip(np.round(x), 0, 255).astype(np.uint8).transpose(1, 2, 0)


class Extremes:
    """The n worst and n best images of a pass by their own mean IU, kept with their arrays.

    offer() each image in order; an image with an undefined mean IU (no labelled pixel) is left
    out.  worst is ascending, best descending, ties in the order offered."""

    def __init__(self, n):
        self.n = n
        self.offered = 0
        self.worst = []   # [(mean IU, order, id, (image, label, prediction))]
        self.best = []

    def offer(self, image_id, mean_iu, arrays):
        """Consider an image; arrays() gives its (image or None, label, prediction) when it is kept."""
        order = self.offered
        self.offered += 1
        if not self.n or math.isnan(mean_iu):
            return
        lower = len(self.worst) < self.n or (mean_iu, order) < self.worst[-1][:2]
        higher = len(self.best) < self.n or mean_iu > self.best[-1][0]
        if not (lower or higher):
            return
        entry = (mean_iu, order, image_id, arrays())
        if lower:
            self.worst = sorted(self.worst + [entry], key=lambda e: e[:2])[:self.n]
        if higher:
            self.best = sorted(self.best + [entry], key=lambda e: (-e[0], e[1]))[:self.n]


class Watch:
    """A net as score.compute_hist sees it, keeping the image, ground truth and prediction of the
    first n examples it runs (output `out` of `record`); the rest passes through untouched."""

    def __init__(self, net, record, out, n=TRAINING_IMAGES):
        self.net, self.record, self.out, self.n = net, record, out, n
        self.kept = []   # [(image or None, label, prediction)]
        self.classes = None

    @property
    def blobs(self):
        return self.net.blobs

    def forward(self, **kwargs):
        result = self.net.forward(**kwargs)
        if len(self.kept) < self.n:
            blobs = self.net.blobs
            self.classes = blobs[self.out.blob].data.shape[1]
            self.kept.append((net_image(self.net, self.record), np.array(blobs[self.out.label].data[0, 0]),
                              blobs[self.out.blob].data[0].argmax(0)))
        return result


# -- pieces shared by the pages -----------------------------------------------------------------------
def class_names(out, n):
    """An output's class names when its classes file gives n of them, else the indices."""
    names = out.class_names() if out.classes else []
    return names if len(names) == n else [str(i) for i in range(n)]


def run_log(weights):
    """The log.csv of the training run that wrote `weights` (out/<net>/log.csv for weights in
    out/<net>/snapshots/, else one beside the weights), or None."""
    folder = os.path.dirname(os.path.abspath(weights))
    if os.path.basename(folder) == 'snapshots':
        folder = os.path.dirname(folder)
    path = os.path.join(folder, 'log.csv')
    return path if os.path.isfile(path) else None


def read_log(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return float('nan')


def log_table(rows):
    """The seg tests of a log.csv: iteration, learning rate, losses and the four metrics (%)."""
    out = []
    for r in rows:
        cells = [td(r.get('iteration', ''), left=True), td(r.get('lr', '')),
                 td(_loss(r.get('train_loss'))), td(_loss(r.get('loss')))]
        cells += [td(pct(_number(r.get(k))), value=_number(r.get(k))) for k, _ in SUMMARY]
        out.append(cells)
    return table(['iteration', 'learning rate', 'training loss', 'seg-test loss'] + [t for _, t in SUMMARY],
                 out, 'segtests')


def _loss(text):
    value = _number(text)
    return '-' if math.isnan(value) else '%.4g' % value


def example_rows(folder, kind, entries, names, palette):
    """Table rows of ranked images: rank, id, mean IU, image | ground truth | prediction."""
    rows = []
    for rank, (mean_iu, _, image_id, (rgb, label, pred)) in enumerate(entries, 1):
        shots = triptych(folder, '%s%d_%s' % (kind, rank, slug(image_id)), rgb, label, pred, names, palette)
        rows.append([td(rank, left=True), td(image_id, left=True), td(pct(mean_iu), value=mean_iu)]
                    + [td(img(s, '%s %s' % (image_id, what)), raw=True)
                       for s, what in zip(shots, ('image', 'ground truth', 'prediction'))])
    return rows


# -- the evaluation page ----------------------------------------------------------------------------
def evaluation_page(ev, folder, log_csv=None):
    """Write `folder`/index.html for an fcn.evaluation.Evaluation (with its hists, and its extremes
    when it kept images): the four metrics beside the record's published figures, per head the
    per-class IU and accuracy, the row-normalized confusion matrix and the worst and best images,
    and the learning curve of `log_csv` when given.  Returns the page's path; OSError when a file
    cannot be written."""
    os.makedirs(folder, exist_ok=True)
    rec = ev.record
    many = len(rec.outputs) > 1
    parts = ['<p>weights <code>%s</code>, %d image(s)%s</p>'
             % (esc(shown(ev.weights)), len(ev.ids), ' (a subset: compare on the full split)' if ev.partial else '')]
    rows = []
    for out in rec.outputs:
        for key, title in SUMMARY:
            value = ev.metrics[out.blob][key]
            published = ['%.1f (%s, %s)' % (p.value, p.split, p.source) for p in rec.published
                         if p.output == out.blob and p.metric == key]
            rows.append([td(('%s: ' % (out.title or out.blob) if many else '') + title, left=True),
                         td(pct(value), value=value), td('; '.join(published) or '-', left=True)])
    parts.append('<h2>Summary</h2>' + table(['metric', 'measured (%)', 'published (split, source)'], rows, 'summary'))
    for out in rec.outputs:
        hist = np.asarray(ev.hists[out.blob])
        names = class_names(out, hist.shape[0])
        palette = out.palette_colors()
        tag = slug(out.blob)
        head = ' (%s)' % (out.title or out.blob) if many else ''
        m = ev.metrics[out.blob]
        plots.class_scores(m['per_class_iu'], m['per_class_acc'], hist.sum(1),
                           os.path.join(folder, tag + '_classes.png'), names)
        plots.confusion_matrix(hist, os.path.join(folder, tag + '_confusion.png'), names)
        cls_rows = [[td(c, left=True), td(name, left=True), td(pct(m['per_class_iu'][c]), value=m['per_class_iu'][c]),
                     td(pct(m['per_class_acc'][c]), value=m['per_class_acc'][c]),
                     td('%d' % hist[c].sum(), value=hist[c].sum()), td('%d' % hist[:, c].sum(), value=hist[:, c].sum())]
                    for c, name in enumerate(names)]
        parts.append('<h2>Per class%s</h2>' % esc(head) + img(tag + '_classes.png', 'per-class IU and accuracy')
                     + table(['#', 'class', 'IU (%)', 'accuracy (%)', 'ground-truth pixels', 'predicted pixels'],
                             cls_rows, 'classes ' + tag))
        parts.append('<h2>Confusion matrix%s</h2>' % esc(head)
                     + '<p class="note">rows: ground truth, normalized to 1; columns: prediction</p>'
                     + img(tag + '_confusion.png', 'confusion matrix'))
        kept = ev.extremes.get(out.blob)
        if kept is not None:
            header = ['rank', 'image', 'mean IU (%)', 'image', 'ground truth', 'prediction']
            for kind, entries in (('worst', kept.worst), ('best', kept.best)):
                parts.append('<h2>The %d %s images by their own mean IU%s</h2>' % (len(entries), kind, esc(head))
                             + table(header, example_rows(folder, tag + '_' + kind, entries, names, palette),
                                     '%s %s' % (kind, tag)))
    if log_csv:
        rows = read_log(log_csv)
        if plots.learning_curve(log_csv, os.path.join(folder, 'learning_curve.png')):
            parts.append('<h2>Learning curve</h2><p class="note">%s</p>' % esc(shown(log_csv))
                         + img('learning_curve.png', 'learning curve') + log_table(rows))
    return write_page(os.path.join(folder, 'index.html'), '%s: evaluation' % rec.name, parts)


# -- the training page ------------------------------------------------------------------------------
def training_page(odir, record, log_csv, ids, watch, iteration):
    """Write `odir`/index.html for a training run: its learning curve (odir/learning_curve.png), the
    metrics of every seg test in `log_csv`, and the images a Watch kept of the first val `ids` at
    the latest seg test, `iteration`, into odir/page/.  Returns the page's path; OSError when a file
    cannot be written."""
    folder = os.path.join(odir, 'page')
    os.makedirs(folder, exist_ok=True)
    out = record.outputs[0]
    parts = ['<p>%s, latest seg test at iteration %d</p>' % (esc(record.title or record.name), iteration)]
    if os.path.isfile(os.path.join(odir, 'learning_curve.png')):
        parts.append('<h2>Learning curve</h2>' + img('learning_curve.png', 'learning curve'))
    parts.append('<h2>Seg tests</h2>' + log_table(read_log(log_csv)))
    if watch.kept:
        names = class_names(out, watch.classes)
        palette = out.palette_colors()
        rows = []
        for image_id, (rgb, label, pred) in zip(ids, watch.kept):
            m = score.compute_metrics(score.fast_hist(label, pred, watch.classes))
            shots = triptych(folder, slug(image_id), rgb, label, pred, names, palette)
            rows.append([td(image_id, left=True), td(pct(m['mean_iu']), value=m['mean_iu'])]
                        + [td(img('page/' + s, '%s %s' % (image_id, what)), raw=True)
                           for s, what in zip(shots, ('image', 'ground truth', 'prediction'))])
        parts.append('<h2>Validation images at iteration %d</h2>' % iteration
                     + table(['image', 'mean IU (%)', 'image', 'ground truth', 'prediction'], rows, 'examples'))
    return write_page(os.path.join(odir, 'index.html'), '%s: training' % record.name, parts)


# -- the dataset page -------------------------------------------------------------------------------
def dataset_page(rep, folder, n_images=12, seed=0):
    """Write `folder`/index.html for an fcn.dataset.Report: the examples per split, the pixels per
    class per split (void apart), the image sizes, `n_images` random training images (drawn with
    `seed`) under their labels with a legend, and every problem and warning with its file (and
    thumbnails where a label can be shown).  Returns the page's path; OSError when a file cannot
    be written."""
    os.makedirs(folder, exist_ok=True)
    ds = rep.dataset
    names = ds.class_names
    n = len(names)
    palette = vis.voc_palette()
    if ds.palette is not None:
        palette[:len(ds.palette)] = ds.palette
    parts = ['<p><code>%s</code> (%s layout), %d classes (<code>%s</code>)%s</p>'
             % (esc(shown(ds.root)), 'PASCAL VOC' if ds.layout == 'voc' else 'folder', n, esc(shown(ds.classes_path)),
                ', palette <code>%s</code>' % esc(shown(ds.palette_path)) if ds.palette_path else '')]
    parts.append('<p>examples: %s%s</p>' % (', '.join('%s %d' % (s, len(ids)) for s, ids in rep.ids.items()),
                                          '; mean of the training images (B G R) %.3f %.3f %.3f' % rep.mean
                                          if rep.mean else ''))
    parts.append('<nav><a href="#problems">problems (%d)</a><a href="#pixels">pixels per class</a>'
                 '<a href="#sizes">image sizes</a><a href="#images">training images</a></nav>' % len(rep.problems))
    parts.append(_problems(rep, folder, palette))
    splits = [s for s in rep.hist]
    if splits and n:
        plots.class_pixels({s: rep.hist[s][:n] for s in splits}, os.path.join(folder, 'pixels.png'), names)
        rows = []
        for c, name in enumerate(names + ['void']):
            cells = [td(c if c < n else VOID, left=True), td(name, left=True)]
            for s in splits:
                labelled_px = rep.hist[s][:n].sum() if c < n else rep.hist[s].sum()
                share = rep.hist[s][c] / labelled_px if labelled_px else float('nan')
                cells += [td('%d' % rep.hist[s][c], value=rep.hist[s][c]), td(pct(share), value=share)]
            rows.append(cells)
        header = ['#', 'class'] + [h for s in splits for h in ('%s pixels' % s, '%s %%' % s)]
        parts.append('<h2 id="pixels">Pixels per class</h2>' + img('pixels.png', 'pixels per class')
                     + '<p class="note">%% of the split\'s labelled pixels; void (%d) apart, in %% of all '
                       'pixels</p>' % VOID + table(header, rows, 'pixels'))
    if rep.sizes:
        rows = [[td('%d x %d' % hw, left=True), td(count, value=count)] for hw, count in rep.sizes.most_common(20)]
        parts.append('<h2 id="sizes">Image sizes</h2><p>%d distinct size(s)%s</p>'
                     % (len(rep.sizes), ', the 20 most common:' if len(rep.sizes) > 20 else '')
                     + table(['H x W', 'images'], rows, 'sizes'))
    parts.append(_grid(rep, folder, names, palette, n_images, seed))
    return write_page(os.path.join(folder, 'index.html'), 'dataset %s' % os.path.basename(ds.root), parts)


def _grid(rep, folder, names, palette, n_images, seed):
    """Random training images under their labels with a legend; those with a problem are left out."""
    ds = rep.dataset
    bad = {path for path, _ in rep.problems}
    ids = [i for i in rep.ids.get('train', []) if ds.label_path(i) not in bad and ds.image_path(i) not in bad
           and ds.image_path(i) is not None and os.path.isfile(ds.label_path(i))]
    if not ids or not names:
        return ''
    rng = np.random.RandomState(seed)
    chosen = [ids[k] for k in sorted(rng.choice(len(ids), min(n_images, len(ids)), replace=False))]
    shown = []
    for image_id in chosen:
        try:
            rgb = readers.read_rgb(ds.image_path(image_id), 'image', 'dataset')
            label = ds.read_label(ds.label_path(image_id))
        except (readers.DataError, OSError):
            continue
        if label.shape != rgb.shape[:2]:
            continue
        im, lab = fit(rgb, label, THUMB)
        name = 'train_%s.jpg' % slug(image_id)
        save_jpeg(labelled(im, lab, names, palette), os.path.join(folder, name))
        shown.append(img(name, image_id, '%s (%d x %d)' % ((image_id,) + rgb.shape[:2])))
    untinted = 'void and background' if names[:1] == ['background'] else 'void'
    return ('<h2 id="images">%d random training images</h2>' % len(shown)
            + '<p class="note">labels over the images (%s untinted)</p>' % untinted + ''.join(shown))


def _problems(rep, folder, palette):
    """Every problem and warning with its file, and thumbnails beside a label one."""
    ds = rep.dataset
    if not rep.problems and not rep.warnings:
        return '<h2 id="problems">Problems</h2><p>none found</p>'
    rows = []
    for k, (path, what) in enumerate(rep.problems):
        shots = _label_thumbs(ds, path, folder, 'problem%d' % (k + 1), palette)
        rows.append([td(os.path.relpath(path, ds.root), left=True), td(what, left=True),
                     td(''.join(shots), left=True, raw=True)])
    rows += [[td(os.path.relpath(path, ds.root), left=True), td('warning: ' + what, left=True), td('')]
             for path, what in rep.warnings]
    return ('<h2 id="problems" class="bad">%d problem(s)</h2>' % len(rep.problems)
            + table(['file', 'problem', 'thumbnails'], rows, 'problems'))


def _label_thumbs(ds, path, folder, stem, palette):
    """Thumbnails for a problem with a label file: its image and the label as stored, at one scale
    (a label of the wrong size shows it), and the pixels outside the classes or the palette in
    magenta over the grey label.  [] for any other problem, or a file that cannot be read."""
    if os.path.dirname(os.path.abspath(path)) != os.path.abspath(ds.folder('labels')) or not os.path.isfile(path):
        return []
    image_id = os.path.splitext(os.path.basename(path))[0]
    try:
        with Image.open(path) as im:
            mode = im.mode
        if mode in ('RGB', 'RGBA'):
            stored = readers.read_rgb(path, 'label', 'dataset')
            bad = _outside_palette(stored, ds.palette)
        else:
            raw = readers.read_label_png(path, 'label', 'dataset')
            bad = (raw >= ds.n_classes) & (raw != VOID)
            stored = palette[np.clip(raw, 0, 255).astype(np.uint8)]
        image_path = ds.image_path(image_id)
        rgb = readers.read_rgb(image_path, 'image', 'dataset') if image_path else None
    except (readers.DataError, OSError, ValueError):
        return []
    pictures = ([('image %d x %d' % rgb.shape[:2], rgb)] if rgb is not None else []) + \
        [('label %d x %d' % stored.shape[:2], stored)]
    if bad is not None and bad.any():
        marked = np.repeat(np.asarray(Image.fromarray(stored).convert('L'))[..., None] // 2 + 64, 3, axis=2)
        marked[bad] = (255, 0, 255)
        pictures.append(('%d pixel(s) outside the %s, in magenta' % (bad.sum(), 'palette' if mode in ('RGB', 'RGBA')
                                                                     else 'classes'), marked))
    scale = THUMB / max(max(p.shape[:2]) for _, p in pictures)
    shots = []
    for k, (what, picture) in enumerate(pictures):
        h, w = picture.shape[:2]
        im = Image.fromarray(picture).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.NEAREST)
        name = '%s_%d.png' % (stem, k)
        save_png(im, os.path.join(folder, name))
        shots.append(img(name, what, what))
    return shots


def _outside_palette(rgb, palette):
    """Mask of the pixels whose colour is not in the (k, 3) palette; None without a palette."""
    if palette is None:
        return None
    keys = rgb.astype(np.int64)
    keys = keys[..., 0] << 16 | keys[..., 1] << 8 | keys[..., 2]
    table_keys = palette.astype(np.int64)
    return ~np.isin(keys, table_keys[:, 0] << 16 | table_keys[:, 1] << 8 | table_keys[:, 2])
