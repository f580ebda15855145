"""Where the toolkit's files live, so that no command depends on the folder it runs from.

The repository root holds models/ (one folder per net), weights/ (downloaded
caffemodels) and out/ (what training, scoring and inference write).  Datasets
live under the data root, data/: every dataset path in a record or in a data
layer's param_str that is not absolute is relative to it.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, 'models')
DATA = os.path.join(ROOT, 'data')
WEIGHTS = os.path.join(ROOT, 'weights')
OUT = os.path.join(ROOT, 'out')


def data_path(path):
    """A dataset path: absolute as given, else relative to the data root (data/)."""
    return path if os.path.isabs(path) else os.path.join(DATA, path)


def weights_path(name):
    """weights/<name>.caffemodel, where `make weights` puts a net's or a classifier's weights."""
    return os.path.join(WEIGHTS, name + '.caffemodel')


def out_dir(name):
    """out/<name>: a net's training run, seg tests and log."""
    return os.path.join(OUT, name)
