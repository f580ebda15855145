"""`make bench`: where FCN's time goes, on this machine, written to BENCHMARKS.md.

For voc-fcn32s/16s/8s and voc-fcn-alexnet at 500x500 and at a typical VOC size
(500 wide, 375 tall) it measures, in faithful and in fast mode:

- forward and forward+backward time of the engine, beside the same net written
  as a plain PyTorch module (benchmarks/plain.py) with the same weights: the
  gap is the engine's overhead;
- achieved TFLOP/s against the device's peak (the roofline);
- real training steps (SGD solver, the VOC data layer with prefetch, on a
  synthetic dataset in VOC's layout) per second, and the fraction of each step
  spent waiting for data;
- peak memory (CUDA: allocator peak; CPU: the process's peak RSS);
- where a training pass of FCN-8s spends its time, layer by layer, and how
  the figures stand against the project's targets;
- fast mode's forward with compile=True (torch.compile) beside it without;
- how far fast mode moves a trained net's outputs from the faithful ones;
- infer.py on a folder of 500x375 photos: images/s beside the bare forward (benchmarks/folder.py).

    python -m benchmarks.bench                       # every net and size, CPU, writes BENCHMARKS.md
    python -m benchmarks.bench --gpu 0 --reps 20     # on a CUDA device
    python -m benchmarks.bench --nets voc-fcn8s --sizes 500x500 --modes faithful

Peak memory and training are measured in a process per (net, size, mode,
implementation), so that each peak is its own; the engine and plain times are
taken in one more process per (net, size, mode), the two taking turns pass by
pass, so that the machine's drift weighs on both alike. The measurements are in
measure.py, the report's text in report.py.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch

from benchmarks import folder, measure, report
from benchmarks.measure import NETS, ROOT, SIZES, parse_size
from torchcaffe import mode as caffe_mode
from torchcaffe.io import write_atomic

MODES = ['faithful', 'fast']


def run_one(args):
    """The child process: one (net, size, mode, implementation); prints a JSON line."""
    import torchcaffe as caffe
    torch.manual_seed(0)
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    fast = args.one_mode == 'fast'
    if fast:
        caffe.set_fast_mode()
    if args.one_impl == 'peak':
        result = dict(zip(('tflops', 'source'), measure.device_peak(fast)))
    elif args.one_impl == 'profile':
        result = measure.profile_layers(args.one_net, parse_size(args.one_size), args.reps, args.warmup)
    elif args.one_impl == 'engine':
        result = measure.measure_engine(args.one_net, parse_size(args.one_size), args.train_steps, args.warmup,
                                        args.iter_size)
    elif args.one_impl == 'bookkeeping':
        result = measure.measure_bookkeeping(args.one_net, args.reps, args.warmup)
    elif args.one_impl == 'dropout':
        result = measure.measure_dropout(args.one_net, parse_size(args.one_size), args.reps, args.warmup)
    elif args.one_impl == 'compiled':
        result = measure.measure_compiled(args.one_net, parse_size(args.one_size), args.reps, args.warmup)
    elif args.one_impl == 'pair':
        result = measure.measure_pair(args.one_net, parse_size(args.one_size), args.reps, args.warmup)
    else:
        result = measure.measure_plain(args.one_net, parse_size(args.one_size))
    print('RESULT ' + json.dumps(result))


def _child(args, net, size, mode_name, impl):
    """Run one measurement in a fresh process (its own peak memory) and return its result."""
    cmd = [sys.executable, '-m', 'benchmarks.bench', '--one', net, size, mode_name, impl,
           '--reps', str(args.reps), '--warmup', str(args.warmup), '--train-steps', str(args.train_steps)]
    if args.gpu is not None:
        cmd += ['--gpu', str(args.gpu)]
    if args.iter_size:
        cmd += ['--iter-size', str(args.iter_size)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith('RESULT '):
            return json.loads(line[len('RESULT '):])
    raise RuntimeError('%s %s %s %s failed:\n%s' % (net, size, mode_name, impl, proc.stderr[-3000:]))


def measure_compiled_rows(args):
    """Fast mode with and without compile=True, a child process per net and size."""
    rows = {}
    for net in args.nets:
        for size in args.sizes:
            print('%s %s fast, compiled ...' % (net, size), flush=True)
            rows[(net, size)] = _child(args, net, size, 'fast', 'compiled')
    return rows


def profiled_net(args):
    """The net of the per-layer profile and of the bookkeeping scale: FCN-8s when it is in the run."""
    return 'voc-fcn8s' if 'voc-fcn8s' in args.nets else args.nets[0]


def bookkeeping_text(args):
    net = profiled_net(args)
    return report.bookkeeping_section(net, _child(args, net, '-', 'faithful', 'bookkeeping'))


def dropout_text(args):
    net = profiled_net(args)
    return report.dropout_section(net, args.sizes[0], _child(args, net, args.sizes[0], 'faithful', 'dropout'))


def compiled_text(args):
    return report.compiled_section(measure_compiled_rows(args), args.gpu)


def folder_text(args):
    """infer.py on a folder, for the profiled net (voc-fcn8s in a full run) in each mode of the run."""
    images, reps = 6, min(args.reps, 3)
    return folder.section(folder.measure(nets=(profiled_net(args),), modes=args.modes, images=images, reps=reps),
                          images, reps)


def deviation_text(args):
    return report.deviation_section(measure.deviation(args.gpu), args.gpu)


# The sections after the tables and profiles, in report order: name -> (title, measure and write it).
SECTIONS = {'bookkeeping': (report.BOOKKEEPING_TITLE, bookkeeping_text),
            'dropout': (report.DROPOUT_TITLE, dropout_text),
            'compiled': (report.COMPILED_TITLE, compiled_text),
            'deviation': (report.DEVIATION_TITLE, deviation_text),
            'folder': (folder.TITLE, folder_text)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nets', nargs='+', default=NETS)
    ap.add_argument('--sizes', nargs='+', default=list(SIZES), help='500x500, 500x375 or any WIDTHxHEIGHT')
    ap.add_argument('--modes', nargs='+', default=MODES, choices=MODES)
    ap.add_argument('--gpu', type=int, help='CUDA device (CPU when omitted)')
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=3,
                    help='untimed runs first (a CPU takes a few to reach its steady state)')
    ap.add_argument('--train-steps', type=int, default=3, help='timed solver steps (0: skip training)')
    ap.add_argument('--iter-size', type=int,
                    help='images per training iteration for every net (default: each net\'s solver.prototxt)')
    ap.add_argument('--skip', nargs='+', default=[], choices=list(SECTIONS), metavar='SECTION',
                    help='leave these sections out of the report: %s' % ', '.join(SECTIONS))
    ap.add_argument('--only', choices=list(SECTIONS),
                    help='measure one section only and put it into --out in place of its old self')
    ap.add_argument('--out', default=os.path.join(ROOT, 'BENCHMARKS.md'))
    ap.add_argument('--one', nargs=4, metavar=('NET', 'SIZE', 'MODE', 'IMPL'), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    if args.one:
        args.one_net, args.one_size, args.one_mode, args.one_impl = args.one
        return run_one(args)
    if args.only:
        title, measure_section = SECTIONS[args.only]
        section = measure_section(args) + '\nMeasured apart from the rest by `python -m benchmarks.bench %s`, %s.\n' % (
            ' '.join(args.argv), time.strftime('%Y-%m-%d'))
        report.replace_section(args.out, title, section)
        return print('updated "%s" in %s' % (title.lstrip('# '), args.out))
    start = time.time()
    results = {}
    peaks = {m: _child(args, '-', '-', m, 'peak') for m in args.modes}
    for mode_name in args.modes:
        for net in args.nets:
            for size in args.sizes:
                print('%s %s %s ...' % (net, size, mode_name), flush=True)
                eng, plain = (_child(args, net, size, mode_name, impl) for impl in ('engine', 'plain'))
                times = _child(args, net, size, mode_name, 'pair')
                eng.update(times['engine'])
                plain.update(times['plain'])
                results[(net, size, mode_name)] = eng, plain
    net = profiled_net(args)
    profiles = {m: (net, args.sizes[0], _child(args, net, args.sizes[0], m, 'profile')) for m in args.modes}
    skip = set(args.skip) | (set() if 'fast' in args.modes else {'compiled', 'deviation'})
    if args.gpu is not None:   # GPU Dropout draws from torch's generator either way
        skip.add('dropout')
    sections = [write(args) for name, (_, write) in SECTIONS.items() if name not in skip]
    device_name = torch.cuda.get_device_name(args.gpu) if args.gpu is not None else \
        '%s, %d cores, %s, %s bfloat16' % (platform.processor() or 'CPU', os.cpu_count(),
                                          torch.backends.cpu.get_cpu_capability(),
                                          {True: 'native', False: 'no native', None: 'unknown'}[
                                              caffe_mode.cpu_has_native_bf16()])
    text = report.markdown(args, results, peaks, profiles, sections, device_name, time.time() - start)
    write_atomic(args.out, text.encode())
    print(text)


if __name__ == '__main__':
    main()
