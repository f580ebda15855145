"""Where the toolkit's files live, so that no command depends on the folder it runs from.

The repository root holds models/ (one folder per net), weights/ (downloaded
caffemodels), out/ (what training, scoring and inference write) and data/, which
ships each dataset's class lists and split lists.  The datasets themselves live
under the data root: data/ unless FCN_DATA_ROOT names another folder.  A dataset
path in a data layer's param_str or a record's val split that is not absolute is
relative to the data root; a record's class list or palette, to data/.
"""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, 'models')
DATA = os.path.join(ROOT, 'data')
WEIGHTS = os.path.join(ROOT, 'weights')
OUT = os.path.join(ROOT, 'out')


def data_root():
    """The folder holding the datasets: $FCN_DATA_ROOT, else data/."""
    return os.environ.get('FCN_DATA_ROOT') or DATA


def data_path(path):
    """A dataset path: absolute as given, else relative to the data root."""
    return path if os.path.isabs(path) else os.path.join(data_root(), path)


def shipped(path):
    """A file this repository ships under data/ (class lists, palettes): absolute as given, else in data/."""
    return path if os.path.isabs(path) else os.path.join(DATA, path)


def weights_path(name):
    """weights/<name>.caffemodel, where `make weights` puts a net's or a classifier's weights."""
    return os.path.join(WEIGHTS, name + '.caffemodel')


def out_dir(name):
    """out/<name>: a net's training run, seg tests and log."""
    return os.path.join(OUT, name)
