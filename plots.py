"""Pictures of training and scoring: the learning curve of a solve.py log and a
confusion matrix of score.py's histogram, written as PNG files.

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
