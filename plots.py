"""Pictures of training, scoring and datasets, written as PNG files: the learning curve of a
solve.py log, the confusion matrix and per-class IU and accuracy of score.py's histogram, and
the pixels per class of a dataset's splits (the figures of fcn/report.py's pages).

matplotlib draws off-screen (Agg) on figures of its own, so nothing here
needs a display or touches pyplot's global state; files are written to a
temporary name and renamed, so a reader never sees half a PNG.
"""
import csv

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fcn import files

METRICS = ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc')


def _save(fig, png_path):
    """Write fig as png_path whole (fcn.files): a viewer never sees a half-drawn plot."""
    FigureCanvasAgg(fig)
    return files.write_whole(png_path, lambda tmp: fig.savefig(tmp, format='png', dpi=100))


def _column(rows, name):
    """One column as floats; NaN where a row has no number (blank, or a line cut short)."""
    values = []
    for r in rows:
        try:
            values.append(float(r.get(name)))
        except (TypeError, ValueError):
            values.append(np.nan)
    return np.array(values)


def learning_curve(csv_path, png_path):
    """Plot a training log (solve.py's log.csv) as loss and seg-test metrics against iteration.

    Returns png_path, or None (writing nothing) while the log has no rows yet.
    Columns the log lacks (an older log without train_loss, say) are left out.
    """
    with open(csv_path, newline='') as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    it = _column(rows, 'iteration')
    fig = Figure(figsize=(10, 4))
    loss_ax, metric_ax = fig.subplots(1, 2)
    for name, label in (('train_loss', 'training loss (smoothed)'), ('loss', 'seg-test loss')):
        if name in rows[0]:
            loss_ax.plot(it, _column(rows, name), marker='o', label=label)
    loss_ax.set_xlabel('iteration')
    loss_ax.set_ylabel('loss')
    loss_ax.set_title('loss')
    if loss_ax.lines:
        loss_ax.legend(loc='best')
    for name in METRICS:
        if name in rows[0]:
            metric_ax.plot(it, _column(rows, name), marker='o', label=name.replace('_', ' '))
    metric_ax.set_xlabel('iteration')
    metric_ax.set_ylim(0, 1)
    metric_ax.set_title('seg-test metrics')
    if metric_ax.lines:
        metric_ax.legend(loc='lower right')
    fig.tight_layout()
    return _save(fig, png_path)


def confusion_matrix(hist, png_path, class_names=None, normalize=True):
    """Plot score.py's n x n histogram (rows: ground truth, columns: prediction).

    normalize: show each row as fractions of its class's pixels (a class absent
    from the ground truth stays an empty row).  Cell values are printed while
    the matrix is small enough to read them.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.shape[0]
    if hist.shape != (n, n):
        raise ValueError('a confusion histogram must be square, got shape %s' % (hist.shape,))
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError('%d class names for %d classes' % (len(names), n))
    if normalize:
        totals = hist.sum(1, keepdims=True)
        shown = np.divide(hist, totals, out=np.zeros_like(hist), where=totals > 0)
    else:
        shown = hist
    side = max(6.0, 0.35 * n + 2)
    fig = Figure(figsize=(side, side))
    ax = fig.subplots()
    image = ax.imshow(shown, cmap='Blues', vmin=0, vmax=1 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    font = 9 if n <= 25 else max(4, 9 - n // 15)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=90, fontsize=font)
    ax.set_yticklabels(names, fontsize=font)
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title('confusion matrix' + (' (rows normalized)' if normalize else ' (pixels)'))
    if n <= 25:
        for i in range(n):
            for j in range(n):
                if shown[i, j] > 0:
                    text = '%.2f' % shown[i, j] if normalize else '%d' % shown[i, j]
                    ax.text(j, i, text, ha='center', va='center', fontsize=6,
                            color='white' if shown[i, j] > 0.5 * shown.max() else 'black')
    fig.tight_layout()
    return _save(fig, png_path)


def class_scores(iu, acc, pixels, png_path, class_names=None):
    """Plot per-class IU and accuracy (score.compute_metrics' per_class_iu and per_class_acc) as
    horizontal bars, each class labelled with its ground-truth pixels; an undefined value (NaN: a
    class absent from the ground truth) draws no bar."""
    n = len(iu)
    names = _names(class_names, n)
    fig = Figure(figsize=(8, max(2.5, 0.3 * n + 1.2)))
    ax = fig.subplots()
    y = np.arange(n)
    ax.barh(y - 0.2, np.nan_to_num(np.asarray(iu, np.float64)), height=0.4, label='IU')
    ax.barh(y + 0.2, np.nan_to_num(np.asarray(acc, np.float64)), height=0.4, label='accuracy')
    ax.set_yticks(y)
    ax.set_yticklabels(['%s (%s px)' % (name, _count(p)) for name, p in zip(names, pixels)],
                       fontsize=9 if n <= 25 else max(4, 9 - n // 15))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.3)                              # the legend goes right of 1, clear of the bars
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel('fraction')
    ax.set_title('per-class IU and accuracy')
    ax.legend(loc='lower right')
    fig.tight_layout()
    return _save(fig, png_path)


def class_pixels(counts, png_path, class_names=None):
    """Plot the pixels of each class per split as grouped horizontal bars, in % of the split's
    labelled pixels.  counts: {split: (n,) pixels per class} (void left out by the caller)."""
    splits = list(counts)
    n = len(next(iter(counts.values()))) if counts else 0
    names = _names(class_names, n)
    fig = Figure(figsize=(8, max(2.5, 0.3 * n * max(1, len(splits)) / 1.5 + 1.2)))
    ax = fig.subplots()
    y = np.arange(n)
    height = 0.8 / max(1, len(splits))
    for k, split in enumerate(splits):
        c = np.asarray(counts[split], dtype=np.float64)
        share = 100 * c / c.sum() if c.sum() > 0 else np.zeros(n)
        ax.barh(y - 0.4 + height * (k + 0.5), share, height=height, label=split)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=9 if n <= 25 else max(4, 9 - n // 15))
    ax.invert_yaxis()
    ax.set_xlabel('% of the split\'s labelled pixels (void left out)')
    ax.set_title('pixels per class')
    if splits:
        ax.legend(loc='lower right')
    fig.tight_layout()
    return _save(fig, png_path)


def _names(class_names, n):
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError('%d class names for %d classes' % (len(names), n))
    return names


def _count(pixels):
    """A pixel count in a few characters: 950, 12.3k, 4.5M."""
    for div, unit in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if pixels >= div:
            return '%.1f%s' % (pixels / div, unit)
    return '%d' % pixels
