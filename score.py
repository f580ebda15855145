"""Scoring for semantic segmentation: confusion histograms and FCN metrics.

Metrics follow Sec. 5 of the FCN paper.  With n_ij the number of pixels of
ground-truth class i predicted as class j, t_i = sum_j n_ij the pixels of
class i, and n_cl the number of classes:

    pixel accuracy     sum_i n_ii / sum_i t_i
    mean accuracy      (1/n_cl) sum_i n_ii / t_i
    mean IU            (1/n_cl) sum_i n_ii / (t_i + sum_j n_ji - n_ii)
    frequency-weighted (sum_k t_k)^-1 sum_i t_i n_ii / (t_i + sum_j n_ji - n_ii)

Classes with a zero denominator are left out of the means (as numpy's
nanmean would, but without warnings): a class absent from the ground truth
(t_i = 0) has undefined accuracy, and a class absent from both the ground
truth and the predictions has undefined IU.  A class that is predicted but
never in the ground truth has IU 0 and does count in the mean IU, which
penalises false positives.

The net/solver functions are written against pycaffe's API but take the net
or solver as an argument, so this module never imports caffe and the numpy
parts work without the engine.  Run as a script to score saved prediction
PNGs against ground-truth PNGs (see `python score.py --help`).
"""
import os
import sys
from datetime import datetime

import numpy as np
from tqdm import tqdm

import vis


def fast_hist(label, pred, n):
    """Return the n x n confusion matrix of one label/prediction pair.

    Rows are ground truth, columns predictions.  Pixels whose label lies
    outside [0, n) (e.g. 255 = void) are ignored; a prediction outside
    [0, n) on a counted pixel is an error.
    """
    label = np.asarray(label)
    pred = np.asarray(pred)
    if label.shape != pred.shape:
        raise ValueError('label shape %s != prediction shape %s' % (label.shape, pred.shape))
    label = label.ravel()
    pred = pred.ravel()
    valid = (label >= 0) & (label < n)
    gt = label[valid].astype(np.int64)
    pr = pred[valid].astype(np.int64)
    if pr.size and (pr.min() < 0 or pr.max() >= n):
        raise ValueError('predictions must lie in [0, %d), got [%d, %d]' % (n, pr.min(), pr.max()))
    return np.bincount(n * gt + pr, minlength=n * n).reshape(n, n)


def _ratio(num, den):
    """num / den elementwise, NaN where den == 0, without warnings."""
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _nanmean(x):
    """Mean over the non-NaN entries; NaN (no warning) if there are none."""
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else float('nan')


def compute_metrics(hist):
    """Compute the FCN paper's metrics from a confusion matrix.

    Returns a dict of floats 'overall_acc', 'mean_acc', 'mean_iu', 'fwavacc'
    and arrays 'per_class_acc', 'per_class_iu' (NaN where undefined, see the
    module docstring).  An empty histogram gives NaN everywhere.
    """
    hist = np.asarray(hist, dtype=np.float64)
    if hist.ndim != 2 or hist.shape[0] != hist.shape[1]:
        raise ValueError('hist must be a square matrix, got shape %s' % (hist.shape,))
    n_ii = np.diag(hist)
    t = hist.sum(axis=1)
    union = t + hist.sum(axis=0) - n_ii
    total = hist.sum()
    acc = _ratio(n_ii, t)
    iu = _ratio(n_ii, union)
    present = t > 0  # union >= t, so IU is defined wherever t > 0
    nan = float('nan')
    return {
        'overall_acc': float(n_ii.sum() / total) if total > 0 else nan,
        'mean_acc': _nanmean(acc),
        'mean_iu': _nanmean(iu),
        'fwavacc': float((t[present] * iu[present]).sum() / total) if total > 0 else nan,
        'per_class_acc': acc,
        'per_class_iu': iu,
    }


def format_report(metrics, class_names=None):
    """Render per-class IU/accuracy and the four summary metrics as text (%).

    Undefined per-class values (class absent from the ground truth) show as '-'.
    """
    iu = metrics['per_class_iu']
    acc = metrics['per_class_acc']
    if class_names is None:
        class_names = [str(i) for i in range(len(iu))]
    if len(class_names) != len(iu):
        raise ValueError('%d class names for %d classes' % (len(class_names), len(iu)))
    def fmt(v):
        return '-' if np.isnan(v) else '%.2f' % (100 * v)

    width = max([len('class')] + [len(c) for c in class_names])
    lines = ['%-*s  %8s  %8s' % (width, 'class', 'IU', 'acc')]
    for name, i, a in zip(class_names, iu, acc):
        lines.append('%-*s  %8s  %8s' % (width, name, fmt(i), fmt(a)))
    lines.append('')
    for key, title in [('overall_acc', 'pixel accuracy'), ('mean_acc', 'mean accuracy'),
                       ('mean_iu', 'mean IU'), ('fwavacc', 'frequency weighted IU')]:
        lines.append('%-22s %s' % (title, fmt(metrics[key])))
    return '\n'.join(lines)


def compute_hist(net, save_dir, dataset_ids, layer='score', gt='label', loss='loss'):
    """Run `net` once per id and accumulate the confusion histogram.

    Each net.forward() is expected to load the next image of the split (as
    the data layers do); the prediction is the argmax of blob `layer` over
    channels and the ground truth is blob `gt`.  If save_dir is set, each
    prediction is saved there as a VOC palette PNG named <id>.png.  Returns
    (hist, mean loss over the split); the loss is None if `loss` is None.
    """
    n_cl = net.blobs[layer].data.shape[1]
    hist = np.zeros((n_cl, n_cl), dtype=np.int64)
    total_loss = 0.0
    if save_dir:
        os.makedirs(save_dir, exist_ok=True)
    for idx in tqdm(dataset_ids, desc='scoring', leave=False, disable=None):
        net.forward()
        pred = net.blobs[layer].data[0].argmax(0)
        hist += fast_hist(net.blobs[gt].data[0, 0], pred, n_cl)
        if save_dir:
            vis.save_label_png(os.path.join(save_dir, '%s.png' % idx), pred)
        if loss is not None:
            total_loss += float(net.blobs[loss].data.flat[0])
    if loss is None:
        return hist, None
    return hist, (total_loss / len(dataset_ids) if len(dataset_ids) else float('nan'))


def do_seg_tests(net, iteration, save_format, dataset_ids, layer='score', gt='label',
                 loss='loss'):
    """Score `net` over the split, print loss and metrics for `iteration`, return hist.

    save_format (e.g. 'out/segs-iter{}') is formatted with the iteration to
    give the directory for the prediction PNGs; None/'' saves nothing.
    """
    save_dir = save_format.format(iteration) if save_format else None
    hist, mean_loss = compute_hist(net, save_dir, dataset_ids, layer, gt, loss)
    print('\n'.join(seg_results(iteration, mean_loss, compute_metrics(hist))))
    sys.stdout.flush()
    return hist


def seg_results(iteration, mean_loss, metrics):
    """The seg-test log lines: loss (when known) and the four summary metrics."""
    stamp = '>>> %s Iteration %s' % (datetime.now(), iteration)
    out = ['%s loss %s' % (stamp, mean_loss)] if mean_loss is not None else []
    for key, title in [('overall_acc', 'overall accuracy'), ('mean_acc', 'mean accuracy'),
                       ('mean_iu', 'mean IU'), ('fwavacc', 'fwavacc')]:
        out.append('%s %s %s' % (stamp, title, metrics[key]))
    return out


def seg_tests(solver, save_format, dataset_ids, layer='score', gt='label', loss='loss'):
    """Score the solver's test net with the current training weights.

    Shares the train net's weights into test_nets[0], then scores it at
    solver.iter (see do_seg_tests).  Returns the confusion histogram.
    """
    print('>>>', datetime.now(), 'Begin seg tests')
    solver.test_nets[0].share_with(solver.net)
    return do_seg_tests(solver.test_nets[0], solver.iter, save_format, dataset_ids,
                        layer, gt, loss)


# -- command line: score saved prediction PNGs ------------------------------

def _read_lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def score_dirs(pred_dir, gt_dir, ids, n_cl):
    """Accumulate the histogram of <pred_dir>/<id>.png against <gt_dir>/<id>.png.

    Raises FileNotFoundError listing missing files (checked before scoring)
    and ValueError for size mismatches or out-of-range predictions.
    """
    pairs = [(i, os.path.join(pred_dir, i + '.png'), os.path.join(gt_dir, i + '.png'))
             for i in ids]
    missing = [p for _, pp, gp in pairs for p in (pp, gp) if not os.path.isfile(p)]
    if missing:
        shown = ', '.join(missing[:10])
        more = ' and %d more' % (len(missing) - 10) if len(missing) > 10 else ''
        raise FileNotFoundError('%d missing file(s): %s%s' % (len(missing), shown, more))
    hist = np.zeros((n_cl, n_cl), dtype=np.int64)
    for i, pred_path, gt_path in tqdm(pairs, desc='scoring', leave=False, disable=None):
        pred = vis.read_label_png(pred_path)
        label = vis.read_label_png(gt_path)
        if pred.shape != label.shape:
            raise ValueError('%s: prediction is %dx%d (WxH) but ground truth is %dx%d'
                             % (i, pred.shape[1], pred.shape[0], label.shape[1], label.shape[0]))
        try:
            hist += fast_hist(label, pred, n_cl)
        except ValueError as e:
            raise ValueError('%s: %s' % (pred_path, e)) from None
    return hist


def main(argv=None):
    from fcn import cli
    from fcn.errors import FCNError
    parser = cli.parser('Score palette-PNG predictions against palette-PNG ground truth '
                        '(label 255 and any label >= N are void).')
    parser.add_argument('--pred-dir', required=True, help='folder of <id>.png predictions')
    parser.add_argument('--gt-dir', required=True, help='folder of <id>.png ground truth')
    parser.add_argument('--ids', required=True, help='text file with one image id per line')
    parser.add_argument('--classes', type=int, default=None,
                        help='number of classes N (default: from --class-names, else 21)')
    parser.add_argument('--class-names', default=None, help='text file, one class name per line')
    parser.add_argument('--confusion', metavar='PNG', help='also save the row-normalized confusion matrix here')
    args = parser.parse_args(argv)

    names = _read_lines(args.class_names) if args.class_names else None
    n_cl = args.classes if args.classes is not None else (len(names) if names else 21)
    if names is not None and len(names) != n_cl:
        raise FCNError('%s lists %d class names but --classes is %d' % (args.class_names, len(names), n_cl))
    if n_cl < 1 or n_cl > 256:
        raise FCNError('--classes must lie in [1, 256], got %d' % n_cl)
    ids = _read_lines(args.ids)
    if not ids:
        raise FCNError('%s lists no ids' % args.ids)
    try:
        hist = score_dirs(args.pred_dir, args.gt_dir, ids, n_cl)
    except ValueError as e:
        raise FCNError(str(e)) from None
    print('scored %d images' % len(ids))
    print(format_report(compute_metrics(hist), names))
    if args.confusion:
        import plots
        try:
            print('confusion matrix: %s' % plots.confusion_matrix(hist, args.confusion, names))
        except OSError as e:
            raise FCNError('cannot write the confusion matrix %s: %s' % (args.confusion, e.strerror or e)) from None
    return 0


if __name__ == '__main__':
    from fcn import cli
    sys.exit(cli.run(main))
