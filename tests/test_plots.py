"""plots.py: the learning curve of a training log and the confusion matrix, as PNGs."""
import csv
import os
import warnings

import numpy as np
import pytest
from PIL import Image

import plots
from fcn import training


def write_log(path, rows):
    log = training.CSVLog(str(path))
    for it, loss in rows:
        metrics = {'overall_acc': 0.5 + it / 1e4, 'mean_acc': 0.4, 'mean_iu': 0.3 + it / 2e4, 'fwavacc': 0.45}
        log.write(it, 1e-10, loss * 1.1, loss, metrics)
    return log


def pixels(path):
    with Image.open(path) as im:
        assert im.format == 'PNG'
        return np.asarray(im.convert('RGB'))


def test_the_training_log_redraws_its_learning_curve(tmp_path):
    log = write_log(tmp_path / 'log.csv', [(1000, 5e4), (2000, 4e4), (3000, 3.5e4)])
    assert log.plot == str(tmp_path / 'learning_curve.png')
    img = pixels(log.plot)
    assert img.shape[0] >= 300 and img.shape[1] >= 600
    assert (img != 255).any(axis=2).mean() > 0.02        # something was drawn, not a blank canvas
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_learning_curve_of_one_row_and_of_an_empty_log(tmp_path):
    write_log(tmp_path / 'log.csv', [(4000, 1e4)])
    assert plots.learning_curve(str(tmp_path / 'log.csv'), str(tmp_path / 'one.png'))
    pixels(tmp_path / 'one.png')
    empty = tmp_path / 'empty.csv'
    with open(empty, 'w', newline='') as f:
        csv.writer(f).writerow(training.CSVLog.FIELDS)
    assert plots.learning_curve(str(empty), str(tmp_path / 'none.png')) is None
    assert not (tmp_path / 'none.png').exists()


def test_learning_curve_of_an_older_log_without_the_new_columns(tmp_path):
    path = tmp_path / 'old.csv'
    path.write_text('iteration,loss,overall_acc,mean_acc,mean_iu,fwavacc,seconds\n4000,9.5,0.9,0.7,0.6,0.8,10\n')
    assert plots.learning_curve(str(path), str(tmp_path / 'old.png'))


@pytest.mark.parametrize('n', [3, 21, 60])
def test_confusion_matrix_plot_with_an_absent_class(tmp_path, n):
    rng = np.random.RandomState(n)
    hist = rng.randint(0, 100, size=(n, n)) + np.eye(n, dtype=int) * 1000
    hist[1] = 0                                       # class 1 never in the ground truth
    with warnings.catch_warnings():
        warnings.simplefilter('error')                # no division-by-zero warning from the empty row
        path = plots.confusion_matrix(hist, str(tmp_path / 'c.png'), ['c%d' % i for i in range(n)])
    img = pixels(path)
    assert min(img.shape[:2]) >= 400


def test_confusion_matrix_rejects_mismatched_names(tmp_path):
    with pytest.raises(ValueError, match='class names'):
        plots.confusion_matrix(np.eye(3), str(tmp_path / 'c.png'), ['a', 'b'])
    with pytest.raises(ValueError, match='square'):
        plots.confusion_matrix(np.ones((2, 3)), str(tmp_path / 'c.png'))


def test_a_log_cut_short_mid_line_still_plots_without_warnings(tmp_path):
    path = tmp_path / 'log.csv'
    write_log(path, [(1000, 5e4), (2000, 4e4)])
    with open(path, 'a') as f:
        f.write('3000,1e-10,3.9e4')                  # the writer was killed mid-row
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert plots.learning_curve(str(path), str(tmp_path / 'cut.png'))
        path.write_text('iteration,seconds\n1000,5\n')  # neither losses nor metrics: no empty legends
        assert plots.learning_curve(str(path), str(tmp_path / 'bare.png'))
    pixels(tmp_path / 'cut.png')


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / 'taken'
    target.mkdir()                                    # a folder where the PNG should go
    with pytest.raises(OSError):
        plots.confusion_matrix(np.eye(3), str(target))
    assert sorted(os.listdir(tmp_path)) == ['taken'] and not os.listdir(target)


@pytest.mark.parametrize('n', [3, 60])
def test_class_scores_with_an_undefined_class_and_the_height_growing_with_the_classes(tmp_path, n):
    iu = np.linspace(0, 1, n)
    iu[1] = np.nan                                    # class 1 never in the ground truth
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        path = plots.class_scores(iu, iu / 2, np.arange(n) * 1000, str(tmp_path / 's.png'),
                                  ['c%d' % i for i in range(n)])
    img = pixels(path)
    assert (img != 255).any(axis=2).mean() > 0.02
    assert img.shape[0] >= (1500 if n == 60 else 250)


def test_class_pixels_of_splits_and_of_an_empty_one(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        path = plots.class_pixels({'train': [900, 50, 50], 'val': [0, 0, 0]}, str(tmp_path / 'p.png'),
                                  ['background', 'a', 'b'])
    assert (pixels(path) != 255).any(axis=2).mean() > 0.02
    with pytest.raises(ValueError, match='class names'):
        plots.class_pixels({'train': [1, 2]}, str(tmp_path / 'q.png'), ['a'])
    with pytest.raises(ValueError, match='class names'):
        plots.class_scores([0.5], [0.5], [1], str(tmp_path / 'r.png'), ['a', 'b'])
