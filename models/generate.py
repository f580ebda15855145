"""Rewrite the prototxts of every net under models/ from its net.py.

    python models/generate.py            # all nets
    python models/generate.py voc-fcn8s  # just these
    python models/generate.py --check    # exit 1 if a committed prototxt is stale

Each models/<name>/net.py defines prototxts() (file name -> NetParameter) and
make_net(); this script loads them by path (their folder names are not Python
identifiers) and runs each.
"""
import importlib.util
import os
import sys

from fcn import cli
from fcn.errors import NetNotFound

MODELS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(MODELS)


def net_names():
    """Names of the folders under models/ that hold a net.py, sorted."""
    return sorted(d for d in os.listdir(MODELS)
                  if os.path.isfile(os.path.join(MODELS, d, 'net.py')))


def load(name):
    """Import models/<name>/net.py as a module (cached in sys.modules)."""
    mod_name = 'fcn_net_' + name.replace('-', '_')
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    path = os.path.join(MODELS, name, 'net.py')
    if not os.path.isfile(path):
        raise ValueError('no net named %r: %s does not exist' % (name, path))
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def stale(name):
    """File names (relative to the net's folder) whose text differs from what net.py generates."""
    from models.common import prototxt_text
    out = []
    for fname, proto in load(name).prototxts().items():
        path = os.path.join(MODELS, name, fname)
        if not os.path.isfile(path) or open(path).read() != prototxt_text(proto):
            out.append(fname)
    return out


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('nets', nargs='*', help='net folder names (default: all)')
    ap.add_argument('--check', action='store_true',
                    help='only compare the committed prototxts with net.py; write nothing')
    args = ap.parse_args(argv)
    names = args.nets or net_names()
    unknown = [n for n in names if n not in net_names()]
    if unknown:
        raise NetNotFound('unknown net(s): %s (have: %s)' % (', '.join(unknown), ', '.join(net_names())))
    rc = 0
    for name in names:
        if args.check:
            bad = stale(name)
            if bad:
                rc = 1
                print('%s: stale %s' % (name, ', '.join(bad)))
            continue
        for path in load(name).make_net():
            print(os.path.relpath(path, ROOT))
    return rc


if __name__ == '__main__':
    sys.exit(cli.run(main))
