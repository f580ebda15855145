"""Segment images with a trained FCN: a palette label PNG of each image's size,
plus an overlay to look at.

    python infer.py image.jpg                      # voc-fcn8s with weights/voc-fcn8s.caffemodel
    python infer.py photos/ more.png --net voc-fcn32s --weights my.caffemodel --out results/

Memory stays bounded: before each image the net is reshaped (which allocates
nothing) to count the bytes its forward pass will hold.  An image whose pass
would not fit in --max-memory (default: 80% of the memory available now, or
of the free GPU memory) is segmented at the largest size of the same aspect
that fits, its label map scaled back (nearest) to the image's size, with a
notice; one so large that not even a small version fits is skipped with a
message.
"""
import argparse
import math
import os
import sys

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from backend import caffe
import solve
import vis

ROOT = os.path.dirname(os.path.abspath(__file__))
# The ILSVRC mean in BGR order, subtracted from every input as in the FCN release.
MEAN_BGR = np.array((104.00698793, 116.66876762, 122.67891434), dtype=np.float32)
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.ppm', '.webp')


class InputError(Exception):
    """An input image that cannot be segmented, with the reason."""


def load_rgb(path):
    """An image file as an RGB uint8 array, upright per its EXIF orientation."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
                arr = np.asarray(im, dtype=np.float64)
                peak = arr.max() or 1.0
                im = Image.fromarray((arr * (255.0 / peak)).astype(np.uint8))
            if im.mode in ('RGBA', 'LA', 'PA') or (im.mode == 'P' and 'transparency' in im.info):
                im = im.convert('RGBA')
                background = Image.new('RGBA', im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return np.asarray(im.convert('RGB'))
    except FileNotFoundError:
        raise InputError('no such file') from None
    except UnidentifiedImageError:
        raise InputError('not an image PIL can read') from None
    except Image.DecompressionBombError as e:
        raise InputError('too many pixels to decode safely (%s)' % e) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError('unreadable or truncated image (%s)' % e) from None


def preprocess(rgb):
    """RGB HxWx3 uint8 -> 1x3xHxW float32 BGR minus the mean, as the nets were trained."""
    bgr = rgb[:, :, ::-1].astype(np.float32) - MEAN_BGR
    return bgr.transpose(2, 0, 1)[None]


def available_memory():
    """Bytes a forward pass may use by default: 80% of what the device has free now."""
    if caffe.__name__ == 'torchcaffe' and caffe.mode.device().type == 'cuda':
        import torch
        return int(0.8 * torch.cuda.mem_get_info(caffe.mode.device())[0])
    try:
        with open('/proc/meminfo') as f:
            info = dict(line.split(':', 1) for line in f)
        return int(0.8 * int(info['MemAvailable'].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        return 8 << 30


def memory_needed(net, height, width):
    """Bytes of every blob and weight of a forward pass at height x width (reshaping allocates nothing)."""
    data = net.blobs[net.inputs[0]]
    try:
        data.reshape(1, data.shape[1], height, width)
        net.reshape()
    except getattr(caffe, 'CaffeError', RuntimeError):
        return math.inf          # a single blob over the engine's own limit
    blobs = sum(b.count for b in net.blobs.values())
    weights = sum(p.count for params in net.params.values() for p in params)
    return 4 * (blobs + weights)


def fitting_size(net, height, width, budget):
    """(h, w, bytes): the image's size if its pass fits in budget, else the largest fitting size of the
    same aspect; h is None when not even a 32-pixel side fits."""
    scale = 1.0
    while True:
        h, w = max(1, round(height * scale)), max(1, round(width * scale))
        need = memory_needed(net, h, w)
        if need <= budget:
            return h, w, need
        if min(h, w) <= 32:
            return None, None, need
        scale *= min(0.9, math.sqrt(budget / need)) if math.isfinite(need) else 0.5


def segment(net, rgb, score_blob='score'):
    """Label map (HxW uint8) of one RGB image."""
    x = preprocess(rgb)
    data = net.blobs[net.inputs[0]]
    data.reshape(*x.shape)
    data.data[...] = x
    net.reshape()
    net.forward()
    return net.blobs[score_blob].data[0].argmax(0).astype(np.uint8)


def segment_within(net, rgb, budget, name):
    """segment(), scaled down first when the image's forward pass would not fit in budget bytes."""
    height, width = rgb.shape[:2]
    h, w, need = fitting_size(net, height, width, budget)
    if h is None:
        raise InputError('%dx%d pixels: even scaled to a 32-pixel short side it needs %.3g GiB, over the %.3g GiB '
                         'budget (raise --max-memory)' % (width, height, need / 2 ** 30, budget / 2 ** 30))
    if (h, w) == (height, width):
        return segment(net, rgb)
    print('%s: %dx%d would need %.3g GiB, over the %.3g GiB budget (--max-memory); segmenting at %dx%d and '
          'scaling the labels back' % (name, width, height, memory_needed(net, height, width) / 2 ** 30,
                                       budget / 2 ** 30, w, h), file=sys.stderr)
    small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
    label = segment(net, small)
    return np.asarray(Image.fromarray(label).resize((width, height), Image.NEAREST))


def expand_inputs(paths):
    """Files given directly, plus the images inside any folder given."""
    files = []
    for p in paths:
        if os.path.isdir(p):
            files += sorted(os.path.join(p, f) for f in os.listdir(p) if f.lower().endswith(IMAGE_EXTS))
        else:
            files.append(p)
    return files


def load_net(net_name, weights):
    """The deploy net of models/<net_name> (or of a folder given as a path) with its weights."""
    folder = net_name if os.path.isdir(net_name) else os.path.join(ROOT, 'models', net_name)
    proto = os.path.join(folder, 'deploy.prototxt')
    if not os.path.exists(proto):
        raise SystemExit('no deploy net for %r (looked for %s)' % (net_name, proto))
    net_name = os.path.basename(os.path.normpath(folder))
    net = caffe.Net(proto, caffe.TEST, weights=solve.weights_file(net_name, weights))
    channels = net.blobs[net.inputs[0]].shape[1]
    if channels != 3:
        raise SystemExit('%s takes %d-channel input; infer.py feeds RGB images' % (net_name, channels))
    return net


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('images', nargs='+', help='image files or folders of images')
    ap.add_argument('--net', default='voc-fcn8s', help='a net under models/, or a folder with deploy.prototxt')
    ap.add_argument('--weights', help='caffemodel (default weights/<net>.caffemodel)')
    ap.add_argument('--out', default='out/infer', help='folder for <name>.png and <name>_overlay.jpg')
    ap.add_argument('--gpu', type=int, help='CUDA device id (CPU when omitted)')
    ap.add_argument('--max-memory', type=float, metavar='GiB',
                    help='memory one forward pass may use (default: 80%% of what is free now)')
    ap.add_argument('--fast', action='store_true',
                    help='fast mode: bf16 autocast, TF32, channels_last (not bit-faithful; see BENCHMARKS.md)')
    args = ap.parse_args(argv)
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    if args.fast:
        caffe.set_fast_mode()
    files = expand_inputs(args.images)
    if not files:
        raise SystemExit('no images found in %s' % ', '.join(args.images))
    net = load_net(args.net, args.weights)
    budget = args.max_memory * 2 ** 30 if args.max_memory else available_memory()
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for path in tqdm(files, desc='segmenting', disable=None if len(files) > 1 else True):
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            rgb = load_rgb(path)
            label = segment_within(net, rgb, budget, path)
        except InputError as e:
            print('skipped %s: %s' % (path, e), file=sys.stderr)
            failed += 1
            continue
        vis.save_label_png(os.path.join(args.out, stem + '.png'), label)
        Image.fromarray(vis.overlay(rgb, label)).save(os.path.join(args.out, stem + '_overlay.jpg'), quality=92)
    print('wrote %d label map(s) to %s%s' % (len(files) - failed, args.out,
                                             '; %d input(s) skipped' % failed if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
