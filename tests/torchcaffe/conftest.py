"""Fixtures shared by the engine tests. Plain helpers live in tc_helpers.py.

TORCHCAFFE_TEST_GPU=1 runs them in GPU mode (`make test-gpu`), for the suites
whose contract is the same on either device (golden cases, the Caffe-trained
LeNet, blob host copies, fast mode).
"""
import os
import sys

import pytest

import torchcaffe as caffe


ON_GPU = os.environ.get('TORCHCAFFE_TEST_GPU') == '1'


@pytest.fixture(autouse=True)
def _mode_and_seed():
    """Every test runs in CPU mode (GPU mode when asked), faithful arithmetic, from a known random state."""
    if ON_GPU:
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    caffe.set_faithful_mode()
    caffe.set_random_seed(1701)
    yield
    caffe.set_faithful_mode()
    caffe.set_mode_cpu()


@pytest.fixture
def pymodule(tmp_path, monkeypatch):
    """make(name, source): write a module of Python layers into tmp_path, importable for this test only."""
    written = []
    folder = tmp_path / 'pymodules'
    folder.mkdir()

    def make(name, source):
        (folder / (name + '.py')).write_text(source)
        written.append(name)
        return name

    monkeypatch.syspath_prepend(str(folder))
    yield make
    for name in written:
        sys.modules.pop(name, None)
