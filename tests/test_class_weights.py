"""fcn.class_weights: median frequency (Eigen & Fergus 2015), inverse frequency and a weights file,
from a checked dataset's training pixels; classes absent from training get weight 1."""
import numpy as np
import pytest

from fcn import class_weights as cw, dataset
from owndata_helpers import make_dataset, to_void_index, write_lines


def test_median_frequency_by_hand():
    # class 0: 600 pixels in images of 1000 labelled pixels; 1: 30 in 100; 2: 10 in 500; 3: none
    w = cw.median_frequency([600, 30, 10, 0], [1000, 100, 500, 0])
    freq = np.array([0.6, 0.3, 0.02])
    np.testing.assert_allclose(w, list(0.3 / freq) + [1.0])
    assert w[1] == pytest.approx(1.0)                  # the median class weighs 1


def test_inverse_frequency_keeps_the_average_pixel_weight_at_1():
    counts = np.array([900, 90, 10, 0])
    w = cw.inverse_frequency(counts)
    np.testing.assert_allclose(w[:3], 1000 / (3 * counts[:3]))
    assert w[3] == 1.0
    assert (counts * w)[:3].sum() / counts.sum() == pytest.approx(1.0)


def test_weights_of_a_dataset_from_its_training_labels(tmp_path):
    """Void pixels (here a void class index, read through void.txt) count nowhere."""
    root = tmp_path / 'data'
    written = make_dataset(root, n_train=5)
    to_void_index(root, written, 0)
    report = dataset.check(str(root))
    train = [written[i] for i in report.ids['train']]
    counts = np.array([sum((lab == c).sum() for lab in train) for c in range(3)], float)
    present = np.array([sum((lab != 255).sum() for lab in train if (lab == c).any()) for c in range(3)], float)
    freq = counts / present
    np.testing.assert_allclose(cw.weights(report, 'median-frequency'), np.median(freq) / freq)
    np.testing.assert_allclose(cw.weights(report, 'inverse-frequency'), counts.sum() / (3 * counts))


def test_a_weights_file_and_its_errors(tmp_path):
    root = tmp_path / 'data'
    make_dataset(root)
    report = dataset.check(str(root))
    path = tmp_path / 'w.txt'
    write_lines(path, ['0.5', '', '2', '4e0'])
    np.testing.assert_array_equal(cw.weights(report, str(path)), [0.5, 2, 4])
    for lines, message in ((['1', '2'], 'gives 2 weights for 3 classes'), (['1', 'x', '2'], "line 2, 'x'"),
                           (['1', '-1', '2'], "line 2, '-1'"), (['0', '0', '0'], 'every weight is 0'),
                           (['1', 'nan', '2'], "line 2, 'nan'")):
        write_lines(path, lines)
        with pytest.raises(cw.ClassWeightsError, match=message):
            cw.weights(report, str(path))
    with pytest.raises(cw.ClassWeightsError, match='nowhere.txt'):
        cw.weights(report, str(tmp_path / 'nowhere.txt'))


def test_infogain_matrix_is_the_diagonal():
    h = cw.infogain_matrix([0.5, 2, 3])
    assert h.shape == (1, 1, 3, 3) and h.dtype == np.float32
    np.testing.assert_array_equal(h[0, 0], np.diag([0.5, 2, 3]))
