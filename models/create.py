"""Make an FCN for your own dataset: models/NAME/ with its net.py, prototxts, solver, README and record.

    python models/create.py my-net --dataset data/my-data                     # FCN-8s at-once from VGG16
    python models/create.py my-net32 --dataset data/my-data --arch fcn32s     # the paper's staged way:
    python models/create.py my-net16 --dataset data/my-data --arch fcn16s --init my-net32
    python models/create.py my-net --dataset data/my-data --init voc-fcn8s    # fine-tune a published FCN
    python models/create.py tiny --dataset data/shapes --arch fcn8s --init scratch --width-divisor 8
    python models/create.py my-net --dataset data/my-data --class-weights median-frequency
    python models/create.py mine --dataset data/my-data --augment --batch 4 --epochs 50

The dataset (folder layout or PASCAL VOC's; see data/README.md) is checked
first, as data/check.py does: a dataset with problems is refused, each
problem listed, and nothing is written.  The net is one of the paper's
architectures over the dataset's classes, with crop offsets from coord_map and
the paper's solver for that architecture (models/voc-*/solver.prototxt; its
test_iter is the val split's size).  --init says where training starts: an
ILSVRC classifier transplanted (vgg16, caffenet, googlenet: the paper), a
trained FCN, published or yours, whose layers are copied by name (the score
layers are renamed when its class count differs, so they start at zero), or
scratch (MSRA fillers, the dataset's own mean, Adam; with --width-divisor a
slim twin that trains on a CPU).  --class-weights weighs each pixel's loss by
its class (fcn/class_weights.py: median frequency as in Eigen & Fergus 2015,
inverse frequency, or a file): the weights go beside the net as the diagonal
InfogainLoss matrix class_weights.binaryproto, and the train and val nets end in
InfogainLoss (the deploy net is the same).

The schedule is sized to the training split: --epochs N passes over it, else
as many passes as the architecture's paper schedule makes over its own
training set (SBD's 8,498 images; from scratch, the shapes demo's 400), with a
seg test and a snapshot every pass, or every few when there would be more than
20; --max-iter N sets the iterations themselves.  --augment (random mirror),
--scale LO HI, --crop S and --batch N change what the train net's data layer
reads (layers.augment).  What was chosen is printed, and why.  Then
train, score and use it like any net:

    make train NET=my-net
    python evaluate.py my-net --weights out/my-net/best.caffemodel
    python infer.py photo.jpg --net my-net --weights out/my-net/best.caffemodel
"""

import json
import math
import os
import re
import shutil
import sys
import tempfile
from fractions import Fraction

from google.protobuf import text_format
from tqdm import tqdm

from backend import caffe
from fcn import class_weights, cli, dataset, paths
from fcn.errors import FCNError
from models import common as C, custom, records

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')
CLASSIFIERS = ('vgg16', 'caffenet', 'googlenet')
#: Architectures the paper trains from a coarser FCN rather than from the classifier.
STAGED = {'fcn16s': 'fcn32s', 'fcn8s': 'fcn16s'}
MEAN_DECIMALS = 4
#: The largest crop --batch chooses by itself (memory grows with its square and the batch).
MAX_CROP = 512
#: At most about this many seg tests (and snapshots) in a run: every pass, or every few passes.
TESTS_PER_RUN = 20


class CreateError(FCNError):
    """A net that cannot be made as asked (the message says why and what to ask instead)."""


def source_net(init, models_dir):
    """The record of the FCN named by --init: a folder, a net in models_dir, or one under models/."""
    if os.path.isdir(os.path.join(models_dir, init)):
        return records.get(os.path.join(models_dir, init))
    return records.get(init)


def read_deploy(rec):
    path = rec.deploy
    if not os.path.isfile(path):
        raise CreateError('%s has no deploy.prototxt to take weights from' % rec.folder)
    with open(path) as f:
        return text_format.Parse(f.read(), caffe.proto.caffe_pb2.NetParameter())


def plan_from_net(rec, arch, n_classes, width_divisor):
    """(mean, rename, scratch-like) for a net initialized from the trained FCN `rec`."""
    if len(rec.inputs) != 1 or rec.inputs[0].kinds != ('color',):
        raise CreateError('%s takes %s input; a created net takes colour images'
                          % (rec.name, ' + '.join(m for i in rec.inputs for m in i.kinds)))
    layers = {lp.name: lp for lp in read_deploy(rec).layer}
    trunk = custom.TRUNK[arch]
    first, width = custom.FIRST_CONV[trunk]
    if first not in layers:
        have = [t for t, (name, _) in custom.FIRST_CONV.items() if name in layers]
        raise CreateError('%s is not a %s FCN (its trunk: %s); choose an --arch of its trunk'
                          % (rec.name, trunk, have[0] if have else 'unknown'))
    if layers[first].convolution_param.num_output != width // width_divisor:
        raise CreateError('%s has %d channels in %s, this net %d: give the --width-divisor it was made with'
                          % (rec.name, layers[first].convolution_param.num_output, first,
                             width // width_divisor))
    scores = [lp for lp in layers.values() if lp.type == 'Convolution' and lp.name.startswith('score_fr')]
    if scores and scores[0].convolution_param.num_output == n_classes:
        rename = scores[0].name[len('score_fr'):]
    else:
        rename = '_%dcls' % n_classes
    mean = rec.inputs[0].modalities[0].mean
    scratch_like = width_divisor != 1 or rec.init[0] == 'scratch'
    return mean, rename, scratch_like


def plan(args, report):
    """The SPEC of the net, its record's init, and the solver template text."""
    ds = report.dataset
    arch, init, k = args.arch, args.init, args.width_divisor
    trunk = custom.TRUNK[arch]
    if init is None:
        init = 'scratch' if k != 1 else trunk
    spec = dict(arch=arch, dataset=dataset.param_path(ds.root), classes=ds.n_classes)
    if init == 'scratch':
        spec.update(mean=tuple(round(v, MEAN_DECIMALS) for v in report.mean), scratch=True, rename='')
        record_init, scratch_like = {'from': 'scratch'}, True
    elif init in CLASSIFIERS:
        if init != trunk:
            raise CreateError('--arch %s has the %s trunk; it cannot start from the %s classifier'
                              % (arch, trunk, init))
        if k != 1:
            raise CreateError('--width-divisor %d makes layers the %s classifier has no weights for; '
                              'use it with --init scratch' % (k, init))
        if arch in STAGED:
            raise CreateError('the paper trains %s from a trained %s, not from %s: create and train an '
                              '--arch %s net first and give it as --init, or use --arch fcn8s-atonce to '
                              'learn from %s in one go' % (arch, STAGED[arch], init, STAGED[arch], init))
        spec.update(mean=records.ILSVRC_MEAN, rename='')
        record_init, scratch_like = {'from': 'classifier', 'net': init}, False
    else:
        rec = source_net(init, args.models_dir)
        mean, rename, scratch_like = plan_from_net(rec, arch, ds.n_classes, k)
        spec.update(mean=tuple(mean), rename=rename, scratch=False)
        record_init = {'from': 'net', 'net': rec.name}
    spec['width_divisor'] = k
    spec['normalize'] = scratch_like or trunk != 'vgg16'
    if scratch_like:
        solver = custom.SCRATCH_SOLVER
    else:
        with open(os.path.join(paths.MODELS, custom.PAPER_NET[arch], 'solver.prototxt')) as f:
            solver = f.read()
    solver = re.sub(r'(?m)^test_iter: \d+$', 'test_iter: %d' % len(report.ids['val']), solver)
    keys, crop_note = augmentation(args, report)
    spec.update(keys)
    iters, interval, notes = schedule(solver, arch, scratch_like, len(report.ids['train']),
                                      spec.get('batch', 1), args.epochs, args.max_iter)
    solver = re.sub(r'(?m)^max_iter: \d+$', 'max_iter: %d' % iters, solver)
    solver = re.sub(r'(?m)^snapshot: \d+$', 'snapshot: %d' % interval, solver)
    return spec, record_init, solver, ([crop_note] if crop_note else []) + notes


def median_short_side(report):
    sides = sorted(min(size) for size, count in report.sizes.items() for _ in range(count))
    return sides[len(sides) // 2]


def augmentation(args, report):
    """(the SPEC keys 'augment' and 'batch' that --augment, --scale, --crop and --batch ask for, a line
    saying which crop and why, or what a mirror alone is, or None); ({}, None) for none.  A batch of
    more than one needs one size: without --crop it crops to the median short side of the images."""
    crop, why = args.crop, '--crop'
    if crop is None and args.batch > 1:
        side = median_short_side(report)
        crop = min(side - side % 32 if side >= 64 else side, MAX_CROP)
        why = 'batch %d needs one size, so the median short side of the images, %d, %s' % (
            args.batch, side, 'at most %d' % MAX_CROP if crop == MAX_CROP else 'rounded down to a multiple of 32')
    aug = dict(([('mirror', True)] if args.augment else []) + ([('scale', tuple(args.scale))] if args.scale else [])
               + ([('crop', crop)] if crop else []))
    if not aug:
        return {}, None
    out = {'augment': aug}
    if args.batch > 1:
        out['batch'] = args.batch
    if crop:
        return out, 'crop %d x %d: %s' % (crop, crop, why)
    if not args.scale:
        return out, ('--augment is a random mirror: random scale and crops (--scale LO HI, --crop S) cost mean IU '
                     'at a few passes over a small dataset (README "Your own data")')
    return out, None


def augmentation_note(spec):
    aug = spec.get('augment')
    if not aug:
        return 'augmentation: none, whole images one a forward (as the paper trained)'
    parts = (['random mirror'] if aug.get('mirror') else []) + \
        (['scale %g-%g' % aug['scale']] if aug.get('scale') else []) + \
        (['random crop %d x %d' % ((aug['crop'],) * 2)] if aug.get('crop') else ['whole images'])
    return 'augmentation: %s, batch %d' % (', '.join(parts), spec.get('batch', 1))


def solver_field(solver, name, default):
    """The integer field `name` of a solver.prototxt's text, or default where it has none."""
    m = re.search(r'(?m)^%s: (\d+)$' % name, solver)
    return int(m.group(1)) if m else default


def schedule(solver, arch, scratch_like, n_train, batch, epochs=None, iters=None):
    """(max_iter, seg-test and snapshot interval, what was chosen and why) for n_train training images.

    Iterations from --max-iter, else ceil(epochs * n_train / (batch * iter_size)), else the passes the
    template solver makes over its own training set (custom.PAPER_TRAIN_IMAGES, or
    SCRATCH_TRAIN_IMAGES from scratch; one image a forward) kept over n_train.  The interval is the
    iterations of one pass, or of ceil(passes / TESTS_PER_RUN) passes, at most max_iter.
    """
    iter_size = solver_field(solver, 'iter_size', 1)
    per_iter = batch * iter_size                       # images an iteration reads
    if iters:
        why = ': --max-iter'
    elif epochs:
        iters = math.ceil(Fraction(str(epochs)) * n_train / per_iter)
        why = ': --epochs %g' % epochs
    else:
        template, images = solver_field(solver, 'max_iter', None), (custom.SCRATCH_TRAIN_IMAGES if scratch_like
                                              else custom.PAPER_TRAIN_IMAGES)
        iters = math.ceil(Fraction(template * iter_size * n_train, images * per_iter))
        why = (', as many as the from-scratch schedule makes (models/custom.py: %d iterations of 1 image over the '
               '%d training images of data/shapes)' % (template, images) if scratch_like else
               ', as many as the paper\'s %s schedule makes (%s: %d iterations of %d image(s) over SBD\'s %d '
               'training images)' % (custom.TITLE[arch], custom.PAPER_NET[arch], template, iter_size, images))
    passes = iters * per_iter / n_train
    every = max(1, math.ceil(passes / TESTS_PER_RUN))
    interval = max(1, min(iters, math.ceil(every * n_train / per_iter)))
    notes = ['schedule: %d iterations of %d image(s) (batch %d, iter_size %d) = %.3g passes over the %d training '
             'images%s' % (iters, per_iter, batch, iter_size, passes, n_train, why),
             'a seg test and a snapshot every %d iterations (%s); best weights kept as best.caffemodel; '
             '--epochs N or --max-iter N to choose otherwise'
             % (interval, 'every pass' if every == 1 else 'every %d passes' % every)]
    return iters, interval, notes


SPEC_KEYS = ('arch', 'dataset', 'classes', 'mean', 'scratch', 'width_divisor', 'rename', 'normalize', 'augment',
             'batch', 'class_weights')
WEIGHTS_FILE = 'class_weights.binaryproto'


def weights_source(target):
    """InfogainLoss's `source` for the weights file in net folder `target`: Caffe opens it relative
    to the working directory, so inside the repository it is relative to the repository's root,
    where the commands run (as Caffe's own examples name their files from Caffe's root); elsewhere
    it is absolute."""
    return from_root(os.path.join(target, WEIGHTS_FILE))


def from_root(path):
    """`path` relative to the repository's root when inside it (where the commands run), else absolute."""
    path, root = os.path.abspath(path), os.path.abspath(paths.ROOT)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def plan_weights(args, report, target):
    """(source, weights, what) of --class-weights, or None for 'none'."""
    scheme = args.class_weights
    if scheme == 'none':
        return None
    w = class_weights.weights(report, scheme)
    what = scheme if scheme in class_weights.SCHEMES else 'from %s' % scheme
    return weights_source(target), w, what


def net_py(title, command, spec):
    """The text of models/NAME/net.py: the SPEC and a call into models.custom."""
    lines = ['"""%s.' % title, '',
             'Made by `%s`.' % command,
             'Run this file to rewrite train/val/deploy.prototxt beside it',
             '(see models/custom.py for what SPEC says).', '"""',
             'from models import custom', '', 'SPEC = {']
    lines += ['    %r: %r,' % (key, spec[key]) for key in SPEC_KEYS if key in spec]
    lines += ['}', '', 'prototxts, make_net = custom.net_script(__name__, __file__, SPEC)', '']
    return '\n'.join(lines)


def record(name, title, spec, ds, report, record_init, weighting=None):
    palette = dataset.param_path(ds.palette_path) if ds.palette_path else 'voc'
    rec = {
        'name': name, 'title': title, 'family': 'custom', 'aliases': [],
        'inputs': [{'blob': 'data', 'modalities': [{'kind': 'color', 'mean': list(spec['mean'])}]}],
        'outputs': [{'blob': 'score', 'label': 'label', 'classes': dataset.param_path(ds.classes_path),
                     'palette': palette}],
        'val_net': 'val.prototxt', 'val_ids': dataset.param_path(ds.split_path('val')),
        'init': record_init, 'published': [], 'weights': None,
    }
    if weighting:
        rec['class_weights'] = {'scheme': weighting[2], 'file': WEIGHTS_FILE,
                                'weights': [round(float(v), 6) for v in weighting[1]]}
    return rec


def readme(name, title, command, spec, ds, report, record_init, solver, net_arg, weighting=None):
    net_py_path = os.path.join(os.path.relpath(net_arg, paths.ROOT) if os.sep in net_arg else 'models/' + net_arg, 'net.py')
    init = {'scratch': 'from scratch: MSRA fillers, the score layers at zero, the dataset\'s own mean',
            'classifier': 'the ILSVRC %s classifier, transplanted (fully connected layers made '
                          'convolutions), the ILSVRC mean' % record_init.get('net'),
            'net': 'the trained FCN %s, copied layer by layer by name%s' % (
                record_init.get('net'), '; the score layers are new (suffix %s) and start at zero'
                % spec['rename'] if spec['rename'] else '')}[record_init['from']]
    iters = solver_field(solver, 'max_iter', None)
    weights = best_weights(name)
    counts = ', '.join('%d %s' % (len(ids), s) for s, ids in report.ids.items())
    slim = (' with every width but the score layers\' divided by %d' % spec['width_divisor']
            if spec['width_divisor'] != 1 else '')
    return '\n'.join([
        '# %s — %s' % (name, title), '',
        'Made by `%s` (models/create.py).' % command, '',
        '- **Net**: %s%s, %d classes (`%s`); the release\'s layer names, crop offsets from coord_map.'
        % (custom.TITLE[spec['arch']], slim, spec['classes'], dataset.param_path(ds.classes_path)),
        '- **Data**: `%s` (%s layout): %s images; `layers.folder.FolderSegDataLayer`, mean (B, G, R) %s.'
        % (spec['dataset'], 'PASCAL VOC' if ds.layout == 'voc' else 'folder', counts,
           ', '.join('%.4f' % v for v in spec['mean'])),
        '- **Initialization**: %s.' % init,
        '- **Loss**: %s.' % loss_line(spec, ds, weighting),
        '- **Solver**: %s, %d iterations, a seg test and a snapshot every %d (`solver.prototxt`).'
        % ('the paper\'s for %s (%s)' % (custom.TITLE[spec['arch']], custom.PAPER_NET[spec['arch']])
           if 'Adam' not in solver else 'Adam from scratch (models/custom.py)', iters,
           solver_field(solver, 'snapshot', 0)),
        '- **Augmentation**: %s.' % augmentation_note(spec)[len('augmentation: '):],
        '', 'Train, score, use (`best.caffemodel`: the weights of the seg test with the highest mean IU):', '']
        + ['    ' + line for line in next_steps(net_arg, weights, report)]
        + ['    python export_onnx.py --net %s --weights %s' % (net_arg, weights), '',
        'Run `python %s` to rewrite the prototxts from `net.py`.' % net_py_path, ''])


def next_steps(net_arg, weights, report):
    """The commands that train, score (on the test split too when the dataset has one) and use the net."""
    steps = ['make train NET=%s' % net_arg, 'python evaluate.py %s --weights %s' % (net_arg, weights)]
    if 'test' in report.ids:
        steps.append('python evaluate.py %s --weights %s --val %s'
                     % (net_arg, weights, from_root(report.dataset.split_path('test'))))
    return steps + ['python infer.py photo.jpg --net %s --weights %s' % (net_arg, weights)]


def loss_line(spec, ds, weighting):
    """The README's account of the loss."""
    if not weighting:
        return 'SoftmaxWithLoss, every pixel alike, void (255) ignored'
    source, w, what = weighting
    names = ds.class_names
    return ('InfogainLoss with H = diag(class weights) from `%s` (%s%s; written by create.py, '
            'opened relative to the working directory as Caffe does), void (255) ignored: %s'
            % (source, what, ', as in Eigen & Fergus 2015' if what == 'median-frequency' else '',
               ', '.join('%s %.3g' % (names[c], v) for c, v in enumerate(w))))


def write_net(target, files, force):
    """Write {file name: text} as the folder `target`, all or nothing; an existing one is replaced
    only with `force`."""
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.%s.' % os.path.basename(target), dir=parent)
    try:
        for fname, content in files.items():
            with open(os.path.join(tmp, fname), 'wb' if isinstance(content, bytes) else 'w') as f:
                f.write(content)
        old = None
        if os.path.exists(target):
            old = tempfile.mkdtemp(prefix='.%s.old.' % os.path.basename(target), dir=parent)
            os.rename(target, os.path.join(old, 'net'))
        os.rename(tmp, target)
        if old:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def best_weights(name):
    """Where solve.py keeps a net's best weights (its seg test with the highest mean IU)."""
    return 'out/%s/best.caffemodel' % name


def create(args, command):
    """Check the dataset, then write the net folder; returns (folder, net argument, the dataset's
    fcn.dataset.Report)."""
    target = os.path.join(args.models_dir, args.name)
    if os.path.exists(target) and not args.force:
        raise CreateError('%s exists; choose another NAME, or give --force to replace it' % target)
    report = dataset.check(args.dataset, progress=lambda xs: tqdm(xs, desc='checking', unit='example',
                                                                  disable=None, leave=False))
    print(dataset.format_report(report))
    if report.problems:
        raise dataset.refuse(report)
    spec, record_init, solver, notes = plan(args, report)
    weighting = plan_weights(args, report, target)
    if weighting:
        spec['class_weights'] = weighting[0]
        print(class_weights.format_table(report))
        print('class weights: %s' % weighting[2])
    print(augmentation_note(spec))
    for line in notes:
        print(line)
    ds = report.dataset
    title = '%s on %s%s' % (custom.TITLE[args.arch], os.path.basename(ds.root),
                            ', slim (1/%d)' % args.width_divisor if args.width_divisor != 1 else '')
    try:
        protos = {fname: C.prototxt_text(custom.fcn(spec, split)) for fname, split in custom.SPLITS}
    except ValueError as e:
        raise CreateError(str(e)) from None
    in_models = os.path.abspath(args.models_dir) == os.path.abspath(paths.MODELS)
    net_arg = args.name if in_models else target
    files = dict(protos)
    files['net.py'] = net_py(title, command, spec)
    files['solver.prototxt'] = solver
    if weighting:
        blob = caffe.io.array_to_blobproto(class_weights.infogain_matrix(weighting[1]))
        files[WEIGHTS_FILE] = blob.SerializeToString()
    files['record.json'] = json.dumps(record(args.name, title, spec, ds, report, record_init, weighting),
                                      indent=2) + '\n'
    files['README.md'] = readme(args.name, title, command, spec, ds, report, record_init, solver, net_arg,
                                weighting)
    write_net(target, files, args.force)
    return target, net_arg, report


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('name', help='the net\'s name: its folder models/NAME and out/NAME')
    ap.add_argument('--dataset', required=True, help='the dataset folder (see data/README.md)')
    ap.add_argument('--arch', choices=custom.ARCHS, default='fcn8s-atonce',
                    help='the paper\'s architecture (default %(default)s)')
    ap.add_argument('--init', help='where training starts: %s (an ILSVRC classifier, the default for its '
                    'trunk), a trained FCN (voc-fcn8s, one of yours), or scratch' % ', '.join(CLASSIFIERS))
    ap.add_argument('--width-divisor', type=int, default=1, metavar='K',
                    help='divide every width but the score layers\' by K (a slim net; from scratch)')
    when = ap.add_mutually_exclusive_group()
    when.add_argument('--max-iter', type=int, help='training iterations (default: the paper schedule\'s passes '
                      'over the training split)')
    when.add_argument('--epochs', type=float, metavar='N',
                      help='train for N passes over the training split (sets max_iter and the seg-test and '
                      'snapshot interval)')
    ap.add_argument('--augment', action='store_true',
                    help='random left-right mirror of the training images, for scenes that look alike mirrored '
                    '(street scenes do; README "Your own data")')
    ap.add_argument('--scale', type=float, nargs=2, metavar=('LO', 'HI'),
                    help='random scale of the training images by a factor drawn in [LO, HI], e.g. 0.75 1.5')
    ap.add_argument('--crop', type=int, metavar='S', help='train on random S x S crops (padded with void)')
    ap.add_argument('--batch', type=int, default=1, metavar='N',
                    help='training examples per forward, as N x 3 x S x S crops (S: --crop, else the images\' '
                    'median short side; default 1, whole images)')
    ap.add_argument('--class-weights', default='none', metavar='none|median-frequency|inverse-frequency|FILE',
                    help='weigh each pixel\'s loss by its class (InfogainLoss): none (the default, the paper\'s '
                    'loss), from the train split\'s pixel counts, or one weight per class a line in FILE')
    ap.add_argument('--models-dir', default=paths.MODELS, help='where NAME/ goes (default models/)')
    ap.add_argument('--force', action='store_true', help='replace an existing models/NAME')
    args = ap.parse_args(argv)
    if not NAME_RE.match(args.name):
        ap.error('NAME %r: letters, digits, ".", "_" and "-" only, starting with a letter or digit' % args.name)
    if args.width_divisor < 1 or (args.max_iter is not None and args.max_iter < 1):
        ap.error('--width-divisor and --max-iter must be positive')
    if args.batch < 1 or (args.crop is not None and args.crop < 1) or (args.epochs is not None and
                                                                       not 0 < args.epochs < float('inf')):
        ap.error('--batch, --crop and --epochs must be positive')
    if args.scale and not 0 < args.scale[0] <= args.scale[1] < float('inf'):
        ap.error('--scale LO HI: 0 < LO <= HI')
    argv_list = sys.argv[1:] if argv is None else list(argv)
    command = ' '.join(['python models/create.py'] + [a for a in argv_list if a not in ('--debug', '--force')])
    target, net_arg, report = create(args, command)
    weights = best_weights(args.name)
    print('wrote %s (net.py, train/val/deploy.prototxt, solver.prototxt, record.json, README.md%s)'
          % (target, ', ' + WEIGHTS_FILE if args.class_weights != 'none' else ''))
    print('next:\n' + '\n'.join('  ' + line for line in next_steps(net_arg, weights, report)))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
