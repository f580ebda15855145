"""Check a dataset before training on it: counts, image sizes, pixels per class, and every problem.

    python data/check.py data/my-dataset

Reads every image and label of the train and val splits (and of test.txt when
there) of a dataset in the folder layout (images/, labels/, classes.txt,
train.txt, val.txt) or in
PASCAL VOC's (see data/README.md, "Your own data").  It lists each problem
it finds, one a line with its file: a missing image or label, a label of
another size than its image, label values outside the classes (255 is void),
colours not in palette.txt, an empty or missing split, an id in train and
in val or test, an unreadable file, and the usual mistakes with the fix for each: a
two-class mask saved as 0/255, labels saved as JPEG (values between the
classes), a label that is an RGB copy of a palette PNG.  For a dataset without
problems it also prints the class weights models/create.py --class-weights
would use (median frequency as in Eigen & Fergus 2015, and inverse frequency).
Exit status 0 when there is no problem, 2 otherwise.

    python data/check.py data/my-dataset --report out/my-dataset-check

--report DIR2 also writes DIR2/index.html, a page that opens from disk in any browser: the
pixels per class per split (void apart), the image sizes, random training images under their
labels with a legend, and every problem with its file (with thumbnails of a label that can be
shown: one of the wrong size, colours outside the palette, values outside the classes).
"""
import sys

from tqdm import tqdm

from fcn import class_weights, cli, dataset, report as pages


def main(argv=None):
    ap = cli.parser(__doc__)
    ap.add_argument('dataset', help='the dataset folder')
    ap.add_argument('--report', metavar='DIR2', help='also write a report page, DIR2/index.html, with its figures')
    args = ap.parse_args(argv)
    report = dataset.check(args.dataset, progress=lambda xs: tqdm(xs, desc='checking', unit='example',
                                                                  disable=None, leave=False))
    print(dataset.format_report(report))
    if args.report:
        print('report page: %s' % pages.dataset_page(report, args.report))
    if report.problems:
        raise dataset.refuse(report)
    print(class_weights.format_table(report))
    return 0


if __name__ == '__main__':
    sys.exit(cli.run(main))
