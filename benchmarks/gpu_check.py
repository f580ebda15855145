"""`make gpu-check`: every CUDA path of the project run and measured on one GPU, into one folder.

    python3 -m benchmarks.gpu_check                  # on a CUDA machine: out/gpu-check/, at most 8 minutes
    python3 -m benchmarks.gpu_check --dry            # every step at toy size on the CPU (what CI runs)
    python3 -m benchmarks.gpu_check --probe          # which packages this interpreter lacks, installs nothing

Each step runs as processes of its own under a time limit, its output in
<out>/<step>.log; summary.json and summary.md record each step's status
(ok, failed, timeout, skipped when the overall deadline has passed), exit
status, wall time and what it measured. A step that fails is recorded and the
next one runs. The steps:

- wheels: packages this interpreter lacks are installed from gpu-wheels/ (made
  by `make gpu-wheels` on a machine with a package registry) into
  gpu-wheels/site-py3.12 (for Python 3.12), on every later step's PYTHONPATH;
- env: device, torch, CUDA, cuDNN, NCCL and Python versions, the package list;
- test-gpu: the golden cases, the Caffe-trained LeNet, blob host copies and
  fast mode (what `make test-gpu` runs) in GPU mode;
- nccl: the shapes net trained by a one-process run with iter_size N and by N
  torchrun ranks (NCCL; N = the GPUs, at most 2) with iter_size 1, final
  weights compared, plus an NCCL all-reduce and broadcast of the engine's blobs;
- infer: infer.py on a folder of generated images, with its default budget
  (the free GPU memory) and with a small --max-memory that forces scaling;
- demo: the shapes demo trained on the GPU; seconds to mean IU 0.80 from its log.csv;
- bench-*: benchmarks.bench for voc-fcn8s (a step per mode) and
  voc-fcn-alexnet at 500x500 and 500x375, faithful and fast, training through
  the data layer, one image an iteration; each writes <out>/<step>.md.

With --dry every step runs at toy size on the CPU (gloo in place of NCCL).
Training snapshots are removed at the end; everything else stays in the folder.
"""
import argparse
import csv
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = os.path.join(ROOT, 'gpu-wheels')
# Seconds each step may take: on the GPU they add up to 8 minutes less 10 s for this process. FCN-8s is
# benched a mode at a time, so that a step out of time loses half its figures, not all. On the CPU the
# bench's VOC nets cost a minute whatever the size (initializing 57M weights several times over), and
# only FCN-AlexNet's, in faithful mode, is run (FCN-8s's 134M would take minutes more).
LIMITS_S = {'wheels': 35, 'env': 15, 'test-gpu': 70, 'nccl': 40, 'infer': 35, 'demo': 70,
            'bench-voc-fcn8s-faithful': 70, 'bench-voc-fcn8s-fast': 75, 'bench-voc-fcn-alexnet': 60}
DRY_LIMITS_S = {'wheels': 60, 'env': 30, 'test-gpu': 120, 'nccl': 90, 'infer': 60, 'demo': 90,
                'bench-voc-fcn-alexnet': 240}
BUDGET_S = sum(LIMITS_S.values())
DRY_BUDGET_S = sum(DRY_LIMITS_S.values())
TARGET_IU = 0.80

# What the steps import, as (module, requirement of gpu-wheels/): the project's run-time needs and
# their dependencies, without torch (the GPU machine's own build) and without the ONNX packages.
# Protobuf is checked by running the generated module, which refuses a runtime older than it needs.
REQUIREMENTS = [('numpy', 'numpy>=1.24'), ('scipy', 'scipy>=1.10'), ('PIL', 'pillow>=10'),
                ('torchcaffe/proto/caffe_pb2.py', 'protobuf>=7.35.1,<8'), ('tqdm', 'tqdm>=4.60'),
                ('matplotlib', 'matplotlib>=3.7'), ('contourpy', 'contourpy'), ('cycler', 'cycler'),
                ('fontTools', 'fonttools'), ('kiwisolver', 'kiwisolver'), ('pyparsing', 'pyparsing'),
                ('dateutil', 'python-dateutil'), ('tzdata', 'tzdata'), ('packaging', 'packaging'),
                ('pytest', 'pytest>=7'), ('pluggy', 'pluggy'), ('iniconfig', 'iniconfig'), ('pygments', 'pygments')]
WHEEL_PLATFORM = ['--only-binary=:all:', '--python-version', '3.12', '--implementation', 'cp', '--abi', 'cp312',
                  '--platform', 'manylinux2014_x86_64', '--platform', 'manylinux_2_17_x86_64',
                  '--platform', 'manylinux_2_28_x86_64']
TEST_GPU_FILES = ['tests/torchcaffe/test_golden.py', 'tests/torchcaffe/test_blob.py',
                  'tests/torchcaffe/test_real_model.py', 'tests/torchcaffe/test_fast_mode.py']

# commands: argv lists run in order (the first that fails ends the step); collect(out) -> dict of figures.
Step = namedtuple('Step', 'name commands limit_s env collect')


class GpuCheckError(Exception):
    """A check step that cannot go on, with the reason."""


def this(*args):
    """argv of this module run again with args (a child step)."""
    return [sys.executable, '-m', 'benchmarks.gpu_check'] + [str(a) for a in args]


# -- the step runner -----------------------------------------------------------------


def run_step(step, out, seconds_left, env=None):
    """Run one step's commands, output to <out>/<name>.log; returns its summary entry."""
    entry = {'name': step.name, 'log': step.name + '.log', 'limit_s': step.limit_s}
    limit = min(step.limit_s, seconds_left)
    if seconds_left < 5:
        entry.update(status='skipped', reason='the overall deadline had passed', wall_s=0.0)
        with open(os.path.join(out, entry['log']), 'w') as log:
            log.write('[gpu-check] skipped: the overall deadline had passed\n')
        return entry
    start = time.time()
    status, rc = 'ok', 0
    with open(os.path.join(out, entry['log']), 'w') as log:
        for cmd in step.commands:
            log.write('$ %s\n' % ' '.join(cmd))
            log.flush()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(env or os.environ, **(step.env or {})), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=max(0.1, limit - (time.time() - start)))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)     # the step's own process group: torchrun ranks, bench children
                proc.wait()
                status, rc = 'timeout', None
                log.write('\n[gpu-check] killed after %.0f s (limit %.0f s)\n' % (time.time() - start, limit))
                break
            if rc != 0:
                status = 'failed'
                break
    entry.update(status=status, exit=rc, wall_s=round(time.time() - start, 1), limit_s=limit)
    try:
        entry['results'] = step.collect(out) if step.collect else {}
    except (OSError, ValueError, KeyError, IndexError) as e:
        entry['results'] = {'error': 'could not read the results: %s' % e}
    return entry


def run_steps(steps, out, budget_s, env=None):
    """Every step in turn, each within its limit and all within budget_s; returns their entries."""
    deadline = time.time() + budget_s
    entries = []
    for step in steps:
        print('[gpu-check] %s ...' % step.name, flush=True)
        entry = run_step(step, out, deadline - time.time(), env)
        print('[gpu-check] %s: %s in %.0f s' % (step.name, entry['status'], entry['wall_s']), flush=True)
        entries.append(entry)
    return entries


def result_lines(out, name):
    """The JSON of every `RESULT {...}` line a step's children printed, merged."""
    merged = {}
    with open(os.path.join(out, name + '.log')) as f:
        for line in f:
            if line.startswith('RESULT '):
                merged.update(json.loads(line[len('RESULT '):]))
    return merged


# -- the steps -----------------------------------------------------------------------


def collect_results(name):
    return lambda out: result_lines(out, name)


def collect_pytest(out):
    with open(os.path.join(out, 'test-gpu.log')) as f:
        lines = [line.strip() for line in f if ' in ' in line and ('passed' in line or 'failed' in line)]
    return {'pytest': lines[-1].strip('= ')} if lines else {}


def collect_demo(out):
    """Seconds of training to mean IU 0.80 (log.csv's clock starts with training) and the last mean IU."""
    with open(os.path.join(out, 'demo', 'log.csv')) as f:
        rows = list(csv.DictReader(f))
    reached = [r for r in rows if float(r['mean_iu']) >= TARGET_IU]
    return {'seg_tests': len(rows), 'last_iteration': int(rows[-1]['iteration']) if rows else None,
            'last_mean_iu': float(rows[-1]['mean_iu']) if rows else None,
            'seconds_to_mean_iu_0.80': float(reached[0]['seconds']) if reached else None,
            'iteration_at_mean_iu_0.80': int(reached[0]['iteration']) if reached else None}


def collect_bench(name):
    def collect(out):
        with open(os.path.join(out, name + '.md')) as f:
            text = f.read()
        targets = text.split('## Targets')[1].split('\n## ')[0] if '## Targets' in text else ''
        return {'report': name + '.md', 'targets': [line[2:] if line.startswith('- ') else line
                                                    for line in targets.splitlines() if line.strip()]}
    return collect


def steps(args, scratch):
    """The check's steps, at full size on the GPU or at toy size on the CPU (args.dry)."""
    dry = args.dry
    gpu = [] if dry else ['--gpu', str(args.gpu)]
    device = 'cpu' if dry else str(args.gpu)
    ranks = 2 if dry else max(1, min(2, args.gpus))
    nccl = os.path.join(args.out, 'nccl')
    torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(ranks)]
    images = os.path.join(scratch, 'images')
    weights = os.path.join(scratch, 'infer.caffemodel')
    infer_net = 'shapes-fcn8s' if dry else 'voc-fcn8s'
    sizes = ['64x48', '160x120', '3000x2250'] if dry else ['500x375', '500x500', '2000x1500', '6000x4500']
    infer = [sys.executable, 'infer.py', images, '--net', infer_net, '--weights', weights] + gpu
    demo = [sys.executable, 'demo.py', '--fresh', '--out', os.path.join(args.out, 'demo')] + gpu
    demo += ['--quick'] if dry else ['--test-interval', '100']
    bench = ['--reps', '1', '--warmup', '0', '--train-steps', '1', '--modes', 'faithful', '--sizes', '64x48',
             '--skip', 'dropout', 'compiled', 'deviation', 'folder'] if dry else \
        ['--reps', '20', '--warmup', '5', '--train-steps', '30', '--sizes', '500x500', '500x375',
         '--skip', 'compiled', 'deviation'] + gpu
    one_thread = {'OMP_NUM_THREADS': '1'} if dry else {}
    limit = DRY_LIMITS_S if dry else LIMITS_S
    pytest = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider'] + TEST_GPU_FILES
    train = [this('--child', 'train', os.path.join(nccl, 'single'), device),
             torchrun + ['-m', 'benchmarks.gpu_check', '--child', 'train', os.path.join(nccl, 'ranks'), device]]
    found = [
        Step('wheels', [this('--child', 'wheels', WHEELS, args.site)], limit['wheels'], None,
             collect_results('wheels')),
        Step('env', [this('--child', 'env', os.path.join(args.out, 'env.json'))], limit['env'], None,
             collect_results('env')),
        Step('test-gpu', [pytest], limit['test-gpu'], {} if dry else {'TORCHCAFFE_TEST_GPU': '1'}, collect_pytest),
        Step('nccl', [this('--child', 'nccl-data', nccl, ranks, 'dry' if dry else 'full')] + train
             + [this('--child', 'compare', nccl)], limit['nccl'], one_thread, collect_results('nccl')),
        Step('infer', [this('--child', 'infer-inputs', infer_net, weights, images, *sizes),
                       infer + ['--out', os.path.join(scratch, 'labels')],
                       infer + ['--out', os.path.join(scratch, 'scaled'), '--max-memory', '0.1' if dry else '2']],
             limit['infer'], one_thread, collect_results('infer')),
        Step('demo', [demo], limit['demo'], one_thread, collect_demo),
    ]
    benches = [('voc-fcn-alexnet', [])] if dry else [('voc-fcn8s', ['faithful']), ('voc-fcn8s', ['fast']),
                                                      ('voc-fcn-alexnet', [])]
    for net, modes in benches:
        name = '-'.join(['bench', net] + modes)
        found.append(Step(name, [[sys.executable, '-m', 'benchmarks.bench', '--nets', net, '--iter-size', '1',
                                  '--out', os.path.join(args.out, name + '.md')]
                                 + bench + (['--modes'] + modes if modes else [])], limit[name], None,
                                collect_bench(name)))
    return found


# -- the children (run as `python -m benchmarks.gpu_check --child NAME ...`) -----------


# Run in a fresh interpreter: prints "<module> ok" for each module it imports (a .py file: runs).
PROBE = """
import importlib, runpy, sys
for module in sys.argv[1:]:
    try:
        runpy.run_path(module) if module.endswith('.py') else importlib.import_module(module)
        print(module, 'ok', flush=True)
    except Exception:
        pass
"""


def missing_requirements():
    """The requirements whose module a fresh interpreter (in the repository, this PYTHONPATH) cannot import."""
    proc = subprocess.run([sys.executable, '-c', PROBE] + [m for m, _ in REQUIREMENTS], cwd=ROOT,
                          capture_output=True, text=True)
    found = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(' ok')}
    return [req for module, req in REQUIREMENTS if module not in found]


def child_wheels(wheels, site):
    """Install what this interpreter lacks from the wheels folder into site (one per requirement, no deps)."""
    missing = missing_requirements()
    if missing and not glob.glob(os.path.join(wheels, '*.whl')):
        raise GpuCheckError('missing %s and no wheels in %s: run `make gpu-wheels` where a package registry '
                            'answers and bring gpu-wheels/ along' % (', '.join(missing), wheels))
    if missing and subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-index', '--no-deps',
                                   '--upgrade', '--find-links', wheels, '--target', site] + missing).returncode:
        raise GpuCheckError('pip could not install %s from %s' % (' '.join(missing), wheels))
    still = missing_requirements()
    print('RESULT ' + json.dumps({'installed': missing, 'still_missing': still}))
    if still:
        raise GpuCheckError('still missing after installing from %s: %s' % (wheels, ', '.join(still)))


def child_env(path):
    """Versions and the device, into path and as a RESULT line."""
    import platform
    import torch
    info = {'python': platform.python_version(), 'torch': torch.__version__, 'cuda': torch.version.cuda,
            'cudnn': torch.backends.cudnn.version(), 'cuda_available': torch.cuda.is_available(),
            'devices': [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            'cpu': platform.processor() or platform.machine(), 'cpu_count': os.cpu_count(),
            'platform': platform.platform()}
    if torch.cuda.is_available():
        info['gpu_memory_gib'] = round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1)
        info['nccl'] = '.'.join(map(str, torch.cuda.nccl.version()))
    print('RESULT ' + json.dumps(info))
    pip = subprocess.run([sys.executable, '-m', 'pip', 'list', '--format=freeze'], capture_output=True, text=True)
    info['packages'] = pip.stdout.split() if pip.returncode == 0 else 'pip list failed: %s' % pip.stderr[-300:]
    with open(path, 'w') as f:
        json.dump(info, f, indent=1)


def child_nccl_data(folder, ranks, size):
    """A shapes dataset and two slim FCN-8s for it (models/create.py) without Dropout: one process
    with iter_size=ranks, ranks with iter_size 1."""
    import importlib.util
    from google.protobuf import text_format
    from torchcaffe import io
    from models import create
    spec = importlib.util.spec_from_file_location('make_shapes', os.path.join(ROOT, 'data', 'shapes',
                                                                            'make_shapes.py'))
    shapes = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shapes)
    data = os.path.join(folder, 'data')
    n_train, n_val, side = (6, 2, 48) if size == 'dry' else (16, 2, 128)
    shapes.generate(data, n_train, n_val, side, verbose=False)
    for run, iter_size in (('single', int(ranks)), ('ranks', 1)):
        create.main(['shapes-fcn8s', '--dataset', data, '--arch', 'fcn8s', '--init', 'scratch', '--width-divisor',
                     '8', '--models-dir', os.path.join(folder, run, 'net'), '--force'])
        ndir = os.path.join(folder, run, 'net', 'shapes-fcn8s')
        with open(os.path.join(ndir, 'solver.prototxt'), 'a') as f:
            f.write('iter_size: %d\n' % iter_size)
        train = os.path.join(ndir, 'train.prototxt')
        param = io.read_prototxt(train)
        kept = [lp for lp in param.layer if lp.type != 'Dropout']   # in place: its masks differ by process
        del param.layer[:]
        param.layer.extend(kept)
        with open(train, 'w') as f:
            f.write(text_format.MessageToString(param))


def child_train(run, device):
    """Train the nccl step's net in run/ for 4 iterations (a torchrun rank joins its group first);
    a rank then sums and broadcasts the engine's blobs over the group, which NCCL does on a GPU."""
    from fcn import training
    from torchcaffe import distributed
    gpu = None if device == 'cpu' else int(device)
    rank_of = os.environ.get('RANK')
    if rank_of is not None:        # a group even of one: NCCL is exercised with a single GPU too
        import torch
        import torch.distributed as dist
        if gpu is not None:
            torch.cuda.set_device(gpu + int(os.environ.get('LOCAL_RANK', '0')))
        dist.init_process_group('nccl' if gpu is not None else 'gloo')
    path = training.train(os.path.join(run, 'net', 'shapes-fcn8s'), iters=4, test_interval=1000, gpu=gpu, out=run)
    first = rank_of in (None, '0')     # one rank prints: lines of two processes can interleave in the log
    if first:
        print('weights: %s' % path, flush=True)
    if rank_of is not None:
        trip = group_round_trip(distributed)
        if first:
            print('RESULT ' + json.dumps(trip), flush=True)
        distributed.leave()


def group_round_trip(distributed):
    """Each rank's diffs set to rank+1 and summed, rank 0's weights broadcast: what the solver relies on."""
    import numpy as np
    import torch.distributed as dist
    import torchcaffe as caffe
    net = caffe.Net(os.path.join(ROOT, 'models', 'shapes-fcn8s', 'deploy.prototxt'), caffe.TEST)
    blobs = [b for params in net.params.values() for b in params]
    rank, world = dist.get_rank(), dist.get_world_size()
    for b in blobs:
        b.diff[...] = rank + 1
        b.data[...] = rank
    distributed.sum_diffs(blobs)
    distributed.broadcast_data(blobs)
    sums = all(np.all(b.diff == world * (world + 1) / 2) for b in blobs)
    same = all(np.all(b.data == 0) for b in blobs)
    if not (sums and same):
        raise GpuCheckError('rank %d: all-reduce %s, broadcast %s' % (rank, 'ok' if sums else 'WRONG',
                                                                      'ok' if same else 'WRONG'))
    return {'backend': dist.get_backend(), 'world_size': world, 'round_trip_values': sum(b.count for b in blobs)}


def child_compare(folder):
    """Final weights of the one-process run against the ranks' run."""
    import numpy as np
    from fcn import training
    from torchcaffe.proto import caffe_pb2

    def weights(run):
        snap = training.latest_snapshot(os.path.join(folder, run))
        if snap is None:
            raise GpuCheckError('no snapshot in %s' % os.path.join(folder, run))
        model = caffe_pb2.NetParameter()
        with open(training.model_of(snap[1]), 'rb') as f:
            model.ParseFromString(f.read())
        return {(l.name, i): np.array(b.data, np.float32) for l in model.layer for i, b in enumerate(l.blobs)}
    a, b = weights('single'), weights('ranks')
    if a.keys() != b.keys():
        raise GpuCheckError('the two runs saved different parameters')
    diff = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    scale = max(float(np.abs(a[k]).max()) for k in a)
    identical = all(np.array_equal(a[k], b[k]) for k in a)
    print('RESULT ' + json.dumps({'identical': identical, 'max_abs_diff': diff, 'max_rel_diff': diff / scale}))
    if diff > 1e-3 * scale:
        raise GpuCheckError('ranks and iter_size differ by %.3g (largest weight %.3g)' % (diff, scale))


def child_infer_inputs(net_name, weights, images, *sizes):
    """Random He-scaled weights for the net's deploy net, and noise images of the given WxH sizes."""
    import numpy as np
    from PIL import Image
    import torchcaffe as caffe
    from benchmarks import measure
    net = caffe.Net(os.path.join(ROOT, 'models', net_name, 'deploy.prototxt'), caffe.TEST)
    measure.randomize(net)
    net.save(weights)
    os.makedirs(images, exist_ok=True)
    rng = np.random.RandomState(0)
    for size in sizes:
        w, h = (int(v) for v in size.split('x'))
        small = rng.randint(0, 256, size=(max(1, h // 16), max(1, w // 16), 3)).astype(np.uint8)
        Image.fromarray(small).resize((w, h), Image.BILINEAR).save(os.path.join(images, size + '.jpg'), quality=90)
    print('RESULT ' + json.dumps({'net': net_name, 'images': list(sizes)}))


CHILDREN = {'wheels': child_wheels, 'env': child_env, 'nccl-data': child_nccl_data, 'train': child_train,
            'compare': child_compare, 'infer-inputs': child_infer_inputs}


# -- the summary ---------------------------------------------------------------------


def write_summary(out, summary):
    with open(os.path.join(out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    lines = ['# GPU check%s' % (' (dry run: toy sizes on the CPU)' if summary['dry'] else ''), '',
             'Started %s, %.0f s in all, budget %d s.' % (summary['started'], summary['wall_s'],
                                                           summary['budget_s']), '',
             '| step | status | exit | wall s | limit s | log |', '|---|---|---|---|---|---|']
    for e in summary['steps']:
        lines.append('| %s | %s | %s | %.1f | %.0f | %s |' % (e['name'], e['status'], e.get('exit', '-'),
                                                            e['wall_s'], e['limit_s'], e['log']))
    for e in summary['steps']:
        if e.get('results'):
            lines += ['', '## %s' % e['name'], '']
            for key, value in e['results'].items():
                if isinstance(value, list):
                    lines += ['- %s:%s' % (key, '' if value else ' none')] + ['  - %s' % v for v in value]
                else:
                    lines.append('- %s: %s' % (key, value))
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


def download_wheels(names):
    """pip download the wheels for Python 3.12 on x86-64 Linux into gpu-wheels/ (all REQUIREMENTS, or names)."""
    reqs = names or [req for _, req in REQUIREMENTS]
    if subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d', WHEELS]
                      + WHEEL_PLATFORM + reqs).returncode:
        raise GpuCheckError('pip could not download %s' % ' '.join(reqs))
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(WHEELS, '*.whl')))
    print('%s: %d wheels, %.1f MiB' % (WHEELS, len(glob.glob(os.path.join(WHEELS, '*.whl'))), total / 2 ** 20))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=os.path.join(ROOT, 'out', 'gpu-check'), help='folder for logs and results')
    ap.add_argument('--dry', action='store_true', help='every step at toy size on the CPU')
    ap.add_argument('--gpu', type=int, default=0, help='CUDA device (default 0)')
    ap.add_argument('--budget', type=float, help='seconds for all steps (default %d, dry %d)'
                    % (BUDGET_S, DRY_BUDGET_S))
    ap.add_argument('--only', nargs='+', metavar='STEP', help='run these steps only')
    ap.add_argument('--probe', action='store_true', help='print the requirements this interpreter lacks and stop')
    ap.add_argument('--download-wheels', nargs='*', metavar='REQ',
                    help='download wheels into gpu-wheels/ for the GPU machine (default: every requirement)')
    ap.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        if args.child:
            return CHILDREN[args.child[0]](*args.child[1:])
        if args.download_wheels is not None:
            return download_wheels(args.download_wheels)
        if args.probe:
            return print(' '.join(missing_requirements()) or 'nothing missing')
        return check(args)
    except GpuCheckError as e:
        sys.exit('gpu-check: %s' % e)


def check(args):
    """Run the steps into args.out and write the summary; returns it, or raises when a step was not ok."""
    args.out = os.path.abspath(args.out)
    args.site = os.path.join(WHEELS, 'site-py%d.%d' % sys.version_info[:2])   # binaries of this Python only
    args.gpus = 0
    if not args.dry:
        import torch
        args.gpus = torch.cuda.device_count()
        if not args.gpus:
            raise GpuCheckError('no CUDA device here: run with --dry for the CPU rehearsal')
    os.makedirs(args.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix='gpu-check-')   # big inputs (weights, images) that need not come back
    paths = [ROOT, args.site] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    todo = [s for s in steps(args, scratch) if not args.only or s.name in args.only]
    budget = args.budget if args.budget is not None else DRY_BUDGET_S if args.dry else BUDGET_S
    summary = {'dry': args.dry, 'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'), 'budget_s': budget}
    start = time.time()
    try:
        summary['steps'] = run_steps(todo, args.out, budget, env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for snapshots in glob.glob(os.path.join(args.out, '**', 'snapshots'), recursive=True):
        shutil.rmtree(snapshots)       # the bulk of the folder (the demo's is 75 MB), and no figure of the check
    summary['wall_s'] = round(time.time() - start, 1)
    write_summary(args.out, summary)
    print('[gpu-check] %s' % os.path.join(args.out, 'summary.md'))
    bad = [e['name'] for e in summary['steps'] if e['status'] != 'ok']
    if bad:
        raise GpuCheckError('%d of %d steps not ok (%s): see %s' % (len(bad), len(summary['steps']), ', '.join(bad),
                                                                    os.path.join(args.out, 'summary.md')))
    return summary


if __name__ == '__main__':
    main()
