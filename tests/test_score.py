"""Tests for score.py: histogram, metrics from hand-worked examples, report, CLI,
and the pycaffe-style net/solver scoring against a plain Python stand-in net."""
import os
import sys
import warnings

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import score  # noqa: E402
from fcn import cli  # noqa: E402
import vis  # noqa: E402

# Worked example, 5 classes, 11 pixels (two of them void = 255).
#   class 0, 1, 2: in the ground truth
#   class 3: predicted (once on a counted pixel) but never in the ground truth
#   class 4: in neither (its only prediction falls on a void pixel)
GT = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 255, 255])
PRED = np.array([0, 0, 0, 1, 1, 1, 3, 2, 0, 3, 4])
# n_ij by hand (row i = ground truth, column j = prediction), void ignored:
HIST = np.array([
    [3, 1, 0, 0, 0],  # t_0 = 4
    [0, 2, 0, 1, 0],  # t_1 = 3
    [1, 0, 1, 0, 0],  # t_2 = 2
    [0, 0, 0, 0, 0],  # t_3 = 0
    [0, 0, 0, 0, 0],  # t_4 = 0
])
# Column sums sum_j n_ji: [4, 3, 1, 1, 0]; total sum_i t_i = 9.
# pixel accuracy = (3 + 2 + 1) / 9
# per-class acc n_ii / t_i = [3/4, 2/3, 1/2, undefined, undefined]
# per-class IU n_ii / (t_i + sum_j n_ji - n_ii):
#   class 0: 3 / (4 + 4 - 3) = 3/5     class 1: 2 / (3 + 3 - 2) = 1/2
#   class 2: 1 / (2 + 1 - 1) = 1/2     class 3: 0 / (0 + 1 - 0) = 0
#   class 4: 0 / 0 undefined
# mean acc = (3/4 + 2/3 + 1/2) / 3 = 23/36    (undefined classes left out)
# mean IU  = (3/5 + 1/2 + 1/2 + 0) / 4 = 0.4  (class 3 counts with IU 0)
# fwavacc  = (4 * 3/5 + 3 * 1/2 + 2 * 1/2) / 9 = 4.9 / 9
NAN = float('nan')
EXPECTED = {
    'overall_acc': 6 / 9,
    'mean_acc': 23 / 36,
    'mean_iu': 0.4,
    'fwavacc': 4.9 / 9,
    'per_class_acc': [3 / 4, 2 / 3, 1 / 2, NAN, NAN],
    'per_class_iu': [3 / 5, 1 / 2, 1 / 2, 0.0, NAN],
}


def strict_metrics(hist):
    """compute_metrics with every numpy floating-point warning or error raised."""
    with warnings.catch_warnings(), np.errstate(all='raise'):
        warnings.simplefilter('error')
        return score.compute_metrics(hist)


def assert_metrics(m, expected):
    for key in ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc'):
        assert m[key] == pytest.approx(expected[key]), key
    for key in ('per_class_acc', 'per_class_iu'):
        np.testing.assert_allclose(m[key], expected[key], err_msg=key)  # NaN == NaN here


def test_fast_hist_worked_example():
    hist = score.fast_hist(GT, PRED, 5)
    np.testing.assert_array_equal(hist, HIST)


def test_fast_hist_2d_float_labels_and_negative_void():
    # labels come out of a net as float blobs; -1 is also outside [0, n)
    label = np.array([[0., 1.], [255., -1.]])
    pred = np.array([[1, 1], [0, 0]])
    np.testing.assert_array_equal(score.fast_hist(label, pred, 2), [[0, 1], [0, 1]])


def test_fast_hist_matches_loop_on_random_data():
    rng = np.random.RandomState(0)
    n = 6
    label = rng.randint(0, n + 1, size=(13, 17))
    label[label == n] = 255
    pred = rng.randint(0, n, size=(13, 17))
    expected = np.zeros((n, n), dtype=int)
    for g, p in zip(label.ravel(), pred.ravel()):
        if g != 255:
            expected[g, p] += 1
    np.testing.assert_array_equal(score.fast_hist(label, pred, n), expected)


def test_fast_hist_errors():
    with pytest.raises(ValueError, match='shape'):
        score.fast_hist(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match='predictions'):
        score.fast_hist(np.array([0, 1]), np.array([0, 7]), 3)
    # an out-of-range prediction on a void pixel is simply ignored
    np.testing.assert_array_equal(score.fast_hist(np.array([0, 255]), np.array([0, 7]), 2),
                                  [[1, 0], [0, 0]])


def test_metrics_worked_example_without_warnings():
    assert_metrics(strict_metrics(HIST), EXPECTED)


def test_metrics_perfect_two_class():
    # n = [[5, 0], [0, 3]]: everything right
    m = strict_metrics(np.array([[5, 0], [0, 3]]))
    assert_metrics(m, {'overall_acc': 1, 'mean_acc': 1, 'mean_iu': 1, 'fwavacc': 1,
                       'per_class_acc': [1, 1], 'per_class_iu': [1, 1]})


def test_metrics_all_predicted_as_one_class():
    # ground truth: 6 of class 0, 2 of class 1; all predicted 0
    # acc = [1, 0]; IU0 = 6 / (6 + 8 - 6) = 3/4, IU1 = 0 / (2 + 0 - 0) = 0
    m = strict_metrics(np.array([[6, 0], [2, 0]]))
    assert_metrics(m, {'overall_acc': 6 / 8, 'mean_acc': 0.5, 'mean_iu': 3 / 8,
                       'fwavacc': (6 * 3 / 4 + 2 * 0) / 8,
                       'per_class_acc': [1, 0], 'per_class_iu': [3 / 4, 0]})


def test_metrics_empty_hist_is_nan_without_warnings():
    m = strict_metrics(np.zeros((3, 3)))
    for key in ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc'):
        assert np.isnan(m[key])
    assert np.isnan(m['per_class_iu']).all() and np.isnan(m['per_class_acc']).all()


def test_metrics_match_paper_formulas_on_random_hist():
    rng = np.random.RandomState(1)
    hist = rng.randint(0, 50, size=(7, 7)).astype(float)
    hist[5, :] = 0           # class 5: never in ground truth, but predicted
    hist[6, :] = 0           # class 6: in neither
    hist[:, 6] = 0
    n_cl = 7
    t = hist.sum(1)
    acc, iu = [], []
    for i in range(n_cl):
        if t[i] > 0:
            acc.append(hist[i, i] / t[i])
        union = t[i] + hist[:, i].sum() - hist[i, i]
        if union > 0:
            iu.append(hist[i, i] / union)
    fw = sum(t[i] * hist[i, i] / (t[i] + hist[:, i].sum() - hist[i, i])
             for i in range(n_cl) if t[i] > 0) / t.sum()
    m = strict_metrics(hist)
    assert m['overall_acc'] == pytest.approx(np.trace(hist) / hist.sum())
    assert m['mean_acc'] == pytest.approx(np.mean(acc))
    assert m['mean_iu'] == pytest.approx(np.mean(iu))
    assert len(iu) == 6  # class 5 (IU 0) counts, class 6 does not
    assert m['fwavacc'] == pytest.approx(fw)


def test_compute_metrics_rejects_non_square():
    with pytest.raises(ValueError):
        score.compute_metrics(np.zeros((2, 3)))


def test_format_report():
    names = ['background', 'cat', 'dog', 'sofa', 'train']
    text = score.format_report(score.compute_metrics(HIST), names)
    lines = text.splitlines()
    assert lines[0].split() == ['class', 'IU', 'acc']
    assert lines[1].split() == ['background', '60.00', '75.00']
    assert lines[4].split() == ['sofa', '0.00', '-']      # predicted, not in GT
    assert lines[5].split() == ['train', '-', '-']        # absent everywhere
    assert 'pixel accuracy         66.67' in text
    assert 'mean accuracy          63.89' in text
    assert 'mean IU                40.00' in text
    assert 'frequency weighted IU  54.44' in text
    # default names are the class indices
    assert score.format_report(score.compute_metrics(HIST)).splitlines()[5].split()[0] == '4'
    with pytest.raises(ValueError):
        score.format_report(score.compute_metrics(HIST), names[:2])


# -- pycaffe-style scoring -----------------------------------------------------
# The engine is not available to these tests, so FakeNet is a plain Python
# stand-in with just the parts of pycaffe's Net that score.py uses: a dict
# `blobs` of objects with a `.data` array (N x C x H x W) and `forward()`,
# which here "loads" the next prepared sample into the blobs, as a data layer
# would.  FakeSolver likewise only has net, test_nets, iter.

class FakeBlob:
    def __init__(self, data):
        self.data = data


class FakeNet:
    def __init__(self, samples, n_cl, shape=(4, 5)):
        self.samples = samples  # list of (label, pred, loss)
        self.i = 0
        self.shared_with = None
        self.blobs = {'score': FakeBlob(np.zeros((1, n_cl) + shape, np.float32)),
                      'label': FakeBlob(np.zeros((1, 1) + shape, np.float32)),
                      'loss': FakeBlob(np.zeros((), np.float32))}

    def forward(self):
        label, pred, loss = self.samples[self.i]
        self.i += 1
        n_cl = self.blobs['score'].data.shape[1]
        scores = np.eye(n_cl, dtype=np.float32)[pred].transpose(2, 0, 1)  # one-hot logits
        self.blobs['score'].data = scores[None]
        self.blobs['label'].data = label[None, None].astype(np.float32)
        self.blobs['loss'].data = np.array(loss, np.float32)
        return {'loss': self.blobs['loss'].data}

    def share_with(self, other):
        self.shared_with = other


class FakeSolver:
    def __init__(self, test_net, it):
        self.net = object()
        self.test_nets = [test_net]
        self.iter = it


def make_samples(n_cl=3, count=3, shape=(4, 5)):
    rng = np.random.RandomState(2)
    samples = []
    for k in range(count):
        label = rng.randint(0, n_cl, size=shape)
        label[0, :] = 255  # a void row
        pred = rng.randint(0, n_cl, size=shape)
        samples.append((label, pred, float(k + 1)))
    return samples


def test_compute_hist_with_fake_net(tmp_path):
    samples = make_samples()
    net = FakeNet(samples, 3)
    ids = ['a', 'b', 'c']
    hist, loss = score.compute_hist(net, str(tmp_path / 'segs'), ids)
    expected = sum(score.fast_hist(l, p, 3) for l, p, _ in samples)
    np.testing.assert_array_equal(hist, expected)
    assert hist.sum() == 3 * 3 * 5  # void row excluded
    assert loss == pytest.approx((1 + 2 + 3) / 3)
    for i, (_, pred, _) in zip(ids, samples):
        np.testing.assert_array_equal(vis.read_label_png(str(tmp_path / 'segs' / (i + '.png'))),
                                      pred)


def test_compute_hist_without_saving_or_loss(tmp_path):
    net = FakeNet(make_samples(), 3)
    hist, loss = score.compute_hist(net, None, ['a', 'b'], loss=None)
    assert loss is None and hist.sum() == 2 * 3 * 5
    assert not os.listdir(str(tmp_path))


def test_seg_tests_with_fake_solver(tmp_path, capsys):
    samples = make_samples()
    net = FakeNet(samples, 3)
    solver = FakeSolver(net, 4000)
    fmt = str(tmp_path / 'segs-iter{}')
    hist = score.seg_tests(solver, fmt, ['a', 'b', 'c'])
    assert net.shared_with is solver.net
    np.testing.assert_array_equal(hist, sum(score.fast_hist(l, p, 3) for l, p, _ in samples))
    assert sorted(os.listdir(str(tmp_path / 'segs-iter4000'))) == ['a.png', 'b.png', 'c.png']
    out = capsys.readouterr().out
    m = score.compute_metrics(hist)
    assert 'Begin seg tests' in out
    assert 'Iteration 4000 loss 2.0' in out
    assert 'Iteration 4000 mean IU %s' % m['mean_iu'] in out
    for title in ('overall accuracy', 'mean accuracy', 'fwavacc'):
        assert 'Iteration 4000 ' + title in out


# -- command line ----------------------------------------------------------------

def write_case(root, ids_labels_preds):
    (root / 'pred').mkdir()
    (root / 'gt').mkdir()
    for i, label, pred in ids_labels_preds:
        vis.save_label_png(str(root / 'gt' / (i + '.png')), label)
        vis.save_label_png(str(root / 'pred' / (i + '.png')), pred)
    (root / 'ids.txt').write_text(''.join(i + '\n' for i, _, _ in ids_labels_preds) + '\n')
    return ['--pred-dir', str(root / 'pred'), '--gt-dir', str(root / 'gt'),
            '--ids', str(root / 'ids.txt')]


def test_cli_scores_worked_example(tmp_path, capsys):
    # the worked example split over two "images" (one row of 5, one of 6 pixels)
    args = write_case(tmp_path, [('img1', GT[None, :5], PRED[None, :5]),
                                 ('img2', GT[None, 5:], PRED[None, 5:])])
    (tmp_path / 'names.txt').write_text('background\ncat\ndog\nsofa\ntrain\n')
    assert cli.run(score.main, args + ['--classes', '5']) == 0
    out = capsys.readouterr().out
    assert 'scored 2 images' in out
    assert 'mean IU                40.00' in out
    assert cli.run(score.main, args + ['--class-names', str(tmp_path / 'names.txt')]) == 0
    out = capsys.readouterr().out
    assert 'sofa' in out and 'mean IU                40.00' in out
    assert cli.run(score.main, args + ['--classes', '4', '--class-names',
                              str(tmp_path / 'names.txt')]) == 2
    assert 'class names' in capsys.readouterr().err


def test_cli_reads_rgb_predictions(tmp_path, capsys):
    # predictions saved as colour images are mapped back through the palette
    args = write_case(tmp_path, [('x', GT[None], PRED[None])])
    from PIL import Image
    Image.fromarray(vis.colorize(PRED[None])).save(str(tmp_path / 'pred' / 'x.png'))
    assert cli.run(score.main, args + ['--classes', '5']) == 0
    assert 'mean IU                40.00' in capsys.readouterr().out


def test_cli_missing_files(tmp_path, capsys):
    args = write_case(tmp_path, [('x', GT[None], PRED[None])])
    with open(str(tmp_path / 'ids.txt'), 'a') as f:
        f.write('nope\n')
    assert cli.run(score.main, args) == 2
    err = capsys.readouterr().err
    assert 'missing' in err and 'nope.png' in err
    assert cli.run(score.main, args[:-1] + [str(tmp_path / 'no-ids.txt')]) == 2
    assert 'no-ids.txt' in capsys.readouterr().err


def test_cli_size_mismatch(tmp_path, capsys):
    args = write_case(tmp_path, [('x', np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))])
    assert cli.run(score.main, args) == 2
    err = capsys.readouterr().err
    assert 'x:' in err and '3x2' in err and '2x3' in err


def test_cli_prediction_out_of_range(tmp_path, capsys):
    args = write_case(tmp_path, [('x', np.zeros((2, 2), np.uint8), np.full((2, 2), 30, np.uint8))])
    assert cli.run(score.main, args) == 2
    assert 'x.png' in capsys.readouterr().err


def test_cli_as_script(tmp_path):
    import subprocess
    args = write_case(tmp_path, [('x', GT[None], PRED[None])])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, os.path.join(repo, 'score.py')] + args
                         + ['--classes', '5'], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert 'mean IU                40.00' in res.stdout


def test_cli_saves_a_confusion_matrix_plot(tmp_path, capsys):
    args = write_case(tmp_path, [('img1', GT[None], PRED[None])])
    png = tmp_path / 'confusion.png'
    assert cli.run(score.main, args + ['--classes', '5', '--confusion', str(png)]) == 0
    assert 'confusion matrix: %s' % png in capsys.readouterr().out
    from PIL import Image
    with Image.open(png) as im:
        assert im.format == 'PNG' and min(im.size) >= 400


def test_cli_confusion_plot_gets_the_histogram_and_names_and_reports_a_bad_path(tmp_path, capsys, monkeypatch):
    import plots
    args = write_case(tmp_path, [('img1', GT[None, :5], PRED[None, :5]), ('img2', GT[None, 5:], PRED[None, 5:])])
    (tmp_path / 'names.txt').write_text('background\ncat\ndog\nsofa\ntrain\n')
    seen = {}
    monkeypatch.setattr(plots, 'confusion_matrix',
                        lambda hist, path, names: seen.update(hist=hist, names=names) or path)
    assert cli.run(score.main, args + ['--class-names', str(tmp_path / 'names.txt'),
                              '--confusion', str(tmp_path / 'c.png')]) == 0
    np.testing.assert_array_equal(seen['hist'], score.fast_hist(GT, PRED, 5))   # rows ground truth, summed over images
    assert seen['names'] == ['background', 'cat', 'dog', 'sofa', 'train']
    monkeypatch.undo()
    assert cli.run(score.main, args + ['--classes', '5', '--confusion', str(tmp_path / 'no' / 'c.png')]) == 2
    captured = capsys.readouterr()
    assert 'mean IU' in captured.out and 'cannot write the confusion matrix' in captured.err
