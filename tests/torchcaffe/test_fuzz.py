"""Hostile files: parsing prototxt, caffemodel and solverstate input, and building nets from it,
either succeeds or raises CaffeError; never another exception, a hang or unbounded memory.

Inputs are generated with hypothesis (derandomized, so a run is reproducible): random bytes and
text, and mutations of real files (truncation, flipped bytes, changed numbers and words).
"""
import os
import re
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import torchcaffe as caffe
from tc_helpers import GOLDEN
from torchcaffe import blob, io
from torchcaffe.proto import caffe_pb2

# FUZZ_EXAMPLES=5000 runs a longer campaign; the suite's default keeps CI quick.
FUZZ = settings(max_examples=int(os.environ.get('FUZZ_EXAMPLES', 150)), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NET_TEXT = (GOLDEN / 'layers' / 'layer_conv_basic' / 'net.prototxt').read_text()
LOSS_TEXT = (GOLDEN / 'layers' / 'layer_softmaxloss_valid' / 'net.prototxt').read_text()
SOLVER_DIR = GOLDEN / 'solvers' / 'sgd_heavy'
MODEL_BYTES = (SOLVER_DIR / 'snap_iter_6.caffemodel').read_bytes()
STATE_BYTES = (SOLVER_DIR / 'snap_iter_6.solverstate').read_bytes()
NUMBER = re.compile(r'-?\d+(\.\d+)?(e-?\d+)?')


@pytest.fixture(autouse=True)
def small_memory_limit(monkeypatch):
    """Blobs above 64 MiB are refused, so a mutated size can't exhaust the machine."""
    monkeypatch.setattr(blob, 'MAX_BLOB_BYTES', 64 << 20)


def build(text, tmp_path):
    path = tmp_path / 'net.prototxt'
    path.write_text(text)
    return caffe.Net(str(path), caffe.TEST)


def outcome(fn):
    """'ok' or 'error' (a CaffeError); anything else fails the test. Counted in hypothesis' statistics."""
    try:
        fn()
        result = 'ok'
    except caffe.CaffeError:
        result = 'error'
    event(result)
    return result


def mutate_text(text, data):
    """Replace some numbers with other (possibly absurd) numbers, and some words with other words."""
    spans = [m.span() for m in NUMBER.finditer(text)]
    for start, end in sorted(data.draw(st.lists(st.sampled_from(spans), max_size=3, unique=True)),
                             reverse=True):
        value = data.draw(st.sampled_from(['0', '-1', '1', '3', '7', '100', '65536', '1e30', '-3.5', 'nan']))
        text = text[:start] + value + text[end:]
    words = sorted(set(re.findall(r'\b[a-z_]{3,}\b', text)))
    for _ in range(data.draw(st.integers(0, 2))):
        a, b = data.draw(st.sampled_from(words)), data.draw(st.sampled_from(words))
        text = text.replace(a, b, 1)
    if data.draw(st.booleans()):
        text = text[:data.draw(st.integers(len(text) // 2, len(text)))]
    return text


@FUZZ
@given(st.text(alphabet=st.sampled_from(list('layer{}:"name type top bottom 0123456789.-_\n#')), max_size=300))
def test_random_prototxt_text(tmp_path, text):
    outcome(lambda: build(text, tmp_path))


@FUZZ
@given(st.data())
def test_mutated_net_prototxts(tmp_path, data):
    base = data.draw(st.sampled_from([NET_TEXT, LOSS_TEXT]))
    outcome(lambda: build(mutate_text(base, data), tmp_path))


def test_deep_nesting_is_a_clean_error(tmp_path):
    text = 'layer { ' * 5000 + '}' * 5000
    with pytest.raises(caffe.CaffeError, match='malformed'):
        build(text, tmp_path)


def test_a_huge_declared_blob_is_refused_not_allocated(tmp_path):
    text = NET_TEXT.replace('dim: 17', 'dim: 100000').replace('dim: 19', 'dim: 100000')
    with pytest.raises(caffe.CaffeError, match='GiB'):
        net = build(text, tmp_path)
        net.forward()


def mutate_bytes(raw, data):
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 8))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[:data.draw(st.integers(0, len(raw)))]
    return bytes(raw)


@FUZZ
@given(st.data())
def test_mutated_caffemodels(tmp_path, data):
    raw = data.draw(st.one_of(st.binary(max_size=200), st.just(None)))
    raw = mutate_bytes(MODEL_BYTES, data) if raw is None else raw
    path = tmp_path / 'w.caffemodel'
    path.write_bytes(raw)
    net = caffe.Net(str(SOLVER_DIR / 'train.prototxt'), caffe.TEST)
    before = {k: [p.data.copy() for p in v] for k, v in net.params.items()}
    if outcome(lambda: net.copy_from(str(path))) == 'error':
        for k, v in net.params.items():         # a refused file changes nothing
            for p, b in zip(v, before[k]):
                np.testing.assert_array_equal(p.data, b)


@FUZZ
@given(st.data())
def test_mutated_solverstates(tmp_path, data):
    for name in ('solver.prototxt', 'train.prototxt', 'snap_iter_6.caffemodel'):
        shutil.copy(SOLVER_DIR / name, tmp_path / name)
    (tmp_path / 'bad.solverstate').write_bytes(mutate_bytes(STATE_BYTES, data))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        solver = caffe.get_solver('solver.prototxt')
        outcome(lambda: solver.restore('bad.solverstate'))
    finally:
        os.chdir(cwd)


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_any_file(tmp_path, raw):
    path = tmp_path / 'f'
    path.write_bytes(raw)
    outcome(lambda: io.read_prototxt(str(path)))
    outcome(lambda: io.read_binary(str(path), caffe_pb2.NetParameter, 'caffemodel'))
    outcome(lambda: io.read_binary(str(path), caffe_pb2.SolverState, 'solverstate'))
    outcome(lambda: io.load_mean(str(path)))
