"""Download, verify and unpack the datasets and published weights FCN uses.

Nothing is downloaded unless you ask: `make data-voc`, `make weights`, or

    python data/download.py voc sbd            # datasets into data/
    python data/download.py voc-fcn8s vgg16    # one net's published weights, a classifier, into weights/
    python data/download.py weights            # every classifier and published FCN caffemodel
    python data/download.py --list

An interrupted download continues where it stopped; files are checked against
their published checksums (else their SHA-256 is printed); files already there
(downloaded, or copied in by hand: see data/README.md) are verified and used
without the network.  A failed item does not stop the others: each failure is
summed up at the end and the exit status is 1.
"""
import sys

from fcn import cli, download


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('items', nargs='*', metavar='item',
                    help='a dataset, a group (voc, pascalcontext, weights), a classifier, or a net (name or alias)')
    ap.add_argument('--list', action='store_true', help='list every item and group')
    args = ap.parse_args(argv)
    if args.list or not args.items:
        print('\n'.join(download.listing()))
        return 0
    items = download.resolve(args.items)
    failures = download.get_all(items, say=print, progress=sys.stderr.isatty())
    for name, why in failures:
        print('%s: failed: %s: %s' % (ap.prog, name, why), file=sys.stderr)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
