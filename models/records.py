"""One record per net: everything a command needs to know about it, in models/<net>/record.json.

A record says what the net takes, what it gives and how it was made:

* ``inputs``: each deploy input blob and the modalities stacked into it, in
  channel order (``color``: an image, BGR minus ``mean``; ``depth``: log depth
  in millimetres minus ``mean``; ``hha``: the HHA image as stored minus
  ``mean``), so that the data layers and inference build the same array;
* ``outputs``: each score blob (one per head: SIFT Flow has a semantic and a
  geometric one) with the ground-truth blob its val net compares it with, its
  class names, palette and the suffix of its label file;
* ``val``: the ids its val (or test) net reads, in order, and that net's file;
* ``init``: where training starts: ``classifier`` (an ILSVRC classifier
  transplanted; ``expand`` maps a first convolution with more input channels
  to the classifier's, see surgery.expand_input), ``net`` (the coarser FCN it
  refines), ``streams`` (trained FCNs transplanted into the layers named with
  each suffix: NYUDv2 late fusion) or ``scratch`` (the fillers);
* ``published``: the figures the papers and the release report, each with
  its source;
* ``weights``: the published caffemodel's URL and checksum;
* ``class_weights`` (a net made with models/create.py --class-weights, for the
  reader only): the scheme, the file beside the net that the train and val
  nets' InfogainLoss reads, and the weights.

A record's val split is relative to the data root, its class lists and
palettes to the repository's data/ (fcn.paths), unless absolute.  A folder given as a path without a record.json gets the record of
a VOC-style net (one colour input ``data`` with the ILSVRC mean, one output
``score`` against ``label``): what infer.py and export_onnx.py need for a
user's own deploy net.

    rec = records.get('fcn8s')      # by name, alias or folder
    rec.outputs[0].class_names()
"""
import json
import os
from dataclasses import dataclass, field

from fcn import paths
from fcn.errors import NetNotFound, RecordError
from fcn.readers import MODALITIES, read_palette

#: The ILSVRC mean (BGR) that the release subtracts from every VGG16/CaffeNet/GoogLeNet input.
ILSVRC_MEAN = (104.00698793, 116.66876762, 122.67891434)
METRICS = ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc')
INIT_KINDS = ('classifier', 'net', 'streams', 'scratch')


@dataclass(frozen=True)
class Modality:
    """One modality of an input blob: its kind (color, depth, hha) and the mean subtracted from it."""
    kind: str
    mean: tuple

    @property
    def channels(self):
        return MODALITIES[self.kind]


@dataclass(frozen=True)
class Input:
    """A deploy input blob: the modalities stacked along its channels, in order."""
    blob: str
    modalities: tuple

    @property
    def channels(self):
        return sum(m.channels for m in self.modalities)

    @property
    def kinds(self):
        return tuple(m.kind for m in self.modalities)


@dataclass(frozen=True)
class Output:
    """A score blob (N x C x H x W) and how to read it: ground-truth blob, classes, palette, file suffix."""
    blob: str
    label: str
    classes: str
    palette: str = 'voc'
    suffix: str = ''
    title: str = ''

    def class_names(self):
        """The class names, index = line number of the classes file."""
        with open(paths.shipped(self.classes)) as f:
            return [line.strip() for line in f if line.strip()]

    def palette_colors(self):
        """(256, 3) uint8 colours of the labels: the VOC palette, or the palette file's "R G B" lines
        first (read as a dataset's palette.txt is, fcn.readers.read_palette)."""
        import vis
        colors = vis.voc_palette()
        if self.palette != 'voc':
            table = read_palette(paths.shipped(self.palette))
            colors[:len(table)] = table
        return colors


@dataclass(frozen=True)
class Published:
    """A figure the paper or the release reports, in percent, with where it comes from."""
    metric: str
    value: float
    split: str
    source: str
    output: str = ''


@dataclass(frozen=True)
class Record:
    """Everything the commands need to know about one net (see the module docstring)."""
    name: str
    folder: str
    family: str = 'custom'
    title: str = ''
    aliases: tuple = ()
    inputs: tuple = ()
    outputs: tuple = ()
    val_ids: str = ''
    val_net: str = ''
    init: tuple = ('scratch', '')
    init_streams: tuple = ()
    init_expand: tuple = ()
    published: tuple = ()
    weights_url: str = ''
    weights_checksum: tuple = ()
    has_record: bool = field(default=False, compare=False)

    def prototxt(self, name):
        return os.path.join(self.folder, name)

    @property
    def deploy(self):
        return self.prototxt('deploy.prototxt')

    def output(self, blob):
        for out in self.outputs:
            if out.blob == blob:
                return out
        raise RecordError('%s has no output %r' % (self.name, blob))


def _need(data, key, kind, where):
    if key not in data:
        raise RecordError('%s: missing %r' % (where, key))
    value = data[key]
    if not isinstance(value, kind):
        raise RecordError('%s: %r must be a %s' % (where, key, getattr(kind, '__name__', kind)))
    return value


def _modality(data, where):
    kind = _need(data, 'kind', str, where)
    if kind not in MODALITIES:
        raise RecordError('%s: modality kind %r is not one of %s' % (where, kind, ', '.join(MODALITIES)))
    mean = tuple(float(v) for v in _need(data, 'mean', list, where))
    if len(mean) != MODALITIES[kind]:
        raise RecordError('%s: a %s mean has %d values' % (where, kind, MODALITIES[kind]))
    return Modality(kind, mean)


def parse(data, folder, where):
    """A Record from a record.json's parsed content; RecordError names `where` and the field."""
    if not isinstance(data, dict):
        raise RecordError('%s: a record is a JSON object' % where)
    inputs = tuple(Input(_need(i, 'blob', str, where), tuple(_modality(m, where) for m in
                                                             _need(i, 'modalities', list, where)))
                   for i in _need(data, 'inputs', list, where))
    outputs = tuple(Output(_need(o, 'blob', str, where), _need(o, 'label', str, where),
                           _need(o, 'classes', str, where), o.get('palette', 'voc'), o.get('suffix', ''),
                           o.get('title', ''))
                    for o in _need(data, 'outputs', list, where))
    if not inputs or not outputs:
        raise RecordError('%s: a net has at least one input and one output' % where)
    init = data.get('init', {'from': 'scratch'})
    if init.get('from') not in INIT_KINDS:
        raise RecordError('%s: init.from must be one of %s' % (where, ', '.join(INIT_KINDS)))
    published = []
    for p in data.get('published', []):
        metric = _need(p, 'metric', str, where)
        if metric not in METRICS:
            raise RecordError('%s: published metric %r is not one of %s' % (where, metric, ', '.join(METRICS)))
        published.append(Published(metric, float(_need(p, 'value', (int, float), where)),
                                    _need(p, 'split', str, where), _need(p, 'source', str, where),
                                    p.get('output', outputs[0].blob)))
    weights = data.get('weights') or {}
    checksum = tuple(weights.get('checksum') or ())
    return Record(name=_need(data, 'name', str, where), folder=folder, family=data.get('family', 'custom'),
                  title=data.get('title', ''), aliases=tuple(data.get('aliases', ())), inputs=inputs,
                  outputs=outputs, val_ids=data.get('val_ids', ''), val_net=data.get('val_net', ''),
                  init=(init['from'], init.get('net', '')), published=tuple(published),
                  init_streams=tuple(sorted(init.get('nets', {}).items())),
                  init_expand=tuple(sorted(init.get('expand', {}).items())),
                  weights_url=weights.get('url', ''), weights_checksum=checksum, has_record=True)


def load(folder):
    """The record in folder/record.json."""
    path = os.path.join(folder, 'record.json')
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise RecordError('%s:%d: not valid JSON: %s' % (path, e.lineno, e.msg)) from None
    rec = parse(data, os.path.abspath(folder), path)
    if rec.name != os.path.basename(os.path.normpath(folder)):
        raise RecordError('%s: name %r differs from its folder %r' % (path, rec.name, os.path.basename(folder)))
    return rec


def default(folder):
    """The record of a net folder without record.json: VOC-style input and output."""
    folder = os.path.abspath(folder)
    val = next((n for n in ('val.prototxt', 'test.prototxt') if os.path.exists(os.path.join(folder, n))), '')
    return Record(name=os.path.basename(os.path.normpath(folder)), folder=folder,
                  inputs=(Input('data', (Modality('color', ILSVRC_MEAN),)),),
                  outputs=(Output('score', 'label', ''),), val_net=val)


def names():
    """The nets that have a record under models/, sorted."""
    return sorted(d for d in os.listdir(paths.MODELS) if os.path.isfile(os.path.join(paths.MODELS, d, 'record.json')))


def aliases():
    """{alias: net name} over every record."""
    return {a: n for n in names() for a in load(os.path.join(paths.MODELS, n)).aliases}


def get(name):
    """The record of a net given by name, alias, or folder (a folder without record.json gets default())."""
    if os.path.isdir(name) and (os.sep in name or not os.path.isdir(os.path.join(paths.MODELS, name))):
        folder = name
    else:
        folder = os.path.join(paths.MODELS, aliases().get(name, name))
        if not os.path.isdir(folder):
            raise NetNotFound('no net %r: not a folder, and models/ has no such net (have: %s)'
                              % (name, ', '.join(names())))
    if os.path.exists(os.path.join(folder, 'record.json')):
        return load(folder)
    return default(folder)
