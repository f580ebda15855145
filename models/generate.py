"""Rewrite the prototxts of every net under models/ from its net.py.

    python models/generate.py            # all nets
    python models/generate.py voc-fcn8s  # just these
    python models/generate.py --check    # exit 1 if a committed prototxt is stale (names the
                                         # first differing layer and field)

Each models/<name>/net.py defines prototxts() (file name -> NetParameter) and
make_net(); this script loads them by path (their folder names are not Python
identifiers) and runs each.
"""
import importlib.util
import os
import sys

from google.protobuf import text_format

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
    """[(file name, first difference)] of the net's committed prototxts that do not parse to the
    NetParameter net.py generates now.  The parsed messages are compared, not their text, so a
    protobuf that prints the fields of a message in another order does not count."""
    out = []
    for fname, proto in load(name).prototxts().items():
        path = os.path.join(MODELS, name, fname)
        if not os.path.isfile(path):
            out.append((fname, 'missing'))
            continue
        committed = type(proto)()
        try:
            with open(path) as f:
                text_format.Parse(f.read(), committed)
        except text_format.ParseError as e:
            out.append((fname, 'unreadable: %s' % e))
            continue
        if committed != proto:
            out.append((fname, first_difference(committed, proto) or 'differs'))
    return out


def first_difference(committed, generated, where=''):
    """Where two messages first differ, in field order: 'layer[3] (pool1): pooling_param.stride:
    2 in the file, 3 from net.py'; None when they are equal."""
    for field in committed.DESCRIPTOR.fields:
        name = field.name
        a, b = getattr(committed, name), getattr(generated, name)
        repeated = field.is_repeated if hasattr(field, 'is_repeated') else field.label == field.LABEL_REPEATED
        if repeated:
            if field.message_type is not None:
                for i, (x, y) in enumerate(zip(a, b)):
                    if x != y:
                        label = ' (%s)' % x.name if name == 'layer' and x.name == y.name else ''
                        inner = first_difference(x, y, '')
                        return '%s%s[%d]%s: %s' % (where, name, i, label, inner)
                if len(a) != len(b):
                    return '%s%s: %d in the file, %d from net.py' % (where, name, len(a), len(b))
            elif list(a) != list(b):
                return '%s%s: %s in the file, %s from net.py' % (where, name, list(a), list(b))
            continue
        set_a, set_b = committed.HasField(name), generated.HasField(name)
        if field.message_type is not None and set_a and set_b:
            if a != b:
                return first_difference(a, b, '%s%s.' % (where, name))
        elif set_a != set_b or a != b:
            def shown(value, present):
                return ('%r' % value if field.message_type is None else 'set') if present else 'unset'
            return '%s%s: %s in the file, %s from net.py' % (where, name, shown(a, set_a), shown(b, set_b))
    return None


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
            for fname, difference in stale(name):
                rc = 1
                print('%s: stale %s: %s' % (name, fname, difference))
            continue
        for path in load(name).make_net():
            print(os.path.relpath(path, ROOT))
    return rc


if __name__ == '__main__':
    sys.exit(cli.run(main))
