"""The solver and Caffe's random stream: random_seed, Caffe's restore, and the engine's .rngstate."""
import os
import shutil

import numpy as np

import torchcaffe as caffe
from torchcaffe import rng
from tc_helpers import GOLDEN


def _solver(tmp_path, sub, monkeypatch):
    """A solver of the golden Dropout case in its own folder, which becomes the working directory
    (the solver's paths are relative, as in Caffe)."""
    work = tmp_path / sub
    work.mkdir()
    for name in ('solver.prototxt', 'train.prototxt', 'init.caffemodel', 'inputs.npz'):   # not Caffe's snapshots
        shutil.copy(GOLDEN / 'solvers' / 'sgd_dropout_seeded' / name, work)
    monkeypatch.chdir(work)
    solver = caffe.get_solver('solver.prototxt')   # random_seed 44, snapshot every 3
    solver.net.copy_from(str(work / 'init.caffemodel'))
    inputs = np.load(work / 'inputs.npz')
    for k in inputs.files:
        solver.net.blobs[k].data[...] = inputs[k]
    return solver, work


def _params(solver):
    return [b.data.copy() for b in solver.net.learnable_params]


def test_restore_random_state_continues_the_masks_of_the_uninterrupted_run(tmp_path, monkeypatch):
    whole, _ = _solver(tmp_path, 'whole', monkeypatch)
    whole.step(6)
    want = _params(whole)
    first, work = _solver(tmp_path, 'first', monkeypatch)
    first.step(3)
    state = str(work / 'snap_iter_3.solverstate')
    assert os.path.exists(work / 'snap_iter_3.rngstate')

    exact, _ = _solver(tmp_path, 'exact', monkeypatch)
    exact.restore(state)
    assert exact.restore_random_state(state)
    exact.step(3)
    for a, b in zip(_params(exact), want):
        np.testing.assert_array_equal(a, b)

    caffes, _ = _solver(tmp_path, 'caffes', monkeypatch)       # Caffe's restore: the masks restart from random_seed
    caffes.restore(state)
    caffes.step(3)
    assert any(not np.array_equal(a, b) for a, b in zip(_params(caffes), want))


def test_restore_random_state_without_a_saved_state_changes_nothing(tmp_path, monkeypatch):
    solver, work = _solver(tmp_path, 'run', monkeypatch)
    solver.step(3)
    os.unlink(work / 'snap_iter_3.rngstate')
    before = rng.get_state()
    assert not solver.restore_random_state(str(work / 'snap_iter_3.solverstate'))
    after = rng.get_state()
    np.testing.assert_array_equal(before['key'], after['key'])
    assert before['pos'] == after['pos']
