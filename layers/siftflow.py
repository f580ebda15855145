"""Data layer for SIFT Flow: scenes labelled with 33 semantic and 3 geometric classes.

Layout of the dataset directory (the release's data/sift-flow):

    <siftflow_dir>/<split>.txt                 example ids (trainval.txt, test.txt)
    <siftflow_dir>/Images/<SUB>/<id>.jpg       256 x 256 image
    <siftflow_dir>/SemanticLabels/<SUB>/<id>.mat   variable S: 0 void, 1..33 classes
    <siftflow_dir>/GeoLabels/<SUB>/<id>.mat        variable S: -1 (and 0) void, 1..3 classes

    with <SUB> = spatial_envelope_256x256_static_8outdoorcategories

    param_str: {'siftflow_dir': ..., 'split': 'trainval'
                [, 'randomize': True, 'seed': None, 'prefetch': True]}

Three tops: data (1 x 3 x H x W, BGR minus the SIFT Flow mean), sem
(1 x 1 x H x W, 0..32 or void 255) and geo (1 x 1 x H x W, 0..2 or void 255):
stored labels are shifted down by one so the void labels become 255.
"""
import os

import numpy as np

from fcn.readers import VOID, check_labels, mat_variable, modality_input, read_mat

from .common import SegDataLayer, check_same_size, get_dir, label_blob

SUBDIR = 'spatial_envelope_256x256_static_8outdoorcategories'
N_SEMANTIC = 33
N_GEOMETRIC = 3
#: BGR mean of the SIFT Flow images.
MEAN = np.array((114.578, 115.294, 108.353), dtype=np.float32)


class SIFTFlowSegDataLayer(SegDataLayer):
    """SIFT Flow images with their semantic and geometric labels, one triple per forward."""

    REQUIRED = ('siftflow_dir', 'split')

    def configure(self, params):
        self.siftflow_dir = get_dir(params, 'siftflow_dir', self.who)
        self.mean = MEAN
        return os.path.join(self.siftflow_dir, self.split + '.txt'), ('data', 'sem', 'geo')

    def load(self, example_id):
        image_path = os.path.join(self.siftflow_dir, 'Images', SUBDIR, example_id + '.jpg')
        sem_path = os.path.join(self.siftflow_dir, 'SemanticLabels', SUBDIR, example_id + '.mat')
        geo_path = os.path.join(self.siftflow_dir, 'GeoLabels', SUBDIR, example_id + '.mat')
        data = modality_input('color', image_path, self.mean, 'image', self.who)

        raw = mat_variable(read_mat(sem_path, 'semantic label', self.who), 'S', sem_path, self.who)
        raw = check_labels(raw, 0, N_SEMANTIC, (), sem_path, self.who,
                           'semantic classes 1..%d or void 0' % N_SEMANTIC)
        sem = np.where(raw == 0, VOID, raw - 1)

        raw = mat_variable(read_mat(geo_path, 'geometric label', self.who), 'S', geo_path, self.who)
        raw = check_labels(raw, -1, N_GEOMETRIC, (), geo_path, self.who,
                           'geometric classes 1..%d or void -1 / 0' % N_GEOMETRIC)
        geo = np.where(raw <= 0, VOID, raw - 1)

        check_same_size(self.who, [(image_path, data), (sem_path, sem), (geo_path, geo)])
        return data, label_blob(sem), label_blob(geo)
