"""Export a trained FCN to ONNX, then check the export in onnxruntime.

    python export_onnx.py --net voc-fcn8s --height 500 --width 500 --out voc-fcn8s.onnx
    python export_onnx.py --net models/siftflow-fcn8s --weights my.caffemodel

The model maps the deploy net's input blob(s), at the one size given (export
again for another size), to its output blob(s), the class scores, with the
weights baked in.  After writing it, the model runs in onnxruntime and the net
in torchcaffe on the same seeded random input: the export fails (exit 1)
unless the scores agree to float32 rounding and give the same per-pixel argmax.
"""
import os
import sys

import numpy as np

from fcn import cli, paths
from fcn.weights import load as load_weights, locate as locate_weights
from fcn.errors import BackendError, FCNError
from models import records
# Largest difference allowed, over the largest score: the engine's own forward tolerance against
# Caffe (tests/golden/README.md); reordered float32 sums in onnxruntime stay far below it.
MAX_REL = 1e-4
# Fraction of positions whose argmax may differ: only a near-tie between two classes can flip
# when scores differ by float32 rounding.
MAX_ARGMAX_FLIPS = 1e-4
# Random inputs span the mean-subtracted pixel values the nets see.
INPUT_RANGE = 128.0


def engine():
    """torchcaffe, which ONNX export needs; BackendError on another backend."""
    import backend
    if backend.name != 'torchcaffe':
        raise BackendError('ONNX export is a torchcaffe feature; FCN_BACKEND=%s cannot export' % backend.name)
    import torchcaffe
    from torchcaffe import onnx_export
    return torchcaffe, onnx_export


def load_deploy(net_name, weights, allow_partial=False):
    """The deploy net of a net (name, alias or folder) with its weights, its record, and warnings about
    the weights (fcn.weights.load)."""
    caffe, _ = engine()
    rec = records.get(net_name)
    if not os.path.exists(rec.deploy):
        raise FCNError('no deploy net for %r (looked for %s)' % (net_name, rec.deploy))
    path = locate_weights(rec.name, weights)
    net = caffe.Net(rec.deploy, caffe.TEST)
    return net, rec, load_weights(net, path, allow_partial)


def resize_inputs(net, height=None, width=None):
    """Give every (N, C, H, W) input blob the height and/or width asked for, and reshape the net."""
    for name in net.inputs:
        shape = list(net.blobs[name].shape)
        if len(shape) != 4:
            raise FCNError('input %r has shape %s; --height/--width need (N, C, H, W) inputs' % (name, tuple(shape)))
        shape[2], shape[3] = height or shape[2], width or shape[3]
        net.blobs[name].reshape(*shape)
    net.reshape()


def check(net, path, seed=0):
    """Compare the ONNX model at path with net on a seeded random input.

    Returns {output blob: stats} as onnx_export.compare gives them, each with
    `ok`: whether it is within MAX_REL and MAX_ARGMAX_FLIPS.
    """
    rng = np.random.default_rng(seed)
    inputs = {name: rng.uniform(-INPUT_RANGE, INPUT_RANGE, net.blobs[name].shape) for name in net.inputs}
    stats = engine()[1].compare(net, path, inputs)
    for s in stats.values():
        s['ok'] = s['max_rel'] <= MAX_REL and s['argmax_agreement'] >= 1.0 - MAX_ARGMAX_FLIPS
    return stats


def prepare_output(path):
    """Create the folder path goes in; FCNError when path cannot be a file there."""
    if os.path.isdir(path):
        raise FCNError('cannot write %s: it is a folder; give the .onnx file to write' % path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise FCNError('cannot write %s: %s is a file, not a folder' % (path, folder)) from None
    except OSError as e:
        raise FCNError('cannot write %s: %s' % (path, e.strerror or e)) from None


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('--net', default='voc-fcn8s', help='a net under models/, or a folder with deploy.prototxt')
    ap.add_argument('--weights', help='caffemodel (default weights/<net>.caffemodel)')
    ap.add_argument('--height', type=cli.positive_int, help="input height (default: the deploy net's)")
    ap.add_argument('--width', type=cli.positive_int, help="input width (default: the deploy net's)")
    ap.add_argument('--out', help='the .onnx file to write (default out/onnx/<net>.onnx)')
    ap.add_argument('--opset', type=int, help="ONNX opset version (default: the exporter's)")
    ap.add_argument('--seed', type=int, default=0, help='seed of the random input the check runs on')
    ap.add_argument('--allow-partial', action='store_true',
                    help='export even with a caffemodel that sets none of the net\'s layers (they keep their fillers)')
    args = ap.parse_args(argv)
    caffe, onnx_export = engine()
    net, rec, warnings = load_deploy(args.net, args.weights, args.allow_partial)
    for warning in warnings:
        print('warning: ' + warning, file=sys.stderr)
    name = rec.name
    out = args.out or os.path.join(paths.OUT, 'onnx', name + '.onnx')
    prepare_output(out)
    try:
        resize_inputs(net, args.height, args.width)
        onnx_export.export(net, out, opset=args.opset)
    except caffe.CaffeError as e:
        raise FCNError('cannot export %s: %s' % (name, cli.summary(e))) from None
    except OSError as e:
        raise FCNError('cannot write %s: %s' % (out, e.strerror or e)) from None
    shapes = ', '.join('%s %s' % (b, 'x'.join(map(str, net.blobs[b].shape))) for b in net.inputs + net.outputs)
    print('wrote %s (%s)' % (out, shapes))
    stats = check(net, out, args.seed)
    for blob, s in stats.items():
        print('%s: max |difference| %.3g = %.3g of the largest score (limit %g); argmax agreement %.6f '
              '(limit %g)%s' % (blob, s['max_abs'], s['max_rel'], MAX_REL, s['argmax_agreement'],
                                1.0 - MAX_ARGMAX_FLIPS, '' if s['ok'] else '  FAILED'))
    if not all(s['ok'] for s in stats.values()):
        print('onnxruntime does not reproduce torchcaffe on %s' % out, file=sys.stderr)
        return 1
    print('onnxruntime reproduces torchcaffe')
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
