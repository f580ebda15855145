"""layers.common: param_str parsing and split files."""
import os

import numpy as np
import pytest

from layers import common
from layers.common import DataError, ParamError

WHO = 'TestLayer'


def parse(text, required=('split',), optional=None):
    return common.parse_params(text, WHO, required, dict(common.COMMON_OPTIONAL, **(optional or {})))


# -- param_str -------------------------------------------------------------------


def test_parse_release_param_str():
    p = parse("{'voc_dir': '../data/pascal/VOC2011', 'seed': 1337, 'split': 'seg11valid', "
              "'mean': (104.00699, 116.66877, 122.67892)}", required=('voc_dir', 'split', 'mean'))
    assert p['voc_dir'] == '../data/pascal/VOC2011' and p['split'] == 'seg11valid'
    assert p['seed'] == 1337 and p['mean'] == (104.00699, 116.66877, 122.67892)
    assert p['randomize'] is True and p['prefetch'] is True  # defaults filled in


@pytest.mark.parametrize('text', [
    "__import__('os').system('touch MARKER')",
    "{'split': __import__('os').system('touch MARKER')}",
    "(lambda: open('MARKER', 'w'))()",
    "dict(split='train')",
    "{'split': 'train'} if open('MARKER', 'w') else 0",
])
def test_code_in_param_str_is_rejected_not_run(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamError, match='literal'):
        parse(text)
    assert not os.path.exists(tmp_path / 'MARKER')


def test_param_str_errors_name_layer_and_key():
    with pytest.raises(ParamError, match=r"TestLayer: unknown param_str key 'splitt'"):
        parse("{'splitt': 'train'}")
    with pytest.raises(ParamError, match=r"TestLayer: param_str lacks the required key 'split'"):
        parse("{'seed': 3}")
    with pytest.raises(ParamError, match='empty'):
        parse('')
    with pytest.raises(ParamError, match='dict literal, not a list'):
        parse("['split']")
    with pytest.raises(ParamError, match='not a string'):
        parse("{1: 'train', 'split': 'x'}")


def test_value_checks():
    assert common.get_seed({'seed': None}, 'seed', WHO) is None
    assert common.get_seed({'seed': 7}, 'seed', WHO) == 7
    for bad in (-1, 2 ** 32, 1.5, True, '7'):
        with pytest.raises(ParamError, match="'seed'"):
            common.get_seed({'seed': bad}, 'seed', WHO)
    assert common.get_bool({'r': 0}, 'r', WHO) is False
    for bad in ('False', 2, None):
        with pytest.raises(ParamError, match="'r' must be True or False"):
            common.get_bool({'r': bad}, 'r', WHO)
    m = common.get_mean({'mean': (1, 2.5, 3)}, 'mean', WHO)
    assert m.dtype == np.float64 and m.tolist() == [1, 2.5, 3]
    for bad in ((1, 2), (1, 2, 'x'), 5, (1, 2, float('nan'))):
        with pytest.raises(ParamError, match="'mean' must be a tuple of 3 numbers"):
            common.get_mean({'mean': bad}, 'mean', WHO)
    with pytest.raises(ParamError, match="'voc_dir' must be a non-empty string"):
        common.get_str({'voc_dir': None}, 'voc_dir', WHO)


# -- images ------------------------------------------------------------------------


def test_split_file(tmp_path):
    (tmp_path / 's.txt').write_text('a\n\n  b  \nc')
    assert common.read_split(str(tmp_path / 's.txt'), WHO) == ['a', 'b', 'c']
    (tmp_path / 'e.txt').write_text('\n\n')
    with pytest.raises(DataError, match='lists no examples'):
        common.read_split(str(tmp_path / 'e.txt'), WHO)
    with pytest.raises(FileNotFoundError, match='split file not found'):
        common.read_split(str(tmp_path / 'none.txt'), WHO)
