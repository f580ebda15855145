"""Score a net's weights on its benchmark split and print every published figure beside ours.

    python evaluate.py voc-fcn8s                        # weights/voc-fcn8s.caffemodel on seg11valid
    python evaluate.py voc-fcn32s --weights out/voc-fcn32s/snapshots/train_iter_100000.caffemodel
    python evaluate.py voc-fcn8s --limit 50 --gpu 0     # a quick look at the first 50 images
    python evaluate.py voc-fcn8s --report out/voc-fcn8s/report   # and a page: open its index.html

The net's val (or test) prototxt reads the split through its own data layer, so the dataset must
be under data/ (see data/README.md).  Every output head is scored (SIFT Flow: semantic and
geometric); the published figures and their sources come from the net's record.

    python evaluate.py voc-fcn8s --tta flip --scales 0.75,1,1.25   # metrics with and without TTA
    python evaluate.py voc-fcn8s --save out/pred --scores          # label PNGs, probabilities, confidence

--report DIR writes DIR/index.html, a page that opens from disk in any browser: the four
metrics beside the published figures, per-class IU and accuracy with pixel counts, the
row-normalized confusion matrix, the N worst and N best images by their own mean IU (image |
ground truth | prediction), and the learning curve when the run's log.csv is beside the weights
(out/<net>/log.csv for out/<net>/snapshots/...).
"""
import sys

from fcn import cli, device, evaluation, report


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('net', help='a net name (voc-fcn8s, fcn8s, ...) or a folder')
    ap.add_argument('--weights', help='caffemodel (default weights/<net>.caffemodel)')
    ap.add_argument('--val', help='split file to score, ids or image-label pairs of the net\'s dataset, e.g. '
                    'its test.txt (default: the benchmark split); the val net reads it')
    ap.add_argument('--limit', type=cli.positive_int, help='score only the first N images')
    ap.add_argument('--save', help='folder for the predicted label PNGs')
    ap.add_argument('--scores', action='store_true', help='with --save, the probabilities too (.npy, float16) '
                    'and a confidence map (.png)')
    cli.add_tta_arguments(ap)
    ap.add_argument('--gpu', type=cli.device_id, help='CUDA device id (CPU when omitted)')
    ap.add_argument('--allow-partial', action='store_true',
                    help='score even with a caffemodel that sets none of the net\'s layers (they keep their fillers)')
    ap.add_argument('--report', metavar='DIR', help='write a report page, DIR/index.html, with its figures')
    ap.add_argument('--report-images', type=cli.positive_int, default=5, metavar='N',
                    help='the N worst and N best images on the report page (default 5)')
    args = ap.parse_args(argv)
    device.use(args.gpu)
    if args.scores and not args.save:
        ap.error('--scores goes with --save FOLDER')
    ev = evaluation.evaluate(args.net, weights=args.weights, val=args.val, limit=args.limit, save=args.save,
                             allow_partial=args.allow_partial, log=lambda line: print(line, file=sys.stderr),
                             flip=args.tta == 'flip', scales=args.scales, scores=args.scores,
                             keep=args.report_images if args.report else 0)
    print(evaluation.report(ev))
    if args.report:
        print('report page: %s' % report.evaluation_page(ev, args.report, report.run_log(ev.weights)))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
