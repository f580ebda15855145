"""models/generate.py --check: the committed prototxts against net.py, compared as parsed NetParameters."""
import os
import shutil

import pytest

from fcn import cli
from models import generate


def check(capsys, *names):
    rc = cli.run(generate.main, ['--check'] + list(names), prog='generate.py')
    return rc, capsys.readouterr().out


def test_check_passes_on_every_committed_net(capsys):
    rc, out = check(capsys)
    assert (rc, out) == (0, '')


@pytest.fixture
def voc_copy(tmp_path, monkeypatch):
    """models/ with only a copy of voc-fcn8s, as --check sees it."""
    shutil.copytree(os.path.join(generate.MODELS, 'voc-fcn8s'), tmp_path / 'voc-fcn8s')
    monkeypatch.setattr(generate, 'MODELS', str(tmp_path))
    return tmp_path / 'voc-fcn8s'


def test_fields_printed_in_another_order_are_not_a_difference(capsys, voc_copy):
    # real pycaffe's protobuf prints pooling_param's fields in the .proto's declaration order
    train = voc_copy / 'train.prototxt'
    text = train.read_text()
    reordered = text.replace('    pool: MAX\n    kernel_size: 2\n    stride: 2\n',
                             '    stride: 2\n    kernel_size: 2\n    pool: MAX\n')
    assert reordered != text
    train.write_text(reordered)
    assert check(capsys, 'voc-fcn8s') == (0, '')


def test_a_real_difference_names_the_file_layer_and_field(capsys, voc_copy):
    train = voc_copy / 'train.prototxt'
    text = train.read_text()
    i = text.index('name: "pool2"')
    train.write_text(text[:i] + text[i:].replace('stride: 2', 'stride: 3', 1))
    rc, out = check(capsys, 'voc-fcn8s')
    assert rc == 1
    assert out.strip() == ('voc-fcn8s: stale train.prototxt: layer[%d] (pool2): pooling_param.stride: '
                           '3 in the file, 2 from net.py' % (text[:i].count('layer {') - 1))
    (voc_copy / 'val.prototxt').unlink()
    rc, out = check(capsys, 'voc-fcn8s')
    assert 'voc-fcn8s: stale val.prototxt: missing' in out.splitlines()
