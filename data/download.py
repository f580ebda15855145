"""Download, verify and unpack the datasets and published weights FCN uses.

Nothing here runs unless you ask: `make data-voc`, `make weights`, or

    python data/download.py voc sbd            # datasets into data/
    python data/download.py weights            # ILSVRC classifiers + published FCN models into weights/
    python data/download.py --list

Archives are checked against their published checksums where one exists;
otherwise the file's SHA-256 is printed so you can record it. A download goes
to a .part file first, so an interrupted one never looks complete.
"""
import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import urllib.request
import zipfile

from tqdm import tqdm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, 'data')
WEIGHTS = os.path.join(ROOT, 'weights')
DL = 'http://dl.caffe.berkeleyvision.org/'

# name: (url, file name, (hash kind, digest) or None, folder under data/, {link: unpacked path})
DATASETS = {
    'voc2011': ('http://host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar',
                'VOCtrainval_25-May-2011.tar', ('md5', '6c3384ef61512963050cb5d687e5bf1e'), 'pascal',
                {'VOC2011': 'TrainVal/VOCdevkit/VOC2011'}),
    'voc2012': ('http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar',
                'VOCtrainval_11-May-2012.tar', ('md5', '6cd6e144f989b92b3379bac3b3de84fd'), 'pascal',
                {'VOC2012': 'VOCdevkit/VOC2012'}),
    'sbd': ('http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz',
            'benchmark.tgz', ('md5', '82b4d87ceb2ed10f6038a1cba92111cb'), 'sbdd',
            {'dataset': 'benchmark_RELEASE/dataset'}),
    'voc2010': ('http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar',
                'VOCtrainval_03-May-2010.tar', None, 'pascal', {'VOC2010': 'VOCdevkit/VOC2010'}),
    'context': ('http://www.cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz',
                'pascal-context-trainval.tar.gz', None, 'pascal-context', {}),
    'nyud': (DL + 'nyud.tar.gz', 'nyud.tar.gz', None, 'nyud', {}),
    'siftflow': ('http://www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip',
                 'SiftFlowDataset.zip', None, 'sift-flow',
                 {d: 'SiftFlowDataset/' + d for d in ('Images', 'SemanticLabels', 'GeoLabels')}),
}
# Split lists of this repository the data layers read from inside the dataset.
SPLITS = {'voc2011': [('pascal/seg11valid.txt', 'VOC2011')]}
GROUPS = {'voc': ['voc2011', 'sbd'], 'pascalcontext': ['voc2010', 'context']}

# Weights land in weights/<name>.caffemodel, the names solve.py and infer.py look for.
WEIGHT_FILES = {
    'vgg16': ('http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/VGG_ILSVRC_16_layers.caffemodel', None),
    'caffenet': (DL + 'bvlc_reference_caffenet.caffemodel',
                 ('sha1', '4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46')),
    'googlenet': (DL + 'bvlc_googlenet.caffemodel', ('sha1', '405fc5acd08a3bb12de8ee5e23a96bec22f08204')),
}


def published_fcn_weights():
    """{net: url} from every models/<net>/caffemodel-url."""
    found = {}
    models = os.path.join(ROOT, 'models')
    for name in sorted(os.listdir(models)) if os.path.isdir(models) else []:
        url_file = os.path.join(models, name, 'caffemodel-url')
        if os.path.exists(url_file):
            url = open(url_file).read().strip()
            if url:
                found[name] = url
    return found


def digest(path, kind):
    h = hashlib.new(kind)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def fetch(url, dest, checksum):
    """Download url to dest (skipping a verified existing file) and check it."""
    if os.path.exists(dest):
        if checksum is None or digest(dest, checksum[0]) == checksum[1]:
            print('have %s' % dest)
            return dest
        print('%s fails its %s check; downloading again' % (dest, checksum[0]))
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = dest + '.part'
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(part, 'wb') as f:
            total = int(r.headers.get('Content-Length') or 0) or None
            with tqdm(total=total, unit='B', unit_scale=True, desc=os.path.basename(dest)) as bar:
                for chunk in iter(lambda: r.read(1 << 20), b''):
                    f.write(chunk)
                    bar.update(len(chunk))
    except OSError as e:
        raise SystemExit('download of %s failed: %s' % (url, e))
    if checksum is not None:
        got = digest(part, checksum[0])
        if got != checksum[1]:
            os.unlink(part)
            raise SystemExit('%s: %s %s does not match the published %s' % (url, checksum[0], got, checksum[1]))
    else:
        print('%s: no published checksum; sha256 %s' % (os.path.basename(dest), digest(part, 'sha256')))
    os.replace(part, dest)
    return dest


def unpack(archive, into):
    os.makedirs(into, exist_ok=True)
    print('unpacking %s into %s' % (archive, into))
    if archive.endswith('.zip'):
        with zipfile.ZipFile(archive) as z:
            z.extractall(into)
    else:
        with tarfile.open(archive) as t:
            t.extractall(into, filter='data')


def get_dataset(name):
    """Fetch and unpack one dataset, then link it where the data layers look (data/pascal/VOC2011, ...)."""
    url, fname, checksum, folder, links = DATASETS[name]
    archive = fetch(url, os.path.join(DATA, 'downloads', fname), checksum)
    into = os.path.join(DATA, folder)
    unpack(archive, into)
    for link, target in links.items():
        path = os.path.join(into, link)
        if not os.path.lexists(path):
            os.symlink(target, path)
    for split, voc in SPLITS.get(name, []):
        dest = os.path.join(into, voc, 'ImageSets', 'Segmentation', os.path.basename(split))
        shutil.copyfile(os.path.join(DATA, split), dest)
        print('split %s -> %s' % (split, dest))


def get_weights():
    for name, (url, checksum) in WEIGHT_FILES.items():
        fetch(url, os.path.join(WEIGHTS, name + '.caffemodel'), checksum)
    for name, url in published_fcn_weights().items():
        fetch(url, os.path.join(WEIGHTS, name + '.caffemodel'), None)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('what', nargs='*', help='datasets (%s), groups (%s) or "weights"'
                    % (', '.join(DATASETS), ', '.join(GROUPS)))
    ap.add_argument('--list', action='store_true', help='list what can be downloaded')
    args = ap.parse_args(argv)
    if args.list or not args.what:
        for name, (url, _, _, folder, _) in DATASETS.items():
            print('%-10s %s -> data/%s' % (name, url, folder))
        for name, (url, _) in WEIGHT_FILES.items():
            print('%-10s %s -> weights/%s.caffemodel' % (name, url, name))
        for name, url in published_fcn_weights().items():
            print('%-10s %s -> weights/%s.caffemodel' % (name, url, name))
        return 0
    for item in args.what:
        if item == 'weights':
            get_weights()
        elif item in GROUPS or item in DATASETS:
            for name in GROUPS.get(item, [item]):
                get_dataset(name)
        else:
            print('unknown item %r; see --list' % item, file=sys.stderr)
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
