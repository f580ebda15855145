"""fcn.valnet: evaluate.py --val and solve.py --val score the split file given (a test split, a
subset, a list of pairs elsewhere), read by the val net itself, not the val split under its ids."""
import os

import numpy as np
import pytest

import score
from backend import caffe
from fcn import cli, evaluation, training, valnet
from models import create
from owndata_helpers import make_dataset, to_list_files, write_lines

N_CLASSES = 3


@pytest.fixture
def net(tmp_path):
    """(dataset folder, net folder, caffemodel, {id: label}) of a slim FCN-8s over a 6 + 2 image
    dataset; the weights are the fillers' (the metrics are not the point, which pixels are)."""
    data, models = tmp_path / 'data', tmp_path / 'models'
    written = make_dataset(data, n_train=6, n_val=2)
    assert cli.run(create.main, ['tiny', '--dataset', str(data), '--arch', 'fcn8s', '--init', 'scratch',
                                 '--width-divisor', '8', '--max-iter', '2', '--models-dir', str(models)],
                   prog='create.py') == 0
    weights = str(tmp_path / 'init.caffemodel')
    caffe.Net(str(models / 'tiny' / 'val.prototxt'), caffe.TEST).save(weights)
    return data, models / 'tiny', weights, written


def truth_counts(labels):
    """Labelled pixels per class (score.fast_hist's row sums) of the label maps `labels`."""
    return sum(np.bincount(l[l < N_CLASSES].ravel(), minlength=N_CLASSES) for l in labels)


def test_evaluate_scores_the_split_file_given(net, tmp_path):
    data, folder, weights, written = net
    test = ['tr04', 'tr01', 'tr05']
    write_lines(data / 'test.txt', test)
    ev = evaluation.evaluate(str(folder), weights=weights, val=str(data / 'test.txt'), log=lambda m: None,
                             save=str(tmp_path / 'pred'))
    assert ev.ids == test and sorted(os.listdir(str(tmp_path / 'pred'))) == sorted(i + '.png' for i in test)
    hist = ev.hists['score']
    assert np.array_equal(hist.sum(1), truth_counts([written[i] for i in test]))   # the test images' labels
    plain = evaluation.evaluate(str(folder), weights=weights, log=lambda m: None)
    assert plain.ids == ['va00', 'va01']
    assert np.array_equal(plain.hists['score'].sum(1), truth_counts([written['va00'], written['va01']]))
    assert not np.array_equal(plain.hists['score'], hist)
    assert ev.metrics['score']['mean_iu'] == score.compute_metrics(hist)['mean_iu']


def test_a_list_of_pairs_elsewhere_is_read_relative_to_itself(net, tmp_path):
    data, folder, weights, written = net
    to_list_files(data)                       # pics/ and masks/, train.txt and val.txt of pairs
    elsewhere = tmp_path / 'lists'
    elsewhere.mkdir()
    pairs = ['%s %s' % (os.path.relpath(str(data / 'pics' / (i + '.jpg')), str(elsewhere)),
                        os.path.relpath(str(data / 'masks' / (i + '.png')), str(elsewhere))) for i in ('tr02', 'va01')]
    write_lines(elsewhere / 'some.txt', pairs)
    ev = evaluation.evaluate(str(folder), weights=weights, val=str(elsewhere / 'some.txt'), log=lambda m: None)
    assert ev.ids == ['tr02', 'va01']
    assert np.array_equal(ev.hists['score'].sum(1), truth_counts([written['tr02'], written['va01']]))


def test_the_seg_tests_of_a_run_read_the_split_file_given(net, tmp_path):
    data, folder, _, _ = net
    write_lines(data / 'test.txt', ['tr03'])
    path, param = training.resolve_solver(str(folder), str(tmp_path / 'out'), val=str(data / 'test.txt'))
    assert list(param.test_net) == [str(tmp_path / 'out' / 'test_net_0.prototxt')]
    text = (tmp_path / 'out' / 'test_net_0.prototxt').read_text()
    assert "'split_file': '%s'" % (data / 'test.txt') in text.replace("\\'", "'")
    net = caffe.Net(param.test_net[0], caffe.TEST)
    net.forward()
    assert np.array_equal(net.blobs['label'].data[0, 0], written_label(data, 'tr03'))
    path, param = training.resolve_solver(str(folder), str(tmp_path / 'out'))
    assert list(param.test_net) == [str(folder / 'val.prototxt')]


def written_label(data, i):
    from fcn import dataset
    ds = dataset.open_dataset(str(data))
    return ds.read_label(ds.label_path(i))


@pytest.mark.parametrize('layer', [
    'name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }',
    # a data layer of the user's own module, which may not know the key
    'name: "data" type: "Python" top: "data" python_param { module: "mylayers" layer: "L" '
    'param_str: "{\'split\': \'val\'}" }'])
def test_a_net_without_a_split_to_point_is_refused(tmp_path, layer):
    proto = tmp_path / 'val.prototxt'
    proto.write_text('layer { %s }\n' % layer)
    with pytest.raises(valnet.ValNetError, match='no data layer of layers/ that reads a split'):
        valnet.write(str(proto), str(tmp_path / 'test.txt'), str(tmp_path / 'out.prototxt'))
    assert not (tmp_path / 'out.prototxt').exists()
