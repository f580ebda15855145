"""Fixtures shared by the engine tests. Plain helpers live in tc_helpers.py."""
import sys

import pytest

import torchcaffe as caffe


@pytest.fixture(autouse=True)
def _cpu_and_seed():
    """Every test runs in CPU mode, with faithful arithmetic, from a known random state."""
    caffe.set_mode_cpu()
    caffe.set_faithful_mode()
    caffe.set_random_seed(1701)
    yield
    caffe.set_faithful_mode()


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
