"""A val net pointed at another split file: what evaluate.py --val and solve.py --val score.

A net's val prototxt reads the split its data layer names (param_str 'split',
e.g. 'val').  Scoring another file of the same dataset (its test split, a
subset) needs that data layer to read the file itself, or the val split's
images would be scored under the file's ids.  `write` copies the prototxt with
each data layer's param_str given the key 'split_file' (layers.common), which
every FCN data layer reads in place of its split; nothing else changes.
"""
import ast
import os
import pathlib

from google.protobuf import text_format

from fcn import files
from fcn.errors import FCNError
from fcn.weights import read_prototxt


class ValNetError(FCNError):
    """A val prototxt that cannot be pointed at another split file (the message says why)."""


def write(proto, split_file, path):
    """Write to `path` the prototxt `proto` whose data layers read the examples of `split_file`
    (ids, or `image label` pairs; made absolute).  Returns path.  Raises ValNetError when no
    Python layer of the project's `layers` package in `proto` has a param_str dict with a 'split'
    (nothing would read the file; another module's layer may not know the key)."""
    net = read_prototxt(proto)
    pointed = 0
    for layer in net.layer:
        module = layer.python_param.module
        if layer.type != 'Python' or not (module == 'layers' or module.startswith('layers.')):
            continue
        try:
            params = ast.literal_eval(layer.python_param.param_str)
        except (ValueError, SyntaxError):
            continue
        if isinstance(params, dict) and 'split' in params:
            params['split_file'] = os.path.abspath(split_file)
            layer.python_param.param_str = repr(params)
            pointed += 1
    if not pointed:
        raise ValNetError('%s has no data layer of layers/ that reads a split (a Python layer of module '
                          'layers.* with \'split\' in its param_str), so it cannot score %s' % (proto, split_file))
    files.write_whole(path, lambda tmp: pathlib.Path(tmp).write_text(text_format.MessageToString(net)))
    return path
