"""solve.py stopped by signals, as Caffe's `caffe train` is: SIGINT/SIGTERM snapshot and stop,
a second SIGINT stops at once, SIGHUP snapshots and goes on; the resumed run ends where an
uninterrupted one does.  Each run is a real solve.py process; the signal is sent to it by the
process itself when its training reaches a given iteration, so the test is deterministic."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from solve_helpers import make_rank_pair, make_tiny_fcn, weights_of
from test_solve_processes import free_port

# solve.py's main, with SIGNALS="<iteration>:<NAME>[,...]": at the end of that iteration this
# process sends itself those signals (only on rank SIGNAL_RANK, when set).
CHILD = '''
import os, runpy, signal, sys
from fcn import training
plan = {}
for item in filter(None, os.environ.get('SIGNALS', '').split(',')):
    it, name = item.split(':')
    plan.setdefault(int(it), []).append(getattr(signal, 'SIG' + name))
if os.environ.get('SIGNAL_RANK', os.environ.get('RANK', '0')) != os.environ.get('RANK', '0'):
    plan = {}
update, count = training.SmoothedLoss.update, [0]
def counted(self):
    update(self)
    count[0] += 1
    for s in plan.get(count[0], []):
        os.kill(os.getpid(), s)
training.SmoothedLoss.update = counted
sys.argv[0] = SOLVE_PATH
runpy.run_path(SOLVE_PATH, run_name='__main__')
'''
SOLVE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'solve.py')


def solve(tmp_path, net_dir, out, *args, **env):
    script = tmp_path / 'solve_child.py'
    script.write_text(CHILD.replace('SOLVE_PATH', repr(SOLVE)))
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **env)
    return subprocess.Popen([sys.executable, str(script), net_dir, '--out', out, '--no-chain'] + list(args),
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def snapshot_iters(out):
    names = os.listdir(os.path.join(out, 'snapshots'))
    return sorted(int(n.split('_iter_')[1].split('.')[0]) for n in names if n.endswith('.solverstate'))


def assert_same_weights(a, b):
    wa, wb = weights_of(a), weights_of(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=str(k))


def tiny(tmp_path, **kw):
    # examples drawn at random: the resumed data layer must continue the same stream
    return make_tiny_fcn(tmp_path, train_ids=['a', 'b', 'c', 'd', 'e'], max_iter=9, snapshot=100, seed=11, **kw)[0]


def test_sigint_and_sigterm_snapshot_stop_and_resume_bit_identical(tmp_path):
    net_dir = tiny(tmp_path)
    whole = str(tmp_path / 'whole')
    rc, out, err = finish(solve(tmp_path, net_dir, whole))
    assert rc == 0, err
    final = out.strip().splitlines()[-1].split()[-1]
    for sig, at in (('INT', 4), ('TERM', 5)):
        part = str(tmp_path / ('part-' + sig))
        rc, out, err = finish(solve(tmp_path, net_dir, part, SIGNALS='%d:%s' % (at, sig)))
        assert rc == 128 + getattr(signal, 'SIG' + sig), err
        assert 'Traceback' not in err and len(err.strip().splitlines()) == 1
        assert 'stopped by SIG%s at iteration %d' % (sig, at) in err and 'resume' in err
        assert snapshot_iters(part) == [at]
        rc, out, err = finish(solve(tmp_path, net_dir, part))
        assert rc == 0, err
        assert snapshot_iters(part) == [at, 9]
        assert_same_weights(final, out.strip().splitlines()[-1].split()[-1])


def test_second_sigint_stops_at_once_and_sighup_snapshots_and_goes_on(tmp_path):
    net_dir = tiny(tmp_path)
    hup = str(tmp_path / 'hup')
    rc, out, err = finish(solve(tmp_path, net_dir, hup, SIGNALS='3:HUP,6:HUP'))
    assert rc == 0, err
    assert snapshot_iters(hup) == [3, 6, 9]
    twice = str(tmp_path / 'twice')
    rc, out, err = finish(solve(tmp_path, net_dir, twice, SIGNALS='2:INT,2:INT'))
    assert rc == 130 and 'interrupted' in err and 'Traceback' not in err, err
    assert not os.path.exists(os.path.join(twice, 'snapshots')) or snapshot_iters(twice) == []


@pytest.mark.torchcaffe_only    # data parallelism (torchrun) is torchcaffe's
def test_sigterm_on_one_of_two_gloo_ranks_stops_both_at_one_iteration(tmp_path):
    single_dir, ranks_dir = make_rank_pair(tmp_path, max_iter=6, snapshot=100)
    rc, single_out, err = finish(solve(tmp_path, single_dir, str(tmp_path / 'single' / 'out')))
    assert rc == 0, err
    out = str(tmp_path / 'ranks' / 'out')

    def group(**env):
        common = dict(WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), **env)
        procs = [solve(tmp_path, ranks_dir, out, RANK=str(r), LOCAL_RANK=str(r), **common) for r in range(2)]
        return [finish(p) for p in procs]

    results = group(SIGNALS='3:TERM', SIGNAL_RANK='1')
    assert [rc for rc, _, _ in results] == [128 + signal.SIGTERM] * 2, [err for _, _, err in results]
    assert snapshot_iters(out) == [3]
    results = group()
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert_same_weights(single_out.strip().splitlines()[-1].split()[-1],
                        results[0][1].strip().splitlines()[-1].split()[-1])


# -- nets with Dropout: the random stream is saved beside each snapshot (torchcaffe) ---------------
SHAPES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data', 'shapes')


@pytest.fixture(scope='module')
def dropout_nets(tmp_path_factory):
    """{name: (net folder, env)} of two VGG FCNs with drop6/drop7 on a tiny shapes dataset:
    models/shapes-fcn8s as committed, and a slim FCN-32s that models/create.py makes from scratch."""
    from fcn import cli
    from models import create
    root = tmp_path_factory.mktemp('dropout-nets')
    data = root / 'data'
    subprocess.run([sys.executable, os.path.join(SHAPES, 'make_shapes.py'), '--out', str(data / 'shapes'),
                    '--train', '3', '--val', '1', '--size', '20', '--seed', '3'], check=True, capture_output=True)
    env = {'FCN_DATA_ROOT': str(data)}
    assert cli.run(create.main, ['slim-fcn32s', '--dataset', str(data / 'shapes'), '--arch', 'fcn32s', '--init',
                                 'scratch', '--width-divisor', '16', '--models-dir', str(root / 'models')],
                   prog='create.py') == 0
    here = os.path.dirname(SOLVE)
    return {'shapes-fcn8s': (os.path.join(here, 'models', 'shapes-fcn8s'), env),
            'slim-fcn32s': (str(root / 'models' / 'slim-fcn32s'), env)}


def final_of(stdout):
    return stdout.strip().splitlines()[-1].split()[-1]


@pytest.mark.torchcaffe_only    # on Caffe a resume restarts the Dropout masks from random_seed
@pytest.mark.parametrize('net', ['shapes-fcn8s', 'slim-fcn32s'])
def test_sigint_sigterm_and_sigkill_resume_bit_identical_with_dropout(tmp_path, dropout_nets, net):
    net_dir, env = dropout_nets[net]
    with open(os.path.join(net_dir, 'train.prototxt')) as f:
        assert f.read().count('type: "Dropout"') == 2
    rc, out, err = finish(solve(tmp_path, net_dir, str(tmp_path / 'whole'), '--iters', '5', **env))
    assert rc == 0, err
    whole = final_of(out)
    # one run interrupted three ways in turn: SIGINT at 1, SIGTERM at 2, then SIGHUP at 3 and SIGKILL at 4
    # (which loses iteration 4), each resumed from its snapshot
    part = str(tmp_path / 'part')
    for signals, status, snaps in (('1:INT', 128 + signal.SIGINT, [1]), ('1:TERM', 128 + signal.SIGTERM, [1, 2]),
                                   ('1:HUP,2:KILL', -signal.SIGKILL, [1, 2, 3])):
        rc, out, err = finish(solve(tmp_path, net_dir, part, '--iters', '5', SIGNALS=signals, **env))
        assert rc == status, err
        assert snapshot_iters(part) == snaps
        assert all(os.path.exists(os.path.join(part, 'snapshots', 'train_iter_%d.rngstate' % i)) for i in snaps)
    rc, out, err = finish(solve(tmp_path, net_dir, part, '--iters', '5', **env))
    assert rc == 0, err
    assert 'resuming from' in out and 'train_iter_3.solverstate' in out and 'random_seed' not in out
    assert_same_weights(whole, final_of(out))


@pytest.mark.torchcaffe_only    # data parallelism (torchrun) is torchcaffe's
@pytest.mark.parametrize('net', ['shapes-fcn8s', 'slim-fcn32s'])
def test_sigterm_on_two_gloo_ranks_resumes_bit_identical_with_dropout(tmp_path, dropout_nets, net):
    # each rank draws its own masks (seeded random_seed + rank, as Caffe's solvers): every rank's
    # stream must come back for the resumed pair of ranks to end as an uninterrupted pair
    net_dir, env = dropout_nets[net]

    def group(out, **more):
        common = dict(WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()), **env, **more)
        procs = [solve(tmp_path, net_dir, out, '--iters', '4', RANK=str(r), LOCAL_RANK=str(r), **common)
                 for r in range(2)]
        return [finish(p) for p in procs]

    results = group(str(tmp_path / 'whole'))
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    whole = final_of(results[0][1])
    part = str(tmp_path / 'part')
    results = group(part, SIGNALS='2:TERM', SIGNAL_RANK='1')
    assert [rc for rc, _, _ in results] == [128 + signal.SIGTERM] * 2, [err for _, _, err in results]
    assert snapshot_iters(part) == [2]
    results = group(part)
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert_same_weights(whole, final_of(results[0][1]))
