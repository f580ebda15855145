"""Class weights for a dataset's loss, from its training split's pixel counts (fcn.dataset.check).

A weighted loss multiplies each pixel's softmax loss by the weight of its true
class: Caffe's InfogainLoss with the diagonal matrix H = diag(w), written as a
binaryproto beside the net (models/create.py --class-weights).

    median-frequency   w_c = median(freq) / freq_c, freq_c = pixels of class c / pixels of the
                       training images where c is present (Eigen & Fergus, ICCV 2015, "Predicting
                       Depth, Surface Normals and Semantic Labels with a Common Multi-Scale
                       Convolutional Architecture", Sec. 4.3); the median is over the classes present
    inverse-frequency  w_c = N / (K * N_c): N labelled training pixels, N_c those of class c, K the
                       classes present; a pixel's weight is then 1 on average, so the loss keeps
                       the scale of the unweighted one (scikit-learn's "balanced")
    FILE               one weight per class a line, in classes.txt's order

Pixels are labelled pixels: void pixels count nowhere.  A class with no
training pixels gets weight 1, the weight of an average pixel (it appears in no
training label, so its weight only matters for the val net's loss).
"""
import math

import numpy as np

from fcn.errors import FCNError

SCHEMES = ('median-frequency', 'inverse-frequency')
ABSENT_WEIGHT = 1.0


class ClassWeightsError(FCNError):
    """Weights that cannot be used (the message names the file or the scheme)."""


def median_frequency(counts, present):
    """(K,) weights from per-class pixels `counts` and `present`, the pixels of the images where
    each class is (fcn.dataset.Report.hist['train'][:K] and .present)."""
    counts, present = np.asarray(counts, np.float64), np.asarray(present, np.float64)
    seen = counts > 0
    weights = np.full(len(counts), ABSENT_WEIGHT)
    if seen.any():
        freq = counts[seen] / present[seen]
        weights[seen] = np.median(freq) / freq
    return weights


def inverse_frequency(counts):
    """(K,) weights N / (K_present * N_c) from per-class pixel `counts`."""
    counts = np.asarray(counts, np.float64)
    seen = counts > 0
    weights = np.full(len(counts), ABSENT_WEIGHT)
    if seen.any():
        weights[seen] = counts.sum() / (seen.sum() * counts[seen])
    return weights


def read_file(path, n_classes):
    """The weights of a file, one number a line (blank lines skipped), one per class."""
    try:
        with open(path) as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError as e:
        raise ClassWeightsError('class weights file %s: %s' % (path, e.strerror or e)) from None
    weights = []
    for i, line in enumerate(lines):
        try:
            w = float(line)
        except ValueError:
            w = math.nan
        if not math.isfinite(w) or w < 0:
            raise ClassWeightsError('%s: line %d, %r, is not a weight (a number >= 0)' % (path, i + 1, line))
        weights.append(w)
    if len(weights) != n_classes:
        raise ClassWeightsError('%s gives %d weights for %d classes: one a line, in classes.txt\'s order'
                                % (path, len(weights), n_classes))
    if not any(weights):
        raise ClassWeightsError('%s: every weight is 0, which would train nothing' % path)
    return np.array(weights)


def weights(report, scheme):
    """(K,) float64 weights of a checked dataset (fcn.dataset.Report) by `scheme`: one of SCHEMES,
    or the path of a weights file."""
    n = report.dataset.n_classes
    if scheme == 'median-frequency':
        return median_frequency(report.hist['train'][:n], report.present)
    if scheme == 'inverse-frequency':
        return inverse_frequency(report.hist['train'][:n])
    return read_file(scheme, n)


def format_table(report):
    """Both schemes' weights per class, as text (what data/check.py prints)."""
    names = report.dataset.class_names
    table = {s: weights(report, s) for s in SCHEMES}
    width = max(len(name) for name in names)
    lines = ['class weights (models/create.py --class-weights; median frequency as in Eigen & Fergus 2015):',
             '  %-*s %s' % (width + 4, 'class', ''.join('%19s' % s for s in SCHEMES))]
    for c, name in enumerate(names):
        lines.append('  %-*s %s' % (width + 4, '%3d %s' % (c, name),
                                    ''.join('%19.4f' % table[s][c] for s in SCHEMES)))
    return '\n'.join(lines)


def infogain_matrix(w):
    """H = diag(w) as the 1 x 1 x K x K float32 array InfogainLoss reads."""
    k = len(w)
    return np.diag(np.asarray(w, np.float32)).reshape(1, 1, k, k)
