"""The best snapshot (out/<net>/best.caffemodel, best.json, log.csv's best_iteration) and solve.py's
--patience.  The seg tests' mean IU is scripted (the rest of each seg test is real), so which test
is best is known; the weights kept are compared with the snapshot of that iteration."""
import csv
import json
import os

import numpy as np
import pytest

import solve
from fcn import cli, training
from solve_helpers import make_tiny_fcn, weights_of

REAL_METRICS = training.score.compute_metrics


def script_mean_iu(monkeypatch, values):
    """The next seg tests report these mean IUs, in order."""
    real, values = REAL_METRICS, list(values)

    def scripted(hist):
        metrics = dict(real(hist))
        metrics['mean_iu'] = values.pop(0)
        return metrics
    monkeypatch.setattr(training.score, 'compute_metrics', scripted)


def best_of(out):
    with open(os.path.join(out, 'best.json')) as f:
        return json.load(f)


def log_rows(out):
    with open(os.path.join(out, 'log.csv'), newline='') as f:
        return [(int(r['iteration']), int(r['best_iteration'])) for r in csv.DictReader(f)]


def assert_best_is_snapshot(out, iteration):
    a = weights_of(os.path.join(out, 'best.caffemodel'))
    b = weights_of(os.path.join(out, 'snapshots', 'train_iter_%d.caffemodel' % iteration))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_best_follows_the_best_seg_test_across_a_resume(tmp_path, monkeypatch):
    net_dir, ids = make_tiny_fcn(tmp_path, max_iter=8, snapshot=2)
    out = str(tmp_path / 'run')
    script_mean_iu(monkeypatch, [0.3, 0.5])
    training.train(net_dir, iters=4, val=ids, test_interval=2, out=out)
    assert best_of(out)['iteration'] == 4 and best_of(out)['mean_iu'] == 0.5
    assert_best_is_snapshot(out, 4)
    script_mean_iu(monkeypatch, [0.4])                         # resumed at 4: a worse test keeps the best
    training.train(net_dir, iters=6, val=ids, test_interval=2, out=out)
    assert best_of(out)['iteration'] == 4
    assert_best_is_snapshot(out, 4)
    script_mean_iu(monkeypatch, [0.6])                         # resumed at 6: a better one replaces it
    training.train(net_dir, val=ids, test_interval=2, out=out)
    record = best_of(out)
    assert record['iteration'] == 8 and record['mean_iu'] == 0.6 and 0 <= record['overall_acc'] <= 1
    assert record['weights'] == os.path.join(out, 'best.caffemodel')
    assert_best_is_snapshot(out, 8)
    assert log_rows(out) == [(2, 2), (4, 4), (6, 4), (8, 8)]
    assert not [f for f in os.listdir(out) if f.endswith('.tmp')]
    # started over (no resume): the old best does not stand in the way of the new run's first test
    script_mean_iu(monkeypatch, [0.1, 0.05, 0.02, 0.01])
    training.train(net_dir, val=ids, test_interval=2, out=out, resume=False)
    assert best_of(out)['iteration'] == 2 and best_of(out)['mean_iu'] == 0.1


def test_patience_stops_snapshots_and_a_rerun_stops_at_once(tmp_path, monkeypatch, capsys):
    net_dir, ids = make_tiny_fcn(tmp_path, max_iter=20, snapshot=100)
    out = str(tmp_path / 'run')
    script_mean_iu(monkeypatch, [0.5, 0.4, 0.5, 0.7])
    argv = [net_dir, '--val', ids, '--test-interval', '2', '--out', out, '--no-chain', '--patience', '2']
    assert cli.run(solve.main, argv, prog='solve.py') == 0
    stdout, err = capsys.readouterr()
    assert err == ''
    assert ('stopping at iteration 6: 2 seg tests without a higher mean IU than 0.5000 (iteration 2); best weights: %s'
            % os.path.join(out, 'best.caffemodel')) in stdout
    assert stdout.strip().splitlines()[-1] == 'weights: %s' % os.path.join(out, 'snapshots', 'train_iter_6.caffemodel')
    assert 'best: %s' % os.path.join(out, 'best.caffemodel') in stdout
    assert training.latest_snapshot(out)[0] == 6 and best_of(out)['iteration'] == 2
    assert [it for it, _ in log_rows(out)] == [2, 4, 6]
    # run again: the tests since the best are counted from the log, so it stops without training
    assert cli.run(solve.main, argv, prog='solve.py') == 0
    stdout, _ = capsys.readouterr()
    assert 'stopping at iteration 6' in stdout and training.latest_snapshot(out)[0] == 6
    assert [it for it, _ in log_rows(out)] == [2, 4, 6]
    # more patience goes on from there, the 2 tests since the best still counted: 0.7 at 8 is a new
    # best, then three worse ones stop it
    argv[-1] = '3'
    script_mean_iu(monkeypatch, [0.7, 0.1, 0.6, 0.1, 0.9])
    assert cli.run(solve.main, argv, prog='solve.py') == 0
    stdout, _ = capsys.readouterr()
    assert best_of(out)['iteration'] == 8 and 'stopping at iteration 14' in stdout
    assert training.latest_snapshot(out)[0] == 14


def test_test_interval_defaults_to_the_snapshot_interval(tmp_path):
    net_dir, ids = make_tiny_fcn(tmp_path, max_iter=6, snapshot=3)
    out = str(tmp_path / 'run')
    training.train(net_dir, val=ids, out=out)
    assert [it for it, _ in log_rows(out)] == [3, 6]
    assert os.path.exists(os.path.join(out, 'best.caffemodel'))


# solve.py's main with the seg tests' mean IU scripted by MEAN_IUS="0.5,0.4,..." (rank 0 tests)
CHILD = '''
import os, runpy, sys
from fcn import training
values = [float(v) for v in os.environ['MEAN_IUS'].split(',')]
real = training.score.compute_metrics
def scripted(hist):
    metrics = dict(real(hist))
    metrics['mean_iu'] = values.pop(0)
    return metrics
training.score.compute_metrics = scripted
sys.argv[0] = SOLVE_PATH
runpy.run_path(SOLVE_PATH, run_name='__main__')
'''


@pytest.mark.torchcaffe_only    # data parallelism (torchrun) is torchcaffe's
def test_patience_stops_every_gloo_rank_at_the_same_iteration(tmp_path):
    import subprocess
    import sys
    from test_solve_processes import free_port
    from test_solve_signals import SOLVE, finish
    net_dir, ids = make_tiny_fcn(tmp_path, train_ids=['a', 'b', 'c', 'd'], max_iter=20, snapshot=100, seed=5)
    script = tmp_path / 'child.py'
    script.write_text(CHILD.replace('SOLVE_PATH', repr(SOLVE)))
    out = str(tmp_path / 'out')
    env = dict(os.environ, OMP_NUM_THREADS='1', MEAN_IUS='0.5,0.6,0.4,0.3', WORLD_SIZE='2',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    procs = [subprocess.Popen([sys.executable, str(script), net_dir, '--out', out, '--no-chain', '--val', ids,
                               '--test-interval', '2', '--patience', '2'],
                              env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    results = [finish(p) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert 'stopping at iteration 8: 2 seg tests without a higher mean IU than 0.6000 (iteration 4)' in results[0][1]
    assert [r[1].strip().splitlines()[-1] for r in results] == \
        ['weights: %s' % os.path.join(out, 'snapshots', 'train_iter_8.caffemodel')] * 2
    assert training.latest_snapshot(out)[0] == 8 and best_of(out)['iteration'] == 4
