"""Segment images with a trained FCN: a palette label PNG of each image's size per output, plus an
overlay with a legend of the classes present.

    python infer.py image.jpg                      # voc-fcn8s with weights/voc-fcn8s.caffemodel
    python infer.py photos/ more.png --net voc-fcn32s --weights my.caffemodel --out results/
    python infer.py rgb.png --net nyud-fcn32s-color-hha --hha hha.png
    python infer.py data/nyud/data/images/ --net nyud-fcn32s-color-d   # depth from data/nyud/data/depth/

Every net reads its inputs as its record says (models/<net>/record.json): the
modalities of each input blob with the net's own means.  The positional
images are colour photos; NYUDv2 nets that also take depth (16-bit PNG in
millimetres, or a .mat with 'depth' in metres) or HHA get them from --depth
FILE / --hha FILE for one image, or from the dataset layout for any number:
.../images/NAME goes with .../depth/NAME (or NAME's stem + .mat) and
.../hha/NAME.

Outputs go to --out as <name><suffix>.png and <name><suffix>_overlay.jpg, one
pair per output of the net (SIFT Flow: <name>.png semantic and
<name>_geometric.png).  <name> is the image's file name without extension;
images whose outputs would collide (x.jpg and x.png) keep the extension
(x.jpg.png, x.png.png), and a note says so.

Memory: --max-memory (default: half the memory available now, or 80% of the
free GPU memory) bounds what segmenting one image allocates beyond the
process's fixed cost: weights, the blobs of the pass, the image, its label
maps and overlay (see fcn/inference.py).  An image whose pass would not fit
is segmented in tiles at full resolution: each tile's kept part gets exactly
the scores of the whole-image pass (tile origins on the net's pooling grid,
the receptive field's reach of real context around it; fcn/tiling.py).
--tile [SIZE] tiles always (SIZE: the kept side in pixels; default the
largest that fits); --resize shrinks the pass to fit instead and scales the
labels back (nearest), which is also what happens where not even the
smallest tile fits, with a notice.  One whose own pixels do not fit is
skipped with a message.  Unreadable images are skipped too; the exit status
is then 1.

--scores also writes <name><suffix>_scores.npy (the softmax of the scores,
float16, classes x H x W) and <name><suffix>_confidence.png (the top
probability x 255).  --tta flip and --scales 0.5,1,1.5 average the softmax
over horizontal flips and scaled copies (test-time augmentation; off by
default, as in the paper).
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from fcn import cli, device, inference, weights
from fcn.readers import DataError
from models import records


def memory_size(text):
    """argparse type of --max-memory: bytes, or a parser error saying what a size looks like."""
    try:
        return inference.parse_memory(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def held(prepared):
    """Bytes a prepared image holds at its own size (Segmenter.prepare: pixel bytes x pixels)."""
    _, _, (height, width), pixel_bytes, _ = prepared
    return pixel_bytes * height * width


def tile_size(text):
    """argparse type of --tile: a positive number of pixels."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError('%r: give the kept side of a tile in pixels, e.g. 512' % text) from None
    if value <= 0:
        raise argparse.ArgumentTypeError('%r: the tile side must be positive' % text)
    return value


def main(argv=None):
    ap = cli.parser(__doc__, usage='%(prog)s [options] IMAGE [IMAGE ...]',
                    epilog=__doc__.strip().split('\n\n', 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('images', nargs='+', metavar='IMAGE', help='image files or folders of images')
    ap.add_argument('--net', default='voc-fcn8s', help='a net under models/ (name or alias), or a folder with '
                    'deploy.prototxt')
    ap.add_argument('--weights', help='caffemodel (default weights/<net>.caffemodel, from make weights NET=<net>)')
    ap.add_argument('--allow-partial', action='store_true',
                    help='run even when the caffemodel sets none of the net\'s learnable layers')
    ap.add_argument('--depth', metavar='FILE', help='depth of the one image (NYUDv2 nets that take depth)')
    ap.add_argument('--hha', metavar='FILE', help='HHA image of the one image (NYUDv2 nets that take HHA)')
    ap.add_argument('--out', default=os.path.join('out', 'infer'), help='folder for the label maps and overlays')
    ap.add_argument('--gpu', type=int, metavar='ID', help='CUDA device id (CPU when omitted)')
    ap.add_argument('--max-memory', type=memory_size, metavar='SIZE',
                    help='memory for one image, e.g. 2 (GiB), 2G, 2GiB, 512M (default: half of what is free)')
    ap.add_argument('--tile', type=tile_size, nargs='?', const=0, metavar='SIZE',
                    help='segment in tiles that keep SIZE x SIZE pixels each (default: the largest that fits)')
    ap.add_argument('--resize', action='store_true',
                    help='shrink a pass that does not fit and scale its labels back, instead of tiling')
    ap.add_argument('--scores', action='store_true',
                    help='also write the class probabilities (.npy, float16) and a confidence map (.png)')
    cli.add_tta_arguments(ap)
    ap.add_argument('--fast', action='store_true',
                    help='fast mode: bf16 autocast, TF32, channels_last (not bit-faithful; see BENCHMARKS.md)')
    args = ap.parse_args(argv)
    if args.tile is not None and args.resize:
        ap.error('--tile and --resize exclude each other')
    options = inference.Options(tile=args.tile, resize=args.resize, scores=args.scores, flip=args.tta == 'flip',
                                scales=args.scales)

    record = records.get(args.net)
    files = inference.expand_images(args.images)
    if not files:
        raise inference.InputError('no images found in %s' % ', '.join(args.images))
    plan = inference.inputs_of(files, record, {'depth': args.depth, 'hha': args.hha})
    bases, notes = inference.output_names(files, record)
    for f in files:
        for name in inference.output_endings(options):
            for out in record.outputs:
                target = os.path.join(args.out, bases[f] + out.suffix + name)
                if os.path.realpath(target) in {os.path.realpath(p) for p in plan[f].values()}:
                    raise inference.InputError('%s would be overwritten by its own output; choose another --out'
                                               % target)
    path = weights.locate(record.name, args.weights)
    device.use(args.gpu)
    if args.fast:
        cli.fast_mode()
    budget = args.max_memory or inference.default_budget()
    seg = inference.Segmenter(record, path, budget, allow_partial=args.allow_partial)
    seg.check(options)
    for line in seg.warnings + notes:
        print('note: %s' % line, file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)

    failed = 0
    skippable = (inference.InputError, DataError, FileNotFoundError)

    def skip(f, e):
        why = cli.summary(e)
        why = why[len(inference.WHO) + 2:] if why.startswith(inference.WHO + ': ') else why
        tqdm.write('skipped: %s' % (why if f in why else '%s: %s' % (f, why)), file=sys.stderr)

    # A small pipeline: the next image is decoded and the last one's outputs written while this one's
    # pass runs, where the budget holds their pixels beside the pass (Segmenter.prepare plans from the
    # headers, in this thread, as it reshapes the net; decoding and writing touch no net).
    reading, writing = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    ahead, written = None, None                      # (file, prepared, future); (future, bytes held)
    for i, f in enumerate(tqdm(files, desc='segmenting', disable=None if len(files) > 1 else True)):
        try:
            if seg.streams(plan[f]):
                if written:
                    written[0].result()
                    written = None
                paths, factor = seg.segment_windows(plan[f], args.out, bases[f], options)
                tqdm.write('%s: too large to decode in the %s budget (--max-memory); read window by window, its '
                           'label map written at full size to %s and its overlay at 1/%d scale'
                           % (f, inference.gib(budget), paths[0], factor), file=sys.stderr)
                continue
            if ahead and ahead[0] == f:
                prepared, decoding = ahead[1:]
            else:
                prepared = seg.prepare(plan[f], options)
                decoding = reading.submit(seg.read, prepared)
            ahead = None
            decoded = decoding.result()
            need = max(p.need for _, p in prepared[4])
            if i + 1 < len(files) and not seg.streams(plan[files[i + 1]]):
                try:
                    upcoming = seg.prepare(plan[files[i + 1]], options)
                except skippable:
                    upcoming = None                      # reported in its turn
                if upcoming and need + held(upcoming) + (written[1] if written else 0) <= budget:
                    ahead = files[i + 1], upcoming, reading.submit(seg.read, upcoming)
            result = seg.run(prepared, decoded)
        except skippable as e:
            skip(f, e)
            failed += 1
            continue
        if result.scaled:
            h, w = result.pass_size
            tqdm.write('%s: %dx%d does not fit in the %s budget (--max-memory)%s; segmented at %dx%d and the '
                       'labels scaled back' % (f, result.rgb.shape[1], result.rgb.shape[0], inference.gib(budget),
                                               '' if args.resize else ', not even in tiles', w, h), file=sys.stderr)
        elif result.tiled and args.tile is None:
            n, kept = result.tiled
            tqdm.write('%s: %dx%d does not fit whole in the %s budget (--max-memory); segmented at full '
                       'resolution in %d tiles of %d pixels' % (f, result.rgb.shape[1], result.rgb.shape[0],
                                                               inference.gib(budget), n, kept), file=sys.stderr)
        if written:
            written[0].result()
        written = (writing.submit(inference.write_outputs, result, args.out, bases[f], record, seg.palettes),
                   held(prepared))
        del result, decoded
    if written:
        written[0].result()
    reading.shutdown()
    writing.shutdown()
    print('wrote the label maps of %d image(s) to %s%s' % (len(files) - failed, args.out,
                                                          '; %d skipped' % failed if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
