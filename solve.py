"""Train an FCN the way the paper did: solver.prototxt, weight transplant or hand-off from the
coarser net, bilinear interp surgery, seg tests on the validation split, snapshots, and resume.

    python solve.py voc-fcn8s            # trains voc-fcn32s and voc-fcn16s first if they are not done
    python solve.py voc-fcn32s --gpu 0
    python solve.py models/my-net --weights init.caffemodel --iters 2000
    torchrun --standalone --nproc_per_node=8 solve.py voc-fcn8s --gpu 0   # 8 GPUs, data-parallel

Outputs go to out/<net>/: the resolved solver, snapshots/train_iter_<N>.*, seg-test predictions,
a CSV log and its learning-curve plot, and best.caffemodel (with best.json): the weights of the seg
test with the highest mean IU so far, kept across resumes.  --patience K stops training (snapshot,
exit status 0) after K seg tests in a row without a better mean IU.  A stopped run resumes from its newest complete snapshot,
its data layers continuing where they were.  Ctrl-C (SIGINT) or SIGTERM finishes the iteration,
snapshots and exits (a second Ctrl-C exits at once); SIGHUP snapshots and goes on.  Under torchrun
every rank trains on its own shard of the data and the diffs are summed before each update; rank 0
tests, logs and snapshots.  What a net starts from and scores on comes from its record
(models/<net>/record.json).
"""
import os
import sys

from fcn import cli, training


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('net', help='a net name (voc-fcn8s, fcn8s, ...) or a folder with solver.prototxt')
    ap.add_argument('--weights', help='initial caffemodel instead of the paper\'s initialization')
    ap.add_argument('--iters', type=cli.positive_int, help='override max_iter')
    ap.add_argument('--test-interval', type=cli.positive_int,
                    help='iterations between seg tests (default: the solver\'s snapshot interval, else 4000)')
    ap.add_argument('--patience', type=cli.positive_int, metavar='K',
                    help='stop after K seg tests in a row without a higher mean IU (default: never)')
    ap.add_argument('--val', help='split file the seg tests score, ids or image-label pairs of the net\'s '
                    'dataset (default: its val split); the val net reads it')
    ap.add_argument('--out', help='folder for the run (default out/<net>)')
    ap.add_argument('--gpu', type=cli.device_id, help='CUDA device id (CPU when omitted)')
    ap.add_argument('--no-resume', action='store_true', help='ignore existing snapshots')
    ap.add_argument('--no-chain', action='store_true', help='do not train the coarser nets first')
    ap.add_argument('--save-segs', action='store_true', help='write each seg test\'s predictions as PNGs')
    ap.add_argument('--fast', action='store_true',
                    help='fast mode: bf16 autocast, TF32, channels_last (torchcaffe only; not bit-faithful to '
                    'Caffe, see BENCHMARKS.md)')
    args = ap.parse_args(argv)
    cli.log_to_stdout()
    if args.fast:
        cli.fast_mode()
    run = training.train if args.no_chain else training.train_chain
    path = run(args.net, weights=args.weights, iters=args.iters, test_interval=args.test_interval,
               val=args.val, gpu=args.gpu, resume=not args.no_resume, save_segs=args.save_segs, out=args.out,
               patience=args.patience)
    best = os.path.join(os.path.dirname(os.path.dirname(path)), 'best.caffemodel')
    if os.path.exists(best):
        print('best: %s' % best)
    print('weights: %s' % path)
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
