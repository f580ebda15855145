"""NetSpec building blocks shared by every FCN net definition (models/<name>/net.py).

Everything here speaks pycaffe's API through ``backend``, so the same net.py
writes the same prototxt on torchcaffe and on BVLC pycaffe.  The blocks keep
the layer names, types and parameters of the reference FCN release, which is
what lets its published caffemodels load into these nets by layer name:

* trunks: :func:`vgg16_trunk` (FCN-32s/16s/8s, NYUDv2, SIFT Flow,
  PASCAL-Context), :func:`caffenet_trunk` (FCN-AlexNet) and
  :func:`googlenet_trunk` (FCN-GoogLeNet), each also used, with classifier
  settings, for the ILSVRC deploy nets in models/ilsvrc;
* the convolutionalized classifier head :func:`fc_head` (fc6/fc7 as
  convolutions, with dropout for training);
* the scoring/upsampling heads :func:`fcn_head` (32s, 16s, 8s; optional
  scaled skips for FCN-8s at-once), :func:`score_conv`, :func:`upsample`,
  and :func:`crop`, whose offsets come from coord_map;
* the data layers (:func:`voc_data`, :func:`nyud_data`, :func:`siftflow_data`,
  :func:`pascalcontext_data`), the deploy input (:func:`deploy_input`) and the
  loss (:func:`softmax_loss`);
* whole nets: :func:`fcn_net`, the frame every FCN shares (data layer or
  deploy input, the net's body, the loss), and the families built on it,
  :func:`voc_fcn`, :func:`pascalcontext_fcn`, :func:`siftflow_fcn` (by output
  stride) and :func:`nyud_fcn` (by input modality), with the (file, split)
  names of their prototxts (``VOC_SPLITS`` ...);
* :func:`net_script`, which every net.py calls last: it gives the net.py its
  ``prototxts()`` and ``make_net()`` and, run as a script, writes the files
  (through :func:`write_prototxts`).

Dataset paths in the data layers' param_str are relative to the data root,
data/ (fcn.paths), which the layers resolve, so a net runs from any folder.
"""
import importlib
import os
from collections import OrderedDict

import backend
from backend import caffe

L = caffe.layers
P = caffe.params


# The BGR mean the VOC/SBD layers subtract (given in param_str, as in the
# release; the SIFT Flow, NYUDv2 and PASCAL-Context layers have theirs built in).
VOC_MEAN = (104.00699, 116.66877, 122.67892)
SEED = 1337

# Learning-rate / decay multipliers: weights learn at the base rate with decay,
# biases at twice the rate without decay; FROZEN params do not learn at all.
LEARN = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]
FROZEN = [dict(lr_mult=0)]

IGNORE_LABEL = 255
DEPLOY_SHAPE = (1, 3, 500, 500)


# -- coordinate mapping ----------------------------------------------------------------
def coord_map():
    """The backend's coord_map module (``caffe.coord_map``).

    Neither pycaffe nor torchcaffe imports it from the package itself, so it
    is imported by name when it is not already an attribute.
    """
    module = getattr(caffe, 'coord_map', None)
    if module is None:
        module = importlib.import_module(backend.name + '.coord_map')
    return module


def crop(top_from, top_to, offset=None):
    """Crop layer aligning ``top_from`` to ``top_to``: offsets from coord_map, or the given
    ``offset`` on both spatial axes where pycaffe's coord_map cannot walk the path (Concat)."""
    if offset is not None:
        return L.Crop(top_from, top_to, crop_param=dict(axis=2, offset=[offset]))
    return coord_map().crop(top_from, top_to)


# -- layers ----------------------------------------------------------------------------
def _present(**kwargs):
    """The keyword arguments whose value is not None."""
    return {k: v for k, v in kwargs.items() if v is not None}


def conv(bottom, nout, ks=3, stride=1, pad=1, group=None, param=LEARN):
    """Convolution; None for stride/pad/group/param leaves the field out."""
    return L.Convolution(bottom, **_present(kernel_size=ks, stride=stride, num_output=nout,
                                            pad=pad, group=group, param=param))


def conv_relu(bottom, nout, ks=3, stride=1, pad=1, group=None, param=LEARN):
    """Convolution followed by an in-place ReLU; returns (conv, relu)."""
    c = conv(bottom, nout, ks=ks, stride=stride, pad=pad, group=group, param=param)
    return c, L.ReLU(c, in_place=True)


def max_pool(bottom, ks=2, stride=2, pad=None):
    return L.Pooling(bottom, **_present(pool=P.Pooling.MAX, kernel_size=ks, stride=stride, pad=pad))


def lrn(bottom):
    """Cross-channel local response normalization as in CaffeNet/GoogLeNet."""
    return L.LRN(bottom, local_size=5, alpha=1e-4, beta=0.75)


def dropout(bottom, ratio=0.5):
    return L.Dropout(bottom, dropout_ratio=ratio, in_place=True)


def score_conv(bottom, nout):
    """1x1 class-scoring convolution (zero-initialized by Caffe's default filler)."""
    return L.Convolution(bottom, num_output=nout, kernel_size=1, pad=0, param=LEARN)


def upsample(bottom, nout, factor, ks=None):
    """Fixed (lr_mult 0) Deconvolution upsampling by ``factor``, no bias.

    The kernel is 2 x factor unless ``ks`` says otherwise; surgery.interp
    fills it with bilinear weights.
    """
    return L.Deconvolution(
        bottom, param=FROZEN,
        convolution_param=dict(num_output=nout, kernel_size=ks or 2 * factor, stride=factor,
                               bias_term=False))


def softmax_loss(score, label, normalize=False):
    """Softmax loss ignoring void pixels; unnormalized for the 'heavy' nets."""
    return L.SoftmaxWithLoss(score, label,
                             loss_param=dict(normalize=normalize, ignore_label=IGNORE_LABEL))


# -- inputs ------------------------------------------------------------------------------
def python_data(module, layer, ntop, params):
    """Python data layer ``layers.<module>.<layer>``; params become its param_str."""
    return L.Python(module='layers.' + module, layer=layer, ntop=ntop, param_str=str(params))


def deploy_input(*shapes, **kw):
    """The deploy nets' Input layer (named "input"); one top per shape.

    The 500x500 size is only an example: reshape the input blob(s) and the
    net to any image size.
    """
    shapes = shapes or (DEPLOY_SHAPE,)
    return L.Input(name='input', ntop=len(shapes),
                   shape=[dict(dim=list(s)) for s in shapes], **kw)


def voc_data(split):
    """(data, label) from SBD for 'train', else from PASCAL VOC 2011 (e.g. seg11valid)."""
    params = OrderedDict(split=split, mean=VOC_MEAN, seed=SEED)
    if split == 'train':
        params['sbdd_dir'] = 'sbdd/dataset'
        layer = 'SBDDSegDataLayer'
    else:
        params['voc_dir'] = 'pascal/VOC2011'
        layer = 'VOCSegDataLayer'
    return python_data('voc', layer, 2, dict(params))


def nyud_data(split, tops):
    """One top per name in ``tops`` (from color, depth, hha, label)."""
    return python_data('nyud', 'NYUDSegDataLayer', len(tops),
                       dict(nyud_dir='nyud', split=split, tops=list(tops), seed=SEED))


def siftflow_data(split):
    """(data, sem, geo): image, 33-class semantic and 3-class geometric labels."""
    return python_data('siftflow', 'SIFTFlowSegDataLayer', 3,
                       dict(siftflow_dir='sift-flow', split=split, seed=SEED))


def pascalcontext_data(split):
    """(data, label) for the 59-class PASCAL-Context task; voc_dir holds VOC2010/."""
    return python_data('pascalcontext', 'PASCALContextSegDataLayer', 2,
                       dict(voc_dir='pascal', context_dir='pascal-context',
                            split=split, seed=SEED))


# -- trunks ----------------------------------------------------------------------------
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16_trunk(n, bottom, suffix='', pad=100, first_conv=None, param=LEARN, stride=1):
    """VGG16's conv1_1 ... pool5 into NetSpec ``n``; returns pool5.

    ``pad`` is conv1_1's padding (100 in FCNs, 1 in the classifier);
    ``suffix`` is appended to every name (late-fusion streams);
    ``first_conv`` renames conv1_1 (e.g. conv1_1_bgrd for 4-channel input,
    so the 3-channel ILSVRC weights are not copied into it by name).
    """
    top = bottom
    for b, (nout, reps) in enumerate(VGG16_BLOCKS, 1):
        for r in range(1, reps + 1):
            first = (b, r) == (1, 1)
            name = first_conv if first and first_conv else 'conv%d_%d%s' % (b, r, suffix)
            n[name], n['relu%d_%d%s' % (b, r, suffix)] = conv_relu(
                top, nout, pad=pad if first else 1, param=param, stride=stride)
            top = n['relu%d_%d%s' % (b, r, suffix)]
        n['pool%d%s' % (b, suffix)] = max_pool(top)
        top = n['pool%d%s' % (b, suffix)]
    return top


def caffenet_trunk(n, bottom, pad=100, param=None, explicit=True):
    """CaffeNet's conv1 ... pool5 (pool before norm) into ``n``; returns pool5.

    FCN-AlexNet pads conv1 by 100 and states stride/pad/group everywhere
    (``explicit``); the classifier leaves defaults out.
    """
    d = (lambda v: v) if explicit else (lambda v: None if v in (0, 1) else v)
    n.conv1, n.relu1 = conv_relu(bottom, 96, ks=11, stride=4, pad=d(pad), group=d(1), param=param)
    n.pool1 = max_pool(n.relu1, ks=3, stride=2)
    n.norm1 = lrn(n.pool1)
    n.conv2, n.relu2 = conv_relu(n.norm1, 256, ks=5, stride=d(1), pad=2, group=2, param=param)
    n.pool2 = max_pool(n.relu2, ks=3, stride=2)
    n.norm2 = lrn(n.pool2)
    n.conv3, n.relu3 = conv_relu(n.norm2, 384, ks=3, stride=d(1), pad=1, group=d(1), param=param)
    n.conv4, n.relu4 = conv_relu(n.relu3, 384, ks=3, stride=d(1), pad=1, group=2, param=param)
    n.conv5, n.relu5 = conv_relu(n.relu4, 256, ks=3, stride=d(1), pad=1, group=2, param=param)
    n.pool5 = max_pool(n.relu5, ks=3, stride=2)
    return n.pool5


# name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj (bvlc_googlenet)
GOOGLENET_INCEPTIONS = (
    ('inception_3a', 64, 96, 128, 16, 32, 32),
    ('inception_3b', 128, 128, 192, 32, 96, 64),
    ('inception_4a', 192, 96, 208, 16, 48, 64),
    ('inception_4b', 160, 112, 224, 24, 64, 64),
    ('inception_4c', 128, 128, 256, 24, 64, 64),
    ('inception_4d', 112, 144, 288, 32, 64, 64),
    ('inception_4e', 256, 160, 320, 32, 128, 128),
    ('inception_5a', 256, 160, 320, 32, 128, 128),
    ('inception_5b', 384, 192, 384, 48, 128, 128),
)
# Input pixel x lies at upscore pixel x + 98 in an FCN-GoogLeNet: conv1/7x7_s2 (pad 100) and the
# four 3x3 stride-2 poolings together map x to x/32 + 67/32, the inceptions and the 1x1 score keep
# coordinates, and upscore (kernel 63, stride 32) maps y to 32y + 31.  Stated because pycaffe's
# coord_map stops at the inceptions' Concat; torchcaffe's, which passes Concat, derives the same
# offset (tests/models/test_nets.py).
GOOGLENET_CROP_OFFSET = 98
# stride-2 max pooling after these modules
GOOGLENET_POOLS = {'inception_3b': 'pool3/3x3_s2', 'inception_4e': 'pool4/3x3_s2'}


def inception(n, bottom, name, n1, n3r, n3, n5r, n5, npool, param=LEARN):
    """One GoogLeNet inception module with bvlc_googlenet's layer names; returns its output."""
    def branch(src, kind, nout, ks, pad):
        n['%s/%s' % (name, kind)], n['%s/relu_%s' % (name, kind)] = conv_relu(
            src, nout, ks=ks, stride=None, pad=pad, param=param)
        return n['%s/relu_%s' % (name, kind)]
    b1 = branch(bottom, '1x1', n1, 1, None)
    b3 = branch(branch(bottom, '3x3_reduce', n3r, 1, None), '3x3', n3, 3, 1)
    b5 = branch(branch(bottom, '5x5_reduce', n5r, 1, None), '5x5', n5, 5, 2)
    n[name + '/pool'] = max_pool(bottom, ks=3, stride=1, pad=1)
    bp = branch(n[name + '/pool'], 'pool_proj', npool, 1, None)
    n[name + '/output'] = L.Concat(b1, b3, b5, bp)
    return n[name + '/output']


def googlenet_trunk(n, bottom, pad=3, param=LEARN):
    """bvlc_googlenet from conv1/7x7_s2 to inception_5b/output (stride 32); returns the latter.

    The auxiliary classifiers (loss1, loss2) are training-only and left out,
    as in the BVLC deploy net.
    """
    n['conv1/7x7_s2'], n['conv1/relu_7x7'] = conv_relu(bottom, 64, ks=7, stride=2, pad=pad,
                                                        param=param)
    n['pool1/3x3_s2'] = max_pool(n['conv1/relu_7x7'], ks=3, stride=2)
    n['pool1/norm1'] = lrn(n['pool1/3x3_s2'])
    n['conv2/3x3_reduce'], n['conv2/relu_3x3_reduce'] = conv_relu(
        n['pool1/norm1'], 64, ks=1, stride=None, pad=None, param=param)
    n['conv2/3x3'], n['conv2/relu_3x3'] = conv_relu(n['conv2/relu_3x3_reduce'], 192, ks=3,
                                                    stride=None, pad=1, param=param)
    n['conv2/norm2'] = lrn(n['conv2/relu_3x3'])
    n['pool2/3x3_s2'] = max_pool(n['conv2/norm2'], ks=3, stride=2)
    top = n['pool2/3x3_s2']
    for spec in GOOGLENET_INCEPTIONS:
        top = inception(n, top, *spec, param=param)
        pool = GOOGLENET_POOLS.get(spec[0])
        if pool:
            n[pool] = max_pool(top, ks=3, stride=2)
            top = n[pool]
    return top


# -- heads -------------------------------------------------------------------------------
def fc_head(n, bottom, ks=7, suffix='', train=True, param=LEARN, pad=0, stride=1):
    """fc6/fc7 of the classifier as ks x ks and 1x1 convolutions (4096 each), with
    in-place ReLU and, for train/val nets, dropout 0.5; returns fc7's output."""
    s = suffix
    n['fc6' + s], n['relu6' + s] = conv_relu(bottom, 4096, ks=ks, stride=stride, pad=pad,
                                             param=param)
    top = n['relu6' + s]
    if train:
        n['drop6' + s] = dropout(top)
        top = n['drop6' + s]
    n['fc7' + s], n['relu7' + s] = conv_relu(top, 4096, ks=1, stride=stride, pad=pad, param=param)
    top = n['relu7' + s]
    if train:
        n['drop7' + s] = dropout(top)
        top = n['drop7' + s]
    return top


def _skip(n, up, pool, pool_name, nout, suffix, scale, rename=''):
    """Score a pooling layer, crop it to the upsampled coarse scores and sum them."""
    s = suffix
    if scale is not None:
        n['scale_%s%s' % (pool_name, s)] = L.Scale(
            pool, filler=dict(type='constant', value=scale), param=FROZEN)
        pool = n['scale_%s%s' % (pool_name, s)]
    score = 'score_%s%s%s' % (pool_name, s, rename)
    n[score] = score_conv(pool, nout)
    n['score_%s%sc' % (pool_name, s)] = crop(n[score], up)
    n['fuse_%s%s' % (pool_name, s)] = L.Eltwise(up, n['score_%s%sc' % (pool_name, s)],
                                               operation=P.Eltwise.SUM)
    return n['fuse_%s%s' % (pool_name, s)]


def fcn_head(n, feat, ref, nout, stride=32, suffix='', pool4=None, pool3=None, scales=None,
             up_ks=None, crop_offset=None, rename=''):
    """FCN-32s/16s/8s scoring head over ``feat``; returns the score, cropped to ``ref``.

    Names follow the release: score_fr, upscore (32s) or upscore2 + score_pool4
    (+ upscore_pool4 + score_pool3) + upscore16/upscore8, and score, each
    with ``suffix`` (e.g. '_sem').  ``rename`` is appended to the names of the
    layers whose weights are shaped by the class count (the scoring and
    upsampling layers), so copy_from by name skips them when a net is made for
    another number of classes (models/custom.py).  ``scales`` = {'pool4': 0.01,
    'pool3': 1e-4} inserts the fixed Scale layers of FCN-8s at-once; ``up_ks``
    overrides the final upsampling kernel (63 for odd-aligned trunks);
    ``crop_offset`` states the final crop's offset (see :func:`crop`).
    """
    s, r, scales = suffix, suffix + rename, scales or {}
    n['score_fr' + r] = score_conv(feat, nout)
    if stride == 32:
        n['upscore' + r] = upsample(n['score_fr' + r], nout, 32, ks=up_ks)
        up = n['upscore' + r]
    elif stride in (16, 8):
        n['upscore2' + r] = upsample(n['score_fr' + r], nout, 2)
        fuse = _skip(n, n['upscore2' + r], pool4, 'pool4', nout, s, scales.get('pool4'), rename)
        if stride == 16:
            n['upscore16' + r] = upsample(fuse, nout, 16, ks=up_ks)
            up = n['upscore16' + r]
        else:
            n['upscore_pool4' + r] = upsample(fuse, nout, 2)
            fuse = _skip(n, n['upscore_pool4' + r], pool3, 'pool3', nout, s, scales.get('pool3'), rename)
            n['upscore8' + r] = upsample(fuse, nout, 8, ks=up_ks)
            up = n['upscore8' + r]
    else:
        raise ValueError('FCN output stride must be 32, 16 or 8, not %r' % (stride,))
    n['score' + s] = crop(up, ref, offset=crop_offset)
    return n['score' + s]


def vgg16_fcn(n, data, nout, stride, suffix='', train=True, scales=None, first_conv=None):
    """VGG16 trunk + convolutionalized fc6/fc7 + FCN-<stride>s head; returns the score.

    ``first_conv`` renames conv1_1 (see :func:`vgg16_trunk`).
    """
    vgg16_trunk(n, data, first_conv=first_conv)
    feat = fc_head(n, n.pool5, train=train)
    return fcn_head(n, feat, data, nout, stride=stride, suffix=suffix, pool4=n.pool4,
                    pool3=n.pool3, scales=scales)


# -- whole nets --------------------------------------------------------------------------
VOC_CLASSES = 21        # 20 classes + background
CONTEXT_CLASSES = 60    # 59 classes + background
NYUD_CLASSES = 40
# SIFT Flow's two tasks on one trunk: (name suffix, classes, label top, loss); the
# semantic loss is plain 'loss', as in the reference release.
SIFTFLOW_TASKS = (('_sem', 33, 'sem', 'loss'), ('_geo', 3, 'geo', 'loss_geo'))

# (file, split) of each family's prototxts, named as in the reference release.
VOC_SPLITS = (('train.prototxt', 'train'), ('val.prototxt', 'seg11valid'),
              ('deploy.prototxt', 'deploy'))
CONTEXT_SPLITS = (('train.prototxt', 'train'), ('val.prototxt', 'val'),
                  ('deploy.prototxt', 'deploy'))
NYUD_SPLITS = SIFTFLOW_SPLITS = (('trainval.prototxt', 'trainval'), ('test.prototxt', 'test'),
                                 ('deploy.prototxt', 'deploy'))


def _name_tops(n, names, tops):
    """Assign ``tops`` (a Top or a tuple of them) to ``n`` under ``names``, in order."""
    tops = tops if isinstance(tops, tuple) else (tops,)
    if len(tops) != len(names):
        raise ValueError('%d tops for %d names %r' % (len(tops), len(names), tuple(names)))
    for name, top in zip(names, tops):
        n[name] = top


def fcn_net(split, data, body, tops=('data', 'label'), inputs=(('data', DEPLOY_SHAPE),),
            loss=True, normalize=False):
    """One FCN's NetParameter for ``split``: 'deploy', or a split of its dataset.

    A train/val net names the tops of its data layer ``data(split)`` after
    ``tops``; the deploy net has instead an Input layer with one top per
    ``(name, shape)`` of ``inputs``.  ``body(n, train)`` builds the net on
    them into NetSpec ``n``.  With ``loss``, a train/val net then ends in
    ``loss``, the softmax loss of ``score`` against ``label`` (``normalize``
    as in :func:`softmax_loss`); a net with other losses adds them in ``body``.
    """
    n = caffe.NetSpec()
    train = split != 'deploy'
    if train:
        _name_tops(n, tops, data(split))
    else:
        _name_tops(n, [name for name, _ in inputs], deploy_input(*[s for _, s in inputs]))
    body(n, train)
    if train and loss:
        n.loss = softmax_loss(n.score, n.label, normalize=normalize)
    return n.to_proto()


def vgg16_body(nout, stride, scales=None, first_conv=None):
    """An :func:`fcn_net` body: :func:`vgg16_fcn` from ``data`` to ``score``."""
    def body(n, train):
        vgg16_fcn(n, n.data, nout, stride, train=train, scales=scales, first_conv=first_conv)
    return body


def voc_fcn(stride, split, scales=None):
    """FCN-<stride>s (VGG16) on PASCAL VOC (SBD for 'train'); ``scales``: fixed skip
    scales, as FCN-8s at-once has (see :func:`fcn_head`)."""
    return fcn_net(split, voc_data, vgg16_body(VOC_CLASSES, stride, scales=scales))


def pascalcontext_fcn(stride, split):
    """FCN-<stride>s (VGG16) on the 59-class PASCAL-Context task (+ background)."""
    return fcn_net(split, pascalcontext_data, vgg16_body(CONTEXT_CLASSES, stride))


def nyud_fcn(modality, split):
    """FCN-32s (VGG16) on one NYUDv2 modality ('color' or 'hha'), read as ``data``."""
    return fcn_net(split, lambda s: nyud_data(s, [modality, 'label']),
                   vgg16_body(NYUD_CLASSES, 32))


def siftflow_fcn(stride, split):
    """FCN-<stride>s (VGG16) on SIFT Flow: one trunk, a score head and loss per task
    of ``SIFTFLOW_TASKS`` (score_sem/loss, score_geo/loss_geo)."""
    def body(n, train):
        vgg16_trunk(n, n.data)
        feat = fc_head(n, n.pool5, train=train)
        for suffix, nout, label, loss in SIFTFLOW_TASKS:
            score = fcn_head(n, feat, n.data, nout, stride=stride, suffix=suffix,
                             pool4=n.pool4, pool3=n.pool3)
            if train:
                n[loss] = softmax_loss(score, n[label])
    return fcn_net(split, siftflow_data, body, tops=('data', 'sem', 'geo'), loss=False)


# -- files -------------------------------------------------------------------------------
def prototxt_text(proto):
    """The text a NetParameter is written as (protobuf text format)."""
    return str(proto)


def write_prototxts(net_dir, fns):
    """Write each ``{file name: NetParameter or function returning one}`` into net_dir.

    A file name may have folders (e.g. vgg16/deploy.prototxt); they are made
    as needed.  Returns the paths written, in order.
    """
    paths = []
    for fname, spec in fns.items():
        proto = spec() if callable(spec) else spec
        path = os.path.join(net_dir, fname)
        os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
        with open(path, 'w') as f:
            f.write(prototxt_text(proto))
        paths.append(path)
    return paths


def net_script(module_name, module_file, fcn, splits):
    """The ``prototxts()`` and ``make_net()`` of a models/<name>/net.py, which ends in::

        prototxts, make_net = C.net_script(__name__, __file__, fcn, C.VOC_SPLITS)

    ``splits`` are (file name, split) pairs: prototxts() maps each file name
    to ``fcn(split)``, in order; make_net(net_dir) writes them into net_dir
    (by default the net.py's own folder) and returns their paths.  When the
    net.py runs as a script (``module_name`` is '__main__') its prototxts are
    written here, wherever it was run from.
    """
    here = os.path.dirname(os.path.abspath(module_file))

    def prototxts():
        """{file name: NetParameter} of this net, in order."""
        return OrderedDict((fname, fcn(split)) for fname, split in splits)

    def make_net(net_dir=here):
        """Write the prototxts into net_dir (the net's folder by default); returns their paths."""
        return write_prototxts(net_dir, prototxts())

    if module_name == '__main__':
        make_net()
    return prototxts, make_net
