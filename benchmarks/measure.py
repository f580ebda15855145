"""The measurements `make bench` takes, each run in a process of its own (see bench.py):
the benchmarked nets at a size with random weights, timers that wait for the device,
forward/backward/training/memory of the engine and of plain PyTorch, a per-layer
profile, compiled inference, the device's peak, and fast mode's deviation on trained nets.
"""
import os
import resource
import statistics
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import numpy as np
import torch
import torch.nn.functional as F

NETS = ['voc-fcn32s', 'voc-fcn16s', 'voc-fcn8s', 'voc-fcn-alexnet']
SIZES = {'500x500': (500, 500), '500x375': (375, 500)}   # name (width x height): (H, W)

# Dense peak TFLOP/s (fp32 without tensor cores, bf16 with them) from NVIDIA's data sheets, by the words
# of torch.cuda.get_device_name(); the first match wins (an H100 named by neither PCIe nor NVL is the SXM).
GPU_PEAKS = [(('H100', 'PCIe'), 'H100 PCIe', 51.2, 756.0), (('H100', 'NVL'), 'H100 NVL', 60.0, 835.5),
             (('H100',), 'H100 SXM', 67.0, 989.4), (('H200',), 'H200', 67.0, 989.4),
             (('A100',), 'A100', 19.5, 312.0)]


# -- the nets -------------------------------------------------------------------------


def _net_param(net_name, which):
    from torchcaffe import io
    return io.read_prototxt(os.path.join(ROOT, 'models', net_name, which + '.prototxt'))


def _input_layer(name, shape):
    from torchcaffe.proto import caffe_pb2
    lp = caffe_pb2.LayerParameter(name=name, type='Input', top=[name])
    lp.input_param.shape.add().dim.extend(shape)
    return lp


def train_param(net_name, hw, data_dir=None):
    """The net's train.prototxt with its data layer reading `data_dir` (VOC layout), or,
    without one, fed by Input blobs of size hw: the arithmetic of training without the data."""
    param = _net_param(net_name, 'train')
    data = param.layer[0]
    assert data.type == 'Python', 'expected the data layer first in %s' % net_name
    if data_dir:
        data.python_param.layer = 'VOCSegDataLayer'
        data.python_param.param_str = repr({'voc_dir': data_dir, 'split': 'train', 'seed': 1337,
                                            'mean': (104.00699, 116.66877, 122.67892)})
        return param
    rest = list(param.layer)[1:]
    del param.layer[:]
    param.layer.extend([_input_layer('data', (1, 3) + hw), _input_layer('label', (1, 1) + hw)] + rest)
    return param


def frozen_layers(net_name):
    """Layers of the net's train.prototxt whose every param has lr_mult 0."""
    return [lp.name for lp in _net_param(net_name, 'train').layer
            if lp.param and all(p.lr_mult == 0 for p in lp.param)]


def randomize(net, seed=0):
    """He-scaled random weights (deploy nets carry no fillers; zeros would compute nothing real)."""
    rng = np.random.RandomState(seed)
    for blobs in net.params.values():
        w = blobs[0].data
        fan_in = w[0].size
        w[...] = rng.randn(*w.shape) * np.sqrt(2.0 / fan_in)
        for b in blobs[1:]:
            b.data[...] = 0.01 * rng.randn(*b.data.shape)


def flops(net):
    """Multiply-adds x 2 of the convolutions, deconvolutions and inner products of one forward."""
    total = 0
    for name, layer in net.layer_dict.items():
        if layer.type not in ('Convolution', 'Deconvolution', 'InnerProduct'):
            continue
        weights = net.params[name][0].count
        top = net.blobs[net.top_names[name][0]].shape
        bottom = net.blobs[net.bottom_names[name][0]].shape
        if layer.type == 'Convolution':
            total += 2 * weights * top[0] * top[2] * top[3]
        elif layer.type == 'Deconvolution':
            total += 2 * weights * bottom[0] * bottom[2] * bottom[3]
        else:
            total += 2 * weights * top[0]
    return total


# -- timing ---------------------------------------------------------------------------


def sync():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def interleaved(fns, reps, warmup):
    """Median seconds of each of fns, run in turn: warmup rounds, then reps timed rounds."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(reps):
        for fn, t in zip(fns, times):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def timed(fn, reps, warmup):
    """Median seconds of fn() over reps calls after warmup calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory(reset=False):
    """Bytes: the CUDA allocator's peak since the last reset, or the process's peak RSS."""
    from torchcaffe import mode
    if mode.device().type == 'cuda':
        if reset:
            torch.cuda.reset_peak_memory_stats()
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def device_peak(fast):
    """(peak TFLOP/s, how it was found) for the arithmetic in use."""
    from torchcaffe import mode
    if mode.device().type == 'cuda':
        name = torch.cuda.get_device_name()
        for words, model, fp32, bf16 in GPU_PEAKS:
            if all(w in name for w in words):
                return (bf16 if fast else fp32), 'data sheet, %s %s' % (model, 'bf16' if fast else 'fp32')
    # A CPU has no data sheet here: take the best of dense kernels that reach it (the BLAS matmul
    # and oneDNN's 3x3 convolution differ by 2x on some CPUs), so no net can show over 100%. Each
    # kernel grows until one call takes a noticeable time: bf16 without native CPU support runs at
    # about 1 GFLOP/s, where the largest sizes would take minutes a call.
    dtype = torch.bfloat16 if fast else torch.float32
    fmt = mode.memory_format()
    dev = mode.device()

    def matmul(n):
        a = torch.randn(n, n, device=dev).to(dtype)
        return (lambda: a @ a), 2 * n ** 3, '%d^3 matmul' % n

    def conv(c, s):
        x = torch.randn(1, c, s, s, device=dev).to(dtype, memory_format=fmt)
        w = torch.randn(c, c, 3, 3, device=dev).to(dtype, memory_format=fmt)
        return ((lambda: F.conv2d(x, w, padding=1)), 2 * c * c * 9 * s * s,
                '3x3 convolution %d->%d channels at %dx%d' % (c, c, s, s))

    best = (0.0, '')
    with torch.no_grad():
        for make, sizes in ((matmul, (256, 512, 1024, 2048, 4096)),
                            (lambda s: conv(256, s), (16, 32, 64, 128)),
                            (lambda s: conv(512, s), (8, 16, 32, 64))):
            for size in sizes:
                fn, flops, words = make(size)
                if timed(fn, reps=1, warmup=1) > 0.1:
                    break
            best = max(best, (flops / timed(fn, reps=5, warmup=0), words))   # the probe above warmed it
    return best[0] / 1e12, 'measured, best dense kernel: %s %s' % (str(dtype).split('.')[-1], best[1])


# -- measurements -------------------------------------------------------------------------


def write_voc_like(root, hw, n=8, seed=0):
    """A synthetic dataset in VOC's layout (JPEG images, palette label PNGs, train split) of size hw."""
    from PIL import Image
    import vis
    rng = np.random.RandomState(seed)
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    ids = ['%06d' % i for i in range(n)]
    for i in ids:
        label = np.zeros(hw, np.uint8)
        for _ in range(3):
            h, w = rng.randint(hw[0] // 8, hw[0] // 3), rng.randint(hw[1] // 8, hw[1] // 3)
            y, x = rng.randint(0, hw[0] - h), rng.randint(0, hw[1] - w)
            label[y:y + h, x:x + w] = rng.randint(1, 21)
        rgb = (rng.rand(*hw, 3) * 80 + label[..., None] * 8).astype(np.uint8)
        Image.fromarray(rgb).save(os.path.join(root, 'JPEGImages', i + '.jpg'), quality=90)
        vis.save_label_png(os.path.join(root, 'SegmentationClass', i + '.png'), label)
    with open(os.path.join(root, 'ImageSets', 'Segmentation', 'train.txt'), 'w') as f:
        f.write('\n'.join(ids) + '\n')


def engine_forward(net_name, hw):
    """The engine's deploy net at hw with random weights and input: (net, forward)."""
    from torchcaffe import Net, TEST
    deploy = Net(os.path.join(ROOT, 'models', net_name, 'deploy.prototxt'), TEST)
    deploy.blobs['data'].reshape(1, 3, *hw)
    deploy.reshape()
    randomize(deploy)
    deploy.blobs['data'].data[...] = bench_input(hw)
    return deploy, deploy.forward


def engine_forward_backward(net_name, hw):
    """The engine's training net at hw fed by Input blobs: (net, one zeroed forward+backward)."""
    from torchcaffe import Net, TRAIN
    fb = Net(train_param(net_name, hw), TRAIN)
    randomize(fb)
    fb.blobs['data'].data[...] = bench_input(hw)
    fb.blobs['label'].data[...] = bench_label(hw)
    learnable = fb.learnable_params

    def forward_backward():
        for b in learnable:
            b.diff_tensor.zero_()
        fb.forward_backward()
    return fb, forward_backward


def bench_input(hw):
    return np.random.RandomState(1).randn(1, 3, *hw).astype(np.float32) * 50


def bench_label(hw):
    return np.random.RandomState(2).randint(0, 21, size=(1, 1) + hw)


def measure_engine(net_name, hw, train_steps, warmup, iter_size=None):
    """Peak memory, FLOPs and scores of the engine's passes, and its real training speed
    (train_steps timed solver steps after warmup ones; iter_size in place of the solver's, if given)."""
    from torchcaffe import get_solver
    result = {}
    deploy, forward = engine_forward(net_name, hw)
    result['gflops'] = flops(deploy) / 1e9
    peak_memory(reset=True)
    timed(forward, 1, 1)
    result['fwd_mem'] = peak_memory()
    result['score'] = deploy.blobs['score'].data[0, :, ::8, ::8].tolist()   # for the same-function check
    del deploy, forward
    fb, forward_backward = engine_forward_backward(net_name, hw)
    peak_memory(reset=True)
    timed(forward_backward, 1, 1)
    result['fb_mem'] = peak_memory()
    del fb, forward_backward
    if train_steps:
        result.update(measure_training(net_name, hw, train_steps, warmup, get_solver, iter_size))
    return result


def measure_training(net_name, hw, steps, warmup, get_solver, iter_size=None):
    """Real solver steps through the VOC data layer: iterations/s and the data-wait fraction."""
    with tempfile.TemporaryDirectory() as tmp:
        write_voc_like(os.path.join(tmp, 'voc'), hw)
        net_file = os.path.join(tmp, 'train.prototxt')
        _write_text(net_file, train_param(net_name, hw, os.path.join(tmp, 'voc')))
        solver_file = os.path.join(tmp, 'solver.prototxt')
        with open(os.path.join(ROOT, 'models', net_name, 'solver.prototxt')) as f:
            drop = ('train_net', 'test_', 'snapshot', 'display') + (('iter_size',) if iter_size else ())
            lines = [l for l in f if not l.startswith(drop)]
        if iter_size:
            lines.append('iter_size: %d\n' % iter_size)
        with open(solver_file, 'w') as f:
            f.write('train_net: "%s"\n' % net_file + ''.join(lines) + 'snapshot: 0\ndisplay: 0\n')
        solver = get_solver(solver_file)
        randomize(solver.net)
        data = solver.net.layers[0]
        waited = [0.0]
        read = data.forward

        def timed_read(bottom, top):
            start = time.perf_counter()
            read(bottom, top)
            waited[0] += time.perf_counter() - start

        data.forward = timed_read
        solver.step(max(1, warmup))
        sync()
        waited[0] = 0.0
        peak_memory(reset=True)
        start = time.perf_counter()
        solver.step(steps)
        sync()
        seconds = time.perf_counter() - start
        return {'train_its': steps / seconds, 'iter_size': solver.param.iter_size,
                'data_wait': waited[0] / seconds, 'train_mem': peak_memory()}


def _write_text(path, param):
    from google.protobuf import text_format
    with open(path, 'w') as f:
        f.write(text_format.MessageToString(param))


def plain_passes(net_name, hw):
    """The plain PyTorch module with the engine's random weights: (forward, forward_backward)."""
    from torchcaffe import mode
    from benchmarks.plain import plain_fcn
    deploy, _ = engine_forward(net_name, hw)
    dev = mode.device()
    model = plain_fcn(net_name).load_from(deploy).freeze(frozen_layers(net_name)).to(dev)
    del deploy
    fmt = mode.memory_format()
    model = model.to(memory_format=fmt)
    x = torch.from_numpy(bench_input(hw)).to(dev).contiguous(memory_format=fmt)
    label = torch.from_numpy(bench_label(hw)).to(dev)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)

    def forward():
        model.eval()
        with torch.no_grad(), mode.autocast():
            return model(x)

    def forward_backward():
        model.train()
        model.zero_grad(set_to_none=False)
        with mode.autocast():
            loss = model.loss(model(x).float(), label)
        loss.backward()
    return forward, forward_backward


def measure_plain(net_name, hw):
    """Peak memory and scores of the plain module's passes."""
    forward, forward_backward = plain_passes(net_name, hw)
    result = {}
    peak_memory(reset=True)
    timed(forward, 1, 1)
    result['fwd_mem'] = peak_memory()
    result['score'] = forward()[0, :, ::8, ::8].float().cpu().numpy().tolist()
    peak_memory(reset=True)
    timed(forward_backward, 1, 1)
    result['fb_mem'] = peak_memory()
    return result


def measure_pair(net_name, hw, reps, warmup):
    """Engine and plain times taken in one process, alternating pass by pass, so that the
    machine's drift and the process's memory state weigh on both alike: the overhead figures."""
    plain_fwd, plain_fb = plain_passes(net_name, hw)
    deploy, engine_fwd = engine_forward(net_name, hw)
    fwd = interleaved([engine_fwd, plain_fwd], reps, warmup)
    del deploy, engine_fwd
    fb, engine_fb = engine_forward_backward(net_name, hw)
    both = interleaved([engine_fb, plain_fb], reps, warmup)
    return {'engine': {'fwd_s': fwd[0], 'fb_s': both[0]}, 'plain': {'fwd_s': fwd[1], 'fb_s': both[1]}}


def measure_compiled(net_name, hw, reps, warmup):
    """Fast mode's forward with and without compile=True, taking turns on one deploy net: the first
    compiled pass (which compiles), the steady times, and how far the compiled scores move."""
    import torchcaffe as caffe
    deploy, forward = engine_forward(net_name, hw)

    def scores(compile):
        caffe.set_fast_mode(compile=compile)
        forward()
        return deploy.blobs['score'].data.copy()

    ref = scores(compile=False)
    sync()
    start = time.perf_counter()
    got = scores(compile=True)
    sync()
    first = time.perf_counter() - start
    times = interleaved([lambda: scores(False), lambda: scores(True)], reps, warmup)
    caffe.set_fast_mode()
    return {'first_s': first, 'fwd_s': times[0], 'compiled_s': times[1],
            'rel': float(np.abs(got - ref).max() / (np.abs(ref).max() + 1e-12))}


def profile_layers(net_name, hw, reps, warmup):
    """Per-layer seconds of a training pass (forward+backward, no data layer), like `caffe time`,
    and the pass's wall time: what the layers do not account for is the engine's own bookkeeping."""
    from torchcaffe import Net, TRAIN
    from torchcaffe.timing import LayerTimes
    fb = Net(train_param(net_name, hw), TRAIN)
    randomize(fb)
    fb.blobs['data'].data[...] = np.random.RandomState(1).randn(1, 3, *hw).astype(np.float32) * 50
    fb.blobs['label'].data[...] = np.random.RandomState(2).randint(0, 21, size=(1, 1) + hw)
    for _ in range(max(1, warmup)):
        fb.forward_backward()
    sync()
    start = time.perf_counter()
    with LayerTimes(fb) as times:
        for _ in range(reps):
            fb.forward_backward()
    wall = time.perf_counter() - start
    return {'rows': [(n, t, f / reps, b / reps) for n, t, f, b in times.rows()], 'wall_s': wall / reps}


CHAIN_DEPTH = 50   # 1x1 convolutions, each with an in-place ReLU, in the bookkeeping chain


def chain_param():
    """A net where arithmetic is next to nothing: CHAIN_DEPTH 1x1 convolutions with in-place ReLUs
    on a 1x4x4x4 blob, then a loss. Timing it times each layer's fixed cost."""
    from torchcaffe.proto import caffe_pb2
    param = caffe_pb2.NetParameter(name='chain')
    param.layer.extend([_input_layer('data', (1, 4, 4, 4)), _input_layer('label', (1, 1, 4, 4))])
    bottom = 'data'
    for i in range(CHAIN_DEPTH):
        top = 'conv%d' % i
        conv = param.layer.add(name=top, type='Convolution', bottom=[bottom], top=[top])
        conv.convolution_param.num_output = 4
        conv.convolution_param.kernel_size.append(1)
        conv.convolution_param.weight_filler.type = 'xavier'
        param.layer.add(name='relu%d' % i, type='ReLU', bottom=[top], top=[top])
        bottom = top
    param.layer.add(name='loss', type='SoftmaxWithLoss', bottom=[bottom, 'label'], top=['loss'])
    return param


def measure_bookkeeping(net_name, reps, warmup):
    """Microseconds per layer of the engine and of plain PyTorch on the chain (forward of a TEST
    net, forward+backward of a TRAIN net), taking turns; and how many layers net_name trains with,
    to scale the difference to it. On a GPU the figures include kernel launches."""
    import torchcaffe as caffe
    from torchcaffe import mode
    param = chain_param()
    rng = np.random.RandomState(0)
    x = rng.randn(1, 4, 4, 4).astype(np.float32)
    label = rng.randint(0, 4, size=(1, 1, 4, 4)).astype(np.float32)
    test, train = caffe.Net(param, caffe.TEST), caffe.Net(param, caffe.TRAIN)
    for net in (test, train):
        net.blobs['data'].data[...] = x
        net.blobs['label'].data[...] = label
    dev = mode.device()
    xt = torch.from_numpy(x).to(dev)
    lt = torch.from_numpy(label).long().reshape(1, 4, 4).to(dev)
    params = [[b.tensor.detach().clone().requires_grad_() for b in train.params['conv%d' % i]]
              for i in range(CHAIN_DEPTH)]

    def plain_scores():
        y = xt
        for w, b in params:
            y = torch.relu(F.conv2d(y, w, b))
        return F.cross_entropy(y, lt)

    def plain_forward():
        with torch.no_grad():
            plain_scores()

    def plain_forward_backward():
        plain_scores().backward()

    fwd = interleaved([test.forward, plain_forward], reps * 20, warmup * 20)
    fb = interleaved([train.forward_backward, plain_forward_backward], reps * 20, warmup * 20)
    layers = 2 * CHAIN_DEPTH + 1
    counted = [lp for lp in _net_param(net_name, 'train').layer if lp.type not in ('Python', 'Input', 'Data')]
    return {'layers': layers, 'net_layers': len(counted),
            'engine_fwd_us': 1e6 * fwd[0] / layers, 'plain_fwd_us': 1e6 * fwd[1] / layers,
            'engine_fb_us': 1e6 * fb[0] / layers, 'plain_fb_us': 1e6 * fb[1] / layers}


def measure_dropout(net_name, hw, reps, warmup):
    """A training pass (forward+backward) of net_name's TRAIN net with its Dropout masks drawn from
    Caffe's CPU stream (torchcaffe.rng) and from torch's generator (the engine before it), taking
    turns; and the masks alone, drawn both ways for the same Dropout bottoms."""
    from torchcaffe import rng
    fb, forward_backward = engine_forward_backward(net_name, hw)
    fb.forward()
    drops = [lp for lp in _net_param(net_name, 'train').layer if lp.type == 'Dropout']
    shapes = [tuple(fb.blobs[lp.bottom[0]].data.shape) for lp in drops]
    ratios = [lp.dropout_param.dropout_ratio for lp in drops]
    rng.seed(1)
    caffe_stream = [rng.get_state()]

    def with_torch():
        rng.set_state(None)
        forward_backward()

    def with_caffe():
        rng.set_state(caffe_stream[0])
        forward_backward()
        caffe_stream[0] = rng.get_state()

    passes = interleaved([with_torch, with_caffe], reps, warmup)

    def masks_torch():
        for shape, r in zip(shapes, ratios):
            torch.rand(shape) >= r

    def masks_caffe():
        for shape, r in zip(shapes, ratios):
            rng.dropout_mask(shape, r)

    rng.seed(1)
    masks = interleaved([masks_torch, masks_caffe], reps * 10, warmup * 10)
    return {'units': int(sum(np.prod(s) for s in shapes)), 'layers': [lp.name for lp in drops],
            'pass_torch': passes[0], 'pass_caffe': passes[1], 'masks_torch': masks[0], 'masks_caffe': masks[1]}


def parse_size(name):
    """'500x375' (width x height) -> (H, W)."""
    if name in SIZES:
        return SIZES[name]
    w, h = (int(v) for v in name.split('x'))
    return h, w


# -- deviation of fast mode ------------------------------------------------------------


def deviation(gpu):
    """Fast vs faithful on trained nets: [(net, what, max relative difference, argmax agreement)]."""
    import torchcaffe as caffe
    if gpu is not None:
        caffe.set_device(gpu)
        caffe.set_mode_gpu()
    rows = []
    lenet = os.path.join(ROOT, 'tests', 'real_models', 'lenet-mnist')
    e = np.load(os.path.join(lenet, 'expected.npz'))

    def lenet_prob():
        net = caffe.Net(os.path.join(lenet, 'lenet.prototxt'), os.path.join(lenet, 'lenet_iter_10000.caffemodel'),
                        caffe.TEST)
        net.blobs['data'].reshape(*e['x'].shape)
        net.reshape()
        return net.forward(data=e['x'])['prob'].copy()

    rows.append(('LeNet (trained by Caffe)', '%d MNIST digits, prob' % len(e['x'])) + _compare(lenet_prob, axis=1))
    from fcn import inference, paths, training
    from models import records
    rec = records.get('shapes-fcn8s')
    snap = training.latest_snapshot(paths.out_dir(rec.name))
    ids_file = paths.data_path(rec.val_ids)
    if snap and os.path.isfile(ids_file):
        weights = training.model_of(snap[1])
        ids = training.val_ids(rec)[:20]
        mean = rec.inputs[0].modalities[0].mean

        def shapes_scores():
            net = caffe.Net(rec.deploy, caffe.TEST, weights=weights)
            out = []
            for i in ids:
                rgb = inference.load_rgb(os.path.join(os.path.dirname(ids_file), 'images', i + '.jpg'))
                inference.segment(net, rgb, mean=mean)
                out.append(net.blobs['score'].data[0].copy())
            return np.stack(out)

        rows.append(('shapes-fcn8s (make demo)', '%d held-out images, score' % len(ids))
                    + _compare(shapes_scores, axis=1))
    else:
        rows.append(('shapes-fcn8s', 'not measured: run `make demo` first', None, None))
    caffe.set_faithful_mode()
    return rows


def _compare(compute, axis):
    import torchcaffe as caffe
    caffe.set_faithful_mode()
    ref = compute()
    caffe.set_fast_mode()
    got = compute()
    caffe.set_faithful_mode()
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    agree = float(np.mean(got.argmax(axis) == ref.argmax(axis)))
    return rel, agree
