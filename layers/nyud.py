"""Data layer for NYUDv2 RGB-D scenes, 40-class task of Gupta et al. (void 255).

Layout of the dataset directory (the release's data/nyud):

    <nyud_dir>/<split>.txt                   example ids (trainval.txt, test.txt), e.g. 5001
    <nyud_dir>/data/images/img_<id>.png      colour image
    <nyud_dir>/data/depth/img_<id>.png       depth, single-channel 16-bit PNG, positive values
    <nyud_dir>/data/hha/img_<id>.png         HHA encoding of depth, 3-channel 8-bit PNG
    <nyud_dir>/segmentation/img_<id>.mat     variable segmentation: 0 void, 1..40 classes

    param_str: {'nyud_dir': ..., 'split': 'trainval', 'tops': ['color', 'hha', 'label']
                [, 'randomize': True, 'seed': None, 'prefetch': True]}

`tops` lists the outputs, in the order of the layer's tops, among

    color  1 x 3 x H x W  BGR minus the NYUD colour mean
    depth  1 x 1 x H x W  log(depth) minus the mean log depth
    hha    1 x 3 x H x W  HHA channels as stored, minus the HHA mean
    label  1 x 1 x H x W  0..39, void 255 (stored labels shifted down by one)
"""
import os

import numpy as np

from fcn.readers import VOID, check_labels, mat_variable, modality_input, read_mat

from .common import ParamError, SegDataLayer, check_same_size, get_dir, label_blob

N_CLASSES = 40
TOPS = ('color', 'depth', 'hha', 'label')
MEAN_BGR = np.array((116.190, 97.203, 92.318), dtype=np.float32)
MEAN_HHA = np.array((132.431, 94.076, 118.477), dtype=np.float32)
MEAN_LOGD = np.array((7.844,), dtype=np.float32)


class NYUDSegDataLayer(SegDataLayer):
    """NYUDv2 colour / depth / HHA inputs and labels, the tops chosen by param_str 'tops'."""

    REQUIRED = ('nyud_dir', 'split', 'tops')

    def configure(self, params):
        self.nyud_dir = get_dir(params, 'nyud_dir', self.who)
        tops = params['tops']
        if isinstance(tops, str) or not isinstance(tops, (list, tuple)) or not tops:
            raise ParamError("%s: param_str key 'tops' must be a non-empty list drawn from %s, got %r"
                             % (self.who, ', '.join(repr(t) for t in TOPS), tops))
        for t in tops:
            if t not in TOPS:
                raise ParamError("%s: param_str key 'tops' names unknown output %r; choose among %s"
                                 % (self.who, t, ', '.join(repr(x) for x in TOPS)))
        self.tops = list(tops)
        self.mean_bgr, self.mean_hha, self.mean_logd = MEAN_BGR, MEAN_HHA, MEAN_LOGD
        return os.path.join(self.nyud_dir, self.split + '.txt'), tuple(self.tops)

    def load(self, example_id):
        loaded = {}
        named = []
        for t in self.tops:
            if t not in loaded:
                path = self.path(t, example_id)
                loaded[t] = getattr(self, 'load_' + t)(path)
                named.append((path, loaded[t]))
        check_same_size(self.who, named)
        return tuple(loaded[t] for t in self.tops)

    def path(self, top, example_id):
        name = 'img_%s' % example_id
        if top == 'label':
            return os.path.join(self.nyud_dir, 'segmentation', name + '.mat')
        folder = {'color': 'images', 'depth': 'depth', 'hha': 'hha'}[top]
        return os.path.join(self.nyud_dir, 'data', folder, name + '.png')

    def load_color(self, path):
        return modality_input('color', path, self.mean_bgr, 'colour image', self.who)

    def load_depth(self, path):
        return modality_input('depth', path, self.mean_logd, 'depth image', self.who)

    def load_hha(self, path):
        return modality_input('hha', path, self.mean_hha, 'HHA image', self.who)

    def load_label(self, path):
        raw = mat_variable(read_mat(path, 'label', self.who), 'segmentation', path, self.who)
        raw = check_labels(raw, 0, N_CLASSES, (), path, self.who, 'classes 1..%d or void 0' % N_CLASSES)
        return label_blob(np.where(raw == 0, VOID, raw - 1))
