"""Nets for a user's own dataset (made by models/create.py): the paper's FCNs over layers.folder.

A created net's net.py holds one SPEC dict and builds its prototxts here:

    arch           fcn32s, fcn16s, fcn8s, fcn8s-atonce (VGG16), alexnet (CaffeNet), googlenet
    dataset        the dataset folder, relative to the data root (data/) unless absolute
    classes        number of classes (the score layers' num_output)
    mean           (B, G, R) the data layer subtracts
    scratch        True: MSRA fillers for every convolution but the score layers (zero), biases 0
    width_divisor  every convolution but the score layers has its num_output divided by this (a
                   slim twin, e.g. 8 for the CPU demo); 1 keeps the paper's widths
    rename         suffix of the layers whose weights depend on the class count (score_fr,
                   score_pool4/3, upscore*): when it differs from the net the weights come from,
                   copy_from by name skips them and they start anew, as the release's FAQ says
    normalize      the loss's normalize (False: summed over pixels, the VGG nets' heavy loss)
    class_weights  optional: the binaryproto of H = diag(class weights) (models/create.py
                   --class-weights), as InfogainLoss's `source` gives it: the train and val nets
                   then end in InfogainLoss instead of SoftmaxWithLoss, with the same ignore_label
                   and normalization (normalize false is BATCH_SIZE, true VALID, as Caffe reads it)
    augment        optional: the train net's augmentation keys of layers.folder (mirror, scale,
                   crop; see layers.augment); absent: none, as the paper trained
    batch          optional: examples per forward of the train net (needs a crop); absent: 1

Layer names, graph, crop offsets (coord_map) and the fixed upsampling layers
(lr_mult 0, bilinear weights from surgery.interp at initialization) are the
release's: with rename '' a created VGG16 FCN-8s is voc-fcn8s over other data.
"""
from models import common as C

ARCHS = ('fcn32s', 'fcn16s', 'fcn8s', 'fcn8s-atonce', 'alexnet', 'googlenet')
#: The trunk of each architecture, which is also the ILSVRC classifier it is transplanted from.
TRUNK = {'fcn32s': 'vgg16', 'fcn16s': 'vgg16', 'fcn8s': 'vgg16', 'fcn8s-atonce': 'vgg16',
         'alexnet': 'caffenet', 'googlenet': 'googlenet'}
#: The paper's net of each architecture, whose solver.prototxt a created net copies.
PAPER_NET = {'fcn32s': 'voc-fcn32s', 'fcn16s': 'voc-fcn16s', 'fcn8s': 'voc-fcn8s',
             'fcn8s-atonce': 'voc-fcn8s-atonce', 'alexnet': 'voc-fcn-alexnet', 'googlenet': 'voc-fcn-googlenet'}
TITLE = {'fcn32s': 'FCN-32s (VGG16)', 'fcn16s': 'FCN-16s (VGG16)', 'fcn8s': 'FCN-8s (VGG16)',
         'fcn8s-atonce': 'FCN-8s at-once (VGG16)', 'alexnet': 'FCN-AlexNet', 'googlenet': 'FCN-GoogLeNet'}
STRIDE = {'fcn32s': 32, 'fcn16s': 16, 'fcn8s': 8, 'fcn8s-atonce': 8, 'alexnet': 32, 'googlenet': 32}
ATONCE_SCALES = {'pool4': 0.01, 'pool3': 0.0001}
#: The first convolution of each trunk and its width in the ILSVRC classifier.
FIRST_CONV = {'vgg16': ('conv1_1', 64), 'caffenet': ('conv1', 96), 'googlenet': ('conv1/7x7_s2', 64)}
SPLITS = (('train.prototxt', 'train'), ('val.prototxt', 'val'), ('deploy.prototxt', 'deploy'))
#: The images every paper net's solver trains over: SBD train (data/sbdd/dataset/train.txt).
PAPER_TRAIN_IMAGES = 8498
#: The images SCRATCH_SOLVER's schedule was made for: the train split of data/shapes (make_shapes.py).
SCRATCH_TRAIN_IMAGES = 400

#: Training from scratch (no paper recipe exists for it): Adam on the normalized loss, one image
#: an update, linear decay to 0; the schedule that takes the slim FCN-8s of `make demo` to a
#: mean IU of 0.9 on the shapes task in 1,500 iterations on a CPU.
SCRATCH_SOLVER = '''train_net: "train.prototxt"
test_net: "val.prototxt"
# one pass over the val split
test_iter: 50
# the test net is built, but segmentation scoring runs from solve.py, not the solver
test_interval: 999999999
test_initialization: false
display: 100
average_loss: 100
# Adam on the normalized loss (averaged over the non-void pixels), one image per update,
# from scratch: a rate well above the VOC nets', decayed linearly to 0 at max_iter
type: "Adam"
base_lr: 0.002
momentum: 0.9
momentum2: 0.999
delta: 1e-8
lr_policy: "poly"
power: 1
max_iter: 1500
weight_decay: 0
snapshot: 500
snapshot_prefix: "snapshot/train"
random_seed: 1337
'''


def body(spec):
    """The fcn_net body of spec's architecture: trunk, fc6/fc7 (or GoogLeNet's dropout), head."""
    arch, nout, rename = spec['arch'], spec['classes'], spec.get('rename', '')

    def build(n, train):
        if TRUNK[arch] == 'vgg16':
            C.vgg16_trunk(n, n.data)
            feat = C.fc_head(n, n.pool5, train=train)
            C.fcn_head(n, feat, n.data, nout, stride=STRIDE[arch], pool4=n.pool4, pool3=n.pool3,
                       scales=ATONCE_SCALES if arch == 'fcn8s-atonce' else None, rename=rename)
        elif arch == 'alexnet':
            C.caffenet_trunk(n, n.data, pad=100)
            feat = C.fc_head(n, n.pool5, ks=6, train=train, param=None)
            # 63: x32 upsampling aligned on whole pixels
            C.fcn_head(n, feat, n.data, nout, up_ks=63, rename=rename)
        else:
            feat = C.googlenet_trunk(n, n.data, pad=100)
            if train:
                n['inception_5b/drop'] = C.dropout(feat, 0.4)
                feat = n['inception_5b/drop']
            C.fcn_head(n, feat, n.data, nout, up_ks=63, crop_offset=C.GOOGLENET_CROP_OFFSET, rename=rename)
    return build


def data_layer(spec):
    """split -> (data, label) of layers.folder over spec's dataset, seeded as the paper's nets; the
    train split with spec's augmentation and batch, if any."""
    def data(split):
        params = dict(dataset_dir=spec['dataset'], split=split, mean=tuple(spec['mean']), seed=C.SEED)
        if split == 'train':
            params.update(spec.get('augment') or {})
            if spec.get('batch', 1) != 1:
                params['batch'] = spec['batch']
        return C.python_data('folder', 'FolderSegDataLayer', 2, params)
    return data


def is_score_layer(name):
    return name.startswith('score')


def adapt(proto, spec):
    """Slim and/or scratch-initialize the NetParameter in place (see the module docstring)."""
    k = spec.get('width_divisor', 1)
    for lp in proto.layer:
        if lp.type != 'Convolution' or is_score_layer(lp.name):
            continue
        cp = lp.convolution_param
        if k != 1:
            width = cp.num_output // k
            group = cp.group if cp.HasField('group') else 1
            if width < 1 or cp.num_output % k or width % group:
                raise ValueError('width divisor %d does not divide layer %s (%d outputs, group %d)'
                                 % (k, lp.name, cp.num_output, group))
            cp.num_output = width
        if spec.get('scratch'):
            cp.weight_filler.type = 'msra'
            cp.bias_filler.type = 'constant'
            cp.bias_filler.value = 0
    return proto


def weigh_classes(proto, source):
    """Make the NetParameter's SoftmaxWithLoss layers InfogainLoss with H from `source`, in place.

    InfogainLoss refuses the deprecated `normalize`, so it becomes the `normalization` Caffe's
    SoftmaxWithLoss reads it as (false: BATCH_SIZE, true or unset: VALID)."""
    for lp in proto.layer:
        if lp.type != 'SoftmaxWithLoss':
            continue
        lp.type = 'InfogainLoss'
        lp_loss = lp.loss_param
        if not lp_loss.HasField('normalization'):
            valid = lp_loss.normalize if lp_loss.HasField('normalize') else True
            lp_loss.normalization = lp_loss.VALID if valid else lp_loss.BATCH_SIZE
        lp_loss.ClearField('normalize')
        lp.infogain_loss_param.source = source
    return proto


def fcn(spec, split):
    """The NetParameter of spec's train, val or deploy ('deploy') net."""
    proto = C.fcn_net(split, data_layer(spec), body(spec), normalize=spec.get('normalize', False))
    if spec.get('class_weights') and split != 'deploy':
        weigh_classes(proto, spec['class_weights'])
    return adapt(proto, spec)


def net_script(module_name, module_file, spec):
    """prototxts() and make_net() of a created net.py (models.common.net_script over SPLITS)."""
    return C.net_script(module_name, module_file, lambda split: fcn(spec, split), SPLITS)
