"""Training (fcn.training, as solve.py runs it) in separate processes, as users run it: killed with SIGKILL and
resumed, and data-parallel over torchrun-style ranks (gloo on the CPU)."""
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

from solve_helpers import make_rank_pair, make_tiny_fcn, weights_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Train the tiny net in `out`; with KILL_AT set, SIGKILL this process right after the snapshot of that iteration.
CHILD = '''
import os, signal, sys
sys.path.insert(0, {root!r})
from fcn import training
from torchcaffe.solver import Solver
kill_at = int(os.environ.get('KILL_AT', '0'))
write = Solver.snapshot
def snapshot(self):
    paths = write(self)
    if self.iter == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return paths
Solver.snapshot = snapshot
print(training.train(sys.argv[1], out=sys.argv[2]))
'''


def run_child(tmp_path, net_dir, out, **env):
    script = tmp_path / 'child.py'
    script.write_text(CHILD.format(root=ROOT))
    full_env = dict(os.environ, OMP_NUM_THREADS='1', **env)
    return subprocess.Popen([sys.executable, str(script), net_dir, out], env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc):
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def assert_same_weights(a_path, b_path):
    a, b = weights_of(a_path), weights_of(b_path)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=str(k))


def test_sigkill_right_after_a_snapshot_then_resume_ends_bit_identical(tmp_path):
    # several examples drawn at random: the resumed data layer must continue the same stream
    net_dir, _ = make_tiny_fcn(tmp_path, train_ids=['a', 'b', 'c', 'd', 'e'], max_iter=9, snapshot=3, seed=11)
    whole = str(tmp_path / 'whole')
    rc, out, err = finish(run_child(tmp_path, net_dir, whole))
    assert rc == 0, err
    part = str(tmp_path / 'part')
    rc, _, err = finish(run_child(tmp_path, net_dir, part, KILL_AT='6'))
    assert rc == -signal.SIGKILL, (rc, err)
    snaps = sorted(os.listdir(os.path.join(part, 'snapshots')))
    assert 'train_iter_6.solverstate' in snaps and 'train_iter_9.caffemodel' not in snaps
    assert not [f for f in snaps if f.endswith('.tmp')]
    rc, resumed_out, err = finish(run_child(tmp_path, net_dir, part))
    assert rc == 0, err
    assert 'resuming' in resumed_out
    assert_same_weights(out.strip().splitlines()[-1], resumed_out.strip().splitlines()[-1])


def test_resume_without_continuing_the_data_stream_would_differ(tmp_path):
    """The premise of the test above: with randomly drawn examples, where the stream resumes matters."""
    from fcn import training
    net_dir, _ = make_tiny_fcn(tmp_path, train_ids=['a', 'b', 'c', 'd', 'e'], max_iter=9, snapshot=3, seed=11)
    whole = training.train(net_dir, out=str(tmp_path / 'whole'))
    part = str(tmp_path / 'part')
    training.train(net_dir, iters=6, out=part)
    skip, training.continue_data = training.continue_data, lambda solver, iter_size: None
    try:
        restarted = training.train(net_dir, out=part)
    finally:
        training.continue_data = skip
    a, b = weights_of(whole), weights_of(restarted)
    assert any(not np.array_equal(a[k], b[k]) for k in a)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.torchcaffe_only    # data parallelism (torchrun) is torchcaffe's
def test_two_gloo_ranks_take_the_steps_of_one_process_with_iter_size_2(tmp_path):
    single_dir, ranks_dir = make_rank_pair(tmp_path, max_iter=4, snapshot=4)
    rc, single_out, err = finish(run_child(tmp_path, single_dir, str(tmp_path / 'single' / 'out')))
    assert rc == 0, err
    group = dict(WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    procs = [run_child(tmp_path, ranks_dir, str(tmp_path / 'ranks' / 'out'), RANK=str(r), LOCAL_RANK=str(r),
                       **group) for r in range(2)]
    results = [finish(p) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), \
        '\n'.join('rank %d (exit %d):\n%s' % (r, rc, err) for r, (rc, _, err) in enumerate(results))
    paths = [out.strip().splitlines()[-1] for _, out, _ in results]
    assert paths[0] == paths[1]                       # rank 0 wrote the one snapshot both report
    assert_same_weights(single_out.strip().splitlines()[-1], paths[0])
