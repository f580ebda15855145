"""A real learning run on the CPU, end to end, typed the way you train FCN on your own data:
generate the synthetic shapes dataset, check it, create a slim FCN-8s for it, train it from
scratch, score it on held-out images and segment one of them.

    python demo.py              # the full run (make demo): about 8 minutes on 2 CPU cores
    python demo.py --quick      # a few iterations on a tiny dataset, to check the pipeline
    python demo.py --fresh      # retrain from scratch instead of resuming from snapshots

Every step is one of the project's command lines, printed before it runs
(README.md, "Your own data"):

    python data/shapes/make_shapes.py                     # data/shapes: images/, labels/, train.txt, val.txt
    python data/check.py data/shapes
    python models/create.py shapes-fcn8s --dataset data/shapes --arch fcn8s --init scratch --width-divisor 8
    python solve.py shapes-fcn8s                          # make train NET=shapes-fcn8s
    python evaluate.py shapes-fcn8s --weights out/shapes-fcn8s/snapshots/train_iter_1500.caffemodel
    python infer.py data/shapes/images/val_00000.jpg --net shapes-fcn8s --weights ...

models/shapes-fcn8s is the committed output of that create.py line, so the
full run skips it.  --quick writes its dataset and net under
out/shapes-fcn8s-quick/ instead and trains that net there.  Training resumes
from the newest snapshot when run again.  The last line printed is
`mean IU <fraction>` on the held-out split, scored from the predictions
evaluate.py saved.
"""
import glob
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np

import score
import vis
from fcn import cli, paths
from fcn.errors import FCNError
from models import records

NAME = 'shapes-fcn8s'
NET_DIR = os.path.join(paths.MODELS, NAME)
DEFAULT_DATA = os.path.join(paths.DATA, 'shapes')
MAKE_SHAPES = os.path.join(DEFAULT_DATA, 'make_shapes.py')
CREATE = ['--arch', 'fcn8s', '--init', 'scratch', '--width-divisor', '8']

# Dataset and schedule of the full run and of --quick.
FULL = dict(train=400, val=50, size=320, test_interval=500)
QUICK = dict(train=6, val=3, size=48, iters=4, test_interval=2)


def _load_shapes():
    """data/shapes/make_shapes.py as a module (data/ is not a package)."""
    spec = importlib.util.spec_from_file_location('make_shapes', MAKE_SHAPES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shapes = _load_shapes()


class DemoError(FCNError):
    """A step of the demo failed (its command's own message is printed above)."""


def rel(path):
    """A path as the user would type it from the repository root."""
    path = os.path.abspath(path)
    return os.path.relpath(path, paths.ROOT) if path.startswith(paths.ROOT + os.sep) else path


def step(args, env):
    """Print a command line (as typed from the repository root) and run it there."""
    line = ' '.join(shlex.quote(rel(a) if os.path.isabs(a) else a) for a in args)
    print('\n$ python %s' % line, flush=True)
    done = subprocess.run([sys.executable] + [os.path.join(paths.ROOT, args[0])] + list(args[1:]),
                          cwd=paths.ROOT, env=env)
    if done.returncode:
        raise DemoError('`python %s` failed (exit status %d)' % (line, done.returncode))


def clear_run(odir):
    """Forget a previous training run: its snapshots, seg-test predictions, log, page and demo outputs."""
    for path in [os.path.join(odir, p) for p in ('snapshots', 'demo', 'log.csv', 'learning_curve.png', 'index.html',
                                                 'page')] + \
            glob.glob(os.path.join(odir, 'segs-iter*')):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('--quick', action='store_true',
                    help='a tiny dataset and %d iterations: checks the pipeline, learns nothing' % QUICK['iters'])
    ap.add_argument('--fresh', action='store_true', help='remove earlier snapshots of this run and retrain')
    ap.add_argument('--threads', type=int, default=1,
                    help='CPU threads for torch (default 1: on 2 idle cores a second thread trains about '
                    '1.4x faster, but several times slower when another process is using the cores)')
    ap.add_argument('--gpu', type=cli.device_id, help='CUDA device id (CPU when omitted)')
    ap.add_argument('--out', help='folder for the training run and the demo\'s outputs (default out/<net>)')
    ap.add_argument('--test-interval', type=cli.positive_int,
                    help='iterations between seg tests (default %d; %d with --quick)'
                    % (FULL['test_interval'], QUICK['test_interval']))
    args = ap.parse_args(argv)

    cfg = QUICK if args.quick else FULL
    name = NAME + '-quick' if args.quick else NAME
    odir = os.path.abspath(args.out) if args.out else paths.out_dir(name)
    data_dir = os.path.join(odir, 'data') if args.quick else DEFAULT_DATA
    models_dir = os.path.join(odir, 'models') if args.quick else paths.MODELS
    net_dir = os.path.join(models_dir, name)
    net = name if models_dir == paths.MODELS else net_dir
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    gpu = ['--gpu', str(args.gpu)] if args.gpu is not None else []
    t0 = time.time()

    # 1. the dataset, in the folder layout, and its check
    if shapes.is_complete(data_dir, cfg['train'], cfg['val'], cfg['size']):
        print('dataset: %s (already generated)' % rel(data_dir))
    else:
        size = [] if not args.quick else ['--out', data_dir, '--train', str(cfg['train']), '--val',
                                          str(cfg['val']), '--size', str(cfg['size'])]
        step([MAKE_SHAPES] + size, env)
    step(['data/check.py', data_dir], env)

    # 2. the net: models/shapes-fcn8s is create.py's committed output
    iters = cfg.get('iters')
    if args.quick or not os.path.isfile(os.path.join(net_dir, 'record.json')):
        more = ['--max-iter', str(iters), '--models-dir', models_dir, '--force'] if args.quick else []
        step(['models/create.py', name, '--dataset', data_dir] + CREATE + more, env)
    else:
        print('\nnet: %s (made by `python models/create.py %s --dataset data/shapes %s`)'
              % (rel(net_dir), NAME, ' '.join(CREATE)))
    rec = records.get(net_dir)
    val_list = paths.data_path(rec.val_ids)
    interval = args.test_interval or cfg['test_interval']
    t_data = time.time() - t0

    # 3. train, resuming unless --fresh
    if args.fresh:
        clear_run(odir)
    step(['solve.py', net, '--test-interval', str(interval), '--out', odir] + gpu, env)
    snaps = glob.glob(os.path.join(odir, 'snapshots', 'train_iter_*.caffemodel'))
    if not snaps:
        raise DemoError('training wrote no snapshot into %s' % rel(os.path.join(odir, 'snapshots')))
    weights = max(snaps, key=lambda p: int(p.rsplit('_', 1)[1].split('.')[0]))
    t_train = time.time() - t0 - t_data

    # 4. score the held-out split: evaluate.py saves its predictions, scored here against the labels
    segs = os.path.join(odir, 'demo', 'val')
    step(['evaluate.py', net, '--weights', weights, '--save', segs] + gpu, env)
    with open(val_list) as f:
        ids = [line.strip() for line in f if line.strip()]
    names = rec.outputs[0].class_names()
    labels = os.path.join(data_dir, 'labels')
    metrics = score.compute_metrics(score.score_dirs(segs, labels, ids, len(names)))

    # 5. segment one held-out image, as a user segments a photo
    image = os.path.join(data_dir, 'images', ids[0] + '.jpg')
    step(['infer.py', image, '--net', net, '--weights', weights, '--out', os.path.join(odir, 'demo')] + gpu, env)
    pred = vis.read_label_png(os.path.join(odir, 'demo', ids[0] + '.png'))
    gt = vis.read_label_png(os.path.join(labels, ids[0] + '.png'))
    valid = gt != 255
    acc = float(np.mean(pred[valid] == gt[valid]))
    t_total = time.time() - t0

    print()
    print('%s: %s' % (name, rel(weights)))
    print('held-out split: %d images of %s' % (len(ids), rel(data_dir)))
    print(score.format_report(metrics, names))
    print('segmented held-out image %s: %s (pixel accuracy %.2f%%)'
          % (ids[0], rel(os.path.join(odir, 'demo', ids[0] + '.png')), 100 * acc))
    print('time: data and net %.0f s, training %.0f s, total %.0f s' % (t_data, t_train, t_total))
    print('mean IU %.4f' % metrics['mean_iu'])
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
