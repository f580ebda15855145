"""evaluate.py's test-time augmentation and saved probabilities (issue 20): the metrics with and
without, on a tiny VOC dataset in the real layout (test_evaluate's writers), with He-scaled random
weights so the predictions vary."""
import re

import numpy as np
import pytest

import evaluate
from infer_helpers import he_weights
from models import records
from test_evaluate import write_voc


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    write_voc(root, np.random.RandomState(0))
    rec = records.get('voc-fcn-alexnet')
    return root, he_weights(rec.deploy, tmp_path_factory.mktemp('w') / 'he.caffemodel')


def summary(out, column):
    """{metric: figure} of the with/without table: column 1 plain, 2 augmented."""
    rows = re.findall(r'^(pixel accuracy|mean accuracy|mean IU|f\.w\. IU)\s+(\d+\.\d)\s+(\d+\.\d)$', out, re.M)
    return {row[0]: row[column] for row in rows}


def test_evaluate_reports_the_metrics_with_and_without_tta(voc, monkeypatch, capsys, tmp_path):
    root, weights = voc
    monkeypatch.setenv('FCN_DATA_ROOT', root)
    assert evaluate.main(['voc-fcn-alexnet', '--weights', weights]) == 0
    plain = capsys.readouterr().out
    assert evaluate.main(['voc-fcn-alexnet', '--weights', weights, '--tta', 'flip', '--scales', '1,1.25',
                          '--save', str(tmp_path), '--scores']) == 0
    out = capsys.readouterr().out
    assert 'test-time augmentation: flip, scales 1,1.25' in out
    before, after = summary(out, 1), summary(out, 2)
    assert set(before) == set(after) == {'pixel accuracy', 'mean accuracy', 'mean IU', 'f.w. IU'}
    mean_iu = re.search(r'^mean IU\s+(\d+\.\d+)$', plain, re.M).group(1)
    assert float(before['mean IU']) == pytest.approx(float(mean_iu), abs=0.06)    # the plain column
    probs = np.load(tmp_path / 'i1_scores.npy').astype(np.float32)
    assert probs.shape[0] == 21 and np.abs(probs.sum(0) - 1).max() < 1e-2
    assert (tmp_path / 'i1_confidence.png').exists() and (tmp_path / 'i1.png').exists()
