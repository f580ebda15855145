"""Fetching, verifying and unpacking the datasets and published weights FCN uses.

Every downloadable thing is an Item with a name: a dataset archive (kept in
data/downloads/ and unpacked under data/), an ILSVRC classifier or a net's
published caffemodel (weights/<name>.caffemodel, the file solve.py and
infer.py look for).  Net weights come from the records (models/<net>/
record.json); datasets and classifiers from the tables below.

A download goes to `<file>.part` first.  A `.part` left by an interrupted
download is continued with an HTTP Range request when the server allows it
(206) and started again when it does not (200).  The file is checked against
its published checksum (md5, sha1 or sha256) before it is renamed into
place, so a final file is always complete; a final file already there that
passes the check (or has no published checksum) is used without the network,
which is also how files copied in from another machine are taken.

    items = resolve(['voc', 'fcn8s'])           # DownloadError names an unknown item
    failures = get_all(items, say=print)        # [(name, why)] of the items that failed

Nothing here prints unless given `say` (one line per step) and `progress`
(a tqdm bar on stderr); errors are DownloadError.
"""
import difflib
import hashlib
import http.client
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass

from fcn import paths
from fcn.errors import DownloadError, FCNError
from models import records

CHUNK = 1 << 20
CHECKSUM_KINDS = ('md5', 'sha1', 'sha256')
DL = 'http://dl.caffe.berkeleyvision.org/'


@dataclass(frozen=True)
class Item:
    """One downloadable file and, for a dataset, how it is unpacked.

    kind: 'dataset', 'classifier' or 'net'.  file: where it goes, relative to
    the data root for a dataset archive (downloads/<archive>), else to
    weights/.  checksum: (kind, hex digest) or () when none is published.
    A dataset unpacks into data/<folder>, then gets its links ((link,
    target) inside the folder) and split lists ((list under data/, copy
    under data/)); `expect` are paths under data/ that must exist after.
    """
    name: str
    kind: str
    title: str
    url: str
    file: str
    checksum: tuple = ()
    folder: str = ''
    links: tuple = ()
    splits: tuple = ()
    expect: tuple = ()

    @property
    def path(self):
        """The downloaded file's absolute path."""
        if self.kind == 'dataset':
            return paths.data_path(self.file)
        return os.path.join(paths.WEIGHTS, self.file)

    @property
    def shown_path(self):
        """The path as the README and --list give it (data/..., weights/...)."""
        return ('data/' if self.kind == 'dataset' else 'weights/') + self.file


def _dataset(name, title, url, checksum, folder, links=(), splits=(), expect=()):
    return Item(name, 'dataset', title, url, 'downloads/' + url.rsplit('/', 1)[1], checksum, folder,
                links, splits, expect)


DATASETS = {d.name: d for d in (
    _dataset('voc2011', 'PASCAL VOC 2011 trainval: FCN validation (seg11valid)',
             'http://host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar',
             ('md5', '6c3384ef61512963050cb5d687e5bf1e'), 'pascal',
             links=(('VOC2011', 'TrainVal/VOCdevkit/VOC2011'),),
             splits=(('pascal/seg11valid.txt', 'pascal/VOC2011/ImageSets/Segmentation/seg11valid.txt'),),
             expect=('pascal/VOC2011/JPEGImages', 'pascal/VOC2011/SegmentationClass')),
    _dataset('voc2012', 'PASCAL VOC 2012 trainval',
             'http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar',
             ('md5', '6cd6e144f989b92b3379bac3b3de84fd'), 'pascal',
             links=(('VOC2012', 'VOCdevkit/VOC2012'),),
             expect=('pascal/VOC2012/JPEGImages', 'pascal/VOC2012/SegmentationClass')),
    _dataset('sbd', 'SBD (Hariharan et al.): the 8,498 PASCAL training images with labels',
             'https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/benchmark.tgz',
             ('md5', '82b4d87ceb2ed10f6038a1cba92111cb'), 'sbdd',
             links=(('dataset', 'benchmark_RELEASE/dataset'),),
             expect=('sbdd/dataset/img', 'sbdd/dataset/cls', 'sbdd/dataset/train.txt')),
    _dataset('voc2010', 'PASCAL VOC 2010 trainval: the images of PASCAL-Context',
             'http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar',
             ('md5', 'da459979d0c395079b5c75ee67908abb'), 'pascal',
             links=(('VOC2010', 'VOCdevkit/VOC2010'),),
             expect=('pascal/VOC2010/JPEGImages', 'pascal/VOC2010/ImageSets/Main')),
    _dataset('context', 'PASCAL-Context labels (459 classes, trainval)',
             'https://cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz', (), 'pascal-context',
             expect=('pascal-context/trainval',)),
    _dataset('nyud', 'NYUDv2 (Gupta et al. split, 40 classes): colour, depth, HHA, labels',
             DL + 'nyud.tar.gz', (), '', expect=('nyud/data/images', 'nyud/data/depth', 'nyud/data/hha',
                                                 'nyud/segmentation')),
    _dataset('siftflow', 'SIFT Flow: 2,688 images, 33 semantic and 3 geometric classes',
             'http://www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip', (), 'sift-flow',
             links=tuple((d, 'SiftFlowDataset/' + d) for d in ('Images', 'SemanticLabels', 'GeoLabels')),
             expect=('sift-flow/Images', 'sift-flow/SemanticLabels', 'sift-flow/GeoLabels')),
)}

CLASSIFIERS = {c.name: c for c in (
    Item('vgg16', 'classifier', 'VGG_ILSVRC_16_layers (Simonyan & Zisserman), V1 format',
         'http://www.robots.ox.ac.uk/~vgg/software/very_deep/caffe/VGG_ILSVRC_16_layers.caffemodel',
         'vgg16.caffemodel'),
    Item('caffenet', 'classifier', 'bvlc_reference_caffenet (initializes FCN-AlexNet)',
         DL + 'bvlc_reference_caffenet.caffemodel', 'caffenet.caffemodel',
         ('sha1', '4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46')),
    Item('googlenet', 'classifier', 'bvlc_googlenet (initializes FCN-GoogLeNet)',
         DL + 'bvlc_googlenet.caffemodel', 'googlenet.caffemodel',
         ('sha1', '405fc5acd08a3bb12de8ee5e23a96bec22f08204')),
)}

#: Names that stand for several items.  'weights' (all weights) is added by groups().
GROUPS = {'voc': ('voc2011', 'sbd'), 'pascalcontext': ('voc2010', 'context')}


def net_weights():
    """{net: Item} for every net whose record has a weights URL, in name order."""
    found = {}
    for name in records.names():
        rec = records.get(name)
        if rec.weights_url:
            found[name] = Item(name, 'net', 'published ' + (rec.title or name), rec.weights_url,
                               name + '.caffemodel', tuple(rec.weights_checksum))
    return found


def catalog():
    """{name: Item} of everything downloadable: datasets, classifiers, net weights."""
    return {**DATASETS, **CLASSIFIERS, **net_weights()}


def groups(items=None):
    """{group: member names}: the dataset groups and 'weights' (every classifier and net)."""
    items = catalog() if items is None else items
    return {**GROUPS, 'weights': tuple(n for n, i in items.items() if i.kind != 'dataset')}


def resolve(names):
    """The Items that names (items, groups, net aliases) stand for, in order, each once.

    Raises DownloadError for a name that is none of these (with close
    matches) or a net that has no published weights.
    """
    items = catalog()
    known_groups = groups(items)
    aliases = records.aliases()
    chosen = []
    for name in names:
        if name in known_groups:
            members = known_groups[name]
        elif name in items or aliases.get(name) in items:
            members = (aliases.get(name, name),)
        elif name in records.names() or name in aliases:
            net = aliases.get(name, name)
            raise DownloadError('%s has no published weights; train it instead: make train NET=%s' % (net, net))
        else:
            close = difflib.get_close_matches(name, list(items) + list(known_groups) + list(aliases), n=3)
            raise DownloadError('unknown item %r%s; python data/download.py --list shows them all'
                                % (name, ' (did you mean %s?)' % ', '.join(close) if close else ''))
        chosen += [items[m] for m in members if items[m] not in chosen]
    return chosen


def hint(name):
    """The command (str) that fetches the published weights of a net or classifier; None when none are published.

    name: a net's name, alias or folder, or a classifier (vgg16, caffenet,
    googlenet).  hint('fcn8s') == 'make weights NET=voc-fcn8s'.
    """
    if name in CLASSIFIERS:
        return 'make weights NET=%s' % name
    try:
        rec = records.get(name)
    except FCNError:
        return None
    return 'make weights NET=%s' % rec.name if rec.has_record and rec.weights_url else None


def listing():
    """Lines describing every item and group, each starting with its name."""
    items = catalog()
    lines = ['%-22s %s -> %s' % (n, i.url, i.shown_path if i.kind != 'dataset' else 'data/' + i.folder)
             for n, i in items.items()]
    lines += ['%-22s %s' % (g, ' '.join(m)) for g, m in groups(items).items()]
    return lines


def _quiet(line):
    pass


def _check_kind(checksum, where):
    if len(checksum) != 2 or checksum[0] not in CHECKSUM_KINDS:
        raise DownloadError('%s: a checksum is (kind, hex digest) with kind one of %s, not %r'
                            % (where, ', '.join(CHECKSUM_KINDS), checksum))


def digest(path, kind):
    """The hex digest of a file (kind: md5, sha1, sha256)."""
    h = hashlib.new(kind)
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            h.update(chunk)
    return h.hexdigest()


def _range_total(content_range):
    """The total size in a Content-Range header ('bytes 5-9/10', 'bytes */10'), or None."""
    m = re.match(r'bytes\s+(?:\*|\d+-\d+)/(\d+)', content_range or '')
    return int(m.group(1)) if m else None


def _range_start(content_range):
    m = re.match(r'bytes\s+(\d+)-', content_range or '')
    return int(m.group(1)) if m else None


def _open(url, have, timeout):
    """The response to GET url, asking for the bytes from `have` on when have > 0; None when the
    server says the range starts at the end (the .part is complete already)."""
    headers = {'Range': 'bytes=%d-' % have} if have else {}
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have and _range_total(e.headers.get('Content-Range')) == have:
            return None
        raise DownloadError('%s: HTTP %d %s' % (url, e.code, e.reason)) from None
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError('%s: %s' % (url, getattr(e, 'reason', e))) from None


def _transfer(url, part, name, say, progress, timeout):
    """Bring url into part, continuing what part holds when the server answers the range (206)."""
    from tqdm import tqdm

    have = os.path.getsize(part) if os.path.exists(part) else 0
    response = _open(url, have, timeout)
    if response is None:
        return
    with response:
        status = getattr(response, 'status', None)
        length = response.headers.get('Content-Length')
        length = int(length) if length and length.isdigit() else None
        if have and status == 206:
            start = _range_start(response.headers.get('Content-Range'))
            if start != have:
                raise DownloadError('%s: asked for bytes from %d on, the server sent them from %s; delete %s '
                                    'and run again' % (url, have, start, part))
            say('continuing %s from byte %d' % (name, have))
            mode, total = 'ab', _range_total(response.headers.get('Content-Range'))
        else:
            if have:
                say('%s: the server does not resume downloads; starting %s again' % (url, name))
            mode, have, total = 'wb', 0, length
        received = 0
        with open(part, mode) as f, tqdm(total=total, initial=have, unit='B', unit_scale=True,
                                         unit_divisor=1024, desc=name, disable=not progress) as bar:
            try:
                for chunk in iter(lambda: response.read(CHUNK), b''):
                    f.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as e:
                raise DownloadError('%s: connection lost after %d bytes (%s); %s keeps them: run again to '
                                    'continue' % (url, have + received, str(e) or type(e).__name__, part)) from None
    if length is not None and received < length:
        raise DownloadError('%s: connection closed after %d of %d bytes; %s keeps them: run again to continue'
                            % (url, have + received, have + length, part))


def fetch(url, dest, checksum=(), name=None, say=_quiet, progress=False, timeout=60):
    """url into dest, verified; returns dest.

    A dest already there is kept when it passes the checksum (or none is
    published); one that fails is downloaded again.  Raises DownloadError
    (network, HTTP status, checksum mismatch: the download is then deleted).
    """
    name = name or os.path.basename(dest)
    checksum = tuple(checksum)
    if checksum:
        _check_kind(checksum, name)
    if os.path.exists(dest):
        if not checksum:
            say('have %s (no published checksum to verify)' % dest)
            return dest
        if digest(dest, checksum[0]) == checksum[1].lower():
            say('have %s (%s verified)' % (dest, checksum[0]))
            return dest
        say('%s fails its %s check; downloading it again' % (dest, checksum[0]))
    os.makedirs(os.path.dirname(dest) or '.', exist_ok=True)
    part = dest + '.part'
    _transfer(url, part, name, say, progress, timeout)
    if checksum:
        got = digest(part, checksum[0])
        if got != checksum[1].lower():
            os.unlink(part)
            raise DownloadError('%s: %s %s differs from the published %s; the download is deleted, run again to '
                                'fetch it afresh' % (url, checksum[0], got, checksum[1]))
        say('%s: %s verified' % (name, checksum[0]))
    else:
        say('%s: no published checksum; sha256 %s' % (name, digest(part, 'sha256')))
    os.replace(part, dest)
    return dest


def unpack(archive, into):
    """Extract a .zip or tar archive (any compression) into the folder `into`; DownloadError if unreadable."""
    os.makedirs(into, exist_ok=True)
    try:
        if archive.endswith('.zip'):
            with zipfile.ZipFile(archive) as z:
                z.extractall(into)
        else:
            with tarfile.open(archive) as t:
                t.extractall(into, filter='data')
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        raise DownloadError('%s cannot be unpacked (%s); delete it and run again' % (archive, e)) from None


def _stamp(item):
    return '%s %d\n' % (os.path.basename(item.path), os.path.getsize(item.path))


def get_dataset(item, say=_quiet, progress=False):
    """Fetch a dataset's archive, unpack it under data/ and link it where the data layers look."""
    archive = fetch(item.url, item.path, item.checksum, item.name, say, progress)
    into = paths.data_path(item.folder)
    stamp = os.path.join(into, '.%s.unpacked' % item.name)
    expected = [paths.data_path(p) for p in item.expect]
    done = False
    if os.path.exists(stamp):
        with open(stamp) as f:
            done = f.read() == _stamp(item)
    if done and all(os.path.exists(p) for p in expected):
        say('have %s unpacked in %s' % (item.name, into))
    else:
        say('unpacking %s into %s' % (archive, into))
        unpack(archive, into)
        for link, target in item.links:
            path = os.path.join(into, link)
            if not os.path.lexists(path):
                os.symlink(target, path)
        missing = [p for p in expected if not os.path.exists(p)]
        if missing:
            raise DownloadError('%s was unpacked into %s but %s is missing: the archive is not laid out as the '
                                'data layers read it (see data/README.md)' % (archive, into, missing[0]))
        with open(stamp, 'w') as f:
            f.write(_stamp(item))
    for listed, copy in item.splits:
        shutil.copyfile(paths.data_path(listed), paths.data_path(copy))
        say('split %s -> %s' % (listed, copy))
    return into


def get(item, say=_quiet, progress=False):
    """Download (and for a dataset unpack) one item; returns where it is.  Raises DownloadError."""
    if item.kind == 'dataset':
        return get_dataset(item, say, progress)
    return fetch(item.url, item.path, item.checksum, item.name, say, progress)


def get_all(items, say=_quiet, progress=False):
    """get() each item, going on past failures; returns [(name, why)] of the failed ones."""
    failures = []
    for item in items:
        try:
            get(item, say, progress)
        except (FCNError, OSError) as e:
            failures.append((item.name, str(e)))
    return failures
